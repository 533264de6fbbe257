//! Schedule triggers: fire each due instant once.
//!
//! The rule (ADF does not backfill schedule triggers: "missed" instants of a stopped trigger
//! or of a service outage are not replayed): an instant `t` of the recurrence is due at `now`
//! when `started_at <= t <= now` and `now - t <= catch_up`. Every due instant not fired yet is
//! fired; a second server's attempt at the same instant finds its row and does nothing.
//!
//! A schedule trigger run's status is about firing, not about the pipelines (ADF's trigger run
//! monitor shows the pipelines' outcome on the pipeline runs): the row is written Succeeded in
//! the transaction that creates its runs, or Failed with the reason when a run cannot be
//! created (the pipeline does not exist), so a broken target is recorded once, not retried on
//! every tick.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{Scheduler, StartedTrigger, TickReport};
use crate::model::trigger::time::format_utc;
use crate::model::trigger::{Recurrence, ScheduleTrigger};
use crate::service::control::ControlError;

const TYPE: &str = "ScheduleTrigger";

/// The instants of `recurrence` due at `now` (see the module's rule), oldest first.
pub(crate) fn due_instants(
    recurrence: &Recurrence,
    started_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    catch_up: TimeDelta,
) -> Vec<DateTime<Utc>> {
    let earliest = now.checked_sub_signed(catch_up).unwrap_or(now);
    let from = match started_at {
        Some(s) => earliest.max(s),
        None => earliest,
    };
    if from > now {
        return Vec::new();
    }
    recurrence
        .fire_times(from)
        .take_while(|t| *t <= now)
        .collect()
}

/// Fires the due instants of `trigger` at `now`.
pub(super) async fn fire(
    scheduler: &Scheduler,
    trigger: &StartedTrigger,
    schedule: &ScheduleTrigger,
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> Result<(), ControlError> {
    let due = due_instants(
        &schedule.recurrence,
        trigger.started_at,
        now,
        scheduler.catch_up,
    );
    let Some(first) = due.first().copied() else {
        return Ok(());
    };
    let mut client = scheduler.control.pool().get().await?;
    let fired: Vec<DateTime<Utc>> = client
        .query(
            "SELECT scheduled_time FROM sluice.trigger_runs WHERE factory_id = $1 \
             AND lower(trigger_name) = lower($2) AND scheduled_time >= $3 AND scheduled_time <= $4",
            &[&trigger.factory_id, &trigger.trigger.name, &first, &now],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for at in due.into_iter().filter(|t| !fired.contains(t)) {
        let tx = client.transaction().await?;
        match fire_instant(scheduler, tx, trigger, schedule, at, now).await {
            Ok(true) => {
                report.instants_fired += 1;
                tracing::info!(factory = %trigger.factory, trigger = %trigger.trigger.name, instant = %format_utc(at), "schedule trigger fired");
            }
            Ok(false) => {}
            Err(e) if !e.is_transient() => {
                // The transaction was rolled back: record the instant as Failed, once.
                let message = format!("cannot start the trigger's pipelines: {e}");
                tracing::warn!(factory = %trigger.factory, trigger = %trigger.trigger.name, "{message}");
                client
                    .execute(
                        "INSERT INTO sluice.trigger_runs (trigger_run_id, tenant_id, factory_id, \
                         trigger_name, trigger_type, scheduled_time, trigger_run_timestamp, status, \
                         attempt, properties, message, last_updated) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'Failed', 1, $8, $9, $7) \
                         ON CONFLICT DO NOTHING",
                        &[
                            &Uuid::new_v4(),
                            &trigger.tenant_id,
                            &trigger.factory_id,
                            &trigger.trigger.name,
                            &TYPE,
                            &at,
                            &now,
                            &properties(at, now),
                            &message,
                        ],
                    )
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// ADF's trigger run `properties` of a schedule instant.
fn properties(at: DateTime<Utc>, now: DateTime<Utc>) -> Value {
    json!({"TriggerTime": format_utc(now), "ScheduleTime": format_utc(at)})
}

/// Claims instant `at` and creates its runs in `tx`; whether this call claimed it.
async fn fire_instant(
    scheduler: &Scheduler,
    mut tx: deadpool_postgres::Transaction<'_>,
    trigger: &StartedTrigger,
    schedule: &ScheduleTrigger,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, ControlError> {
    let trigger_run_id = Uuid::new_v4();
    let name = &trigger.trigger.name;
    let inserted = tx
        .execute(
            "INSERT INTO sluice.trigger_runs (trigger_run_id, tenant_id, factory_id, trigger_name, \
             trigger_type, scheduled_time, trigger_run_timestamp, status, attempt, properties, \
             last_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, 'Succeeded', 1, $8, $7) \
             ON CONFLICT DO NOTHING",
            &[
                &trigger_run_id,
                &trigger.tenant_id,
                &trigger.factory_id,
                name,
                &TYPE,
                &at,
                &now,
                &properties(at, now),
            ],
        )
        .await?;
    if inserted == 0 {
        // Another server fired it first.
        tx.rollback().await?;
        return Ok(false);
    }
    let info = json!({
        "name": name,
        "type": TYPE,
        "startTime": format_utc(now),
        "scheduledTime": format_utc(at),
        "runId": trigger_run_id.to_string(),
    });
    let mut triggered = Map::new();
    for target in &schedule.pipelines {
        let run = scheduler
            .control
            .create_run_in(
                &mut tx,
                trigger.new_run(target, trigger_run_id, TYPE, info.clone()),
            )
            .await?;
        triggered.insert(run.pipeline_name, json!(run.run_id.to_string()));
    }
    tx.execute(
        "UPDATE sluice.trigger_runs SET triggered_pipelines = $2 WHERE trigger_run_id = $1",
        &[&trigger_run_id, &Value::Object(triggered)],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
