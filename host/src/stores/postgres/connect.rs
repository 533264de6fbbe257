//! Opening a session from a [`PgEndpoint`].
//!
//! Session settings that change how values are rendered (`DateStyle`, `IntervalStyle`,
//! `extra_float_digits`, `TimeZone`) go in the startup packet rather than a `SET` after
//! connecting: they then hold from the first statement, cost no round trip, and survive
//! `RESET ALL` / `DISCARD ALL`. So opening a session runs no set-up query.
//!
//! The connection timeout (`connectionTimeout` / `Timeout`, Npgsql's 15 s when unset) bounds
//! the whole opening: resolving the host, the TCP connect, the SSL request, the TLS handshake
//! and startup with authentication. The driver's own timeout covers only the TCP connect, so
//! a server that accepts and never answers would otherwise hang the run. The socket is opened
//! here and handed to the driver, which lets [`watch`] tell which step was under way when the
//! time ran out, and keeps what a cancel request needs (see [`PgSession`]).

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio_postgres::tls::{MakeTlsConnect, NoTls, TlsConnect};
use tokio_postgres::{Config, Connection};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::session::{CancelRoute, PgSession};
use super::tls;
use super::watch::{Phase, Progress, Tracked, Watched};
use crate::model::pg_endpoint::{PgEndpoint, SslMode};
use crate::stores::{StoreError, StoreErrorKind};

pub use super::tls::tls_description;

/// Used when the linked service sets no connection timeout (Npgsql's default).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Connects and spawns the connection task. Errors read "cannot connect to PostgreSQL at
/// host:port/db as user (linked service 'L'): <reason>", redacted; running out of the
/// connection timeout is a [`StoreErrorKind::Timeout`] naming the step that got no answer.
pub async fn connect(ep: &PgEndpoint, application_name: &str) -> Result<PgSession, StoreError> {
    let fail = |reason: StoreError| {
        let named = ep
            .linked_service
            .as_ref()
            .map(|ls| format!(" (linked service '{ls}')"))
            .unwrap_or_default();
        reason.context(format_args!(
            "cannot connect to PostgreSQL at {}/{} as {}{named}",
            ep.host_port(),
            ep.database,
            ep.user
        ))
    };
    let config = base_config(ep, application_name);
    let tls_config = tls::client_config(ep.ssl_mode, ep.root_cert.as_deref()).map_err(|e| {
        fail(StoreError::with_kind(
            StoreErrorKind::Definition,
            format!("{e:#}"),
        ))
    })?;
    let limit = connect_limit(ep);
    let progress = Arc::new(Progress::default());
    let attempts = open_by_mode(ep, config, tls_config, limit, &progress);
    let result = match limit {
        Some(limit) => match tokio::time::timeout(limit, attempts).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::with_kind(
                StoreErrorKind::Timeout,
                format!(
                    "connection timeout ({}) exceeded: {}",
                    seconds(limit),
                    progress.describe()
                ),
            )),
        },
        None => attempts.await,
    };
    let session = result.map_err(fail)?;
    tracing::debug!(
        "connected to PostgreSQL at {} ({})",
        ep.describe(),
        tls_description(ep.ssl_mode)
    );
    Ok(session)
}

/// The bound on opening a session: the endpoint's, or the default; `None` (a timeout of 0)
/// waits indefinitely, as Npgsql's 0 does.
fn connect_limit(ep: &PgEndpoint) -> Option<Duration> {
    match ep.connect_timeout {
        Some(t) if t.is_zero() => None,
        Some(t) => Some(t),
        None => Some(DEFAULT_CONNECT_TIMEOUT),
    }
}

