//! Factories: PUT (create or update, `If-Match` honoured), GET, DELETE, and lists by resource
//! group and by subscription with `nextLink` paging. A factory is a container here (no git
//! integration, no identity); its `properties` are kept as given.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::{body, empty, ok_json, time, ApiError, Ctx, FactoryAt, SUPPORTED_API_VERSION};
use crate::service::control::FactoryRow;

pub(crate) async fn one(ctx: &Ctx<'_>, f: &FactoryAt, bytes: &[u8]) -> Result<Response, ApiError> {
    let control = &ctx.api.control;
    let tenant = ctx.tenant.id;
    match ctx.method {
        Method::PUT => {
            check_group_name(&f.rg)?;
            check_factory_name(&f.name)?;
            let body = Value::Object(body::parse_object(bytes)?);
            for (property, ok) in [
                (
                    "location",
                    body.get("location").is_none_or(Value::is_string),
                ),
                ("tags", body.get("tags").is_none_or(Value::is_object)),
                (
                    "properties",
                    body.get("properties").is_none_or(Value::is_object),
                ),
            ] {
                if !ok {
                    return Err(ApiError::bad_request(format!(
                        "factory '{}': property `{property}` must be {}",
                        f.name,
                        if property == "location" {
                            "a string"
                        } else {
                            "an object"
                        }
                    )));
                }
            }
            if if_none_match_any(ctx)
                && control.get_factory(tenant, &f.rg, &f.name).await?.is_some()
            {
                return Err(exists(&format!("factory '{}'", f.name)));
            }
            let if_match = if_match(ctx);
            let (row, created) = control
                .put_factory(tenant, &f.rg, &f.name, &body, if_match.as_deref())
                .await?;
            tracing::info!(created, "factory stored");
            ok_json(factory_json(ctx, &row))
        }
        Method::GET => match control.get_factory(tenant, &f.rg, &f.name).await? {
            Some(row) => ok_json(factory_json(ctx, &row)),
            None => Err(not_found(f)),
        },
        Method::DELETE => {
            if control.delete_factory(tenant, &f.rg, &f.name).await? {
                empty(StatusCode::OK)
            } else {
                empty(StatusCode::NO_CONTENT)
            }
        }
        _ => Err(ctx.not_allowed("factory")),
    }
}

pub(crate) async fn list(ctx: &Ctx<'_>, rg: Option<&str>) -> Result<Response, ApiError> {
    if ctx.method != Method::GET {
        return Err(ctx.not_allowed("factories"));
    }
    let page = ctx
        .api
        .control
        .list_factories(
            ctx.tenant.id,
            rg,
            ctx.query("$skipToken"),
            ctx.api.config.page_size,
        )
        .await?;
    ctx.list_answer(
        &page,
        |r| factory_json(ctx, r),
        || match rg {
            Some(rg) => format!(
                "{}/resourceGroups/{}/providers/Microsoft.DataFactory/factories",
                ctx.subscription_path(),
                super::paths::encode(rg)
            ),
            None => format!(
                "{}/providers/Microsoft.DataFactory/factories",
                ctx.subscription_path()
            ),
        },
    )
}

/// The resource id of a factory.
pub(crate) fn factory_id(ctx: &Ctx<'_>, rg: &str, name: &str) -> String {
    format!(
        "{}/resourceGroups/{rg}/providers/Microsoft.DataFactory/factories/{name}",
        ctx.subscription_path()
    )
}

fn factory_json(ctx: &Ctx<'_>, row: &FactoryRow) -> Value {
    let mut properties = match &row.properties {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    properties.insert("provisioningState".into(), json!("Succeeded"));
    properties.insert("createTime".into(), json!(time(&row.created_at)));
    properties.insert("version".into(), json!(SUPPORTED_API_VERSION));
    json!({
        "id": factory_id(ctx, &row.resource_group, &row.name),
        "name": row.name,
        "type": "Microsoft.DataFactory/factories",
        "location": row.location.clone().unwrap_or_default(),
        "tags": if row.tags.is_null() { json!({}) } else { row.tags.clone() },
        "eTag": row.etag.to_string(),
        "properties": properties,
    })
}

/// Fails with [`not_found`] unless the tenant's factory `f` exists.
pub(crate) async fn require(ctx: &Ctx<'_>, f: &FactoryAt) -> Result<(), ApiError> {
    match ctx
        .api
        .control
        .get_factory(ctx.tenant.id, &f.rg, &f.name)
        .await?
    {
        Some(_) => Ok(()),
        None => Err(not_found(f)),
    }
}

/// An ARM name that breaks its rule: 400 `code`, naming `what`, the name (shortened) and `rule`.
pub(crate) fn name_rule(
    ok: bool,
    code: &'static str,
    what: &str,
    name: &str,
    rule: &str,
) -> Result<(), ApiError> {
    if ok {
        return Ok(());
    }
    Err(ApiError::BadRequest {
        code,
        message: format!("{what} '{}': {rule}", super::auth::truncate(name, 100)),
    })
}

pub(crate) fn not_found(f: &FactoryAt) -> ApiError {
    ApiError::NotFound(format!(
        "the factory '{}' was not found in resource group '{}'",
        f.name, f.rg
    ))
}

/// `If-Match` without quotes or a weak marker (the SDK quotes etags).
pub(crate) fn if_match(ctx: &Ctx<'_>) -> Option<String> {
    let raw = ctx.headers.get("if-match")?.to_str().ok()?.trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    Some(raw.trim_matches('"').to_string())
}

/// `If-None-Match: *`: create only (the SDK's `MatchConditions.IfMissing`).
pub(crate) fn if_none_match_any(ctx: &Ctx<'_>) -> bool {
    ctx.headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "*")
}

/// The answer to a create-only PUT of something that exists.
pub(crate) fn exists(what: &str) -> ApiError {
    ApiError::EtagMismatch(format!(
        "{what} already exists and If-None-Match: * asked to create it only"
    ))
}

/// ARM's rule for resource group names: 1-90 of letters, digits, `-_.()`, not ending in `.`.
fn check_group_name(rg: &str) -> Result<(), ApiError> {
    let ok = (1..=90).contains(&rg.chars().count())
        && rg
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
        && !rg.ends_with('.');
    name_rule(
        ok,
        "InvalidResourceGroupName",
        "resource group",
        rg,
        "1 to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
    )
}

/// ADF's rule for factory names: 3-63 letters, digits and hyphens, starting and ending with a
/// letter or digit.
fn check_factory_name(name: &str) -> Result<(), ApiError> {
    let ok = (3..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    name_rule(
        ok,
        "InvalidResourceName",
        "factory name",
        name,
        "3 to 63 letters, digits or '-', starting and ending with a letter or digit",
    )
}
