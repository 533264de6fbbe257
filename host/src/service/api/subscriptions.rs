//! ARM's Subscriptions - List (`GET /subscriptions`): the one subscription a token reaches.
//! Azure tools call it to learn which subscriptions a credential sees, and the Monitor page
//! (`service::monitor`) calls it to find its tenant's subscription from the token alone.

use axum::http::Method;
use axum::response::Response;
use serde_json::json;

use super::{auth, ok_json, ApiError, SUPPORTED_API_VERSION};
use crate::service::control::TenantInfo;

/// The api-versions of ARM's Subscriptions API answered here, besides Data Factory's own.
const SUBSCRIPTION_API_VERSIONS: &[&str] = &["2020-01-01", "2022-12-01", SUPPORTED_API_VERSION];

/// Checks the api-version of a `GET /subscriptions` (ARM's, not Data Factory's).
pub(crate) fn check_api_version(query: &[(String, String)]) -> Result<(), ApiError> {
    auth::check_api_version_in(query, SUBSCRIPTION_API_VERSIONS)
}

/// `{"value": [the tenant's subscription]}` in ARM's shape; the display name is the tenant's.
pub(crate) fn list(method: &Method, tenant: &TenantInfo) -> Result<Response, ApiError> {
    if method != Method::GET {
        return Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            route: "subscriptions",
        });
    }
    let sub = tenant.subscription_id;
    ok_json(json!({
        "value": [{
            "id": format!("/subscriptions/{sub}"),
            "subscriptionId": sub.to_string(),
            "tenantId": tenant.id.to_string(),
            "displayName": tenant.name,
            "state": "Enabled",
            "authorizationSource": "Bearer"
        }]
    }))
}
