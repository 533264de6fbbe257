//! Connection settings for PostgreSQL, read from ADF linked services (`AzurePostgreSql`,
//! `PostgreSql`, `PostgreSqlV2`) or from a `postgres://` URL.
//!
//! ADF has two shapes for the same connector: v1 packs everything into a `connectionString`
//! (ODBC keys such as `EncryptionMethod` or Npgsql keys such as `SSL Mode`), v2 uses one property
//! per setting (`server`, `sslMode`, ...). Both end in one [`PgEndpoint`], so the rest of Sluice
//! never cares which shape a factory used.
//!
//! Secrets: passwords are wrapped in [`Secret`] as soon as they are parsed (which registers them
//! for redaction). Error messages built here never quote a value of the connection string other
//! than for keys known to be harmless (port, encryption method, SSL mode), so a mis-quoted
//! password cannot leak through an error.
//!
//! Sluice extension: v2 linked services may set `rootCertificate` (or `sslRootCert`), the path of
//! a PEM file with the CA certificate(s) to trust for `sslMode` 4 (Verify-CA) and 5 (Verify-Full)
//! instead of the system roots. ADF itself has no such property because Azure servers use public
//! CAs; self-hosted servers often use a private CA.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::props::Props;
use crate::secrets::{Secret, SecretBook};
use crate::ModelError;

