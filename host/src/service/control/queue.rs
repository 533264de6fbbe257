//! The run queue: graphile_worker's tables on the control database (schema
//! [`QUEUE_SCHEMA`]). A created run is one job [`RUN_TASK`] with payload `{"runId": "<uuid>"}`,
//! added in the same transaction that stores the run, so a run is queued exactly when it
//! exists. The workers (`service::worker`) consume the jobs with graphile_worker itself.

use deadpool_postgres::{Pool, Transaction};
use graphile_worker::{JobSpec, WorkerUtils};
use serde_json::json;
use uuid::Uuid;

use super::ControlError;

/// graphile_worker's schema on the control database.
pub const QUEUE_SCHEMA: &str = "graphile_worker";

/// The task identifier of a pipeline run's job.
pub const RUN_TASK: &str = "sluice_run";

/// Applies graphile_worker's migrations (the caller holds the migration lock).
pub(super) async fn migrate(pool: &Pool) -> Result<(), ControlError> {
    WorkerUtils::new(pool.clone(), QUEUE_SCHEMA)
        .migrate()
        .await
        .map_err(|e| ControlError::Migration(format!("graphile_worker: {e}")))
}

/// Adds the job of run `run_id` inside `tx`.
pub(super) async fn enqueue_run(
    pool: &Pool,
    tx: &mut Transaction<'_>,
    run_id: Uuid,
) -> Result<(), ControlError> {
    let spec = JobSpec {
        job_key: Some(run_id.to_string()),
        ..JobSpec::default()
    };
    WorkerUtils::new(pool.clone(), QUEUE_SCHEMA)
        .with_executor(&mut **tx)
        .add_raw_job(RUN_TASK, json!({ "runId": run_id }), spec)
        .await
        .map_err(|e| ControlError::Database {
            message: format!("cannot queue run {run_id}: {e}"),
            transient: false,
        })?;
    Ok(())
}
