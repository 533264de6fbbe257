//! The workers' side of runs: claiming one of the tenant's run slots (so that no more than
//! `max_concurrent_runs` of a tenant's runs are in progress across all workers), keeping the
//! lease, recording activity runs, finishing, and reaping the runs of workers that stopped
//! renewing. Each operation is one transaction; times are the database's `now()`, so the
//! workers' clocks do not matter. Transactions that lock both a slot and a run lock the slot
//! first (a claim locks its own Queued run first, but takes slots with SKIP LOCKED), so they
//! cannot deadlock. `slot_history` records who held which slot when.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::runs::{adf_time, ActivityRunRow, RunStatus};
use super::{Control, ControlError};

/// What [`Control::claim_slot`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotClaim {
    /// The run is now InProgress on this worker, in slot `slot`.
    Acquired { slot: u32 },
    /// All the tenant's slots are taken: try again later (the run stays Queued).
    Full,
    /// The run is not Queued any more (cancelled, or already claimed).
    NotRunnable(RunStatus),
}

/// A worker process as registered.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    pub id: String,
    pub host: String,
    pub pid: i32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub draining: bool,
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The message of a run whose worker stopped renewing its lease.
pub fn lost_worker_message(worker: &str, lease_until: DateTime<Utc>) -> String {
    format!(
        "The worker '{worker}' that ran this pipeline run stopped (its lease expired at {})",
        adf_time(lease_until)
    )
}

/// Fails the expired run `run_id` (in the caller's transaction): the run and its activity
/// runs still in progress become Failed with the lost-worker message; its slot and history
/// entry are closed.
async fn fail_lost_run(
    tx: &tokio_postgres::Transaction<'_>,
    run_id: Uuid,
    worker: &str,
    lease_until: DateTime<Utc>,
) -> Result<(), ControlError> {
    let message = lost_worker_message(worker, lease_until);
    tx.execute(
        "UPDATE sluice.runs SET status = 'Failed', message = $2, run_end = now(), \
         last_updated = now(), lease_until = NULL WHERE run_id = $1",
        &[&run_id, &message],
    )
    .await?;
    let error = serde_json::json!({"errorCode": "LostWorker", "message": message,
                                   "failureType": "SystemError"});
    tx.execute(
        "UPDATE sluice.activity_runs SET status = 'Failed', activity_run_end = now(), \
         duration_ms = (extract(epoch FROM now() - activity_run_start) * 1000)::bigint, \
         error = $2 || jsonb_build_object('target', activity_name), last_updated = now() \
         WHERE run_id = $1 AND status = 'InProgress'",
        &[&run_id, &error],
    )
    .await?;
    release(tx, run_id).await
}

/// Frees the slot of `run_id` and closes its history entry.
async fn release(tx: &tokio_postgres::Transaction<'_>, run_id: Uuid) -> Result<(), ControlError> {
    tx.execute(
        "UPDATE sluice.tenant_slots SET run_id = NULL, worker = NULL, lease_until = NULL \
         WHERE run_id = $1",
        &[&run_id],
    )
    .await?;
    tx.execute(
        "UPDATE sluice.slot_history SET released_at = clock_timestamp() WHERE run_id = $1 AND released_at IS NULL",
        &[&run_id],
    )
    .await?;
    Ok(())
}

