//! Who is asking, and may they: bearer tokens resolved to tenants through the control
//! database (cached for a few seconds under the token's SHA-256, never the token itself), the
//! `{subscriptionId}` of a path checked against the tenant's own, `api-version` checked, and a
//! per-tenant token bucket for the request rate.
//!
//! Another tenant's subscription answers 404 `SubscriptionNotFound`, exactly as a subscription
//! that does not exist does, so a tenant learns nothing about the others. A rotated or deleted
//! token keeps working for at most [`TOKEN_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::errors::ApiError;
use super::SUPPORTED_API_VERSION;
use crate::service::control::{Control, TenantInfo};

/// How long a token's tenant (or its absence) is remembered.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// The cache is cleared when it holds more entries than this (forged tokens cannot grow it).
const TOKEN_CACHE_MAX: usize = 10_000;

/// A cached answer: the token's tenant (or none) and when it was looked up.
type Cached = (Option<TenantInfo>, Instant);

/// Bearer token -> tenant, cached by SHA-256 of the token.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], Cached>>,
}

impl TokenCache {
    /// The tenant of the request's bearer token: 401 when there is none or it is not valid.
    pub async fn tenant(
        &self,
        control: &Control,
        headers: &HeaderMap,
    ) -> Result<TenantInfo, ApiError> {
        let token = bearer_token(headers).ok_or(ApiError::MissingToken)?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(hit) = self.lookup(&key) {
            return hit.ok_or(ApiError::InvalidToken);
        }
        let found = control.authenticate(token).await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
            entries.insert(key, (found.clone(), Instant::now()));
        }
        found.ok_or(ApiError::InvalidToken)
    }

    fn lookup(&self, key: &[u8; 32]) -> Option<Option<TenantInfo>> {
        let entries = self.entries.lock().ok()?;
        let (tenant, at) = entries.get(key)?;
        (at.elapsed() < TOKEN_CACHE_TTL).then(|| tenant.clone())
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The path's subscription must be the tenant's own.
pub fn check_subscription(tenant: &TenantInfo, segment: &str) -> Result<(), ApiError> {
    let sub = Uuid::parse_str(segment)
        .map_err(|_| ApiError::InvalidSubscriptionId(truncate(segment, 64)))?;
    if sub == tenant.subscription_id {
        Ok(())
    } else {
        Err(ApiError::SubscriptionNotFound(sub.to_string()))
    }
}

/// `api-version` must be present and the one version served.
pub fn check_api_version(query: &[(String, String)]) -> Result<(), ApiError> {
    check_api_version_in(query, &[SUPPORTED_API_VERSION])
}

/// The request's `api-version` must be one of `accepted`.
pub fn check_api_version_in(query: &[(String, String)], accepted: &[&str]) -> Result<(), ApiError> {
    match super::paths::query_value(query, "api-version") {
        None => Err(ApiError::MissingApiVersion),
        Some(v) if accepted.contains(&v) => Ok(()),
        Some(other) => Err(ApiError::InvalidApiVersion(truncate(other, 64))),
    }
}

/// At most `n` characters of text echoed into an error message.
pub fn truncate(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(n).collect::<String>())
    }
}

/// Per-tenant token buckets: `requests_per_second` tokens a second, as many in a burst.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<Uuid, Bucket>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// Takes one request from the tenant's bucket, or says when to retry.
    pub fn admit(&self, tenant: &TenantInfo) -> Result<(), ApiError> {
        let rate = tenant.requests_per_second.max(1);
        let rate_f = f64::from(rate);
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let bucket = buckets.entry(tenant.id).or_insert(Bucket {
            tokens: rate_f,
            last: now,
        });
        let refill = now.duration_since(bucket.last).as_secs_f64() * rate_f;
        bucket.tokens = (bucket.tokens + refill).min(rate_f);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate_f;
            Err(ApiError::RateLimited {
                rate,
                retry_after: wait.ceil().max(1.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(rps: u32) -> TenantInfo {
        TenantInfo {
            id: Uuid::new_v4(),
            name: "t".into(),
            subscription_id: Uuid::new_v4(),
            max_concurrent_runs: 1,
            plugin_memory_mib: None,
            plugin_call_timeout: None,
            requests_per_second: rps,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_bucket_admits_its_burst_then_asks_to_retry() {
        let limiter = RateLimiter::default();
        let t = tenant(3);
        for _ in 0..3 {
            assert!(limiter.admit(&t).is_ok());
        }
        match limiter.admit(&t) {
            Err(ApiError::RateLimited { retry_after, rate }) => {
                assert_eq!(rate, 3);
                assert!(retry_after >= 1);
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        // Another tenant has its own bucket.
        assert!(limiter.admit(&tenant(3)).is_ok());
    }

    #[test]
    fn bearer_tokens_and_api_versions_are_checked() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        let q = |v: &str| vec![("api-version".to_string(), v.to_string())];
        assert!(check_api_version(&q("2018-06-01")).is_ok());
        assert!(matches!(
            check_api_version(&q("2017-09-01-preview")),
            Err(ApiError::InvalidApiVersion(_))
        ));
        assert!(matches!(
            check_api_version(&[]),
            Err(ApiError::MissingApiVersion)
        ));
    }

    #[test]
    fn another_subscription_is_not_found_and_a_bad_one_is_refused() {
        let t = tenant(1);
        assert!(check_subscription(&t, &t.subscription_id.to_string()).is_ok());
        assert!(check_subscription(&t, &t.subscription_id.to_string().to_uppercase()).is_ok());
        assert!(matches!(
            check_subscription(&t, &Uuid::new_v4().to_string()),
            Err(ApiError::SubscriptionNotFound(_))
        ));
        assert!(matches!(
            check_subscription(&t, "not-a-uuid"),
            Err(ApiError::InvalidSubscriptionId(_))
        ));
    }
}
