//! The pipeline run result, shaped like ADF's monitoring output.

use serde::Serialize;

use crate::secrets::Redactor;
use crate::stores::StoreErrorKind;

/// Status of an activity or pipeline run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Succeeded,
    Failed,
    Skipped,
    /// Stopped from outside (the run or this activity was cancelled).
    Cancelled,
}

/// An activity's error, as ADF reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityError {
    pub error_code: String,
    pub message: String,
    pub failure_type: FailureType,
}

/// ADF's `failureType`: whose side a failure is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum FailureType {
    /// The definition, the data, the credentials or the query: the user must change something.
    #[default]
    UserError,
    /// The service or a store failed (a lost connection, a server shutting down, a
    /// serialization failure, a timeout): the same run may succeed later.
    SystemError,
}

impl FailureType {
    /// The failure type of a store failure of `kind`: transient kinds are the system's,
    /// everything else the user's.
    pub fn of(kind: StoreErrorKind) -> FailureType {
        match kind {
            StoreErrorKind::Connection
            | StoreErrorKind::ServerShutdown
            | StoreErrorKind::Serialization
            | StoreErrorKind::Timeout => FailureType::SystemError,
            StoreErrorKind::NotFound
            | StoreErrorKind::AccessDenied
            | StoreErrorKind::Data
            | StoreErrorKind::Definition
            | StoreErrorKind::Cancelled
            | StoreErrorKind::Other => FailureType::UserError,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityRun {
    /// ADF's `activityRunId`: unique per activity run (each ForEach iteration's, each retry
    /// series'), so an observer pairs a start with its end.
    pub activity_run_id: String,
    /// The pipeline run the activity ran in (a child pipeline's for its activities).
    pub pipeline_run_id: String,
    pub activity_name: String,
    /// The ForEach iteration it ran in (`ForEach1[3:sales]`, as its progress line shows it),
    /// for the text summary; not part of ADF's record.
    #[serde(skip)]
    pub iteration: Option<std::sync::Arc<str>>,
    pub activity_type: String,
    pub status: Status,
    pub activity_run_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_run_end: Option<String>,
    pub duration_in_ms: u64,
    /// Attempts made (1 + retries used).
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ActivityError>,
    pub output: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRun {
    pub pipeline_name: String,
    pub run_id: String,
    pub status: Status,
    pub run_start: String,
    pub run_end: String,
    pub duration_in_ms: u64,
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub activities: Vec<ActivityRun>,
    /// Properties Sluice read but does not implement, and other notices.
    pub warnings: Vec<String>,
}

impl ActivityRun {
    /// Masks the run's secrets in the error and the output.
    pub fn redact(&mut self, r: &Redactor) {
        if let Some(e) = &mut self.error {
            e.message = r.redact(&e.message);
        }
        r.redact_json(&mut self.output);
    }
}

impl PipelineRun {
    /// Masks the run's secrets everywhere in the record (parameters, warnings, every
    /// activity's error and output). The executor returns runs masked already.
    pub fn redact(&mut self, r: &Redactor) {
        let mut params = serde_json::Value::Object(std::mem::take(&mut self.parameters));
        r.redact_json(&mut params);
        if let serde_json::Value::Object(p) = params {
            self.parameters = p;
        }
        for w in &mut self.warnings {
            *w = r.redact(w);
        }
        for a in &mut self.activities {
            a.redact(r);
        }
    }

    /// The run as JSON (ADF's field names).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_types_follow_the_store_error_kind() {
        use StoreErrorKind::*;
        for kind in [Connection, ServerShutdown, Serialization, Timeout] {
            assert_eq!(FailureType::of(kind), FailureType::SystemError, "{kind}");
            assert!(kind.is_transient());
        }
        for kind in [NotFound, AccessDenied, Data, Definition, Cancelled, Other] {
            assert_eq!(FailureType::of(kind), FailureType::UserError, "{kind}");
            assert!(!kind.is_transient());
        }
    }

    #[test]
    fn failure_types_serialise_as_adf_names() {
        let e = ActivityError {
            error_code: "CopyFailed".into(),
            message: "m".into(),
            failure_type: FailureType::SystemError,
        };
        assert_eq!(
            serde_json::to_value(&e).ok(),
            Some(
                serde_json::json!({"errorCode": "CopyFailed", "message": "m", "failureType": "SystemError"})
            )
        );
    }
}
