//! Secrets and redaction, per run.
//!
//! Every secret value a run learns (a `SecureString`, a connection string's password, an Azure
//! Key Vault secret, the Azure client secret and access token used to read it) is registered
//! with that run's [`Redactor`] the moment it is parsed or received. Everything the run shows
//! (errors including server messages that echo a value, the JSON and text run output, files it
//! writes about itself such as skipped-row logs) passes through that redactor, which replaces
//! each registered value with `**********`, also in its JSON-escaped and URL-encoded spellings.
//!
//! Runs of different tenants share a process in the service, so a redactor belongs to one run
//! and masks only that run's values: masking another tenant's secret in a tenant's output would
//! tell the tenant that some other tenant uses that value. Log lines and panic messages are the
//! operator's, not a tenant's, and may be written by any thread: [`redact_logs`] masks them with
//! every redactor still alive in the process.
//!
//! Key Vault references (`AzureKeyVaultSecret`) are collected while a run is planned and fetched
//! before it starts by the run's [`SecretBook`] (see [`book`]) through [`keyvault`].
//!
//! Layer: above `types` and `expr`, below the ADF model (which reads secrets through a book).

pub mod book;
pub mod keyvault;

pub use book::{Parsed, SecretBook, SecretRef};

use std::fmt;
use std::sync::{Arc, Mutex, RwLock, Weak};

/// What a masked value is replaced with, as in ADF.
pub const MASK: &str = "**********";

/// A secret string. `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: Arc<str>,
    deferred: bool,
}

impl Secret {
    /// Wraps `value`. It is not registered for redaction by itself: use
    /// [`Redactor::secret`] (or register it) for a value read from a definition or a store.
    pub fn new(value: impl Into<String>) -> Self {
        let value: String = value.into();
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

/// Registered values, longest first.
type Values = Arc<RwLock<Vec<String>>>;

/// One run's registered secret values. Clones share the same set.
#[derive(Clone)]
pub struct Redactor {
    values: Values,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

/// The redactors of the runs in this process, weakly held.
type LiveRedactors = Mutex<Vec<Weak<RwLock<Vec<String>>>>>;

/// Every redactor still alive, for [`redact_logs`]: the log sink's view of the runs in progress.
fn live() -> &'static LiveRedactors {
    static LIVE: std::sync::OnceLock<LiveRedactors> = std::sync::OnceLock::new();
    LIVE.get_or_init(Mutex::default)
}

impl Redactor {
    /// An empty redactor for one run, also seen by [`redact_logs`] while it lives.
    pub fn new() -> Self {
        let values = Arc::new(RwLock::new(Vec::new()));
        let mut live = live().lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(&values));
        Redactor { values }
    }

    /// Wraps `value` as a [`Secret`] and registers it.
    pub fn secret(&self, value: impl Into<String>) -> Secret {
        let s = Secret::new(value);
        self.register(s.expose());
        s
    }

    /// Registers a secret value. Very short values (under 3 characters) are not registered:
    /// masking every `a` would hide more than it protects and tell an observer the secret's
    /// length. The value's JSON-escaped and URL-encoded spellings are registered too when they
    /// differ, so a secret holding a quote, a backslash or a `;` is masked where it appears
    /// escaped.
    pub fn register(&self, value: &str) {
        if value.len() < 3 {
            return;
        }
        let mut forms = vec![value.to_string()];
        if let Ok(json) = serde_json::to_string(value) {
            forms.push(json[1..json.len() - 1].to_string());
        }
        forms.push(percent_encode(value));
        let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
        let mut added = false;
        for form in forms {
            if !values.contains(&form) {
                values.push(form);
                added = true;
            }
        }
        if added {
            // Longest first so that a secret containing another is masked whole.
            values.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Registers a whole connection string and its secret parts (`Password=`, `AccountKey=`,
    /// `SharedAccessSignature=`, ... values) on their own, so that a message echoing only the
    /// password is masked too.
    ///
    /// An unquoted secret value ends at the first `;`, but the author may have meant the `;`
    /// to be part of it (`Password=ab;cd;Port=5432` meant the password `ab;cd`). So the parts
    /// after an unquoted secret that do not start with a known key are taken as the rest of
    /// it: registered together with the value and each on its own.
    pub fn register_connection_string(&self, text: &str) {
        self.register(text);
        let parts: Vec<&str> = text.split(';').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            if !SECRET_KEYS.contains(&norm_key(k).as_str()) {
                continue;
            }
            let v = v.trim();
            self.register(v);
            let unquoted = v.trim_matches(|c| matches!(c, '\'' | '"' | '{' | '}'));
            self.register(unquoted);
            if unquoted.len() != v.len() {
                continue; // quoted: it cannot have swallowed a ';'
            }
            let tail: Vec<&str> = parts[i + 1..]
                .iter()
                .take_while(|p| !starts_with_known_key(p))
                .copied()
                .collect();
            if tail.iter().all(|p| p.trim().is_empty()) {
                continue;
            }
            for p in &tail {
                self.register(p.trim());
            }
            let whole = format!("{v};{}", tail.join(";"));
            self.register(whole.trim_end_matches([';', ' ']));
        }
    }

    /// Replaces every value registered with this redactor in `text` with [`MASK`].
    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        mask(text, &values)
    }

    /// Redacts every string inside a JSON value, keys included.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = self.redact(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => {
                let entries: Vec<(String, serde_json::Value)> =
                    std::mem::take(map).into_iter().collect();
                for (k, mut v) in entries {
                    self.redact_json(&mut v);
                    map.insert(self.redact(&k), v);
                }
            }
            _ => {}
        }
    }
}