/// "2 s", "1.5 s".
fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Opens the session the way the SSL mode asks: plain, TLS, or one then the other.
async fn open_by_mode(
    ep: &PgEndpoint,
    mut config: Config,
    tls_config: Option<rustls::ClientConfig>,
    limit: Option<Duration>,
    progress: &Arc<Progress>,
) -> Result<PgSession, StoreError> {
    use tokio_postgres::config::SslMode as Mode;
    match (ep.ssl_mode, tls_config) {
        (_, None) => {
            config.ssl_mode(Mode::Disable);
            open(ep, &config, None, limit, progress).await
        }
        (SslMode::Allow, Some(tls_config)) => {
            config.ssl_mode(Mode::Disable);
            match open(ep, &config, None, limit, progress).await {
                Ok(session) => Ok(session),
                Err(plain) => {
                    tracing::debug!(
                        "plain connection to {} failed ({}); retrying with TLS (sslmode allow)",
                        ep.describe(),
                        crate::secrets::redact_logs(&plain.to_string())
                    );
                    config.ssl_mode(Mode::Require);
                    let tls = Some(MakeRustlsConnect::new(tls_config));
                    open(ep, &config, tls, limit, progress)
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
            config.ssl_mode(Mode::Prefer);
            let tls = Some(MakeRustlsConnect::new(tls_config));
            open(ep, &config, tls, limit, progress).await
        }
        (_, Some(tls_config)) => {
            config.ssl_mode(Mode::Require);
            let tls = Some(MakeRustlsConnect::new(tls_config));
            open(ep, &config, tls, limit, progress).await
        }
    }
}

/// One attempt: each address of the host in turn (as the driver does), TCP, then TLS when
/// `tls` is given, then startup and authentication.
async fn open(
    ep: &PgEndpoint,
    config: &Config,
    tls: Option<MakeRustlsConnect>,
    limit: Option<Duration>,
    progress: &Arc<Progress>,
) -> Result<PgSession, StoreError> {
    let unreachable = |e: &std::io::Error| {
        StoreError::with_kind(
            crate::stores::error::io_kind(e.kind()),
            format!("error connecting to server: {e}"),
        )
    };
    progress.enter(Phase::Resolve);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((ep.host.as_str(), ep.port))
        .await
        .map_err(|e| unreachable(&e))?
        .collect();
    let mut last = None;
    for addr in addrs {
        progress.enter(Phase::Tcp);
        let stream = match tcp_connect(addr).await {
            Ok(stream) => stream,
            Err(e) => {
                last = Some(unreachable(&e));
                continue;
            }
        };
        let watched = Watched::new(stream, progress.clone());
        let route = CancelRoute {
            token: None,
            addr,
            host: ep.host.clone(),
            tls: tls.clone(),
            limit,
        };
        let opened = match &tls {
            None => {
                progress.enter(Phase::Startup);
                start(config, watched, NoTls, route).await
            }
            Some(make) => {
                progress.enter(Phase::SslRequest);
                match MakeTlsConnect::<Watched>::make_tls_connect(&mut make.clone(), &ep.host) {
                    Ok(connector) => {
                        let tracked = Tracked::new(connector, progress.clone());
                        start(config, watched, tracked, route).await
                    }
                    Err(e) => Err(StoreError::with_kind(
                        StoreErrorKind::Definition,
                        format!("error performing TLS handshake: {e}"),
                    )),
                }
            }
        };
        match opened {
            Ok(session) => return Ok(session),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        StoreError::with_kind(
            StoreErrorKind::Connection,
            format!(
                "error connecting to server: {} resolved to no address",
                ep.host
            ),
        )
    }))
}

/// A TCP connection with the driver's socket options: no Nagle delay (each message is sent
/// whole) and keepalive, so a peer that vanished is noticed on an idle connection.
async fn tcp_connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_keepalive(true)?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// TLS (when `tls` does it), startup and authentication on a connected socket; spawns the
/// connection's driver.
async fn start<T>(
    config: &Config,
    stream: Watched,
    tls: T,
    mut route: CancelRoute,
) -> Result<PgSession, StoreError>
where
    T: TlsConnect<Watched>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config
        .connect_raw(stream, tls)
        .await
        .map_err(|e| StoreError::with_kind(super::errors::kind_of(&e), reason(&e)))?;
    route.token = Some(client.cancel_token());
    let driver = spawn_connection(connection);
    Ok(PgSession::new(client, driver, route))
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

/// Runs the connection's driver on its own task; the handle lets a session that stopped
/// waiting for its server close the connection at once.
fn spawn_connection<S, T>(connection: Connection<S, T>) -> tokio::task::AbortHandle
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(
                "PostgreSQL connection closed with an error: {}",
                crate::secrets::redact_logs(&reason(&e))
            );
        }
    });
    task.abort_handle()
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
