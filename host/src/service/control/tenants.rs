//! Tenants: who may use the service, with the limits their runs get. A tenant has one
//! subscription id (the `{sub}` of the API's paths) and one bearer token, shown once when it
//! is made; only the token's SHA-256 is stored, and authenticating looks the hash up.

use std::time::Duration;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio_postgres::Row;
use uuid::Uuid;

use super::error::is_unique_violation;
use super::{Control, ControlError};

/// What `sluice tenant create` asks for; `None` takes the default.
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    pub name: String,
    pub max_concurrent_runs: Option<u32>,
    pub plugin_memory_mib: Option<u32>,
    pub plugin_call_timeout: Option<Duration>,
    pub requests_per_second: Option<u32>,
}

/// A tenant as stored (without its token hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    pub id: Uuid,
    pub name: String,
    pub subscription_id: Uuid,
    pub max_concurrent_runs: u32,
    pub plugin_memory_mib: Option<u32>,
    pub plugin_call_timeout: Option<Duration>,
    pub requests_per_second: u32,
    pub created_at: DateTime<Utc>,
}

/// A tenant with its new token: the only time the token is known.
#[derive(Clone)]
pub struct CreatedTenant {
    pub tenant: TenantInfo,
    pub token: String,
}

impl std::fmt::Debug for CreatedTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedTenant")
            .field("tenant", &self.tenant)
            .field("token", &"<redacted>")
            .finish()
    }
}

pub const DEFAULT_MAX_CONCURRENT_RUNS: u32 = 4;
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 200;

const COLUMNS: &str = "id, name, subscription_id, max_concurrent_runs, plugin_memory_mib, \
                       plugin_call_timeout_ms, requests_per_second, created_at";

fn tenant_from_row(row: &Row) -> TenantInfo {
    let positive = |v: i32| u32::try_from(v).unwrap_or(0);
    TenantInfo {
        id: row.get(0),
        name: row.get(1),
        subscription_id: row.get(2),
        max_concurrent_runs: positive(row.get(3)),
        plugin_memory_mib: row.get::<_, Option<i32>>(4).map(positive),
        plugin_call_timeout: row
            .get::<_, Option<i64>>(5)
            .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        requests_per_second: positive(row.get(6)),
        created_at: row.get(7),
    }
}

/// A new random token (32 bytes, base64url) and its hash.
fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (token, hash)
}

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Tenant names: 1-63 letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn check_tenant_name(name: &str) -> Result<(), ControlError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "tenant name {name:?}: use 1 to 63 letters, digits, '-', '_' or '.', starting with \
             a letter or digit"
        )))
    }
}

fn limit(name: &str, value: Option<u32>, default: u32) -> Result<i32, ControlError> {
    let value = value.unwrap_or(default);
    match i32::try_from(value) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(ControlError::Invalid(format!(
            "{name} must be between 1 and {}",
            i32::MAX
        ))),
    }
}

impl Control {
    /// Creates a tenant with a new subscription id and token. A name in use (in any case) is
    /// a [`ControlError::Conflict`].
    pub async fn create_tenant(&self, t: NewTenant) -> Result<CreatedTenant, ControlError> {
        check_tenant_name(&t.name)?;
        let max_runs = limit(
            "max-concurrent-runs",
            t.max_concurrent_runs,
            DEFAULT_MAX_CONCURRENT_RUNS,
        )?;
        let rps = limit(
            "requests-per-second",
            t.requests_per_second,
            DEFAULT_REQUESTS_PER_SECOND,
        )?;
        let memory = match t.plugin_memory_mib {
            Some(m) => Some(limit("plugin-memory", Some(m), 1)?),
            None => None,
        };
        let timeout_ms = match t.plugin_call_timeout {
            Some(d) if d.is_zero() => {
                return Err(ControlError::Invalid(
                    "plugin-call-timeout must be more than 0".into(),
                ))
            }
            Some(d) => Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            None => None,
        };
        let (token, hash) = new_token();
        let client = self.pool.get().await?;
        let sql = format!(
            "INSERT INTO sluice.tenants (id, name, subscription_id, token_hash, \
             max_concurrent_runs, plugin_memory_mib, plugin_call_timeout_ms, requests_per_second) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        );
        let row = client
            .query_one(
                &sql,
                &[
                    &Uuid::new_v4(),
                    &t.name,
                    &Uuid::new_v4(),
                    &hash,
                    &max_runs,
                    &memory,
                    &timeout_ms,
                    &rps,
                ],
            )
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    ControlError::Conflict(format!("a tenant named '{}' exists already", t.name))
                } else {
                    e.into()
                }
            })?;
        Ok(CreatedTenant {
            tenant: tenant_from_row(&row),
            token,
        })
    }

    /// Every tenant, by name.
    pub async fn list_tenants(&self) -> Result<Vec<TenantInfo>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {COLUMNS} FROM sluice.tenants ORDER BY lower(name)");
        let rows = client.query(&sql, &[]).await?;
        Ok(rows.iter().map(tenant_from_row).collect())
    }

    /// The tenant named `name` (in any case).
    pub async fn get_tenant(&self, name: &str) -> Result<Option<TenantInfo>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {COLUMNS} FROM sluice.tenants WHERE lower(name) = lower($1)");
        let row = client.query_opt(&sql, &[&name]).await?;
        Ok(row.as_ref().map(tenant_from_row))
    }

    /// The tenant with id `id`.
    pub async fn tenant_by_id(&self, id: Uuid) -> Result<Option<TenantInfo>, ControlError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {COLUMNS} FROM sluice.tenants WHERE id = $1");
        let row = client.query_opt(&sql, &[&id]).await?;
        Ok(row.as_ref().map(tenant_from_row))
    }

    /// Gives the tenant a new token; the old one stops working at once.
    pub async fn rotate_token(&self, name: &str) -> Result<CreatedTenant, ControlError> {
        let (token, hash) = new_token();
        let client = self.pool.get().await?;
        let sql = format!(
            "UPDATE sluice.tenants SET token_hash = $2 WHERE lower(name) = lower($1) \
             RETURNING {COLUMNS}"
        );
        let row = client
            .query_opt(&sql, &[&name, &hash])
            .await?
            .ok_or_else(|| ControlError::not_found(format!("tenant '{name}'")))?;
        Ok(CreatedTenant {
            tenant: tenant_from_row(&row),
            token,
        })
    }

    /// Deletes the tenant and everything it owns (factories, definitions, plugins, runs).
    pub async fn delete_tenant(&self, name: &str) -> Result<(), ControlError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "DELETE FROM sluice.tenants WHERE lower(name) = lower($1)",
                &[&name],
            )
            .await?;
        if n == 0 {
            return Err(ControlError::not_found(format!("tenant '{name}'")));
        }
        Ok(())
    }

    /// The tenant whose token is `token`, if any. The lookup is by the token's SHA-256, so
    /// timing reveals nothing about the token.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TenantInfo>, ControlError> {
        if token.is_empty() || token.len() > 512 {
            return Ok(None);
        }
        let hash = token_hash(token);
        let client = self.pool.get().await?;
        let sql = format!("SELECT {COLUMNS} FROM sluice.tenants WHERE token_hash = $1");
        let row = client.query_opt(&sql, &[&hash]).await?;
        Ok(row.as_ref().map(tenant_from_row))
    }
}
