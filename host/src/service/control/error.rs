//! [`ControlError`]: what the control database's operations fail with, in variants the API
//! maps to ARM errors (404, 409, 400) and the worker to retry-or-give-up (transient or not).
//! No variant carries a secret: database errors are PostgreSQL's messages, which never
//! include parameter values.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ControlError {
    /// The named thing (a tenant, factory, definition, plugin or run) does not exist.
    #[error("{0} was not found")]
    NotFound(String),
    /// `If-Match` named another etag (or `*` and the resource does not exist).
    #[error("the resource was changed since it was read: its etag does not match If-Match")]
    EtagMismatch,
    /// The request clashes with what exists (a duplicate tenant name).
    #[error("{0}")]
    Conflict(String),
    /// A started trigger cannot be changed or deleted (ADF's `TriggerEnabledCannotUpdate`):
    /// it must be stopped first.
    #[error("cannot update enabled trigger '{0}'; the trigger needs to be stopped first")]
    TriggerStarted(String),
    /// The request itself is wrong (a bad name, filter, or continuation token).
    #[error("{0}")]
    Invalid(String),
    /// The worker no longer holds the run: its lease expired and the run was reaped or
    /// claimed elsewhere.
    #[error("the worker '{worker}' no longer holds run {run_id} (its lease was lost)")]
    LeaseLost { run_id: uuid::Uuid, worker: String },
    /// The control database failed; `transient` errors (connections, deadlocks,
    /// serialization failures, a server shutting down) are worth retrying.
    #[error("control database: {message}")]
    Database { message: String, transient: bool },
    /// Applying the schema migrations failed.
    #[error("control database migrations: {0}")]
    Migration(String),
    /// The master key is missing or wrong, or a sealed value does not open.
    #[error("{0}")]
    Crypto(String),
}

impl ControlError {
    /// Whether retrying the same operation may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ControlError::Database {
                transient: true,
                ..
            }
        )
    }

    pub(crate) fn not_found(what: impl Into<String>) -> ControlError {
        ControlError::NotFound(what.into())
    }
}

/// SQLSTATE classes and codes worth retrying: connection exceptions (08), transaction
/// rollbacks (40: serialization failure, deadlock), insufficient resources (53), operator
/// intervention (57P01-57P03: shutdown, cannot connect now).
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("40")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03")
}

impl From<tokio_postgres::Error> for ControlError {
    fn from(e: tokio_postgres::Error) -> ControlError {
        let transient = match e.as_db_error() {
            Some(db) => transient_sqlstate(db.code().code()),
            // No server error: the connection broke or could not be opened.
            None => true,
        };
        let message = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => {
                let mut text = e.to_string();
                if let Some(source) = std::error::Error::source(&e) {
                    text = format!("{text}: {source}");
                }
                text
            }
        };
        ControlError::Database { message, transient }
    }
}

impl From<deadpool_postgres::PoolError> for ControlError {
    fn from(e: deadpool_postgres::PoolError) -> ControlError {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => ControlError::Database {
                message: format!("cannot get a connection: {other}"),
                transient: true,
            },
        }
    }
}

/// Whether `e` is a unique-constraint violation (SQLSTATE 23505).
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sqlstates() {
        assert!(transient_sqlstate("40001"));
        assert!(transient_sqlstate("40P01"));
        assert!(transient_sqlstate("08006"));
        assert!(transient_sqlstate("57P01"));
        assert!(!transient_sqlstate("23505"));
        assert!(!transient_sqlstate("42P01"));
    }
}
