//! Factories of a tenant, the kinds of their definitions, and `If-Match` (definitions
//! themselves are in [`super::definitions`]).
//! Names are case-insensitive as in ADF: kept as first written, looked up by `lower(name)`.
//! Every write gives the resource a new etag; `If-Match` must name the current one (`*`:
//! any, but the resource must exist). Definition bodies are stored as given: the API seals
//! their SecureStrings first (see [`super::crypto`]).

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use super::paging::{fetch_limit, page, parse_cursor, Page};
use super::{Control, ControlError};

/// A factory as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FactoryRow {
    pub id: Uuid,
    pub resource_group: String,
    pub name: String,
    pub location: Option<String>,
    pub tags: Value,
    pub properties: Value,
    pub etag: Uuid,
    pub created_at: DateTime<Utc>,
}

/// The kinds of definitions, by their path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Pipelines,
    Datasets,
    LinkedServices,
    /// ADF's `triggers`: their runtime state and runs are in [`super::triggers`].
    Triggers,
}

impl Kind {
    /// The path segment and stored value: `pipelines`, `datasets`, `linkedservices`,
    /// `triggers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pipelines => "pipelines",
            Kind::Datasets => "datasets",
            Kind::LinkedServices => "linkedservices",
            Kind::Triggers => "triggers",
        }
    }

    /// The kind of a path segment, in any case.
    pub fn from_segment(segment: &str) -> Option<Kind> {
        match segment.to_ascii_lowercase().as_str() {
            "pipelines" => Some(Kind::Pipelines),
            "datasets" => Some(Kind::Datasets),
            "linkedservices" => Some(Kind::LinkedServices),
            "triggers" => Some(Kind::Triggers),
            _ => None,
        }
    }

    /// The ARM resource type under a factory: `Microsoft.DataFactory/factories/pipelines`.
    pub fn resource_type(self) -> &'static str {
        match self {
            Kind::Pipelines => "Microsoft.DataFactory/factories/pipelines",
            Kind::Datasets => "Microsoft.DataFactory/factories/datasets",
            Kind::LinkedServices => "Microsoft.DataFactory/factories/linkedservices",
            Kind::Triggers => "Microsoft.DataFactory/factories/triggers",
        }
    }
}

const FACTORY_COLUMNS: &str =
    "id, resource_group, name, location, tags, properties, etag, created_at";

fn factory_from_row(row: &Row) -> FactoryRow {
    FactoryRow {
        id: row.get(0),
        resource_group: row.get(1),
        name: row.get(2),
        location: row.get(3),
        tags: row.get(4),
        properties: row.get(5),
        etag: row.get(6),
        created_at: row.get(7),
    }
}

/// Checks `If-Match` against the current etag (`None`: the resource does not exist).
/// Accepts `*`, a bare uuid, `"uuid"` and `W/"uuid"`.
pub fn check_if_match(current: Option<Uuid>, if_match: Option<&str>) -> Result<(), ControlError> {
    let Some(wanted) = if_match else {
        return Ok(());
    };
    let wanted = wanted.trim();
    if wanted == "*" {
        return current.map(|_| ()).ok_or(ControlError::EtagMismatch);
    }
    let bare = wanted.trim_start_matches("W/").trim_matches('"');
    match (current, Uuid::parse_str(bare)) {
        (Some(current), Ok(wanted)) if current == wanted => Ok(()),
        _ => Err(ControlError::EtagMismatch),
    }
}

/// The id of the tenant's factory `rg/name`, or [`ControlError::NotFound`].
pub(crate) async fn factory_id(
    client: &impl GenericClient,
    tenant: Uuid,
    rg: &str,
    name: &str,
) -> Result<Uuid, ControlError> {
    client
        .query_opt(
            "SELECT id FROM sluice.factories WHERE tenant_id = $1 \
             AND lower(resource_group) = lower($2) AND lower(name) = lower($3)",
            &[&tenant, &rg, &name],
        )
        .await?
        .map(|row| row.get(0))
        .ok_or_else(|| {
            ControlError::not_found(format!("factory '{name}' in resource group '{rg}'"))
        })
}

