//! The pipeline run result, shaped like ADF's monitoring output.

use serde::Serialize;

/// Status of an activity or pipeline run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Succeeded,
    Failed,
    Skipped,
}

/// An activity's error, as ADF reports it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityError {
    pub error_code: String,
    pub message: String,
    pub failure_type: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityRun {
    pub activity_name: String,
    pub activity_type: String,
    pub status: Status,
    pub activity_run_start: Option<String>,
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

impl PipelineRun {
    /// The run as JSON with every secret masked.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        crate::secrets::redact_json(&mut v);
        v
    }
}
