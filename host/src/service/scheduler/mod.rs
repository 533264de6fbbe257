//! The trigger scheduler: fires the Started triggers of every tenant, exactly once however many
//! `sluice serve` processes share one control database.
//!
//! Each [`Scheduler::tick`] is one pass at an instant `now` (an injected [`Clock`]'s, so tests
//! drive time instead of waiting for it):
//! 1. completion ([`completion`]): trigger runs Inprogress whose pipeline runs have all ended
//!    become Succeeded, or, for a tumbling window with retries left, Waiting again (retry
//!    back-off), else Failed;
//! 2. every Started trigger (`trigger_states` joined with the `triggers` definitions): schedule
//!    triggers fire their due instants ([`fire`]), tumbling window triggers record their due
//!    windows and start the ones whose turn it is ([`windows`]). A definition that does not
//!    parse is logged and skipped; one trigger's failure does not stop the others.
//!
//! Exactly once rests on the control database, never on timing: a schedule instant is claimed
//! by inserting its `trigger_runs` row (unique per factory, trigger and instant) in the same
//! transaction that creates its pipeline runs, so a second server's insert is a no-op; a
//! tumbling window trigger is advanced under a transaction-scoped advisory lock (one server at
//! a time per trigger, which also holds `maxConcurrency` across servers) and a window is
//! claimed by `UPDATE .. WHERE status = 'Waiting'` in the transaction that creates its run.
//! Stopping a trigger is a row in `trigger_states`, so every server sees it at its next tick.

pub mod clock;
mod completion;
mod fire;
mod windows;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use clock::{Clock, ManualClock, SystemClock};

use crate::model::trigger::{Trigger, TriggerKind, TumblingWindowTrigger};
use crate::service::control::{Control, ControlError, NewRun};

/// How often `sluice serve` ticks unless `--trigger-interval` says otherwise.
pub const DEFAULT_TICK: Duration = Duration::from_secs(5);

/// How late a schedule instant may still be fired (see [`Scheduler::with_catch_up`]).
pub const DEFAULT_CATCH_UP: TimeDelta = TimeDelta::seconds(60);

/// Fires the Started triggers found in the control database.
#[derive(Debug, Clone)]
pub struct Scheduler {
    control: Control,
    catch_up: TimeDelta,
}

/// What one tick did (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Started triggers seen.
    pub triggers: usize,
    /// Schedule instants this server claimed (and started the runs of).
    pub instants_fired: usize,
    /// Tumbling windows this server recorded as due.
    pub windows_recorded: usize,
    /// Tumbling windows this server started a run for (first attempts and retries).
    pub windows_started: usize,
    /// Trigger runs this server moved out of Inprogress (Succeeded, Failed or to a retry).
    pub completed: usize,
    /// Triggers skipped because their definition did not parse or their pass failed.
    pub errors: usize,
}

/// A Started trigger with where it lives.
#[derive(Debug, Clone)]
pub(crate) struct StartedTrigger {
    pub factory_id: Uuid,
    pub tenant_id: Uuid,
    pub resource_group: String,
    pub factory: String,
    pub started_at: Option<DateTime<Utc>>,
    pub trigger: Trigger,
}

impl Scheduler {
    pub fn new(control: Control) -> Scheduler {
        Scheduler {
            control,
            catch_up: DEFAULT_CATCH_UP,
        }
    }

    /// How late a schedule instant may be fired. ADF does not replay a schedule trigger's
    /// missed instants (after a stop, or here after every server was down): an instant is
    /// fired only while `now - instant <= catch_up`, so a tick that comes a little late (a
    /// busy server, the tick interval) still fires it, and a restart after a longer gap skips
    /// what it missed. Must exceed the tick interval, or instants fall between ticks.
    pub fn with_catch_up(mut self, catch_up: TimeDelta) -> Scheduler {
        self.catch_up = catch_up;
        self
    }