/// How TLS is negotiated and how much of the server certificate is checked; the libpq modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never encrypt.
    Disable,
    /// Try a plain connection first, fall back to TLS (certificate not checked).
    Allow,
    /// Try TLS first (certificate not checked), fall back to plain when the server has no TLS.
    Prefer,
    /// Encrypt, but accept any certificate.
    Require,
    /// Encrypt and check the certificate chain against the trusted roots, not the host name.
    VerifyCa,
    /// Encrypt, check the chain and that the certificate names the host.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling (`verify-full`), used in logs and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Parses a mode name in libpq (`verify-full`), Npgsql (`VerifyFull`) or ADF (`Verify-Full`)
    /// spelling, case-insensitively.
    pub fn from_name(name: &str) -> Option<SslMode> {
        let n: String = name
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match n.as_str() {
            "disable" | "disabled" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verifyca" => SslMode::VerifyCa,
            "verifyfull" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The ADF v2 number (0 Disable ... 5 Verify-Full).
    pub fn from_number(n: i64) -> Option<SslMode> {
        Some(match n {
            0 => SslMode::Disable,
            1 => SslMode::Allow,
            2 => SslMode::Prefer,
            3 => SslMode::Require,
            4 => SslMode::VerifyCa,
            5 => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// `trustServerCertificate` / `Trust Server Certificate`: keep encrypting but stop checking,
    /// as Npgsql does.
    fn trusting_server(self) -> SslMode {
        match self {
            SslMode::VerifyCa | SslMode::VerifyFull => SslMode::Require,
            other => other,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything needed to open a session. `Debug` shows the password as `**********`.
#[derive(Debug, Clone)]
pub struct PgEndpoint {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Option<Secret>,
    pub ssl_mode: SslMode,
    /// PEM file of CA certificates to trust instead of the system roots (Verify-CA/Full).
    pub root_cert: Option<PathBuf>,
    /// Value for the session's `search_path` (passed through as written).
    pub search_path: Option<String>,
    /// `None`: the default (15 s). `Some(Duration::ZERO)`: wait indefinitely, as Npgsql's 0.
    pub connect_timeout: Option<Duration>,
    /// Becomes the session's `statement_timeout`; `None` = no limit.
    pub command_timeout: Option<Duration>,
    /// Session `TimeZone`; `None` = UTC.
    pub timezone: Option<String>,
    /// The linked service these settings come from, for messages (`None` for a URL).
    pub linked_service: Option<String>,
}

const DEFAULT_PORT: u16 = 5432;

impl PgEndpoint {
    /// typeProperties of a linked service of type AzurePostgreSql / PostgreSql / PostgreSqlV2
    /// (`version` is the linked service's "version" property, e.g. Some("2.0")).
    ///
    /// The v2 shape is used when the linked service says version 2 or type `PostgreSqlV2`, or
    /// has a `server` property; otherwise `connectionString` is parsed (v1).
    pub fn from_linked_service(
        props: &Props<'_>,
        ls_type: &str,
        version: Option<&str>,
        book: &SecretBook,
    ) -> Result<Self, ModelError> {
        let v2_declared = version.is_some_and(|v| v.trim().starts_with('2'))
            || ls_type.eq_ignore_ascii_case("PostgreSqlV2");
        let has_server = props.get("server").is_some();
        if has_server || (v2_declared && props.get("connectionString").is_none()) {
            Self::from_v2(props, book)
        } else {
            Self::from_v1(props, book)
        }
    }

    /// v1: `connectionString` (+ optional separate `password`).
    fn from_v1(props: &Props<'_>, book: &SecretBook) -> Result<Self, ModelError> {
        let cs = props.secret("connectionString", book)?.ok_or_else(|| {
            props.err(
                "connectionString",
                "is required (or use the version 2.0 properties server, port, database, username)",
            )
        })?;
        if cs.is_deferred() {
            // `validate`: the string comes from Key Vault when the pipeline runs.
            let mut ep = PgEndpoint::key_vault_placeholder();
            if let Some(pw) = props.secret("password", book)? {
                ep.password = Some(pw);
            }
            return Ok(ep);
        }
        let parts = parse_connection_string(cs.expose())
            .map_err(|reason| props.err("connectionString", reason))?;
        let mut ep =
            settings_from_pairs(&parts).map_err(|reason| props.err("connectionString", reason))?;
        if let Some(pw) = props.secret("password", book)? {
            ep.password = Some(pw);
        }
        Ok(ep)
    }

    /// What `validate` knows of a connection string that is fetched from Azure Key Vault at run
    /// time: nothing, so no setting is checked and nothing connects to it.
    fn key_vault_placeholder() -> Self {
        PgEndpoint {
            host: "(from Azure Key Vault)".into(),
            port: DEFAULT_PORT,
            database: String::new(),
            user: String::new(),
            password: None,
            ssl_mode: SslMode::Prefer,
            root_cert: None,
            search_path: None,
            connect_timeout: None,
            command_timeout: None,
            timezone: None,
            linked_service: None,
        }
    }

    /// v2: one property per setting.
    fn from_v2(props: &Props<'_>, book: &SecretBook) -> Result<Self, ModelError> {
        let server = props.req_str("server")?.trim();
        if server.is_empty() {
            return Err(props.err("server", "must not be empty"));
        }
        let (host, server_port) =
            split_host_port(server).map_err(|reason| props.err("server", reason))?;
        let port = match props.int_in("port", 1, 65535)? {
            Some(p) => u16::try_from(p).map_err(|_| props.err("port", "is out of range"))?,
            None => server_port.unwrap_or(DEFAULT_PORT),
        };
        let database = props.req_str("database")?.to_string();
        if database.is_empty() {
            return Err(props.err("database", "must not be empty"));
        }
        let user = props.req_str("username")?.to_string();
        if user.is_empty() {
            return Err(props.err("username", "must not be empty"));
        }
        let password = props.secret("password", book)?;
        if let Some(auth) = props.str("authenticationType")? {
            if !auth.eq_ignore_ascii_case("Basic") {
                return Err(props.err(
                    "authenticationType",
                    format!("only Basic (user name and password) is supported, found {auth:?}"),
                ));
            }
        }
        // `get` matches case-insensitively, so this covers both `sslMode` and `sslmode`.
        let mut ssl_mode = match props.get("sslMode") {
            None => SslMode::Prefer,
            Some(v) => v2_ssl_mode(v).ok_or_else(|| {
                props.err(
                    "sslMode",
                    format!(
                        "sslMode must be 0-5 (0 Disable, 1 Allow, 2 Prefer, 3 Require, \
                         4 Verify-CA, 5 Verify-Full), found {v}"
                    ),
                )
            })?,
        };
        if props.bool("trustServerCertificate")? == Some(true) {
            ssl_mode = ssl_mode.trusting_server();
        }
        let root_cert = match props.str("rootCertificate")? {
            Some(p) => Some(p),
            None => props.str("sslRootCert")?,
        }
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from);
        let search_path = props
            .str("schema")?
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string);
        let connect_secs = match props.int_in("connectionTimeout", 0, i64::from(u32::MAX))? {
            Some(s) => Some(s),
            None => props.int_in("timeout", 0, i64::from(u32::MAX))?,
        };
        let connect_timeout = connect_secs.map(secs);
        let command_timeout = props
            .int_in("commandTimeout", 0, i64::from(u32::MAX))?
            .filter(|s| *s > 0)
            .map(secs);
        let timezone = props
            .str("timezone")?
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string);
        if let Some(enc) = props.str("encoding")? {
            if !is_utf8_name(enc) {
                tracing::warn!(
                    "{}: encoding {enc:?} is ignored; Sluice always talks UTF-8 to the server",
                    props.path
                );
            }
        }
        props.accept("readBufferSize");
        props.accept("pooling");
        Ok(PgEndpoint {
            host,
            port,
            database,
            user,
            password,
            ssl_mode,
            root_cert,
            search_path,
            connect_timeout,
            command_timeout,
            timezone,
            linked_service: None,
        })
    }

    /// `postgres://user[:pw]@host[:port]/db[?sslmode=..]` (used for SLUICE_PG_URL and tests).
    ///
    /// Also understood in the query: `sslrootcert`, `connect_timeout` (s), `timezone`,
    /// `search_path`, `application_name` (ignored). Errors never repeat the URL, which may hold
    /// a password.
    pub fn from_url(url: &str) -> Result<Self, ModelError> {
        let err = |reason: String| ModelError::invalid("PostgreSQL URL", "", reason);
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| err("must start with postgres:// or postgresql://".into()))?;
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((a, p)) => (a, p),
            None => (before_query, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (String::new(), None),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (
                    percent_decode(u).map_err(|e| err(format!("user name: {e}")))?,
                    Some(percent_decode(p).map_err(|e| err(format!("password: {e}")))?),
                ),
                None => (
                    percent_decode(ui).map_err(|e| err(format!("user name: {e}")))?,
                    None,
                ),
            },
        };
        // Wrap the password first so that even a later error cannot show it.
        let password = password.filter(|p| !p.is_empty()).map(Secret::new);
        if user.is_empty() {
            return Err(err("needs a user name (postgres://user@host/db)".into()));
        }
        let hostport = percent_decode(hostport).map_err(|e| err(format!("host: {e}")))?;
        if hostport.is_empty() {
            return Err(err("needs a host (postgres://user@host/db)".into()));
        }
        let (host, port) = split_host_port(&hostport).map_err(err)?;
        let database = percent_decode(path).map_err(|e| err(format!("database: {e}")))?;
        let database = if database.is_empty() {
            user.clone()
        } else {
            database
        };
        let mut ep = PgEndpoint {
            host,
            port: port.unwrap_or(DEFAULT_PORT),
            database,
            user,
            password,
            ssl_mode: SslMode::Prefer,
            root_cert: None,
            search_path: None,
            connect_timeout: None,
            command_timeout: None,
            timezone: None,
            linked_service: None,
        };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k).map_err(|e| err(format!("query: {e}")))?;
            let v = percent_decode(v).map_err(|e| err(format!("query parameter {k}: {e}")))?;
            match k.as_str() {
                "sslmode" => {
                    ep.ssl_mode = SslMode::from_name(&v).ok_or_else(|| {
                        err(format!(
                            "sslmode must be disable, allow, prefer, require, verify-ca or \
                             verify-full, found {v:?}"
                        ))
                    })?
                }
                "sslrootcert" => ep.root_cert = Some(PathBuf::from(v)),
                "connect_timeout" => {
                    let s: u32 = v.trim().parse().map_err(|_| {
                        err(format!(
                            "connect_timeout must be a number of seconds, found {v:?}"
                        ))
                    })?;
                    ep.connect_timeout = Some(secs(i64::from(s)));
                }
                "timezone" | "TimeZone" => ep.timezone = Some(v),
                "search_path" => ep.search_path = Some(v),
                "application_name" => {}
                other => {
                    return Err(err(format!(
                        "unknown query parameter {other:?} (known: sslmode, sslrootcert, \
                         connect_timeout, timezone, search_path, application_name)"
                    )))
                }
            }
        }
        Ok(ep)
    }

    /// "host:port/db as user (sslmode)" for logs; never the password.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} as {} ({})",
            self.host_port(),
            self.database,
            self.user,
            self.ssl_mode
        )
    }

    /// "host:port", with IPv6 addresses bracketed.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

