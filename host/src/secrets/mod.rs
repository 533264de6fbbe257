//! Secrets and the one redaction mechanism used by logs, errors and run output.
//!
//! Every secret value Sluice learns (a `SecureString`, a connection string's password, later a
//! Key Vault secret) is registered with the process-wide [`Redactor`] the moment it is parsed.
//! Everything that leaves the process (log lines, error messages including server messages that
//! echo a value, JSON run output) passes through [`redact`], which replaces each registered
//! value with `**********`.

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

/// What a masked value is replaced with, as in ADF.
pub const MASK: &str = "**********";

/// A secret string. `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps `value` and registers it for redaction everywhere.
    pub fn new(value: impl Into<String>) -> Self {
        let value: String = value.into();
        register(&value);
        Secret(value.into())
    }

    /// The clear value, for handing to a driver. Never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// The set of registered secret values.
#[derive(Default)]
pub struct Redactor {
    secrets: RwLock<Vec<String>>,
}

fn global() -> &'static Redactor {
    static REDACTOR: OnceLock<Redactor> = OnceLock::new();
    REDACTOR.get_or_init(Redactor::default)
}

/// Registers a secret value. Very short values (under 3 characters) are not registered: masking
/// every `a` in a log would hide more than it protects and tell an observer the secret's length.
pub fn register(value: &str) {
    if value.len() < 3 {
        return;
    }
    let mut secrets = match global().secrets.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
        // Longest first so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Replaces every registered secret in `text` with [`MASK`].
pub fn redact(text: &str) -> String {
    let secrets = match global().secrets.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut out = text.to_string();
    for s in secrets.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// Redacts every string inside a JSON value, keys included.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = redact(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => {
            let entries: Vec<(String, serde_json::Value)> =
                std::mem::take(map).into_iter().collect();
            for (k, mut v) in entries {
                redact_json(&mut v);
                map.insert(redact(&k), v);
            }
        }
        _ => {}
    }
}

/// A `tracing` writer that redacts every line before it reaches stderr.
pub struct RedactingWriter;

impl std::io::Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked_everywhere() {
        let s = Secret::new("hunter2-redaction-test");
        assert_eq!(format!("{s:?} {s}"), format!("{MASK} {MASK}"));
        assert_eq!(
            redact("password=hunter2-redaction-test;x"),
            format!("password={MASK};x")
        );
        let mut j = serde_json::json!({"a": ["xx hunter2-redaction-test"]});
        redact_json(&mut j);
        assert_eq!(j["a"][0], format!("xx {MASK}"));
    }
}