    /// Ticks every `every` at `clock`'s time until `stop` is cancelled. A failing tick is
    /// logged and the next one tries again (the control database may come back).
    pub async fn run(self, clock: Arc<dyn Clock>, every: Duration, stop: CancellationToken) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = interval.tick() => {}
            }
            match self.tick(clock.now()).await {
                Ok(report)
                    if report
                        != TickReport {
                            triggers: report.triggers,
                            ..TickReport::default()
                        } =>
                {
                    tracing::debug!(?report, "trigger scheduler tick");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("trigger scheduler: {e}"),
            }
        }
        tracing::info!("trigger scheduler stopped");
    }

    /// One pass at `now`: completions, then every Started trigger.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, ControlError> {
        let mut report = TickReport::default();
        let mut definitions = Definitions::default();
        completion::complete(self, now, &mut definitions, &mut report).await?;
        for started in self.started_triggers(&mut report).await? {
            let result = match &started.trigger.kind {
                TriggerKind::Schedule(s) => fire::fire(self, &started, s, now, &mut report).await,
                TriggerKind::TumblingWindow(w) => {
                    windows::advance(self, &started, w, now, &mut definitions, &mut report).await
                }
                TriggerKind::Other(_) => Ok(()),
            };
            if let Err(e) = result {
                report.errors += 1;
                tracing::warn!(
                    tenant = %started.tenant_id,
                    factory = %started.factory,
                    trigger = %started.trigger.name,
                    "trigger pass failed: {e}"
                );
            }
        }
        Ok(report)
    }

    /// Every Started trigger of every tenant, parsed; one that does not parse is logged and
    /// counted in `report.errors`.
    async fn started_triggers(
        &self,
        report: &mut TickReport,
    ) -> Result<Vec<StartedTrigger>, ControlError> {
        let client = self.control.pool().get().await?;
        let rows = client
            .query(
                "SELECT d.factory_id, f.tenant_id, f.resource_group, f.name, d.name, d.body, \
                 s.started_at FROM sluice.trigger_states s \
                 JOIN sluice.definitions d ON d.factory_id = s.factory_id \
                 AND d.kind = 'triggers' AND lower(d.name) = s.trigger_key \
                 JOIN sluice.factories f ON f.id = s.factory_id \
                 WHERE s.runtime_state = 'Started' ORDER BY f.tenant_id, d.factory_id, d.name",
                &[],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.get(4);
            let body: Value = row.get(5);
            let tenant_id: Uuid = row.get(1);
            let factory: String = row.get(3);
            match Trigger::from_json(&body, &name) {
                Ok(mut trigger) => {
                    // The stored name is the one the API and trigger_runs use.
                    trigger.name = name;
                    out.push(StartedTrigger {
                        factory_id: row.get(0),
                        tenant_id,
                        resource_group: row.get(2),
                        factory,
                        started_at: row.get(6),
                        trigger,
                    });
                }
                Err(e) => {
                    report.errors += 1;
                    tracing::warn!(tenant = %tenant_id, factory = %factory, "trigger '{name}' is not fired: {e}");
                }
            }
        }
        report.triggers = out.len();
        Ok(out)
    }
}

/// Tumbling window definitions looked up during one tick (dependencies and retry policies
/// name triggers that need not be Started), each read at most once.
#[derive(Default)]
pub(crate) struct Definitions {
    cache: HashMap<(Uuid, String), Option<TumblingWindowTrigger>>,
}

impl Definitions {
    /// Tumbling window trigger `name` of factory `factory_id`; `None` when it does not exist,
    /// does not parse or is another type (logged).
    pub async fn tumbling(
        &mut self,
        client: &impl tokio_postgres::GenericClient,
        factory_id: Uuid,
        name: &str,
    ) -> Result<Option<TumblingWindowTrigger>, ControlError> {
        let key = (factory_id, name.to_lowercase());
        if let Some(found) = self.cache.get(&key) {
            return Ok(found.clone());
        }
        let row = client
            .query_opt(
                "SELECT name, body FROM sluice.definitions WHERE factory_id = $1 \
                 AND kind = 'triggers' AND lower(name) = lower($2)",
                &[&factory_id, &name],
            )
            .await?;
        let found = match row {
            None => None,
            Some(row) => {
                let stored: String = row.get(0);
                let body: Value = row.get(1);
                match Trigger::from_json(&body, &stored) {
                    Ok(Trigger {
                        kind: TriggerKind::TumblingWindow(w),
                        ..
                    }) => Some(w),
                    Ok(_) => {
                        tracing::warn!(factory = %factory_id, "trigger '{stored}' is not a tumbling window trigger");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(factory = %factory_id, "trigger '{stored}': {e}");
                        None
                    }
                }
            }
        };
        self.cache.insert(key, found.clone());
        Ok(found)
    }
}

impl StartedTrigger {
    /// The pipeline run this trigger's run `trigger_run_id` starts for `target`: its
    /// parameters as the trigger gives them (evaluated when the run starts), ADF's `invokedBy`
    /// (`{"name": T, "id": <trigger run id>, "invokedByType": ty}`) and `info`, what
    /// `@trigger()` reads.
    pub(crate) fn new_run(
        &self,
        target: &crate::model::trigger::PipelineTarget,
        trigger_run_id: Uuid,
        ty: &str,
        info: Value,
    ) -> NewRun {
        NewRun {
            tenant_id: self.tenant_id,
            resource_group: self.resource_group.clone(),
            factory: self.factory.clone(),
            pipeline_name: target.pipeline.clone(),
            parameters: Value::Object(target.parameters.clone()),
            invoked_by: Some(serde_json::json!({
                "name": self.trigger.name,
                "id": trigger_run_id.to_string(),
                "invokedByType": ty,
            })),
            trigger: Some(info),
            ..NewRun::default()
        }
    }
}