fn is_utf8_name(enc: &str) -> bool {
    let n: String = enc
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    n == "utf8" || n == "unicode"
}

/// v2 `sslMode`: a number 0-5 (JSON number or numeric string) or a mode name.
fn v2_ssl_mode(v: &serde_json::Value) -> Option<SslMode> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().and_then(SslMode::from_number),
        serde_json::Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => SslMode::from_number(n),
            Err(_) => SslMode::from_name(s.trim()),
        },
        _ => None,
    }
}

/// Splits `host:port`, `[v6]:port`, `[v6]`, or a bare host (a bare IPv6 address with several
/// colons has no port).
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let s = s.trim();
    let parse_port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port must be a number between 1 and 65535, found {p:?}"))
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| "has '[' without a closing ']'".to_string())?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => return Err("unexpected text after ']'".into()),
        };
        return Ok((h.to_string(), port));
    }
    match s.matches(':').count() {
        0 => Ok((s.to_string(), None)),
        1 => {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            Ok((h.trim().to_string(), Some(parse_port(p)?)))
        }
        _ => Ok((s.to_string(), None)),
    }
}

/// One `key=value` of a connection string, key as written (trimmed).
#[derive(Debug)]
struct Pair {
    key: String,
    value: String,
    /// The value was written in quotes or braces (so it cannot have swallowed a `;`).
    quoted: bool,
}

