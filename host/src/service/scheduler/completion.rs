//! Completion: trigger runs Inprogress whose pipeline runs have all ended leave Inprogress.
//!
//! All runs Succeeded: the trigger run Succeeded. Any Failed or Cancelled (or gone): a tumbling
//! window with attempts left (`retryPolicy.count` retries after the first attempt) goes back
//! to Waiting with `not_before = now + intervalInSeconds`, and is started again by
//! [`super::windows`]; otherwise it is Failed with the failing run's message. Each change is
//! one `UPDATE .. WHERE status = 'Inprogress' AND attempt = <seen>`, so two servers completing
//! the same row change it once. Inprogress rows of stopped triggers complete too.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::windows::retry_delay;
use super::{Definitions, Scheduler, TickReport};
use crate::service::control::{ControlError, RunStatus};

/// Most Inprogress trigger runs examined per tick.
const BATCH: i64 = 1_000;

/// Where an Inprogress trigger run goes, from its pipeline runs' statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A run has not ended.
    Running,
    Succeeded,
    /// The first failing run's message.
    Failed(String),
}

/// A pipeline run as completion reads it: pipeline name, status, message.
pub(crate) type RunState = (String, RunStatus, String);

/// The outcome of a trigger run whose runs are `runs` (`None`: a run id with no run).
pub(crate) fn outcome(runs: &[(Uuid, Option<RunState>)]) -> Outcome {
    let mut failure = None;
    for (run_id, run) in runs {
        match run {
            None => {
                failure.get_or_insert_with(|| format!("pipeline run {run_id} no longer exists"));
            }
            Some((_, status, _)) if !status.is_terminal() => return Outcome::Running,
            Some((_, RunStatus::Succeeded, _)) => {}
            Some((pipeline, status, message)) => {
                failure.get_or_insert_with(|| {
                    format!("pipeline '{pipeline}' run {run_id} {status}: {message}")
                });
            }
        }
    }
    match failure {
        Some(message) => Outcome::Failed(message),
        None => Outcome::Succeeded,
    }
}

pub(super) async fn complete(
    scheduler: &Scheduler,
    now: DateTime<Utc>,
    definitions: &mut Definitions,
    report: &mut TickReport,
) -> Result<(), ControlError> {
    let client = scheduler.control.pool().get().await?;
    let rows = client
        .query(
            "SELECT trigger_run_id, factory_id, trigger_name, trigger_type, attempt, \
             triggered_pipelines FROM sluice.trigger_runs WHERE status = 'Inprogress' \
             ORDER BY last_updated LIMIT $1",
            &[&BATCH],
        )
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let run_ids = |pipelines: &Value| -> Vec<Uuid> {
        pipelines.as_object().map_or_else(Vec::new, |m| {
            m.values()
                .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
                .collect()
        })
    };
    let all: Vec<Uuid> = rows.iter().flat_map(|r| run_ids(&r.get(5))).collect();
    let runs: HashMap<Uuid, RunState> = client
        .query(
            "SELECT run_id, pipeline_name, status, message FROM sluice.runs WHERE run_id = ANY($1)",
            &[&all],
        )
        .await?
        .iter()
        .map(|r| {
            let status: String = r.get(2);
            (
                r.get(0),
                (
                    r.get(1),
                    RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
                    r.get(3),
                ),
            )
        })
        .collect();
    for row in &rows {
        let trigger_run_id: Uuid = row.get(0);
        let factory_id: Uuid = row.get(1);
        let name: String = row.get(2);
        let ty: String = row.get(3);
        let attempt: i32 = row.get(4);
        let mine: Vec<(Uuid, Option<RunState>)> = run_ids(&row.get(5))
            .into_iter()
            .map(|id| (id, runs.get(&id).cloned()))
            .collect();
        let changed = match outcome(&mine) {
            Outcome::Running => continue,
            Outcome::Succeeded => {
                client
                    .execute(
                        "UPDATE sluice.trigger_runs SET status = 'Succeeded', message = '', \
                         last_updated = $3 WHERE trigger_run_id = $1 AND status = 'Inprogress' \
                         AND attempt = $2",
                        &[&trigger_run_id, &attempt, &now],
                    )
                    .await?
            }
            Outcome::Failed(message) => {
                let retry = if ty == "TumblingWindowTrigger" {
                    definitions
                        .tumbling(&**client, factory_id, &name)
                        .await?
                        .filter(|w| i64::from(attempt) <= i64::from(w.retry.count))
                        .map(|w| now.checked_add_signed(retry_delay(&w)).unwrap_or(now))
                } else {
                    None
                };
                match retry {
                    Some(not_before) => {
                        tracing::info!(trigger = %name, attempt, "window failed; retrying: {message}");
                        client
                            .execute(
                                "UPDATE sluice.trigger_runs SET status = 'Waiting', \
                                 not_before = $3, message = $4, last_updated = $5 \
                                 WHERE trigger_run_id = $1 AND status = 'Inprogress' \
                                 AND attempt = $2",
                                &[&trigger_run_id, &attempt, &not_before, &message, &now],
                            )
                            .await?
                    }
                    None => {
                        client
                            .execute(
                                "UPDATE sluice.trigger_runs SET status = 'Failed', message = $3, \
                                 last_updated = $4 WHERE trigger_run_id = $1 \
                                 AND status = 'Inprogress' AND attempt = $2",
                                &[&trigger_run_id, &attempt, &message, &now],
                            )
                            .await?
                    }
                }
            }
        };
        report.completed += usize::try_from(changed).unwrap_or(0);
    }
    Ok(())
}
