//! Errors in factory definitions: each names the file or object, the property and the reason.

use std::path::PathBuf;

/// A problem with the ADF JSON itself, found without connecting anywhere.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The OS error is part of the message, not a `source`: error chains (`{:#}`) would
    /// print it twice.
    #[error("{path}: cannot read: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
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
    /// Several independent problems (every unsupported activity of a pipeline), one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<ModelError>),
}

fn hint_known(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (defined: {})", known.join(", "))
    }
}

impl ModelError {
    /// One error for `errors` (at least one), nested lists flattened.
    pub fn several(errors: Vec<ModelError>) -> Self {
        let mut flat = Vec::new();
        for e in errors {
            match e {
                ModelError::Several(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            if let Some(only) = flat.pop() {
                return only;
            }
        }
        ModelError::Several(flat)
    }

    /// Each problem's message: one for most errors, one per problem for [`ModelError::Several`].
    pub fn messages(&self) -> Vec<String> {
        match self {
            ModelError::Several(all) => all.iter().flat_map(ModelError::messages).collect(),
            other => vec![other.to_string()],
        }
    }

    pub fn invalid(object: &str, property: &str, reason: impl Into<String>) -> Self {
        ModelError::Invalid {
            object: object.to_string(),
            property: property.to_string(),
            reason: reason.into(),
        }
    }
}