fn mask(text: &str, values: &[String]) -> String {
    let mut out = text.to_string();
    for s in values {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// Masks `text` with every redactor alive in the process: for log lines and panic messages,
/// which only the operator sees and which any thread may write.
pub fn redact_logs(text: &str) -> String {
    let redactors: Vec<Values> = {
        let live = live().lock().unwrap_or_else(|e| e.into_inner());
        live.iter().filter_map(Weak::upgrade).collect()
    };
    let mut out = text.to_string();
    for r in redactors {
        let values = r.read().unwrap_or_else(|e| e.into_inner());
        out = mask(&out, &values);
    }
    out
}

/// Connection-string keys whose values are secrets (normalized: lower case, no spaces).
const SECRET_KEYS: [&str; 6] = [
    "password",
    "pwd",
    "accountkey",
    "sharedaccesskey",
    "sharedaccesssignature",
    "clientsecret",
];

/// Keys of the connection strings Sluice reads (PostgreSQL's ODBC and Npgsql keys, Azure
/// Storage's), normalized: a part after an unquoted secret that starts with one of these is a
/// setting of its own, not the rest of the secret.
const KNOWN_KEYS: [&str; 44] = [
    "server",
    "host",
    "servername",
    "hostname",
    "port",
    "database",
    "db",
    "dbname",
    "uid",
    "user",
    "userid",
    "username",
    "password",
    "pwd",
    "encryptionmethod",
    "em",
    "validateservercertificate",
    "vsc",
    "sslmode",
    "trustservercertificate",
    "truststore",
    "rootcertificate",
    "sslrootcert",
    "timeout",
    "connectiontimeout",
    "connecttimeout",
    "logintimeout",
    "commandtimeout",
    "searchpath",
    "timezone",
    "encoding",
    "clientencoding",
    "pooling",
    "applicationname",
    "minpoolsize",
    "maxpoolsize",
    "defaultendpointsprotocol",
    "accountname",
    "accountkey",
    "endpointsuffix",
    "blobendpoint",
    "sharedaccesssignature",
    "sharedaccesskey",
    "sharedaccesskeyname",
];

/// Lower case without spaces, `_` and `-`, as connection-string keys are compared.
fn norm_key(key: &str) -> String {
    key.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-'))
        .collect::<String>()
        .to_ascii_lowercase()
}

fn starts_with_known_key(part: &str) -> bool {
    part.split_once('=')
        .is_some_and(|(k, _)| KNOWN_KEYS.contains(&norm_key(k).as_str()))
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

/// Makes panic messages go through [`redact_logs`] too (a panic is a bug, but its message may
/// quote a value).
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
        eprintln!("sluice panicked{location}: {}", redact_logs(&payload));
    }));
}

