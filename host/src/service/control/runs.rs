//! Pipeline runs and activity runs: the rows, their ADF JSON shapes (`PipelineRun` and
//! `ActivityRun` of api-version 2018-06-01), and the API's operations on runs: create (stored
//! Queued and queued for the workers in one transaction), get, cancel. Querying is in
//! [`super::query`], the workers' side (slots, leases, activity records) in [`super::slots`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::resources::{factory_id, Kind};
use super::{queue, Control, ControlError};

/// The status of a pipeline run, as ADF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    Queued,
    InProgress,
    Succeeded,
    Failed,
    Canceling,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "Queued",
            RunStatus::InProgress => "InProgress",
            RunStatus::Succeeded => "Succeeded",
            RunStatus::Failed => "Failed",
            RunStatus::Canceling => "Canceling",
            RunStatus::Cancelled => "Cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Queued,
            RunStatus::InProgress,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Canceling,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// Succeeded, Failed or Cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `createRun` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    pub tenant_id: Uuid,
    pub resource_group: String,
    pub factory: String,
    pub pipeline_name: String,
    /// The request body: parameter name -> value.
    pub parameters: Value,
    pub is_recovery: bool,
    pub reference_run_id: Option<Uuid>,
    pub start_activity: Option<String>,
    pub start_from_failure: bool,
    /// ADF's `invokedBy`; `None`: a manual run.
    pub invoked_by: Option<Value>,
    /// What `@trigger()` reads in a run a trigger started; `None`: a manual run.
    pub trigger: Option<Value>,
}

/// A pipeline run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run_id: Uuid,
    pub tenant_id: Uuid,
    pub resource_group: String,
    pub factory: String,
    pub pipeline_name: String,
    pub run_group_id: Uuid,
    /// No later run in its group (recovery reruns share the group).
    pub is_latest: bool,
    pub parameters: Value,
    pub status: RunStatus,
    pub message: String,
    pub invoked_by: Value,
    pub is_recovery: bool,
    pub reference_run_id: Option<Uuid>,
    pub start_activity: Option<String>,
    pub start_from_failure: bool,
    pub run_start: Option<DateTime<Utc>>,
    pub run_end: Option<DateTime<Utc>>,
    pub queued_at: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
    pub worker: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub cancel_requested: bool,
    pub annotations: Value,
    /// What `@trigger()` reads, for a run a trigger started.
    pub trigger: Option<Value>,
}

/// An activity run as stored. `pipeline_name` is filled on reads (from the run) and ignored
/// on writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRunRow {
    pub activity_run_id: Uuid,
    pub run_id: Uuid,
    pub pipeline_name: String,
    pub activity_name: String,
    pub activity_type: String,
    pub linked_service_name: Option<String>,
    /// InProgress, Succeeded, Failed, Cancelled or Skipped.
    pub status: String,
    pub activity_run_start: DateTime<Utc>,
    pub activity_run_end: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub input: Value,
    pub output: Value,
    /// `{errorCode, message, failureType, target}`, or `{}` when none.
    pub error: Value,
    pub retry_attempt: Option<i32>,
}

