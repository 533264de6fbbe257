//! Opening a session from a [`PgEndpoint`].
//!
//! Session settings that change how values are rendered (`DateStyle`, `IntervalStyle`,
//! `extra_float_digits`, `TimeZone`) go in the startup packet rather than a `SET` after
//! connecting: they then hold from the first statement, cost no round trip, and survive
//! `RESET ALL` / `DISCARD ALL`.

use std::error::Error as _;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::tls::{MakeTlsConnect, NoTls, TlsConnect};
use tokio_postgres::{Client, Config, Connection};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls;
use crate::model::pg_endpoint::{PgEndpoint, SslMode};
use crate::stores::{StoreError, StoreErrorKind};

pub use super::tls::tls_description;

/// Used when the linked service sets no connection timeout (Npgsql's default).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Connects and spawns the connection task. Errors read
/// "cannot connect to PostgreSQL at host:port/db as user: <reason>", redacted.
pub async fn connect(ep: &PgEndpoint, application_name: &str) -> Result<Client, StoreError> {
    let fail = |reason: StoreError| {
        reason.context(format_args!(
            "cannot connect to PostgreSQL at {}/{} as {}",
            ep.host_port(),
            ep.database,
            ep.user
        ))
    };
    let mut config = base_config(ep, application_name);
    let tls_config = tls::client_config(ep.ssl_mode, ep.root_cert.as_deref()).map_err(|e| {
        fail(StoreError::with_kind(
            StoreErrorKind::Definition,
            format!("{e:#}"),
        ))
    })?;
    let result = match (ep.ssl_mode, tls_config) {
        (_, None) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            open(&config, NoTls).await
        }
        (SslMode::Allow, Some(tls_config)) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            match open(&config, NoTls).await {
                Ok(client) => Ok(client),
                Err(plain) => {
                    tracing::debug!(
                        "plain connection to {} failed ({}); retrying with TLS (sslmode allow)",
                        ep.describe(),
                        crate::secrets::redact_logs(&plain.to_string())
                    );
                    config.ssl_mode(tokio_postgres::config::SslMode::Require);
                    open(&config, MakeRustlsConnect::new(tls_config))
                        .await
                        .map_err(|tls| {
                            StoreError::with_kind(
                                tls.kind(),
                                format!("{plain} (retrying with TLS also failed: {tls})"),
                            )
                        })
                }
            }
        }
        (SslMode::Prefer, Some(tls_config)) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Prefer);
            open(&config, MakeRustlsConnect::new(tls_config)).await
        }
        (_, Some(tls_config)) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            open(&config, MakeRustlsConnect::new(tls_config)).await
        }
    };
    let client = result.map_err(fail)?;
    tracing::debug!(
        "connected to PostgreSQL at {} ({})",
        ep.describe(),
        tls_description(ep.ssl_mode)
    );
    Ok(client)
}

/// Everything but TLS.
fn base_config(ep: &PgEndpoint, application_name: &str) -> Config {
    let mut config = Config::new();
    config
        .host(&ep.host)
        .port(ep.port)
        .dbname(&ep.database)
        .user(&ep.user)
        .application_name(application_name)
        .options(startup_options(ep));
    if let Some(pw) = &ep.password {
        config.password(pw.expose());
    }
    match ep.connect_timeout {
        Some(t) if t.is_zero() => {}
        Some(t) => {
            config.connect_timeout(t);
        }
        None => {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
    }
    config
}

/// The `options` startup parameter: `-c name=value` settings for the session.
pub fn startup_options(ep: &PgEndpoint) -> String {
    let mut settings: Vec<(&str, String)> = vec![
        ("DateStyle", "ISO".into()),
        ("IntervalStyle", "postgres".into()),
        ("extra_float_digits", "3".into()),
        (
            "TimeZone",
            ep.timezone.clone().unwrap_or_else(|| "UTC".into()),
        ),
    ];
    if let Some(sp) = &ep.search_path {
        settings.push(("search_path", sp.clone()));
    }
    if let Some(t) = ep.command_timeout {
        settings.push(("statement_timeout", format!("{}ms", t.as_millis())));
    }
    settings
        .iter()
        .map(|(k, v)| format!("-c {k}={}", escape_option(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The server splits `options` at white space; a backslash keeps the next character literal.
fn escape_option(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c == '\\' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Connects with `tls` and spawns the connection driver; the error's message is the full
/// reason text.
async fn open<T>(config: &Config, tls: T) -> Result<Client, StoreError>
where
    T: MakeTlsConnect<tokio_postgres::Socket> + Send,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let (client, connection) = config
        .connect(tls)
        .await
        .map_err(|e| StoreError::with_kind(super::errors::kind_of(&e), reason(&e)))?;
    spawn_connection(connection);
    Ok(client)
}

fn spawn_connection<S, T>(connection: Connection<S, T>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(
                "PostgreSQL connection closed with an error: {}",
                crate::secrets::redact_logs(&reason(&e))
            );
        }
    });
}

/// The server's message for server errors, else the driver's message followed by every cause
/// not already part of it (so TLS failures say *why*, e.g. "invalid peer certificate:
/// UnknownIssuer").
pub fn reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            s.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!(" hint: {hint}"));
        }
        s.push_str(&format!(" [SQLSTATE {}]", db.code().code()));
        return s;
    }
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_escaped() -> Result<(), String> {
        let mut ep = PgEndpoint::from_url("postgres://u@h/d").map_err(|e| e.to_string())?;
        ep.search_path = Some("a, b\\c".into());
        ep.command_timeout = Some(Duration::from_secs(2));
        ep.timezone = Some("Europe/Paris".into());
        assert_eq!(
            startup_options(&ep),
            "-c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 \
             -c TimeZone=Europe/Paris -c search_path=a,\\ b\\\\c -c statement_timeout=2000ms"
        );
        Ok(())
    }
}