/// A `tracing` writer that masks every line with [`redact_logs`] before it reaches stderr.
pub struct RedactingWriter;

impl std::io::Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact_logs(&text).as_bytes())?;
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
        let r = Redactor::new();
        let s = r.secret("hunter2-redaction-test");
        assert_eq!(format!("{s:?} {s}"), format!("{MASK} {MASK}"));
        assert_eq!(
            r.redact("password=hunter2-redaction-test;x"),
            format!("password={MASK};x")
        );
        let mut j = serde_json::json!({"a": ["xx hunter2-redaction-test"]});
        r.redact_json(&mut j);
        assert_eq!(j["a"][0], format!("xx {MASK}"));
        assert_eq!(
            redact_logs("log hunter2-redaction-test"),
            format!("log {MASK}")
        );
    }

    #[test]
    fn escaped_and_encoded_forms_are_masked() {
        let r = Redactor::new();
        r.register("pa\"ss;w@rd-escape-test");
        assert_eq!(
            r.redact(r#"{"pw":"pa\"ss;w@rd-escape-test"}"#),
            format!(r#"{{"pw":"{MASK}"}}"#)
        );
        assert_eq!(
            r.redact("postgres://u:pa%22ss%3Bw%40rd-escape-test@h/d"),
            format!("postgres://u:{MASK}@h/d")
        );
    }

    #[test]
    fn connection_string_parts_are_registered_alone() {
        let r = Redactor::new();
        r.register_connection_string(
            "Server=h;Password='only-the-pw-test';AccountKey=acct-key-part-test",
        );
        assert_eq!(r.redact("x only-the-pw-test y"), format!("x {MASK} y"));
        assert_eq!(r.redact("acct-key-part-test"), MASK);
        assert!(!Secret::new("visible-test").is_deferred());
        assert!(Secret::deferred().is_deferred());
    }

    #[test]
    fn the_tail_of_an_unquoted_secret_is_masked_up_to_the_next_known_key() {
        let r = Redactor::new();
        r.register_connection_string(
            "Server=h;Password=head-pw-7;tail-one-8;tail=two-9;Port=5432;Database=tail-db",
        );
        let text = "x tail-one-8 y tail=two-9 z head-pw-7;tail-one-8;tail=two-9";
        assert_eq!(r.redact(text), format!("x {MASK} y {MASK} z {MASK}"));
        // The next known key ends the secret: its value is not masked.
        assert_eq!(r.redact("5432 tail-db"), "5432 tail-db");
        // A quoted secret swallowed no ';': what follows is not the secret.
        let r = Redactor::new();
        r.register_connection_string("Password='quoted-pw-1';not-secret-2;Port=5432");
        assert_eq!(r.redact("quoted-pw-1"), MASK);
        assert_eq!(r.redact("not-secret-2"), "not-secret-2");
    }

    #[test]
    fn a_redactor_masks_only_its_own_run_and_logs_forget_ended_runs() {
        let a = Redactor::new();
        let b = Redactor::new();
        a.register("tenant-a-only-value");
        b.register("tenant-b-only-value");
        let text = "tenant-a-only-value tenant-b-only-value";
        assert_eq!(a.redact(text), format!("{MASK} tenant-b-only-value"));
        assert_eq!(b.redact(text), format!("tenant-a-only-value {MASK}"));
        assert_eq!(redact_logs(text), format!("{MASK} {MASK}"));
        drop(b);
        assert_eq!(redact_logs(text), format!("{MASK} tenant-b-only-value"));
    }
}
