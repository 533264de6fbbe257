//! The pipeline run result, shaped like ADF's monitoring output.

use serde::Serialize;

use crate::secrets::Redactor;

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
