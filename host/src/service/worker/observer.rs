//! Activity runs written to the control database as they start and end, so the API shows a
//! run's progress while it runs. The engine tells its observer synchronously, from inside the
//! run's tasks; this observer only queues the event and one writer task per run writes them in
//! order, so a slow control database never stalls the run's activities.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::engine::{ActivityStarted, RunObserver};
use crate::service::control::{ActivityRunRow, Control};

/// How many activity events may wait for the writer before a sender waits in a task of its own.
const QUEUE: usize = 4096;

/// One event for the writer.
enum Event {
    Started(ActivityRunRow),
    Finished(ActivityRunRow),
}

/// Forwards one run's activity events to [`Control`]. Only the run's own activities are
/// written (a child pipeline's activities belong to the child's run, which has no row here).
pub struct ControlObserver {
    run_id: String,
    run_uuid: Uuid,
    /// Inputs of the activities running now: an end's row carries its start's input.
    inputs: Mutex<HashMap<String, Value>>,
    tx: Mutex<Option<mpsc::Sender<Event>>>,
    metrics: super::metrics::RunMetrics,
}

impl ControlObserver {
    /// An observer for run `run_id` and the task that writes its events; the task ends once
    /// [`ControlObserver::close`] was called and every queued event is written.
    pub fn start(
        control: Control,
        run_id: Uuid,
        metrics: super::metrics::RunMetrics,
    ) -> (Arc<ControlObserver>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Event>(QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let written = match event {
                    Event::Started(row) => control.activity_started(&row).await,
                    Event::Finished(row) => control.activity_finished(&row).await,
                };
                if let Err(e) = written {
                    // The run goes on; its final record still has every activity.
                    tracing::warn!(run_id = %run_id, "could not record an activity run: {e}");
                }
            }
        });
        let observer = Arc::new(ControlObserver {
            run_id: run_id.to_string(),
            run_uuid: run_id,
            inputs: Mutex::new(HashMap::new()),
            tx: Mutex::new(Some(tx)),
            metrics,
        });
        (observer, writer)
    }

    /// No more events: the writer ends after the queued ones.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn send(&self, event: Event) {
        let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(event)) = tx.try_send(event) {
            // The writer is behind: wait for room without blocking the run's task. Rows are
            // upserted by activity run id and a start never overwrites an end, so order
            // between these late events does not matter.
            tokio::spawn(async move {
                let _ = tx.send(event).await;
            });
        }
    }
}

impl RunObserver for ControlObserver {
    fn activity_started(&self, started: &ActivityStarted) {
        if started.pipeline_run_id != self.run_id {
            return;
        }
        let Ok(id) = Uuid::parse_str(&started.activity_run_id) else {
            return;
        };
        self.inputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(started.activity_run_id.clone(), started.input.clone());
        self.send(Event::Started(ActivityRunRow {
            activity_run_id: id,
            run_id: self.run_uuid,
            pipeline_name: started.pipeline_name.clone(),
            activity_name: started.activity_name.clone(),
            activity_type: started.activity_type.clone(),
            linked_service_name: None,
            status: "InProgress".into(),
            activity_run_start: time(&started.start).unwrap_or_else(Utc::now),
            activity_run_end: None,
            duration_ms: None,
            input: started.input.clone(),
            output: json!({}),
            error: json!({}),
            retry_attempt: None,
        }));
    }

    fn activity_finished(&self, record: &Value) {
        self.metrics.activity_finished(record);
        if record["pipelineRunId"].as_str() != Some(self.run_id.as_str()) {
            return;
        }
        let key = record["activityRunId"].as_str().unwrap_or_default();
        let Ok(id) = Uuid::parse_str(key) else {
            return;
        };
        let input = self
            .inputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .unwrap_or_else(|| json!({}));
        if let Some(row) = finished_row(id, self.run_uuid, record, input) {
            self.send(Event::Finished(row));
        }
    }
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The row of an ended activity run from the engine's record (ADF's field names).
fn finished_row(id: Uuid, run_id: Uuid, record: &Value, input: Value) -> Option<ActivityRunRow> {
    let text = |k: &str| record[k].as_str().unwrap_or_default().to_string();
    let end = record["activityRunEnd"].as_str().and_then(time);
    // A skipped activity never started: its start is its end.
    let start = record["activityRunStart"]
        .as_str()
        .and_then(time)
        .or(end)
        .unwrap_or_else(Utc::now);
    let mut error = record.get("error").cloned().unwrap_or_else(|| json!({}));
    if let Some(e) = error.as_object_mut() {
        e.insert("target".into(), Value::String(text("activityName")));
    }
    let attempts = record["attempts"].as_i64().unwrap_or(1);
    Some(ActivityRunRow {
        activity_run_id: id,
        run_id,
        pipeline_name: String::new(),
        activity_name: text("activityName"),
        activity_type: text("activityType"),
        linked_service_name: None,
        status: text("status"),
        activity_run_start: start,
        activity_run_end: Some(end.unwrap_or_else(Utc::now)),
        duration_ms: record["durationInMs"].as_i64(),
        input,
        output: record.get("output").cloned().unwrap_or_else(|| json!({})),
        error,
        retry_attempt: (attempts > 1).then(|| i32::try_from(attempts - 1).unwrap_or(i32::MAX)),
    })
}