impl Control {
    /// Claims a run slot of the run's tenant for `worker` and marks the run InProgress with a
    /// lease of `lease`. A slot is free when empty or when its lease has expired (the run in
    /// it is then failed as lost, see [`Control::reap_expired_leases`]).
    pub async fn claim_slot(
        &self,
        run_id: Uuid,
        worker: &str,
        lease: Duration,
    ) -> Result<SlotClaim, ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let run = tx
            .query_opt(
                "SELECT r.tenant_id, r.status, t.max_concurrent_runs FROM sluice.runs r \
                 JOIN sluice.tenants t ON t.id = r.tenant_id WHERE r.run_id = $1 FOR UPDATE OF r",
                &[&run_id],
            )
            .await?
            .ok_or_else(|| ControlError::not_found(format!("pipeline run '{run_id}'")))?;
        let tenant: Uuid = run.get(0);
        let status: String = run.get(1);
        let max: i32 = run.get(2);
        if status != "Queued" {
            return Ok(SlotClaim::NotRunnable(
                RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
            ));
        }
        // The slots are made together, the first time (or when the limit grows): once the
        // last exists, all do.
        tx.execute(
            "INSERT INTO sluice.tenant_slots (tenant_id, slot) \
             SELECT $1, s FROM generate_series(0, $2 - 1) s \
             WHERE NOT EXISTS (SELECT 1 FROM sluice.tenant_slots \
                               WHERE tenant_id = $1 AND slot = $2 - 1) \
             ON CONFLICT DO NOTHING",
            &[&tenant, &max],
        )
        .await?;
        let free = tx
            .query_opt(
                "SELECT slot, run_id, worker, lease_until FROM sluice.tenant_slots \
                 WHERE tenant_id = $1 AND slot < $2 AND (run_id IS NULL OR lease_until < now()) \
                 ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&tenant, &max],
            )
            .await?;
        let Some(free) = free else {
            return Ok(SlotClaim::Full);
        };
        let slot: i32 = free.get(0);
        if let (Some(lost), Some(lost_worker), Some(lease_until)) = (
            free.get::<_, Option<Uuid>>(1),
            free.get::<_, Option<String>>(2),
            free.get::<_, Option<DateTime<Utc>>>(3),
        ) {
            tracing::warn!(run_id = %lost, worker = %lost_worker, "reaping a run whose lease expired");
            fail_lost_run(&tx, lost, &lost_worker, lease_until).await?;
        }
        tx.execute(
            "UPDATE sluice.tenant_slots SET run_id = $3, worker = $4, \
             lease_until = now() + make_interval(secs => $5) WHERE tenant_id = $1 AND slot = $2",
            &[&tenant, &slot, &run_id, &worker, &secs(lease)],
        )
        .await?;
        tx.execute(
            "UPDATE sluice.runs SET status = 'InProgress', worker = $2, \
             lease_until = now() + make_interval(secs => $3), run_start = coalesce(run_start, now()), \
             last_updated = now() WHERE run_id = $1",
            &[&run_id, &worker, &secs(lease)],
        )
        .await?;
        tx.execute(
            "INSERT INTO sluice.slot_history (tenant_id, run_id, slot, worker, acquired_at) \
             VALUES ($1, $2, $3, $4, clock_timestamp())",
            &[&tenant, &run_id, &slot, &worker],
        )
        .await?;
        tx.commit().await?;
        Ok(SlotClaim::Acquired {
            slot: u32::try_from(slot).unwrap_or(0),
        })
    }

    /// Extends the lease of `worker` on `run_id` by `lease` from now; returns whether a
    /// cancel was requested. [`ControlError::LeaseLost`] when the worker no longer holds it.
    pub async fn renew_lease(
        &self,
        run_id: Uuid,
        worker: &str,
        lease: Duration,
    ) -> Result<bool, ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Slot first, then run: the order every transaction here takes them in.
        tx.execute(
            "UPDATE sluice.tenant_slots SET lease_until = now() + make_interval(secs => $3) \
             WHERE run_id = $1 AND worker = $2",
            &[&run_id, &worker, &secs(lease)],
        )
        .await?;
        let row = tx
            .query_opt(
                "UPDATE sluice.runs SET lease_until = now() + make_interval(secs => $3) \
                 WHERE run_id = $1 AND worker = $2 AND status IN ('InProgress', 'Canceling') \
                 RETURNING cancel_requested",
                &[&run_id, &worker, &secs(lease)],
            )
            .await?;
        let Some(row) = row else {
            return Err(ControlError::LeaseLost {
                run_id,
                worker: worker.to_string(),
            });
        };
        tx.commit().await?;
        Ok(row.get(0))
    }

    /// Records an activity run as started (inserted, or replaced by id).
    pub async fn activity_started(&self, a: &ActivityRunRow) -> Result<(), ControlError> {
        self.upsert_activity(a).await
    }

    /// Records an activity run's end (status, end, output, error), by id.
    pub async fn activity_finished(&self, a: &ActivityRunRow) -> Result<(), ControlError> {
        self.upsert_activity(a).await
    }

    async fn upsert_activity(&self, a: &ActivityRunRow) -> Result<(), ControlError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "WITH touched AS (UPDATE sluice.runs SET last_updated = now() WHERE run_id = $2) \
                 INSERT INTO sluice.activity_runs (activity_run_id, run_id, activity_name, \
                 activity_type, linked_service_name, status, activity_run_start, activity_run_end, \
                 duration_ms, input, output, error, retry_attempt, last_updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now()) \
                 ON CONFLICT (activity_run_id) DO UPDATE SET status = excluded.status, \
                 activity_run_end = excluded.activity_run_end, duration_ms = excluded.duration_ms, \
                 input = excluded.input, output = excluded.output, error = excluded.error, \
                 retry_attempt = excluded.retry_attempt, \
                 linked_service_name = excluded.linked_service_name, last_updated = now()",
                &[
                    &a.activity_run_id,
                    &a.run_id,
                    &a.activity_name,
                    &a.activity_type,
                    &a.linked_service_name,
                    &a.status,
                    &a.activity_run_start,
                    &a.activity_run_end,
                    &a.duration_ms,
                    &a.input,
                    &a.output,
                    &a.error,
                    &a.retry_attempt,
                ],
            )
            .await?;
        Ok(())
    }

    /// Ends the run `worker` holds with `status` and `message`, frees its slot and closes its
    /// history entry. [`ControlError::LeaseLost`] when the worker no longer holds it.
    pub async fn finish_run(
        &self,
        run_id: Uuid,
        worker: &str,
        status: RunStatus,
        message: &str,
    ) -> Result<(), ControlError> {
        if !status.is_terminal() {
            return Err(ControlError::Invalid(format!(
                "a run cannot finish as {status}"
            )));
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "SELECT 1 FROM sluice.tenant_slots WHERE run_id = $1 FOR UPDATE",
            &[&run_id],
        )
        .await?;
        let n = tx
            .execute(
                "UPDATE sluice.runs SET status = $3, message = $4, run_end = now(), \
                 last_updated = now(), lease_until = NULL \
                 WHERE run_id = $1 AND worker = $2 AND status IN ('InProgress', 'Canceling')",
                &[&run_id, &worker, &status.as_str(), &message],
            )
            .await?;
        if n == 0 {
            return Err(ControlError::LeaseLost {
                run_id,
                worker: worker.to_string(),
            });
        }
        release(&tx, run_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Fails every InProgress or Canceling run whose lease has expired, naming the lost
    /// worker, and frees their slots; returns their ids.
    pub async fn reap_expired_leases(&self) -> Result<Vec<Uuid>, ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Slots first (skipping those a claim is taking over), then their runs, and runs
        // that hold no slot row.
        let slots: Vec<Uuid> = tx
            .query(
                "SELECT run_id FROM sluice.tenant_slots WHERE run_id IS NOT NULL \
                 AND lease_until < now() FOR UPDATE SKIP LOCKED",
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let rows = tx
            .query(
                "SELECT run_id, worker, lease_until FROM sluice.runs r \
                 WHERE status IN ('InProgress', 'Canceling') AND lease_until < now() \
                 AND (run_id = ANY($1) OR NOT EXISTS \
                      (SELECT 1 FROM sluice.tenant_slots s WHERE s.run_id = r.run_id)) \
                 FOR UPDATE SKIP LOCKED",
                &[&slots],
            )
            .await?;
        let mut reaped = Vec::new();
        for row in &rows {
            let run_id: Uuid = row.get(0);
            let worker: Option<String> = row.get(1);
            let lease_until: DateTime<Utc> = row.get(2);
            let worker = worker.unwrap_or_default();
            tracing::warn!(run_id = %run_id, worker = %worker, "pipeline run lost its worker");
            fail_lost_run(&tx, run_id, &worker, lease_until).await?;
            reaped.push(run_id);
        }
        tx.commit().await?;
        Ok(reaped)
    }

    /// Registers (or re-registers) a worker process.
    pub async fn register_worker(
        &self,
        id: &str,
        host: &str,
        pid: u32,
    ) -> Result<(), ControlError> {
        let pid = i32::try_from(pid).unwrap_or(i32::MAX);
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO sluice.workers (id, host, pid) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
                 started_at = now(), heartbeat_at = now(), draining = false",
                &[&id, &host, &pid],
            )
            .await?;
        Ok(())
    }

    /// Records that the worker is alive; returns whether it has been asked to drain.
    pub async fn heartbeat(&self, id: &str) -> Result<bool, ControlError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "UPDATE sluice.workers SET heartbeat_at = now() WHERE id = $1 RETURNING draining",
                &[&id],
            )
            .await?
            .ok_or_else(|| ControlError::not_found(format!("worker '{id}'")))?;
        Ok(row.get(0))
    }

    /// Marks the worker as draining (it takes no new runs) or not.
    pub async fn set_draining(&self, id: &str, draining: bool) -> Result<(), ControlError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE sluice.workers SET draining = $2 WHERE id = $1",
                &[&id, &draining],
            )
            .await?;
        Ok(())
    }

    /// Removes a worker that stopped cleanly.
    pub async fn remove_worker(&self, id: &str) -> Result<(), ControlError> {
        let client = self.pool.get().await?;
        client
            .execute("DELETE FROM sluice.workers WHERE id = $1", &[&id])
            .await?;
        Ok(())
    }

    /// The registered workers, by id.
    pub async fn list_workers(&self) -> Result<Vec<WorkerRow>, ControlError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, host, pid, started_at, heartbeat_at, draining FROM sluice.workers ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| WorkerRow {
                id: r.get(0),
                host: r.get(1),
                pid: r.get(2),
                started_at: r.get(3),
                heartbeat_at: r.get(4),
                draining: r.get(5),
            })
            .collect())
    }
}
