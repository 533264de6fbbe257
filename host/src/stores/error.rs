//! [`StoreError`]: a failure inside a store, phrased for the user, with its
//! [`StoreErrorKind`] so callers can tell a lost connection (worth retrying) from a bad query
//! (which will fail again).

use std::fmt::Display;

/// What kind of failure a [`StoreError`] is. Callers match on it: the executor derives ADF's
/// `failureType` from it, and [`StoreErrorKind::is_transient`] says whether trying again may
/// succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreErrorKind {
    /// Cannot connect, or the connection was lost or closed (I/O on the socket, DNS, TLS
    /// transport).
    Connection,
    /// The server is shutting down or not accepting connections yet (SQLSTATE 57P01, 57P02,
    /// 57P03, class 08).
    ServerShutdown,
    /// The transaction lost a race: serialization failure (40001) or deadlock (40P01).
    Serialization,
    /// A statement or request ran out of time: the server cancelled it (57014 from
    /// `statement_timeout`), a lock wait timed out (55P03), or one of our own timeouts.
    Timeout,
    /// A table, database, schema, file, folder, container or blob does not exist.
    NotFound,
    /// Authentication failed or the credentials lack a permission (class 28, 42501, HTTP 401
    /// and 403).
    AccessDenied,
    /// A value or row the store refuses, or a malformed file: data exceptions (class 22),
    /// constraint violations (class 23).
    Data,
    /// A problem with the dataset, the SQL or a setting that the user must fix (class 42
    /// other than 42501, feature not supported).
    Definition,
    /// The run was cancelled.
    Cancelled,
    /// Anything else.
    Other,
}

impl StoreErrorKind {
    /// Whether trying again may succeed: a lost connection, a server shutting down, a
    /// serialization failure or deadlock, a timeout. Everything else is permanent.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            StoreErrorKind::Connection
                | StoreErrorKind::ServerShutdown
                | StoreErrorKind::Serialization
                | StoreErrorKind::Timeout
        )
    }

    /// The kind's name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            StoreErrorKind::Connection => "Connection",
            StoreErrorKind::ServerShutdown => "ServerShutdown",
            StoreErrorKind::Serialization => "Serialization",
            StoreErrorKind::Timeout => "Timeout",
            StoreErrorKind::NotFound => "NotFound",
            StoreErrorKind::AccessDenied => "AccessDenied",
            StoreErrorKind::Data => "Data",
            StoreErrorKind::Definition => "Definition",
            StoreErrorKind::Cancelled => "Cancelled",
            StoreErrorKind::Other => "Other",
        }
    }
}

impl Display for StoreErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure inside a store, phrased for the user. It may quote a server's message, so it is
/// masked with the run's redactor where it leaves the run (the executor's activity error).
/// It displays as its message alone; the kind is for callers to match on.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    message: String,
    kind: StoreErrorKind,
}

impl StoreError {
    /// An error of kind [`StoreErrorKind::Other`].
    pub fn new(msg: impl Into<String>) -> Self {
        StoreError::with_kind(StoreErrorKind::Other, msg)
    }

    pub fn with_kind(kind: StoreErrorKind, msg: impl Into<String>) -> Self {
        StoreError {
            message: msg.into(),
            kind,
        }
    }

    /// A PostgreSQL error: `{context}: {the server's message, detail, hint and where}`,
    /// classified by its SQLSTATE (or as a connection failure when the driver lost the
    /// connection).
    pub fn postgres(context: impl Display, e: &tokio_postgres::Error) -> Self {
        StoreError::with_kind(
            super::postgres::errors::kind_of(e),
            format!("{context}: {}", super::postgres::errors::describe(e)),
        )
    }

    /// An `object_store` (Azure Blob Storage) error: `{context}: {reason}`, classified
    /// (not found, access denied, connection, timeout).
    pub fn object_store(context: impl Display, e: &object_store::Error) -> Self {
        StoreError::with_kind(
            super::files::blob::kind_of(e),
            format!("{context}: {}", super::files::blob::describe(e)),
        )
    }

    /// A local file system error: `{context}: {e}`, classified by the I/O error kind.
    pub fn io(context: impl Display, e: &std::io::Error) -> Self {
        StoreError::with_kind(io_kind(e.kind()), format!("{context}: {e}"))
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Whether trying again may succeed (see [`StoreErrorKind::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }

    /// The message (what the error displays as).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `{prefix}: ` before its message, keeping its kind.
    pub fn context(self, prefix: impl Display) -> Self {
        StoreError {
            message: format!("{prefix}: {}", self.message),
            kind: self.kind,
        }
    }
}

impl From<anyhow::Error> for StoreError {
    fn from(e: anyhow::Error) -> Self {
        StoreError::new(format!("{e:#}"))
    }
}

/// The kind of a local file system error: a missing file or folder, a permission, else other.
pub fn io_kind(kind: std::io::ErrorKind) -> StoreErrorKind {
    use std::io::ErrorKind as K;
    match kind {
        K::NotFound => StoreErrorKind::NotFound,
        K::PermissionDenied => StoreErrorKind::AccessDenied,
        K::TimedOut => StoreErrorKind::Timeout,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::AddrNotAvailable => StoreErrorKind::Connection,
        // A truncated or unreadable file.
        K::InvalidData | K::UnexpectedEof => StoreErrorKind::Data,
        _ => StoreErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_the_message_alone_and_keeps_the_kind() {
        let e = StoreError::with_kind(StoreErrorKind::NotFound, "table t does not exist");
        assert_eq!(e.to_string(), "table t does not exist");
        assert_eq!(e.message(), "table t does not exist");
        let e = e.context("dataset 'D'");
        assert_eq!(e.to_string(), "dataset 'D': table t does not exist");
        assert_eq!(e.kind(), StoreErrorKind::NotFound);
        assert!(!e.is_transient());
        let e = StoreError::new("anything");
        assert_eq!(e.kind(), StoreErrorKind::Other);
    }

    #[test]
    fn transient_kinds() {
        use StoreErrorKind::*;
        let transient = [Connection, ServerShutdown, Serialization, Timeout];
        let permanent = [NotFound, AccessDenied, Data, Definition, Cancelled, Other];
        assert!(transient.iter().all(|k| k.is_transient()));
        assert!(permanent.iter().all(|k| !k.is_transient()));
    }

    #[test]
    fn io_errors_by_kind() {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = StoreError::io("/x/y.csv: cannot open", &e);
        assert_eq!(e.to_string(), "/x/y.csv: cannot open: No such file");
        assert_eq!(e.kind(), StoreErrorKind::NotFound);
        assert_eq!(
            io_kind(std::io::ErrorKind::PermissionDenied),
            StoreErrorKind::AccessDenied
        );
        assert_eq!(
            io_kind(std::io::ErrorKind::ConnectionReset),
            StoreErrorKind::Connection
        );
        assert_eq!(io_kind(std::io::ErrorKind::Other), StoreErrorKind::Other);
    }
}
