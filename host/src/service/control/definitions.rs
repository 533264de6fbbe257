//! The definitions of a factory (pipelines, datasets, linked services): stored as the ADF
//! resource the API received (`{"properties": ...}`, SecureStrings already sealed), keyed by
//! kind and `lower(name)`, with a new etag on every write.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::Row;
use uuid::Uuid;

use super::paging::{fetch_limit, page, parse_cursor, Page};
use super::resources::{check_if_match, factory_id, Kind};
use super::{Control, ControlError};

/// A definition as stored (`body` is the ADF resource, SecureStrings sealed).
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionRow {
    pub kind: Kind,
    pub name: String,
    pub body: Value,
    pub etag: Uuid,
    pub updated_at: DateTime<Utc>,
}

const DEFINITION_COLUMNS: &str = "d.kind, d.name, d.body, d.etag, d.updated_at";

fn definition_from_row(row: &Row) -> DefinitionRow {
    let kind: String = row.get(0);
    DefinitionRow {
        kind: Kind::from_segment(&kind).unwrap_or(Kind::Pipelines),
        name: row.get(1),
        body: row.get(2),
        etag: row.get(3),
        updated_at: row.get(4),
    }
}

impl Control {
    /// Creates or replaces a definition; `true` when it was created. The factory must
    /// exist ([`ControlError::NotFound`]); a wrong `If-Match` is [`ControlError::EtagMismatch`].
    #[allow(clippy::too_many_arguments)]
    pub async fn put_definition(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        kind: Kind,
        name: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<(DefinitionRow, bool), ControlError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let factory_id = factory_id(&*tx, tenant, rg, factory).await?;
        let current = tx
            .query_opt(
                "SELECT etag FROM sluice.definitions WHERE factory_id = $1 AND kind = $2 \
                 AND lower(name) = lower($3) FOR UPDATE",
                &[&factory_id, &kind.as_str(), &name],
            )
            .await?;
        check_if_match(current.as_ref().map(|r| r.get(0)), if_match)?;
        let etag = Uuid::new_v4();
        let sql = format!(
            "INSERT INTO sluice.definitions AS d (factory_id, kind, name, body, etag) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (factory_id, kind, lower(name)) DO UPDATE \
             SET body = excluded.body, etag = excluded.etag, updated_at = now() \
             RETURNING {DEFINITION_COLUMNS}, (xmax = 0) AS created"
        );
        let row = tx
            .query_one(&sql, &[&factory_id, &kind.as_str(), &name, body, &etag])
            .await?;
        tx.commit().await?;
        Ok((definition_from_row(&row), row.get("created")))
    }

    /// The definition `kind/name` of the tenant's factory.
    pub async fn get_definition(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        kind: Kind,
        name: &str,
    ) -> Result<Option<DefinitionRow>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {DEFINITION_COLUMNS} FROM sluice.definitions d \
             JOIN sluice.factories f ON f.id = d.factory_id WHERE f.tenant_id = $1 \
             AND lower(f.resource_group) = lower($2) AND lower(f.name) = lower($3) \
             AND d.kind = $4 AND lower(d.name) = lower($5)"
        );
        let row = client
            .query_opt(&sql, &[&tenant, &rg, &factory, &kind.as_str(), &name])
            .await?;
        Ok(row.as_ref().map(definition_from_row))
    }

    /// Deletes a definition; `false` if there was none.
    pub async fn delete_definition(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        kind: Kind,
        name: &str,
    ) -> Result<bool, ControlError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "DELETE FROM sluice.definitions d USING sluice.factories f \
                 WHERE f.id = d.factory_id AND f.tenant_id = $1 \
                 AND lower(f.resource_group) = lower($2) AND lower(f.name) = lower($3) \
                 AND d.kind = $4 AND lower(d.name) = lower($5)",
                &[&tenant, &rg, &factory, &kind.as_str(), &name],
            )
            .await?;
        Ok(n > 0)
    }

    /// The factory's definitions of `kind`, by name, `limit` at a time from cursor `after`.
    /// A missing factory is [`ControlError::NotFound`].
    #[allow(clippy::too_many_arguments)]
    pub async fn list_definitions(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        kind: Kind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<DefinitionRow>, ControlError> {
        let after = parse_cursor(after, 1)?.and_then(|keys| keys.into_iter().next());
        let client = self.pool.get().await?;
        let factory_id = factory_id(&**client, tenant, rg, factory).await?;
        let sql = format!(
            "SELECT {DEFINITION_COLUMNS} FROM sluice.definitions d WHERE factory_id = $1 \
             AND kind = $2 AND ($3::text IS NULL OR lower(name) > $3) \
             ORDER BY lower(name) LIMIT $4"
        );
        let rows = client
            .query(
                &sql,
                &[&factory_id, &kind.as_str(), &after, &fetch_limit(limit)],
            )
            .await?;
        let rows = rows.iter().map(definition_from_row).collect();
        Ok(page(rows, limit, |d: &DefinitionRow| {
            vec![d.name.to_lowercase()]
        }))
    }

    /// Every definition of the factory (all kinds), for planning a run.
    pub async fn factory_definitions(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
    ) -> Result<Vec<DefinitionRow>, ControlError> {
        let client = self.pool.get().await?;
        let factory_id = factory_id(&**client, tenant, rg, factory).await?;
        let sql = format!(
            "SELECT {DEFINITION_COLUMNS} FROM sluice.definitions d WHERE factory_id = $1 \
             ORDER BY kind, lower(name)"
        );
        let rows = client.query(&sql, &[&factory_id]).await?;
        Ok(rows.iter().map(definition_from_row).collect())
    }
}
