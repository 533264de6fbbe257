//! Secrets and the one redaction mechanism used by logs, errors and run output.
//!
//! Every secret value Sluice learns (a `SecureString`, a connection string's password, an Azure
//! Key Vault secret, the Azure client secret and access token used to read it) is registered
//! with the process-wide [`Redactor`] the moment it is parsed or received. Everything that leaves
//! the process (log lines, error messages including server messages that echo a value, JSON and
//! text run output, files Sluice writes about a run such as skipped-row logs, panic messages)
//! passes through [`redact`], which replaces each registered value with `**********`. A value is
//! also masked in its JSON-escaped and URL-encoded spellings, the forms in which a server or a
//! log line most often repeats it.
//!
//! Key Vault references (`AzureKeyVaultSecret`) are fetched at run start by [`resolve`] through
//! the REST client in [`keyvault`].

pub mod keyvault;
pub mod resolve;

use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

/// What a masked value is replaced with, as in ADF.
pub const MASK: &str = "**********";

/// A secret string. `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: Arc<str>,
    deferred: bool,
}

impl Secret {
    /// Wraps `value` and registers it for redaction everywhere.
    pub fn new(value: impl Into<String>) -> Self {
        let value: String = value.into();
        register(&value);
        Secret {
            value: value.into(),
            deferred: false,
        }
    }

    /// A stand-in for a Key Vault secret that is only fetched when a pipeline runs: what
    /// `validate` (which never connects anywhere) sees. Its value is empty; readers that parse a
    /// secret (a connection string) check [`Secret::is_deferred`] and skip the parse.
    pub fn deferred() -> Self {
        Secret {
            value: Arc::from(""),
            deferred: true,
        }
    }

    /// Whether this is [`Secret::deferred`]: the real value is not known yet.
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }

    /// The clear value, for handing to a driver. Never format it into a message.
    pub fn expose(&self) -> &str {
        &self.value
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
///
/// The value's JSON-escaped and URL-encoded spellings are registered too when they differ, so a
/// secret holding a quote, a backslash or a `;` is still masked where it appears escaped.
pub fn register(value: &str) {
    if value.len() < 3 {
        return;
    }
    let mut forms = vec![value.to_string()];
    if let Ok(json) = serde_json::to_string(value) {
        let inner = &json[1..json.len() - 1];
        forms.push(inner.to_string());
    }
    forms.push(percent_encode(value));
    let mut secrets = match global().secrets.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut added = false;
    for form in forms {
        if !secrets.contains(&form) {
            secrets.push(form);
            added = true;
        }
    }
    if added {
        // Longest first so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters (as in a URL's userinfo or
/// a form body).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Registers the secret parts of a connection string (`Password=`, `AccountKey=`,
/// `SharedAccessSignature=`, ... values) on their own, so that a message echoing only the
/// password is masked even though the whole string is registered too.
pub fn register_connection_string_parts(text: &str) {
    const SECRET_KEYS: [&str; 6] = [
        "password",
        "pwd",
        "accountkey",
        "sharedaccesskey",
        "sharedaccesssignature",
        "clientsecret",
    ];
    for part in text.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let key: String = k
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if SECRET_KEYS.contains(&key.as_str()) {
            let v = v.trim();
            register(v);
            register(v.trim_matches(|c| matches!(c, '\'' | '"' | '{' | '}')));
        }
    }
}

/// Makes panic messages go through [`redact`] too (a panic is a bug, but its message may quote
/// a value).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        eprintln!("sluice panicked{location}: {}", redact(&payload));
    }));
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

    #[test]
    fn escaped_and_encoded_forms_are_masked() {
        let _s = Secret::new("pa\"ss;w@rd-escape-test");
        assert_eq!(
            redact(r#"{"pw":"pa\"ss;w@rd-escape-test"}"#),
            format!(r#"{{"pw":"{MASK}"}}"#)
        );
        assert_eq!(
            redact("postgres://u:pa%22ss%3Bw%40rd-escape-test@h/d"),
            format!("postgres://u:{MASK}@h/d")
        );
    }

    #[test]
    fn connection_string_parts_are_registered_alone() {
        register_connection_string_parts(
            "Server=h;Password='only-the-pw-test';AccountKey=acct-key-part-test",
        );
        assert_eq!(redact("x only-the-pw-test y"), format!("x {MASK} y"));
        assert_eq!(redact("acct-key-part-test"), MASK);
        assert!(!Secret::new("visible-test").is_deferred());
        assert!(Secret::deferred().is_deferred());
    }
}
