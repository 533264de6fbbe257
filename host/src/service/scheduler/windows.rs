//! Tumbling window triggers: record each due window (backfilled from `startTime`), then start
//! the Waiting ones whose turn it is.
//!
//! A trigger is advanced by one server at a time: the pass runs in one transaction holding a
//! transaction-scoped advisory lock on the trigger (`pg_try_advisory_xact_lock`; a server that
//! does not get it skips the trigger this tick). That makes `maxConcurrency` hold across
//! servers; the claim itself (`UPDATE .. SET status = 'Inprogress' WHERE status = 'Waiting'`,
//! in the transaction that creates the run) would keep a window from starting twice even
//! without it.
//!
//! A Waiting window starts, oldest first, while fewer than `maxConcurrency` windows of the
//! trigger are Inprogress, once its retry back-off (`not_before`) has passed and its
//! dependencies are met: for each `dependsOn`, the windows of the referenced trigger (itself,
//! for a self-dependency) that overlap `[start + offset, start + offset + size)` (size
//! defaulting to this window's) are all Succeeded. Windows that do not exist (before the
//! referenced trigger's `startTime` or after its `endTime`) are no dependency: the first window
//! of a self-dependent trigger starts.

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{Definitions, Scheduler, StartedTrigger, TickReport};
use crate::model::trigger::time::format_utc;
use crate::model::trigger::{Dependency, TumblingWindowTrigger, Window, WindowFrequency};
use crate::service::control::ControlError;

const TYPE: &str = "TumblingWindowTrigger";

/// Most windows recorded per trigger and tick: a backfill of years of five-minute windows
/// proceeds over several ticks instead of one huge transaction.
const RECORD_BATCH: usize = 2_000;

/// Most Waiting windows examined per trigger and tick.
const START_SCAN: i64 = 500;

/// Most dependency windows one range may span (a range over more is treated as unmet, logged).
const MAX_DEPENDENCY_WINDOWS: usize = 10_000;

/// Records `trigger`'s due windows and starts those whose turn it is.
pub(super) async fn advance(
    scheduler: &Scheduler,
    trigger: &StartedTrigger,
    tumbling: &TumblingWindowTrigger,
    now: DateTime<Utc>,
    definitions: &mut Definitions,
    report: &mut TickReport,
) -> Result<(), ControlError> {
    let mut client = scheduler.control.pool().get().await?;
    let mut tx = client.transaction().await?;
    let lock_key = format!(
        "sluice-trigger:{}/{}",
        trigger.factory_id,
        trigger.trigger.name.to_lowercase()
    );
    let locked: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))",
            &[&lock_key],
        )
        .await?
        .get(0);
    if !locked {
        return Ok(());
    }
    report.windows_recorded += record_due(&tx, trigger, tumbling, now).await?;
    report.windows_started +=
        start_waiting(scheduler, &mut tx, trigger, tumbling, now, definitions).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts the windows due by `now` after the last one recorded (Waiting); how many.
async fn record_due(
    tx: &deadpool_postgres::Transaction<'_>,
    trigger: &StartedTrigger,
    tumbling: &TumblingWindowTrigger,
    now: DateTime<Utc>,
) -> Result<usize, ControlError> {
    let last: Option<DateTime<Utc>> = tx
        .query_one(
            "SELECT max(scheduled_time) FROM sluice.trigger_runs WHERE factory_id = $1 \
             AND lower(trigger_name) = lower($2)",
            &[&trigger.factory_id, &trigger.trigger.name],
        )
        .await?
        .get(0);
    // Windows after `last` are due after `last + delay` (each ends after it starts), so the
    // scan starts there instead of at `startTime`.
    let scan_from = match last {
        Some(last) => last
            .checked_add_signed(tumbling.delay)
            .and_then(|t| t.checked_add_signed(TimeDelta::nanoseconds(1)))
            .unwrap_or(last),
        None => tumbling.start,
    };
    let due: Vec<Window> = tumbling
        .windows_from(scan_from)
        .skip_while(|w| last.is_some_and(|last| w.start <= last))
        .take_while(|w| tumbling.fire_time(w) <= now)
        .take(RECORD_BATCH)
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = due.iter().map(|_| Uuid::new_v4()).collect();
    let starts: Vec<DateTime<Utc>> = due.iter().map(|w| w.start).collect();
    let ends: Vec<DateTime<Utc>> = due.iter().map(|w| w.end).collect();
    let props: Vec<Value> = due
        .iter()
        .map(
            |w| json!({"windowStartTime": format_utc(w.start), "windowEndTime": format_utc(w.end)}),
        )
        .collect();
    let inserted = tx
        .execute(
            "INSERT INTO sluice.trigger_runs (trigger_run_id, tenant_id, factory_id, trigger_name, \
             trigger_type, scheduled_time, window_end, trigger_run_timestamp, status, attempt, \
             properties, last_updated) \
             SELECT w.id, $1, $2, $3, $4, w.start_time, w.end_time, $5, 'Waiting', 0, w.props, $5 \
             FROM unnest($6::uuid[], $7::timestamptz[], $8::timestamptz[], $9::jsonb[]) \
             AS w(id, start_time, end_time, props) ORDER BY w.start_time \
             ON CONFLICT DO NOTHING",
            &[
                &trigger.tenant_id,
                &trigger.factory_id,
                &trigger.trigger.name,
                &TYPE,
                &now,
                &ids,
                &starts,
                &ends,
                &props,
            ],
        )
        .await?;
    Ok(usize::try_from(inserted).unwrap_or(usize::MAX))
}