/// RFC 3339 UTC with microseconds, as ADF's timestamps.
pub fn adf_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn duration_ms(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Value {
    match (start, end) {
        (Some(s), Some(e)) => json!((e - s).num_milliseconds().max(0)),
        _ => Value::Null,
    }
}

/// A createRun parameter value as text: a string as it is, anything else as its JSON. ADF
/// shows run parameters this way, and the engine types them again by their declarations.
pub fn parameter_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every parameter of a createRun body as `(name, text)`.
pub fn parameter_texts(parameters: &Value) -> Vec<(String, String)> {
    parameters.as_object().map_or_else(Vec::new, |map| {
        map.iter()
            .map(|(k, v)| (k.clone(), parameter_text(v)))
            .collect()
    })
}

/// ADF's run parameters are strings: non-string values become their JSON text.
fn string_map(parameters: &Value) -> Value {
    let out: Map<String, Value> = parameter_texts(parameters)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    Value::Object(out)
}

impl RunRow {
    /// ADF's `PipelineRun`.
    pub fn to_adf_json(&self) -> Value {
        json!({
            "runId": self.run_id,
            "runGroupId": self.run_group_id,
            "isLatest": self.is_latest,
            "pipelineName": self.pipeline_name,
            "parameters": string_map(&self.parameters),
            "runDimensions": {},
            "invokedBy": self.invoked_by,
            "lastUpdated": adf_time(self.last_updated),
            "runStart": self.run_start.map(adf_time),
            "runEnd": self.run_end.map(adf_time),
            "durationInMs": duration_ms(self.run_start, self.run_end),
            "status": self.status.as_str(),
            "message": self.message,
            "annotations": self.annotations,
        })
    }
}

impl ActivityRunRow {
    /// ADF's `ActivityRun`.
    pub fn to_adf_json(&self) -> Value {
        let error = match &self.error {
            Value::Object(map) if !map.is_empty() => self.error.clone(),
            _ => {
                json!({"errorCode": "", "message": "", "failureType": "", "target": self.activity_name})
            }
        };
        let duration = self
            .duration_ms
            .map(Value::from)
            .unwrap_or_else(|| duration_ms(Some(self.activity_run_start), self.activity_run_end));
        json!({
            "pipelineName": self.pipeline_name,
            "pipelineRunId": self.run_id,
            "activityName": self.activity_name,
            "activityType": self.activity_type,
            "activityRunId": self.activity_run_id,
            "linkedServiceName": self.linked_service_name.clone().unwrap_or_default(),
            "status": self.status,
            "activityRunStart": adf_time(self.activity_run_start),
            "activityRunEnd": self.activity_run_end.map(adf_time),
            "durationInMs": duration,
            "input": self.input,
            "output": self.output,
            "error": error,
            "retryAttempt": self.retry_attempt,
        })
    }
}

pub(crate) const RUN_COLUMNS: &str = "r.run_id, r.tenant_id, r.resource_group, r.factory, \
    r.pipeline_name, r.run_group_id, NOT EXISTS (SELECT 1 FROM sluice.runs l \
    WHERE l.run_group_id = r.run_group_id AND l.queued_at > r.queued_at) AS is_latest, \
    r.parameters, r.status, r.message, r.invoked_by, r.is_recovery, r.reference_run_id, \
    r.start_activity, r.start_from_failure, r.run_start, r.run_end, r.queued_at, \
    r.last_updated, r.worker, r.lease_until, r.cancel_requested, r.annotations, r.trigger_info";

pub(crate) fn run_from_row(row: &Row) -> RunRow {
    let status: String = row.get(8);
    RunRow {
        run_id: row.get(0),
        tenant_id: row.get(1),
        resource_group: row.get(2),
        factory: row.get(3),
        pipeline_name: row.get(4),
        run_group_id: row.get(5),
        is_latest: row.get(6),
        parameters: row.get(7),
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        message: row.get(9),
        invoked_by: row.get(10),
        is_recovery: row.get(11),
        reference_run_id: row.get(12),
        start_activity: row.get(13),
        start_from_failure: row.get(14),
        run_start: row.get(15),
        run_end: row.get(16),
        queued_at: row.get(17),
        last_updated: row.get(18),
        worker: row.get(19),
        lease_until: row.get(20),
        cancel_requested: row.get(21),
        annotations: row.get(22),
        trigger: row.get(23),
    }
}

pub(crate) const ACTIVITY_COLUMNS: &str = "a.activity_run_id, a.run_id, r.pipeline_name, \
    a.activity_name, a.activity_type, a.linked_service_name, a.status, a.activity_run_start, \
    a.activity_run_end, a.duration_ms, a.input, a.output, a.error, a.retry_attempt";

pub(crate) fn activity_from_row(row: &Row) -> ActivityRunRow {
    ActivityRunRow {
        activity_run_id: row.get(0),
        run_id: row.get(1),
        pipeline_name: row.get(2),
        activity_name: row.get(3),
        activity_type: row.get(4),
        linked_service_name: row.get(5),
        status: row.get(6),
        activity_run_start: row.get(7),
        activity_run_end: row.get(8),
        duration_ms: row.get(9),
        input: row.get(10),
        output: row.get(11),
        error: row.get(12),
        retry_attempt: row.get(13),
    }
}

impl Control {
    /// Stores the run as Queued and queues its job, in one transaction. The factory and the
    /// pipeline must exist; a recovery run (`is_recovery` with `reference_run_id`) joins the
    /// group of the run it reruns, which must be the tenant's.
    pub async fn create_run(&self, r: NewRun) -> Result<RunRow, ControlError> {
        let mut client = self.pool.get().await?;
        let mut tx = client.transaction().await?;
        let row = self.create_run_in(&mut tx, r).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// [`Control::create_run`] inside the caller's transaction, so a trigger's claim of an
    /// instant and the runs it starts commit together (exactly once).
    pub async fn create_run_in(
        &self,
        tx: &mut deadpool_postgres::Transaction<'_>,
        r: NewRun,
    ) -> Result<RunRow, ControlError> {
        let factory_id = factory_id(&**tx, r.tenant_id, &r.resource_group, &r.factory).await?;
        let factory_row = tx
            .query_one(
                "SELECT resource_group, name FROM sluice.factories WHERE id = $1",
                &[&factory_id],
            )
            .await?;
        let pipeline = tx
            .query_opt(
                "SELECT name, body FROM sluice.definitions WHERE factory_id = $1 AND kind = $2 \
                 AND lower(name) = lower($3)",
                &[&factory_id, &Kind::Pipelines.as_str(), &r.pipeline_name],
            )
            .await?
            .ok_or_else(|| ControlError::not_found(format!("pipeline '{}'", r.pipeline_name)))?;
        let pipeline_name: String = pipeline.get(0);
        let body: Value = pipeline.get(1);
        let annotations = body
            .pointer("/properties/annotations")
            .cloned()
            .unwrap_or_else(|| json!([]));
        let run_id = Uuid::new_v4();
        let run_group_id = match (r.is_recovery, r.reference_run_id) {
            (true, Some(reference)) => tx
                .query_opt(
                    "SELECT run_group_id FROM sluice.runs WHERE run_id = $1 AND tenant_id = $2",
                    &[&reference, &r.tenant_id],
                )
                .await?
                .map(|row| row.get::<_, Uuid>(0))
                .ok_or_else(|| ControlError::not_found(format!("pipeline run '{reference}'")))?,
            _ => run_id,
        };
        let invoked_by = r.invoked_by.clone().unwrap_or_else(|| {
            json!({"name": "Manual", "id": Uuid::new_v4().simple().to_string(), "invokedByType": "Manual"})
        });
        let parameters = match &r.parameters {
            Value::Null => json!({}),
            other => other.clone(),
        };
        let resource_group: String = factory_row.get(0);
        let factory: String = factory_row.get(1);
        tx.execute(
            "INSERT INTO sluice.runs (run_id, tenant_id, factory_id, resource_group, factory, \
             pipeline_name, run_group_id, parameters, status, invoked_by, is_recovery, \
             reference_run_id, start_activity, start_from_failure, annotations, trigger_info) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'Queued', $9, $10, $11, $12, $13, $14, $15)",
            &[
                &run_id,
                &r.tenant_id,
                &factory_id,
                &resource_group,
                &factory,
                &pipeline_name,
                &run_group_id,
                &parameters,
                &invoked_by,
                &r.is_recovery,
                &r.reference_run_id,
                &r.start_activity,
                &r.start_from_failure,
                &annotations,
                &r.trigger,
            ],
        )
        .await?;
        queue::enqueue_run(&self.pool, tx, run_id).await?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM sluice.runs r WHERE r.run_id = $1");
        let row = tx.query_one(&sql, &[&run_id]).await?;
        Ok(run_from_row(&row))
    }

    /// The tenant's run `run_id`.
    pub async fn get_run(
        &self,
        tenant: Uuid,
        run_id: Uuid,
    ) -> Result<Option<RunRow>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM sluice.runs r WHERE r.run_id = $1 AND r.tenant_id = $2"
        );
        let row = client.query_opt(&sql, &[&run_id, &tenant]).await?;
        Ok(row.as_ref().map(run_from_row))
    }

    /// Run `run_id` whoever's it is (for the workers).
    pub async fn run_by_id(&self, run_id: Uuid) -> Result<Option<RunRow>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {RUN_COLUMNS} FROM sluice.runs r WHERE r.run_id = $1");
        let row = client.query_opt(&sql, &[&run_id]).await?;
        Ok(row.as_ref().map(run_from_row))
    }

    /// Every activity run of run `run_id`, in the order they started (for the workers:
    /// a recovery run reads its reference run's).
    pub async fn activity_runs(&self, run_id: Uuid) -> Result<Vec<ActivityRunRow>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {ACTIVITY_COLUMNS} FROM sluice.activity_runs a \
             JOIN sluice.runs r ON r.run_id = a.run_id WHERE a.run_id = $1 ORDER BY a.seq"
        );
        let rows = client.query(&sql, &[&run_id]).await?;
        Ok(rows.iter().map(activity_from_row).collect())
    }

    /// Cancels the tenant's run: a Queued run is Cancelled at once; an InProgress one becomes
    /// Canceling with `cancel_requested` set, which its worker sees at its next lease renewal
    /// ([`Control::renew_lease`]) and ends Cancelled. Finished runs stay as they are.
    /// `recursive` is accepted: ExecutePipeline children run inside their parent's run, so
    /// cancelling the parent cancels them. `None` when the tenant has no such run.
    pub async fn request_cancel(
        &self,
        tenant: Uuid,
        run_id: Uuid,
        _recursive: bool,
    ) -> Result<Option<RunRow>, ControlError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute(
                "UPDATE sluice.runs SET \
                 status = CASE status WHEN 'Queued' THEN 'Cancelled' ELSE 'Canceling' END, \
                 run_end = CASE status WHEN 'Queued' THEN now() ELSE run_end END, \
                 message = CASE status WHEN 'Queued' THEN 'Cancelled before it started.' \
                 ELSE message END, \
                 cancel_requested = true, last_updated = now() \
                 WHERE run_id = $1 AND tenant_id = $2 AND status IN ('Queued', 'InProgress')",
                &[&run_id, &tenant],
            )
            .await?;
        if updated > 0 {
            tracing::info!(tenant = %tenant, run_id = %run_id, "pipeline run cancel requested");
        }
        drop(client);
        self.get_run(tenant, run_id).await
    }
}
