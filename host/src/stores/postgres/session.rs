//! [`PgSession`]: an open PostgreSQL connection whose waits can be bounded on the client side.
//!
//! Every timeout Sluice gives the server (`queryTimeout`, `writeBatchTimeout`, the Script's
//! block timeout, `commandTimeout`) is set as the session's `statement_timeout`, so a live
//! server cancels a statement that runs too long and says so. A server that is frozen (a
//! stopped process, a hung host, a network path that silently drops packets) says nothing,
//! and the driver would wait for its answer forever. So each such wait is also bounded here:
//! [`PgSession::bounded`] stops waiting a little after the server's own limit ([`GRACE`]),
//! asks the server to cancel the statement (a cancel request on a new connection, as libpq
//! and Npgsql do) and closes the connection, whose driver task would otherwise wait on.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::AbortHandle;
use tokio_postgres::tls::{MakeTlsConnect, NoTls};
use tokio_postgres::{CancelToken, Client};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::model::timespan::format_timespan;
use crate::stores::{StoreError, StoreErrorKind};

/// How much longer than the server's own limit the client waits: enough for the server's
/// cancellation (which names the real cause) to arrive first whenever the server is alive.
pub const GRACE: Duration = Duration::from_secs(2);

/// The longest a cancel request may take before the connection is closed without it.
const CANCEL_LIMIT: Duration = Duration::from_secs(5);

/// An open session: the driver's [`Client`] (which it derefs to), the connection's driver task
/// and what is needed to send a cancel request.
pub struct PgSession {
    client: Client,
    driver: AbortHandle,
    cancel: CancelRoute,
    /// [`PgSession::abandon`] ran: the key may not be used again (the server may already
    /// have given this backend's slot to another session).
    abandoned: AtomicBool,
}

/// Where and how to send a cancel request for this session's statements.
pub(super) struct CancelRoute {
    /// The server's key for this session (known once startup is done).
    pub token: Option<CancelToken>,
    pub addr: SocketAddr,
    pub host: String,
    /// The TLS set-up the session was opened with (`None`: plain).
    pub tls: Option<MakeRustlsConnect>,
    /// The connection timeout, which also bounds the cancel request.
    pub limit: Option<Duration>,
}

/// The server did not answer within the bound given to [`PgSession::bounded`]; the statement
/// was cancelled (if the server took the request) and the connection closed.
#[derive(Debug, Clone, Copy)]
pub struct Unanswered {
    pub limit: Duration,
}

impl Unanswered {
    /// The user's error: `{context}: {setting} {limit} exceeded: ...`, of kind Timeout.
    pub fn error(self, context: impl std::fmt::Display, setting: &str) -> StoreError {
        StoreError::with_kind(
            StoreErrorKind::Timeout,
            format!(
                "{context}: {setting} {} exceeded: the server did not answer within it (it may \
                 be frozen or unreachable), so Sluice stopped waiting, asked the server to \
                 cancel the statement and closed the connection",
                format_timespan(self.limit)
            ),
        )
    }
}

impl Deref for PgSession {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl PgSession {
    pub(super) fn new(client: Client, driver: AbortHandle, cancel: CancelRoute) -> Self {
        PgSession {
            client,
            driver,
            cancel,
            abandoned: AtomicBool::new(false),
        }
    }

    /// Waits for `work` (statements on this session) at most `limit` plus [`GRACE`]; `None`
    /// waits as long as it takes. When the time is up the statement is cancelled and the
    /// connection closed ([`PgSession::abandon`]): the session is unusable afterwards.
    pub async fn bounded<T>(
        &self,
        limit: Option<Duration>,
        work: impl Future<Output = T>,
    ) -> Result<T, Unanswered> {
        let Some(limit) = limit else {
            return Ok(work.await);
        };
        match tokio::time::timeout(limit.saturating_add(GRACE), work).await {
            Ok(v) => Ok(v),
            Err(_) => {
                self.abandon().await;
                Err(Unanswered { limit })
            }
        }
    }

    /// Asks the server to cancel whatever this session runs (within the connection timeout,
    /// at most [`CANCEL_LIMIT`]), then closes the connection at once: nothing more is awaited
    /// from a server that stopped answering.
    pub async fn abandon(&self) {
        if self.abandoned.swap(true, Ordering::Relaxed) {
            return;
        }
        let route = &self.cancel;
        let limit = route.limit.unwrap_or(CANCEL_LIMIT).min(CANCEL_LIMIT);
        match tokio::time::timeout(limit, send_cancel(route)).await {
            Ok(Ok(())) => tracing::debug!("sent a cancel request to {}", route.addr),
            Ok(Err(e)) => tracing::debug!(
                "cancel request to {} failed: {}",
                route.addr,
                crate::secrets::redact_logs(&e)
            ),
            Err(_) => tracing::debug!("cancel request to {} got no answer", route.addr),
        }
        self.driver.abort();
    }
}

async fn send_cancel(route: &CancelRoute) -> Result<(), String> {
    let token = route
        .token
        .as_ref()
        .ok_or("the server gave no cancel key")?;
    let stream = TcpStream::connect(route.addr)
        .await
        .map_err(|e| e.to_string())?;
    let sent = match &route.tls {
        None => token.cancel_query_raw(stream, NoTls).await,
        Some(make) => {
            let tls = MakeTlsConnect::<TcpStream>::make_tls_connect(&mut make.clone(), &route.host)
                .map_err(|e| e.to_string())?;
            token.cancel_query_raw(stream, tls).await
        }
    };
    sent.map_err(|e| e.to_string())
}

impl Drop for PgSession {
    /// A session dropped in the middle of a statement (an aborted copy) leaves no driver task
    /// waiting on a server that may never answer; an idle one closes normally first.
    fn drop(&mut self) {
        if self.client.is_closed() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let driver = self.driver.clone();
            runtime.spawn(async move {
                tokio::time::sleep(CANCEL_LIMIT).await;
                driver.abort();
            });
        }
    }
}
