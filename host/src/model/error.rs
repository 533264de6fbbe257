//! Errors in factory definitions: each names the file or object, the property and the reason.

use std::path::PathBuf;

/// A problem with the ADF JSON itself, found without connecting anywhere.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: malformed JSON: {reason}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    /// `object` names the definition (`pipeline 'P' activity 'A' typeProperties.sink`),
    /// `property` the key within it (may be empty when the object itself is wrong).
    #[error("{object}{}: {reason}", if property.is_empty() { String::new() } else { format!(": property '{property}'") })]
    Invalid {
        object: String,
        property: String,
        reason: String,
    },
    #[error(
        "{from} references {kind} '{name}', which is not defined{}",
        hint_known(known)
    )]
    Dangling {
        from: String,
        kind: &'static str,
        name: String,
        known: Vec<String>,
    },
    #[error("{0}")]
    Other(String),
}

fn hint_known(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (defined: {})", known.join(", "))
    }
}

impl ModelError {
    pub fn invalid(object: &str, property: &str, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            object: object.to_string(),
            property: property.to_string(),
            reason: reason.into(),
        }
    }
}