impl Control {
    /// Creates or replaces a factory from its ARM body (`location`, `tags`, `properties`);
    /// `true` when it was created.
    pub async fn put_factory(
        &self,
        tenant: Uuid,
        rg: &str,
        name: &str,
        body: &Value,
        if_match: Option<&str>,
    ) -> Result<(FactoryRow, bool), ControlError> {
        let location = body.get("location").and_then(Value::as_str);
        let tags = body
            .get("tags")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let properties = body
            .get("properties")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let current = tx
            .query_opt(
                "SELECT id, etag FROM sluice.factories WHERE tenant_id = $1 \
                 AND lower(resource_group) = lower($2) AND lower(name) = lower($3) FOR UPDATE",
                &[&tenant, &rg, &name],
            )
            .await?;
        check_if_match(current.as_ref().map(|r| r.get(1)), if_match)?;
        let etag = Uuid::new_v4();
        let (row, created) = match current {
            Some(current) => {
                let id: Uuid = current.get(0);
                let sql = format!(
                    "UPDATE sluice.factories SET location = $2, tags = $3, properties = $4, \
                     etag = $5, updated_at = now() WHERE id = $1 RETURNING {FACTORY_COLUMNS}"
                );
                (
                    tx.query_one(&sql, &[&id, &location, &tags, &properties, &etag])
                        .await?,
                    false,
                )
            }
            None => {
                let sql = format!(
                    "INSERT INTO sluice.factories (id, tenant_id, resource_group, name, location, \
                     tags, properties, etag) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT DO NOTHING RETURNING {FACTORY_COLUMNS}"
                );
                let row = tx
                    .query_opt(
                        &sql,
                        &[
                            &Uuid::new_v4(),
                            &tenant,
                            &rg,
                            &name,
                            &location,
                            &tags,
                            &properties,
                            &etag,
                        ],
                    )
                    .await?
                    .ok_or_else(|| {
                        ControlError::Conflict(format!(
                            "factory '{name}' was created at the same time; retry"
                        ))
                    })?;
                (row, true)
            }
        };
        tx.commit().await?;
        Ok((factory_from_row(&row), created))
    }

    /// The tenant's factory `rg/name`.
    pub async fn get_factory(
        &self,
        tenant: Uuid,
        rg: &str,
        name: &str,
    ) -> Result<Option<FactoryRow>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {FACTORY_COLUMNS} FROM sluice.factories WHERE tenant_id = $1 \
             AND lower(resource_group) = lower($2) AND lower(name) = lower($3)"
        );
        let row = client.query_opt(&sql, &[&tenant, &rg, &name]).await?;
        Ok(row.as_ref().map(factory_from_row))
    }

    /// Deletes the factory with its definitions, plugins and runs; `false` if there was none.
    pub async fn delete_factory(
        &self,
        tenant: Uuid,
        rg: &str,
        name: &str,
    ) -> Result<bool, ControlError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "DELETE FROM sluice.factories WHERE tenant_id = $1 \
                 AND lower(resource_group) = lower($2) AND lower(name) = lower($3)",
                &[&tenant, &rg, &name],
            )
            .await?;
        Ok(n > 0)
    }

    /// The tenant's factories in resource group `rg` (all of them for `None`), by resource
    /// group then name, `limit` at a time from cursor `after`.
    pub async fn list_factories(
        &self,
        tenant: Uuid,
        rg: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<FactoryRow>, ControlError> {
        let after = parse_cursor(after, 2)?;
        let (after_rg, after_name) = match &after {
            Some(keys) => (keys.first().cloned(), keys.get(1).cloned()),
            None => (None, None),
        };
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {FACTORY_COLUMNS} FROM sluice.factories WHERE tenant_id = $1 \
             AND ($2::text IS NULL OR lower(resource_group) = lower($2)) \
             AND ($3::text IS NULL OR (lower(resource_group), lower(name)) > ($3, $4)) \
             ORDER BY lower(resource_group), lower(name) LIMIT $5"
        );
        let rows = client
            .query(
                &sql,
                &[&tenant, &rg, &after_rg, &after_name, &fetch_limit(limit)],
            )
            .await?;
        let rows = rows.iter().map(factory_from_row).collect();
        Ok(page(rows, limit, |f: &FactoryRow| {
            vec![f.resource_group.to_lowercase(), f.name.to_lowercase()]
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        let tag = Uuid::new_v4();
        assert!(check_if_match(None, None).is_ok());
        assert!(check_if_match(Some(tag), None).is_ok());
        assert!(check_if_match(Some(tag), Some("*")).is_ok());
        assert!(check_if_match(None, Some("*")).is_err());
        assert!(check_if_match(Some(tag), Some(&tag.to_string())).is_ok());
        assert!(check_if_match(Some(tag), Some(&format!("\"{tag}\""))).is_ok());
        assert!(check_if_match(Some(tag), Some(&format!("W/\"{tag}\""))).is_ok());
        assert!(check_if_match(Some(tag), Some(&Uuid::new_v4().to_string())).is_err());
        assert!(check_if_match(None, Some(&tag.to_string())).is_err());
        assert!(check_if_match(Some(tag), Some("junk")).is_err());
    }
}