/// Splits a connection string into pairs. Values may be quoted with `'` or `"` (a doubled quote
/// inside stands for one) or with ODBC braces `{...}` (`}}` stands for `}`); unquoted values are
/// trimmed and run to the next `;`. Errors never include any part of the string: it may hold a
/// password.
fn parse_connection_string(s: &str) -> Result<Vec<Pair>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut pairs = Vec::new();
    let mut i = 0;
    let mut index = 0;
    while i < chars.len() {
        // Skip separators and whitespace between pairs.
        while i < chars.len() && (chars[i] == ';' || chars[i].is_whitespace()) {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        index += 1;
        let key_start = i;
        while i < chars.len() && chars[i] != '=' && chars[i] != ';' {
            i += 1;
        }
        if i >= chars.len() || chars[i] == ';' {
            return Err(format!(
                "part {index} has no '=' (expected key=value pairs separated by ';'; \
                 quote values that contain ';')"
            ));
        }
        let key: String = chars[key_start..i]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        if key.is_empty() {
            return Err(format!("part {index} has an empty key"));
        }
        i += 1; // '='
        while i < chars.len() && chars[i] != ';' && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        let quoted = i < chars.len() && matches!(chars[i], '\'' | '"' | '{');
        if quoted {
            let open = chars[i];
            let close = if open == '{' { '}' } else { open };
            i += 1;
            let mut closed = false;
            while i < chars.len() {
                if chars[i] == close {
                    if i + 1 < chars.len() && chars[i + 1] == close {
                        value.push(close);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    closed = true;
                    break;
                }
                value.push(chars[i]);
                i += 1;
            }
            if !closed {
                return Err(format!(
                    "the value of {} is missing its closing {close}",
                    safe_key_name(&key)
                ));
            }
            while i < chars.len() && chars[i] != ';' {
                if !chars[i].is_whitespace() {
                    return Err(format!(
                        "unexpected text after the quoted value of {}",
                        safe_key_name(&key)
                    ));
                }
                i += 1;
            }
        } else {
            let start = i;
            while i < chars.len() && chars[i] != ';' {
                i += 1;
            }
            value = chars[start..i]
                .iter()
                .collect::<String>()
                .trim()
                .to_string();
        }
        pairs.push(Pair { key, value, quoted });
    }
    Ok(pairs)
}

/// A key as it may appear in an error: quoted when it looks like a key, otherwise withheld,
/// because text that does not look like a key is likely part of a mis-quoted password.
fn safe_key_name(key: &str) -> String {
    if looks_like_key(key) {
        format!("key '{key}'")
    } else {
        "a key (not shown: it does not look like a key)".into()
    }
}

fn looks_like_key(key: &str) -> bool {
    key.len() <= 40
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '_' || c == '-')
}

