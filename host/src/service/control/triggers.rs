//! Triggers as ADF's REST API has them: the definition is a row of `sluice.definitions`
//! (kind `triggers`, written by the same upsert as pipelines), its runtime state
//! (`Started`/`Stopped`) a row of `sluice.trigger_states` beside it, and its runs rows of
//! `sluice.trigger_runs` (written by the scheduler; read here by `queryTriggerRuns`, and set
//! back to `Waiting` by a rerun of a tumbling window).
//!
//! A started trigger can be neither changed nor deleted ([`ControlError::TriggerStarted`], as
//! ADF's `TriggerEnabledCannotUpdate`): PUT, DELETE, start and stop all lock the definition's
//! row first, so a start cannot slip between another request's check and its write.
//! Time is a parameter (`now`), never read here, so tests drive it.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::{Row, Transaction};
use uuid::Uuid;

use super::definitions::DefinitionRow;
use super::paging::{fetch_limit, page, parse_cursor, Page};
use super::query::{factory_window, filter_sql, limits, paged, refs, Column};
use super::resources::{check_if_match, factory_id, Kind};
use super::{Control, ControlError, RunQuery};

/// ADF's `runtimeState` of a trigger.
pub const STARTED: &str = "Started";
pub const STOPPED: &str = "Stopped";

/// A trigger's definition and its runtime state.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRow {
    pub definition: DefinitionRow,
    /// `Started` or `Stopped`.
    pub runtime_state: String,
    /// When it was last started (`None` if never).
    pub started_at: Option<DateTime<Utc>>,
}

/// One row of `sluice.trigger_runs`: an instant of a schedule trigger or a window of a
/// tumbling window trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRunRow {
    pub trigger_run_id: Uuid,
    pub trigger_name: String,
    pub trigger_type: String,
    pub scheduled_time: DateTime<Utc>,
    pub window_end: Option<DateTime<Utc>>,
    pub trigger_run_timestamp: DateTime<Utc>,
    pub status: String,
    pub attempt: i32,
    pub not_before: Option<DateTime<Utc>>,
    pub triggered_pipelines: Value,
    pub properties: Value,
    pub message: String,
    pub last_updated: DateTime<Utc>,
}

const TRIGGER_COLUMNS: &str = "d.kind, d.name, d.body, d.etag, d.updated_at, \
     COALESCE(s.runtime_state, 'Stopped'), s.started_at";

/// The join of a definition with its state (`d` and `s`).
const TRIGGER_FROM: &str = "sluice.definitions d LEFT JOIN sluice.trigger_states s \
     ON s.factory_id = d.factory_id AND s.trigger_key = lower(d.name)";

fn trigger_from_row(row: &Row) -> TriggerRow {
    TriggerRow {
        definition: DefinitionRow {
            kind: Kind::Triggers,
            name: row.get(1),
            body: row.get(2),
            etag: row.get(3),
            updated_at: row.get(4),
        },
        runtime_state: row.get(5),
        started_at: row.get(6),
    }
}

const RUN_COLUMNS: &str = "t.trigger_run_id, t.trigger_name, t.trigger_type, t.scheduled_time, \
     t.window_end, t.trigger_run_timestamp, t.status, t.attempt, t.not_before, \
     t.triggered_pipelines, t.properties, t.message, t.last_updated";

fn run_from_row(row: &Row) -> TriggerRunRow {
    TriggerRunRow {
        trigger_run_id: row.get(0),
        trigger_name: row.get(1),
        trigger_type: row.get(2),
        scheduled_time: row.get(3),
        window_end: row.get(4),
        trigger_run_timestamp: row.get(5),
        status: row.get(6),
        attempt: row.get(7),
        not_before: row.get(8),
        triggered_pipelines: row.get(9),
        properties: row.get(10),
        message: row.get(11),
        last_updated: row.get(12),
    }
}

/// `queryTriggerRuns` filters (ADF's RunQueryFilterOperand for trigger runs).
const TRIGGER_RUN_OPERANDS: &[(&str, Column)] = &[
    ("TriggerName", Column::Text("t.trigger_name")),
    ("Status", Column::Text("t.status")),
    (
        "TriggerRunTimestamp",
        Column::Time("t.trigger_run_timestamp"),
    ),
];

const TRIGGER_RUN_ORDER: &[(&str, &str)] = &[
    ("TriggerName", "lower(t.trigger_name)"),
    ("TriggerRunTimestamp", "t.trigger_run_timestamp"),
    ("Status", "t.status"),
];

impl TriggerRunRow {
    /// ADF's `TriggerRun`.
    pub fn to_adf_json(&self) -> Value {
        json!({
            "triggerRunId": self.trigger_run_id.to_string(),
            "triggerName": self.trigger_name,
            "triggerType": self.trigger_type,
            "triggerRunTimestamp": self
                .trigger_run_timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "status": self.status,
            "message": self.message,
            "properties": self.properties,
            "triggeredPipelines": self.triggered_pipelines,
            "runDimension": {},
            "dependencyStatus": {},
        })
    }
}

