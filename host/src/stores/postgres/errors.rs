//! Turning driver errors into one readable line: the server's message with its detail, hint
//! and context, redacted; and into a [`StoreErrorKind`], from the SQLSTATE or, for errors the
//! driver raises itself, from what went wrong (a lost connection, a timeout).

use tokio_postgres::error::SqlState;

use crate::stores::error::io_kind;
use crate::stores::StoreErrorKind;

/// The server's message (and detail, hint, where) or the driver's, without secrets.
pub fn describe(e: &tokio_postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                s.push_str(&format!("; hint: {h}"));
            }
            if let Some(w) = db.where_() {
                s.push_str(&format!("; where: {w}"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    };
    text
}

/// Whether the server cancelled the statement (statement_timeout).
pub fn is_timeout(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::QUERY_CANCELED)
}

/// Whether the error says a relation or column does not exist.
pub fn is_undefined(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::UNDEFINED_TABLE || *c == SqlState::UNDEFINED_COLUMN)
}

/// What kind of failure a driver error is: by SQLSTATE for the server's errors, else by the
/// driver's own failure (connecting, a closed connection, socket I/O, a timeout, TLS,
/// authentication, configuration, converting a value).
pub fn kind_of(e: &tokio_postgres::Error) -> StoreErrorKind {
    if let Some(code) = e.code() {
        return kind_of_state(code);
    }
    if e.is_closed() {
        return StoreErrorKind::Connection;
    }
    // The driver's error kinds are private; its message names the kind (the causes are in
    // `source()`, not in the message).
    let io = io_source(e).map(std::io::Error::kind);
    kind_of_driver(&e.to_string(), io)
}

/// A SQLSTATE's kind.
pub fn kind_of_state(code: &SqlState) -> StoreErrorKind {
    let c = code.code();
    let class = c.get(..2).unwrap_or_default();
    match (class, c) {
        (_, "57P01" | "57P02" | "57P03") | ("08", _) => StoreErrorKind::ServerShutdown,
        // Too many connections: another attempt may find a free slot.
        (_, "53300") => StoreErrorKind::Connection,
        (_, "40001" | "40P01") => StoreErrorKind::Serialization,
        // query_canceled (statement_timeout), lock_not_available (lock_timeout, NOWAIT).
        (_, "57014" | "55P03") => StoreErrorKind::Timeout,
        (_, "42501") | ("28", _) => StoreErrorKind::AccessDenied,
        // undefined_table, invalid_catalog_name (no such database), invalid_schema_name.
        (_, "42P01" | "3D000" | "3F000") => StoreErrorKind::NotFound,
        // A row too large for an index is a row's fault, like class 22 and 23.
        ("22" | "23", _) | (_, "54000") => StoreErrorKind::Data,
        ("42" | "0A", _) => StoreErrorKind::Definition,
        _ => StoreErrorKind::Other,
    }
}

/// The kind of an error the driver raised itself, from its message (the driver's kind) and
/// the kind of the I/O error among its causes.
fn kind_of_driver(message: &str, io: Option<std::io::ErrorKind>) -> StoreErrorKind {
    match message {
        "error connecting to server"
        | "error communicating with the server"
        | "connection closed"
        | "timeout waiting for server"
        | "unexpected message from server"
        | "error parsing response from server" => StoreErrorKind::Connection,
        // A handshake cut off is a lost connection; a refused certificate is not.
        "error performing TLS handshake" => match io.map(io_kind) {
            Some(StoreErrorKind::Connection | StoreErrorKind::Timeout) => {
                StoreErrorKind::Connection
            }
            _ => StoreErrorKind::AccessDenied,
        },
        "authentication error" => StoreErrorKind::AccessDenied,
        "invalid connection string" | "invalid configuration" => StoreErrorKind::Definition,
        m if m.starts_with("error serializing parameter")
            || m.starts_with("error deserializing column") =>
        {
            StoreErrorKind::Data
        }
        _ => match io.map(io_kind) {
            Some(StoreErrorKind::Connection | StoreErrorKind::Timeout) => {
                StoreErrorKind::Connection
            }
            _ => StoreErrorKind::Other,
        },
    }
}