/// Lower-case without spaces, `_` and `-`: `SSL Mode`, `sslmode`, `ssl_mode` are one key.
fn norm_key(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .collect::<String>()
        .to_ascii_lowercase()
}

const KNOWN_KEYS: &str = "Server/Host, Port, Database, UID/User Id/Username, Password, \
    EncryptionMethod (EM), ValidateServerCertificate (VSC), SSL Mode, Trust Server Certificate, \
    TrustStore/Root Certificate/sslrootcert, Timeout, Command Timeout, Search Path, Timezone, \
    Pooling, Encoding, Application Name";

/// `shown` is how an error may quote the value (see [`NOT_SHOWN`]).
fn flag(key: &str, v: &str, shown: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{key} must be 0/1 or true/false, found {shown}")),
    }
}

fn seconds(key: &str, v: &str, shown: &str) -> Result<i64, String> {
    v.trim()
        .parse::<u32>()
        .map(i64::from)
        .map_err(|_| format!("{key} must be a whole number of seconds, found {shown}"))
}

/// What errors say instead of a value that comes after an unquoted password: an unquoted
/// password ends at the first `;`, so whatever follows may be the rest of it (`Password=x;Port=S`
/// is most likely the password `x;Port=S`), and is never quoted.
const NOT_SHOWN: &str = "a value that is not shown (it comes after an unquoted Password and \
    may be the rest of a password containing ';'; quote such a password as 'value' or {value})";