/// The trigger's definition row locked for the transaction, with its state; `None` if the
/// factory has no such trigger.
async fn lock_trigger(
    tx: &Transaction<'_>,
    factory_id: Uuid,
    name: &str,
) -> Result<Option<TriggerRow>, ControlError> {
    let sql = format!(
        "SELECT {TRIGGER_COLUMNS} FROM {TRIGGER_FROM} WHERE d.factory_id = $1 \
         AND d.kind = 'triggers' AND lower(d.name) = lower($2) FOR UPDATE OF d"
    );
    let row = tx.query_opt(&sql, &[&factory_id, &name]).await?;
    Ok(row.as_ref().map(trigger_from_row))
}

fn trigger_not_found(name: &str, factory: &str) -> ControlError {
    ControlError::not_found(format!("the trigger '{name}' in factory '{factory}'"))
}

impl Control {
    /// Creates or replaces a trigger's definition (`body` as stored: `{"properties": ..}`);
    /// `true` when it was created. A new trigger is Stopped; a started one is refused.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_trigger(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<(TriggerRow, bool), ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let factory_id = factory_id(&*tx, tenant, rg, factory).await?;
        let current = lock_trigger(&tx, factory_id, name).await?;
        if let Some(c) = &current {
            if c.runtime_state == STARTED {
                return Err(ControlError::TriggerStarted(c.definition.name.clone()));
            }
        }
        check_if_match(current.as_ref().map(|c| c.definition.etag), if_match)?;
        let etag = Uuid::new_v4();
        let row = tx
            .query_one(
                "INSERT INTO sluice.definitions AS d (factory_id, kind, name, body, etag) \
                 VALUES ($1, 'triggers', $2, $3, $4) \
                 ON CONFLICT (factory_id, kind, lower(name)) DO UPDATE \
                 SET body = excluded.body, etag = excluded.etag, updated_at = now() \
                 RETURNING d.kind, d.name, d.body, d.etag, d.updated_at, (xmax = 0) AS created",
                &[&factory_id, &name, body, &etag],
            )
            .await?;
        tx.execute(
            "INSERT INTO sluice.trigger_states (factory_id, trigger_key, runtime_state) \
             VALUES ($1, lower($2), 'Stopped') ON CONFLICT DO NOTHING",
            &[&factory_id, &name],
        )
        .await?;
        let started_at = current.and_then(|c| c.started_at);
        tx.commit().await?;
        let definition = DefinitionRow {
            kind: Kind::Triggers,
            name: row.get(1),
            body: row.get(2),
            etag: row.get(3),
            updated_at: row.get(4),
        };
        Ok((
            TriggerRow {
                definition,
                runtime_state: STOPPED.to_string(),
                started_at,
            },
            row.get("created"),
        ))
    }

    /// The tenant's trigger `name` in factory `rg/factory`.
    pub async fn get_trigger(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
    ) -> Result<Option<TriggerRow>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {TRIGGER_COLUMNS} FROM {TRIGGER_FROM} \
             JOIN sluice.factories f ON f.id = d.factory_id WHERE f.tenant_id = $1 \
             AND lower(f.resource_group) = lower($2) AND lower(f.name) = lower($3) \
             AND d.kind = 'triggers' AND lower(d.name) = lower($4)"
        );
        let row = client
            .query_opt(&sql, &[&tenant, &rg, &factory, &name])
            .await?;
        Ok(row.as_ref().map(trigger_from_row))
    }

    /// The factory's triggers by name, `limit` at a time from cursor `after`.
    pub async fn list_triggers(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TriggerRow>, ControlError> {
        let after = parse_cursor(after, 1)?.and_then(|keys| keys.into_iter().next());
        let client = self.pool.get().await?;
        let factory_id = factory_id(&**client, tenant, rg, factory).await?;
        let sql = format!(
            "SELECT {TRIGGER_COLUMNS} FROM {TRIGGER_FROM} WHERE d.factory_id = $1 \
             AND d.kind = 'triggers' AND ($2::text IS NULL OR lower(d.name) > $2) \
             ORDER BY lower(d.name) LIMIT $3"
        );
        let rows = client
            .query(&sql, &[&factory_id, &after, &fetch_limit(limit)])
            .await?;
        let rows = rows.iter().map(trigger_from_row).collect();
        Ok(page(rows, limit, |t: &TriggerRow| {
            vec![t.definition.name.to_lowercase()]
        }))
    }

    /// Deletes a stopped trigger and its state (its runs stay, as history); `false` if there
    /// was none. A started trigger is [`ControlError::TriggerStarted`].
    pub async fn delete_trigger(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
    ) -> Result<bool, ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let factory_id = factory_id(&*tx, tenant, rg, factory).await?;
        let Some(current) = lock_trigger(&tx, factory_id, name).await? else {
            return Ok(false);
        };
        if current.runtime_state == STARTED {
            return Err(ControlError::TriggerStarted(current.definition.name));
        }
        tx.execute(
            "DELETE FROM sluice.definitions WHERE factory_id = $1 AND kind = 'triggers' \
             AND lower(name) = lower($2)",
            &[&factory_id, &name],
        )
        .await?;
        tx.execute(
            "DELETE FROM sluice.trigger_states WHERE factory_id = $1 AND trigger_key = lower($2)",
            &[&factory_id, &name],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Starts a trigger: `Started`, and `started_at = now` unless it was started already (a
    /// second start does not move the instant schedule triggers count from).
    pub async fn start_trigger(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<TriggerRow, ControlError> {
        self.set_trigger_state(tenant, rg, factory, name, STARTED, Some(now))
            .await
    }

    /// Stops a trigger (its waiting windows stay; they run once it is started again).
    pub async fn stop_trigger(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
    ) -> Result<TriggerRow, ControlError> {
        self.set_trigger_state(tenant, rg, factory, name, STOPPED, None)
            .await
    }

    async fn set_trigger_state(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
        state: &str,
        now: Option<DateTime<Utc>>,
    ) -> Result<TriggerRow, ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let factory_id = factory_id(&*tx, tenant, rg, factory).await?;
        let Some(mut current) = lock_trigger(&tx, factory_id, name).await? else {
            return Err(trigger_not_found(name, factory));
        };
        let row = tx
            .query_one(
                "INSERT INTO sluice.trigger_states AS s (factory_id, trigger_key, runtime_state, started_at) \
                 VALUES ($1, lower($2), $3, $4) \
                 ON CONFLICT (factory_id, trigger_key) DO UPDATE \
                 SET runtime_state = excluded.runtime_state, started_at = CASE \
                     WHEN excluded.runtime_state = 'Started' AND s.runtime_state <> 'Started' \
                     THEN excluded.started_at ELSE s.started_at END \
                 RETURNING s.runtime_state, s.started_at",
                &[&factory_id, &name, &state, &now],
            )
            .await?;
        tx.commit().await?;
        current.runtime_state = row.get(0);
        current.started_at = row.get(1);
        Ok(current)
    }

    /// The trigger runs of the tenant's factory that `q` selects (ADF's RunFilterParameters
    /// over `last_updated`; newest first unless `q` orders them); `next` is the continuation
    /// token.
    pub async fn query_trigger_runs(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        q: &RunQuery,
    ) -> Result<Page<TriggerRunRow>, ControlError> {
        let (mut params, window) = factory_window(tenant, rg, factory, q, "t");
        let (conditions, order) = filter_sql(
            q,
            TRIGGER_RUN_OPERANDS,
            TRIGGER_RUN_ORDER,
            "true",
            &mut params,
        )?;
        let order = if order.is_empty() {
            "t.trigger_run_timestamp DESC".to_string()
        } else {
            order
        };
        let limit = limits(q, &mut params);
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM sluice.trigger_runs t \
             JOIN sluice.factories f ON f.id = t.factory_id \
             WHERE {window}{conditions} \
             ORDER BY {order}, t.scheduled_time, t.trigger_run_id {limit}"
        );
        let client = self.pool.get().await?;
        let rows = client.query(&sql, &refs(&params)).await?;
        Ok(paged(rows.iter().map(run_from_row).collect(), q))
    }

    /// Reruns a window of a tumbling window trigger (ADF's `triggerRuns/{runId}/rerun`): a
    /// Failed or Succeeded one becomes Waiting with its attempts reset, and the scheduler
    /// starts it again. Another tenant's, factory's or trigger's run is not found; a schedule
    /// trigger's run, or a window still Waiting or in progress, is [`ControlError::Invalid`].
    pub async fn rerun_trigger_run(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        trigger: &str,
        trigger_run_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TriggerRunRow, ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let factory_id = factory_id(&*tx, tenant, rg, factory).await?;
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM sluice.trigger_runs t WHERE t.trigger_run_id = $1 \
             AND t.factory_id = $2 AND lower(t.trigger_name) = lower($3) FOR UPDATE"
        );
        let Some(row) = tx
            .query_opt(&sql, &[&trigger_run_id, &factory_id, &trigger])
            .await?
        else {
            return Err(ControlError::not_found(format!(
                "the trigger run '{trigger_run_id}' of trigger '{trigger}'"
            )));
        };
        let run = run_from_row(&row);
        if run.trigger_type != "TumblingWindowTrigger" {
            return Err(ControlError::Invalid(format!(
                "trigger run '{trigger_run_id}': only a tumbling window trigger's runs can be \
                 rerun; '{}' is a {}",
                run.trigger_name, run.trigger_type
            )));
        }
        if run.status != "Failed" && run.status != "Succeeded" {
            return Err(ControlError::Invalid(format!(
                "trigger run '{trigger_run_id}' is {}: only a Failed or Succeeded window can be \
                 rerun",
                run.status
            )));
        }
        let sql = format!(
            "UPDATE sluice.trigger_runs t SET status = 'Waiting', attempt = 0, not_before = NULL, \
             message = '', last_updated = $2 WHERE t.trigger_run_id = $1 RETURNING {RUN_COLUMNS}"
        );
        let row = tx.query_one(&sql, &[&trigger_run_id, &now]).await?;
        tx.commit().await?;
        Ok(run_from_row(&row))
    }
}
