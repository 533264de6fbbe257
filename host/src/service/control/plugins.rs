//! Plugins uploaded by a tenant under one of its factories (`.../plugins/{name}/versions/
//! {version}`): the component's bytes with their SHA-256 and size. The API validates and
//! caps them before [`Control::put_plugin`]; the worker loads a run's plugins from its
//! factory only, so one tenant's plugins never reach another's runs even under one name.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::paging::{fetch_limit, page, parse_cursor, Page};
use super::resources::factory_id;
use super::{Control, ControlError};

/// A stored plugin version (without its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRow {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "name, version, sha256, size, created_at";

fn plugin_from_row(row: &Row) -> PluginRow {
    PluginRow {
        name: row.get(0),
        version: row.get(1),
        sha256: row.get(2),
        size: u64::try_from(row.get::<_, i64>(3)).unwrap_or(0),
        created_at: row.get(4),
    }
}

impl Control {
    /// Stores (or replaces) plugin `name` version `version` of the tenant's factory.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_plugin(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
        version: &str,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<PluginRow, ControlError> {
        let client = self.pool.get().await?;
        let factory_id = factory_id(&**client, tenant, rg, factory).await?;
        let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
        let sql = format!(
            "INSERT INTO sluice.plugins (factory_id, tenant_id, name, version, sha256, size, bytes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (factory_id, name, version) DO UPDATE \
             SET sha256 = excluded.sha256, size = excluded.size, bytes = excluded.bytes, \
             created_at = now() RETURNING {COLUMNS}"
        );
        let row = client
            .query_one(
                &sql,
                &[
                    &factory_id,
                    &tenant,
                    &name,
                    &version,
                    &sha256,
                    &size,
                    &bytes,
                ],
            )
            .await?;
        Ok(plugin_from_row(&row))
    }

    /// Plugin `name` version `version` of the tenant's factory.
    pub async fn get_plugin(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<PluginRow>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT p.{} FROM sluice.plugins p JOIN sluice.factories f ON f.id = p.factory_id \
             WHERE f.tenant_id = $1 AND lower(f.resource_group) = lower($2) \
             AND lower(f.name) = lower($3) AND p.name = $4 AND p.version = $5",
            COLUMNS.replace(", ", ", p.")
        );
        let row = client
            .query_opt(&sql, &[&tenant, &rg, &factory, &name, &version])
            .await?;
        Ok(row.as_ref().map(plugin_from_row))
    }

    /// The factory's plugins (every version; of `name` only when given), by name and
    /// version, `limit` at a time from cursor `after`.
    #[allow(clippy::too_many_arguments)]
    pub async fn list_plugins(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<PluginRow>, ControlError> {
        let after = parse_cursor(after, 2)?;
        let (after_name, after_version) = match &after {
            Some(keys) => (keys.first().cloned(), keys.get(1).cloned()),
            None => (None, None),
        };
        let client = self.pool.get().await?;
        let factory_id = factory_id(&**client, tenant, rg, factory).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM sluice.plugins WHERE factory_id = $1 \
             AND ($2::text IS NULL OR name = $2) \
             AND ($3::text IS NULL OR (name, version) > ($3, $4)) \
             ORDER BY name, version LIMIT $5"
        );
        let rows = client
            .query(
                &sql,
                &[
                    &factory_id,
                    &name,
                    &after_name,
                    &after_version,
                    &fetch_limit(limit),
                ],
            )
            .await?;
        let rows = rows.iter().map(plugin_from_row).collect();
        Ok(page(rows, limit, |p: &PluginRow| {
            vec![p.name.clone(), p.version.clone()]
        }))
    }

    /// Every plugin of the factory (for a run's plugin host).
    pub async fn factory_plugins(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
    ) -> Result<Vec<PluginRow>, ControlError> {
        let client = self.pool.get().await?;
        let factory_id = factory_id(&**client, tenant, rg, factory).await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM sluice.plugins WHERE factory_id = $1 ORDER BY name, version"
        );
        let rows = client.query(&sql, &[&factory_id]).await?;
        Ok(rows.iter().map(plugin_from_row).collect())
    }

    /// Deletes a plugin version; `false` if there was none.
    pub async fn delete_plugin(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        name: &str,
        version: &str,
    ) -> Result<bool, ControlError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "DELETE FROM sluice.plugins p USING sluice.factories f \
                 WHERE f.id = p.factory_id AND f.tenant_id = $1 \
                 AND lower(f.resource_group) = lower($2) AND lower(f.name) = lower($3) \
                 AND p.name = $4 AND p.version = $5",
                &[&tenant, &rg, &factory, &name, &version],
            )
            .await?;
        Ok(n > 0)
    }

    /// The bytes of one of the tenant's plugins with SHA-256 `sha256` (hex).
    pub async fn plugin_bytes(
        &self,
        tenant: Uuid,
        sha256: &str,
    ) -> Result<Option<Vec<u8>>, ControlError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT bytes FROM sluice.plugins WHERE tenant_id = $1 AND sha256 = $2 LIMIT 1",
                &[&tenant, &sha256],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }
}