/// Turns v1 pairs into settings. Keys are matched case-insensitively, ignoring spaces.
fn settings_from_pairs(pairs: &[Pair]) -> Result<PgEndpoint, String> {
    let mut host = None;
    let mut port = None;
    let mut database = None;
    let mut user = None;
    let mut password = None;
    let mut em = None;
    let mut vsc = false;
    let mut sslmode = None;
    let mut trust = false;
    let mut root_cert = None;
    let mut connect_timeout = None;
    let mut command_timeout = None;
    let mut search_path = None;
    let mut timezone = None;
    let mut after_password = false;
    // Set once a password was written unquoted: from there on no value is quoted in errors.
    let mut secret_tail = false;
    let mut host_in_tail = false;
    for Pair { key, value, quoted } in pairs {
        let v = value.as_str();
        let shown = if secret_tail {
            NOT_SHOWN.to_string()
        } else {
            format!("{v:?}")
        };
        let follows_password = std::mem::replace(&mut after_password, false);
        match norm_key(key).as_str() {
            "server" | "host" | "servername" | "hostname" => {
                host = Some(v.to_string());
                host_in_tail = secret_tail;
            }
            "port" => {
                port = Some(
                    v.trim()
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| {
                            format!("Port must be a number between 1 and 65535, found {shown}")
                        })?,
                )
            }
            "database" | "db" | "dbname" => database = Some(v.to_string()),
            "uid" | "user" | "userid" | "username" => user = Some(v.to_string()),
            "password" | "pwd" => {
                password = Some(Secret::new(v));
                after_password = true;
                secret_tail |= !quoted;
            }
            "encryptionmethod" | "em" => {
                em = Some(match v.trim() {
                    "0" => SslMode::Disable,
                    "1" => SslMode::Require,
                    "6" => SslMode::Prefer,
                    _ => {
                        return Err(format!(
                            "EncryptionMethod (EM) must be 0 (no encryption), 1 (SSL) or \
                             6 (RequestSSL), found {shown}"
                        ))
                    }
                })
            }
            "validateservercertificate" | "vsc" => {
                vsc = flag("ValidateServerCertificate (VSC)", v, &shown)?
            }
            "sslmode" => {
                sslmode = Some(SslMode::from_name(v).ok_or_else(|| {
                    format!(
                        "SSL Mode must be Disable, Allow, Prefer, Require, VerifyCA or \
                         VerifyFull, found {shown}"
                    )
                })?)
            }
            "trustservercertificate" => trust = flag("Trust Server Certificate", v, &shown)?,
            "truststore" | "rootcertificate" | "sslrootcert" => {
                root_cert = Some(PathBuf::from(v.trim())).filter(|p| !p.as_os_str().is_empty())
            }
            "timeout" | "connectiontimeout" | "connecttimeout" | "logintimeout" => {
                connect_timeout = Some(secs(seconds("Timeout", v, &shown)?))
            }
            "commandtimeout" => {
                let s = seconds("Command Timeout", v, &shown)?;
                command_timeout = (s > 0).then(|| secs(s));
            }
            "searchpath" => search_path = Some(v.to_string()).filter(|s| !s.trim().is_empty()),
            "timezone" => timezone = Some(v.to_string()).filter(|s| !s.trim().is_empty()),
            "encoding" | "clientencoding" => {
                if !is_utf8_name(v) {
                    tracing::warn!(
                        "connection string Encoding {shown} is ignored; Sluice always talks UTF-8"
                    );
                }
            }
            "pooling" | "applicationname" | "minpoolsize" | "maxpoolsize" => {}
            // Right after a password, an unknown "key" is most likely the rest of a password
            // containing ';': never show it.
            _ if follows_password => {
                return Err(format!(
                    "the key right after Password is unknown (not shown: it may be the rest of \
                     a password containing ';'; quote such a password as 'value' or {{value}}) \
                     (known keys: {KNOWN_KEYS})"
                ))
            }
            _ if secret_tail => {
                return Err(format!(
                    "an unknown key comes after an unquoted Password (not shown: it may be part \
                     of a password containing ';'; quote such a password as 'value' or {{value}}) \
                     (known keys: {KNOWN_KEYS})"
                ))
            }
            _ if !looks_like_key(key) => {
                return Err(format!(
                    "the connection string has an unknown key that does not look like a key \
                     (not shown: it may be part of a value containing ';'; quote such values) \
                     (known keys: {KNOWN_KEYS})"
                ))
            }
            _ => {
                return Err(format!(
                    "unknown key '{key}' in the connection string (known keys: {KNOWN_KEYS})"
                ))
            }
        }
    }
    let missing = |what: &str| format!("the connection string has no {what}");
    let host = host
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| missing("Server (host)"))?;
    let (host, host_port) = split_host_port(&host).map_err(|reason| {
        if host_in_tail {
            format!("Server has a port that is not a number: {NOT_SHOWN}")
        } else {
            reason
        }
    })?;
    let database = database
        .filter(|d| !d.is_empty())
        .ok_or_else(|| missing("Database"))?;
    let user = user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| missing("UID (user name)"))?;
    // EM=1 with VSC=1 is "SSL and validate": the full check, as the ODBC driver does.
    let em = em.map(|m| {
        if m == SslMode::Require && vsc {
            SslMode::VerifyFull
        } else {
            m
        }
    });
    let mut ssl_mode = sslmode.or(em).unwrap_or(SslMode::Disable);
    if trust {
        ssl_mode = ssl_mode.trusting_server();
    }
    Ok(PgEndpoint {
        host,
        port: port.or(host_port).unwrap_or(DEFAULT_PORT),
        database,
        user,
        password: password.filter(|p| !p.expose().is_empty()),
        ssl_mode,
        root_cert,
        search_path,
        connect_timeout,
        command_timeout,
        timezone,
        linked_service: None,
    })
}

/// Decodes `%XX` escapes of a URL component.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "has a '%' not followed by two hex digits".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "is not valid UTF-8 after percent-decoding".to_string())
}

#[cfg(test)]
#[path = "pg_endpoint_tests.rs"]
mod tests;
