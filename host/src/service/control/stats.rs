//! Counts for `/metrics`: runs by tenant and status, and the queue's depth.

use super::runs::RunStatus;
use super::{Control, ControlError};

/// How many of a tenant's runs have one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCount {
    pub tenant: String,
    pub status: RunStatus,
    pub count: u64,
}

impl Control {
    /// The number of runs of each tenant in each status (statuses without runs left out).
    pub async fn run_counts(&self) -> Result<Vec<RunCount>, ControlError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT t.name, r.status, count(*) FROM sluice.runs r \
                 JOIN sluice.tenants t ON t.id = r.tenant_id \
                 GROUP BY t.name, r.status ORDER BY lower(t.name), r.status",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let status: String = row.get(1);
                Some(RunCount {
                    tenant: row.get(0),
                    status: RunStatus::parse(&status)?,
                    count: u64::try_from(row.get::<_, i64>(2)).unwrap_or(0),
                })
            })
            .collect())
    }

    /// Runs waiting to start (Queued), all tenants together.
    pub async fn queue_depth(&self) -> Result<u64, ControlError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM sluice.runs WHERE status = 'Queued'",
                &[],
            )
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }
}