/// Starts Waiting windows (oldest first) within `maxConcurrency`; how many.
async fn start_waiting(
    scheduler: &Scheduler,
    tx: &mut deadpool_postgres::Transaction<'_>,
    trigger: &StartedTrigger,
    tumbling: &TumblingWindowTrigger,
    now: DateTime<Utc>,
    definitions: &mut Definitions,
) -> Result<usize, ControlError> {
    let name = &trigger.trigger.name;
    let running: i64 = tx
        .query_one(
            "SELECT count(*) FROM sluice.trigger_runs WHERE factory_id = $1 \
             AND lower(trigger_name) = lower($2) AND status = 'Inprogress'",
            &[&trigger.factory_id, name],
        )
        .await?
        .get(0);
    let mut free = i64::from(tumbling.max_concurrency) - running;
    if free <= 0 {
        return Ok(0);
    }
    let waiting = tx
        .query(
            "SELECT trigger_run_id, scheduled_time, window_end FROM sluice.trigger_runs \
             WHERE factory_id = $1 AND lower(trigger_name) = lower($2) AND status = 'Waiting' \
             AND (not_before IS NULL OR not_before <= $3) AND window_end IS NOT NULL \
             ORDER BY scheduled_time LIMIT $4",
            &[&trigger.factory_id, name, &now, &START_SCAN],
        )
        .await?;
    let mut started = 0;
    for row in waiting {
        if free <= 0 {
            break;
        }
        let trigger_run_id: Uuid = row.get(0);
        let window = Window {
            start: row.get(1),
            end: row.get(2),
        };
        if !dependencies_met(tx, trigger, tumbling, &window, definitions).await? {
            continue;
        }
        let claimed = tx
            .execute(
                "UPDATE sluice.trigger_runs SET status = 'Inprogress', attempt = attempt + 1, \
                 not_before = NULL, message = '', trigger_run_timestamp = $2, last_updated = $2 \
                 WHERE trigger_run_id = $1 AND status = 'Waiting'",
                &[&trigger_run_id, &now],
            )
            .await?;
        if claimed == 0 {
            continue;
        }
        let info = json!({
            "name": name,
            "type": TYPE,
            "startTime": format_utc(now),
            "scheduledTime": format_utc(window.start),
            "runId": trigger_run_id.to_string(),
            "outputs": {
                "windowStartTime": format_utc(window.start),
                "windowEndTime": format_utc(window.end),
            },
        });
        let target = &tumbling.pipeline;
        let created = scheduler
            .control
            .create_run_in(tx, trigger.new_run(target, trigger_run_id, TYPE, info))
            .await;
        match created {
            Ok(run) => {
                let mut triggered = Map::new();
                triggered.insert(run.pipeline_name, json!(run.run_id.to_string()));
                tx.execute(
                    "UPDATE sluice.trigger_runs SET triggered_pipelines = $2 \
                     WHERE trigger_run_id = $1",
                    &[&trigger_run_id, &Value::Object(triggered)],
                )
                .await?;
                started += 1;
                free -= 1;
                tracing::info!(factory = %trigger.factory, trigger = %name, window = %format_utc(window.start), "tumbling window started");
            }
            // The pipeline does not exist: no retry would help; the window fails (and can be
            // rerun once the pipeline is there).
            Err(ControlError::NotFound(what)) => {
                tx.execute(
                    "UPDATE sluice.trigger_runs SET status = 'Failed', message = $2, \
                     last_updated = $3 WHERE trigger_run_id = $1",
                    &[
                        &trigger_run_id,
                        &format!("cannot start the trigger's pipeline: {what} was not found"),
                        &now,
                    ],
                )
                .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(started)
}

/// Whether every `dependsOn` of `window` is met (see the module's rule).
async fn dependencies_met(
    tx: &deadpool_postgres::Transaction<'_>,
    trigger: &StartedTrigger,
    tumbling: &TumblingWindowTrigger,
    window: &Window,
    definitions: &mut Definitions,
) -> Result<bool, ControlError> {
    for dependency in &tumbling.depends_on {
        let (reference_name, range) = dependency_range(dependency, &trigger.trigger.name, window);
        let reference = match dependency {
            Dependency::SelfDependency { .. } => Some(tumbling.clone()),
            Dependency::Trigger { trigger: other, .. } => {
                definitions
                    .tumbling(&**tx, trigger.factory_id, other)
                    .await?
            }
        };
        let Some(reference) = reference else {
            // A dependency on a trigger that does not exist is never met (logged by the lookup).
            return Ok(false);
        };
        let Some(needed) = overlapping(&reference, range.0, range.1) else {
            tracing::warn!(trigger = %trigger.trigger.name, "a dependency of window {} spans too many windows of '{reference_name}'", format_utc(window.start));
            return Ok(false);
        };
        if needed.is_empty() {
            continue;
        }
        let starts: Vec<DateTime<Utc>> = needed.iter().map(|w| w.start).collect();
        let succeeded: i64 = tx
            .query_one(
                "SELECT count(*) FROM sluice.trigger_runs WHERE factory_id = $1 \
                 AND lower(trigger_name) = lower($2) AND scheduled_time = ANY($3) \
                 AND status = 'Succeeded'",
                &[&trigger.factory_id, &reference_name, &starts],
            )
            .await?
            .get(0);
        if usize::try_from(succeeded).unwrap_or(0) < needed.len() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The trigger a dependency refers to and the range `[from, to)` of it that must have
/// succeeded before `window` of trigger `own` may start.
pub(crate) fn dependency_range(
    dependency: &Dependency,
    own: &str,
    window: &Window,
) -> (String, (DateTime<Utc>, DateTime<Utc>)) {
    let (name, offset, size) = match dependency {
        Dependency::Trigger {
            trigger,
            offset,
            size,
        } => (trigger.clone(), offset.unwrap_or_default(), *size),
        Dependency::SelfDependency { offset, size } => (own.to_string(), *offset, *size),
    };
    let size = size.unwrap_or(window.end - window.start);
    let from = window
        .start
        .checked_add_signed(offset)
        .unwrap_or(window.start);
    let to = from.checked_add_signed(size).unwrap_or(from);
    (name, (from, to))
}

/// The windows of `reference` overlapping `[from, to)`, or `None` when there are more than
/// [`MAX_DEPENDENCY_WINDOWS`].
pub(crate) fn overlapping(
    reference: &TumblingWindowTrigger,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<Vec<Window>> {
    // A first window index at or before the one holding `from` (the arithmetic is checked by
    // the scan that follows: windows ending by `from` are skipped).
    let k0 = match reference.frequency {
        WindowFrequency::Month => {
            let months = |d: DateTime<Utc>| i64::from(d.year()) * 12 + i64::from(d.month0());
            (months(from) - months(reference.start)) / i64::from(reference.interval)
        }
        WindowFrequency::Minute | WindowFrequency::Hour => {
            let unit = if reference.frequency == WindowFrequency::Minute {
                60
            } else {
                3600
            };
            (from - reference.start).num_seconds() / (unit * i64::from(reference.interval))
        }
    };
    let k0 = u64::try_from(k0 - 1).unwrap_or(0);
    let mut out = Vec::new();
    for w in (k0..).map_while(|k| reference.window(k)) {
        if w.start >= to {
            break;
        }
        if w.end > from {
            if out.len() == MAX_DEPENDENCY_WINDOWS {
                return None;
            }
            out.push(w);
        }
    }
    Some(out)
}

/// The back-off before a failed window's next attempt.
pub(crate) fn retry_delay(tumbling: &TumblingWindowTrigger) -> TimeDelta {
    TimeDelta::seconds(i64::from(tumbling.retry.interval_in_seconds))
}