/// The first I/O error among the causes of `e`.
fn io_source(e: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        src = inner.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::StoreErrorKind as K;

    #[test]
    fn sqlstates_by_kind() {
        let cases = [
            (SqlState::ADMIN_SHUTDOWN, K::ServerShutdown),
            (SqlState::CRASH_SHUTDOWN, K::ServerShutdown),
            (SqlState::CANNOT_CONNECT_NOW, K::ServerShutdown),
            (SqlState::CONNECTION_FAILURE, K::ServerShutdown),
            (SqlState::CONNECTION_EXCEPTION, K::ServerShutdown),
            (SqlState::TOO_MANY_CONNECTIONS, K::Connection),
            (SqlState::T_R_SERIALIZATION_FAILURE, K::Serialization),
            (SqlState::T_R_DEADLOCK_DETECTED, K::Serialization),
            (SqlState::QUERY_CANCELED, K::Timeout),
            (SqlState::LOCK_NOT_AVAILABLE, K::Timeout),
            (SqlState::INVALID_PASSWORD, K::AccessDenied),
            (
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                K::AccessDenied,
            ),
            (SqlState::INSUFFICIENT_PRIVILEGE, K::AccessDenied),
            (SqlState::UNDEFINED_TABLE, K::NotFound),
            (SqlState::INVALID_CATALOG_NAME, K::NotFound),
            (SqlState::INVALID_SCHEMA_NAME, K::NotFound),
            (SqlState::DIVISION_BY_ZERO, K::Data),
            (SqlState::INVALID_TEXT_REPRESENTATION, K::Data),
            (SqlState::NOT_NULL_VIOLATION, K::Data),
            (SqlState::UNIQUE_VIOLATION, K::Data),
            (SqlState::PROGRAM_LIMIT_EXCEEDED, K::Data),
            (SqlState::SYNTAX_ERROR, K::Definition),
            (SqlState::UNDEFINED_COLUMN, K::Definition),
            (SqlState::UNDEFINED_FUNCTION, K::Definition),
            (SqlState::DATATYPE_MISMATCH, K::Definition),
            (SqlState::FEATURE_NOT_SUPPORTED, K::Definition),
            (SqlState::RAISE_EXCEPTION, K::Other),
            (SqlState::INTERNAL_ERROR, K::Other),
            (SqlState::DISK_FULL, K::Other),
        ];
        for (state, kind) in cases {
            assert_eq!(kind_of_state(&state), kind, "{}", state.code());
        }
    }

    #[test]
    fn transient_sqlstates() {
        let transient = |s: SqlState| kind_of_state(&s).is_transient();
        assert!(transient(SqlState::ADMIN_SHUTDOWN));
        assert!(transient(SqlState::CONNECTION_FAILURE));
        assert!(transient(SqlState::T_R_SERIALIZATION_FAILURE));
        assert!(transient(SqlState::T_R_DEADLOCK_DETECTED));
        assert!(transient(SqlState::QUERY_CANCELED));
        assert!(!transient(SqlState::DIVISION_BY_ZERO));
        assert!(!transient(SqlState::UNDEFINED_TABLE));
        assert!(!transient(SqlState::SYNTAX_ERROR));
        assert!(!transient(SqlState::INSUFFICIENT_PRIVILEGE));
        assert!(!transient(SqlState::INVALID_PASSWORD));
    }

    #[test]
    fn driver_errors_by_kind() {
        use std::io::ErrorKind as Io;
        let cases = [
            (
                "error connecting to server",
                Some(Io::ConnectionRefused),
                K::Connection,
            ),
            ("error connecting to server", None, K::Connection),
            (
                "error communicating with the server",
                Some(Io::BrokenPipe),
                K::Connection,
            ),
            ("connection closed", None, K::Connection),
            ("timeout waiting for server", None, K::Connection),
            (
                "error performing TLS handshake",
                Some(Io::ConnectionReset),
                K::Connection,
            ),
            (
                "error performing TLS handshake",
                Some(Io::InvalidData),
                K::AccessDenied,
            ),
            ("authentication error", None, K::AccessDenied),
            ("invalid configuration", None, K::Definition),
            ("error serializing parameter 0", None, K::Data),
            ("error deserializing column 3", None, K::Data),
            (
                "query returned an unexpected number of rows",
                None,
                K::Other,
            ),
        ];
        for (message, io, kind) in cases {
            assert_eq!(kind_of_driver(message, io), kind, "{message} {io:?}");
        }
    }

    #[test]
    fn a_driver_timeout_is_a_connection_failure() {
        let e = tokio_postgres::Error::__private_api_timeout();
        assert_eq!(kind_of(&e), K::Connection);
        assert!(crate::stores::StoreError::postgres("cannot connect", &e).is_transient());
    }
}
