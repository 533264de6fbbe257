//! Pipelines, datasets and linked services: PUT (validated, `If-Match` and `If-None-Match: *`
//! honoured, a linked service's SecureStrings sealed before they are stored, a masked one sent
//! back keeping its stored value), GET (SecureStrings masked), DELETE (refused while others
//! refer to the object), and lists with `nextLink` paging.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::factories::{factory_id, if_match};
use super::validate::{check_delete, check_put, kind_label, kind_path};
use super::{body, empty, ok_json, ApiError, Ctx, FactoryAt};
use crate::service::control::crypto::linked_service_aad;
use crate::service::control::{mask_secure_strings, DefinitionRow, Kind};

pub(crate) async fn one(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    kind: Kind,
    name: &str,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let control = &ctx.api.control;
    let tenant = ctx.tenant.id;
    match ctx.method {
        Method::PUT => {
            check_name(kind, name)?;
            let properties = Value::Object(take_properties(bytes, kind, name)?);
            super::factories::require(ctx, f).await?;
            let previous = control
                .get_definition(tenant, &f.rg, &f.name, kind, name)
                .await?;
            if super::factories::if_none_match_any(ctx) && previous.is_some() {
                return Err(super::factories::exists(&format!(
                    "{} '{name}'",
                    kind_label(kind)
                )));
            }
            let mut stored = json!({ "properties": properties });
            if kind == Kind::LinkedServices {
                // A SecureString sent back masked (as GET showed it) keeps its stored value;
                // the definition is validated with the values it will have.
                let key = &ctx.api.config.master_key;
                let aad = linked_service_aad(tenant, &f.name, name);
                key.seal_secure_strings_keeping(
                    &mut stored,
                    &aad,
                    previous.as_ref().map(|p| &p.body),
                )?;
                let mut clear = stored.clone();
                key.open_secure_strings(&mut clear, &aad)?;
                check_put(ctx, f, kind, name, &clear["properties"]).await?;
            } else {
                check_put(ctx, f, kind, name, &stored["properties"]).await?;
            }
            let if_match = if_match(ctx);
            let (row, created) = control
                .put_definition(
                    tenant,
                    &f.rg,
                    &f.name,
                    kind,
                    name,
                    &stored,
                    if_match.as_deref(),
                )
                .await?;
            tracing::info!(kind = kind_path(kind), created, "definition stored");
            ok_json(resource_json(ctx, f, &row))
        }
        Method::GET => match control
            .get_definition(tenant, &f.rg, &f.name, kind, name)
            .await?
        {
            Some(row) => ok_json(resource_json(ctx, f, &row)),
            None => Err(ApiError::NotFound(format!(
                "the {} '{name}' was not found in factory '{}'",
                kind_label(kind),
                f.name
            ))),
        },
        Method::DELETE => {
            super::factories::require(ctx, f).await?;
            check_delete(ctx, f, kind, name).await?;
            if kind == Kind::Pipelines {
                super::triggers::check_pipeline_delete(ctx, f, name).await?;
            }
            if control
                .delete_definition(tenant, &f.rg, &f.name, kind, name)
                .await?
            {
                empty(StatusCode::OK)
            } else {
                empty(StatusCode::NO_CONTENT)
            }
        }
        _ => Err(ctx.not_allowed("definition")),
    }
}

/// The `properties` object of a PUT body; the error names the definition.
pub(super) fn take_properties(
    bytes: &[u8],
    kind: Kind,
    name: &str,
) -> Result<Map<String, Value>, ApiError> {
    let what = kind_label(kind);
    match body::parse_object(bytes)?.remove("properties") {
        Some(Value::Object(p)) => Ok(p),
        Some(_) => Err(ApiError::bad_request(format!(
            "{what} '{name}': property `properties` must be an object"
        ))),
        None => Err(ApiError::bad_request(format!(
            "{what} '{name}': property `properties` is required"
        ))),
    }
}

pub(crate) async fn list(ctx: &Ctx<'_>, f: &FactoryAt, kind: Kind) -> Result<Response, ApiError> {
    if ctx.method != Method::GET {
        return Err(ctx.not_allowed("definitions"));
    }
    let control = &ctx.api.control;
    let size = ctx.api.config.page_size;
    super::factories::require(ctx, f).await?;
    let page = control
        .list_definitions(
            ctx.tenant.id,
            &f.rg,
            &f.name,
            kind,
            ctx.query("$skipToken"),
            size,
        )
        .await?;
    ctx.list_answer(
        &page,
        |r| resource_json(ctx, f, r),
        || format!("{}/{}", factory_id(ctx, &f.rg, &f.name), kind_path(kind)),
    )
}

/// ADF's resource shape, SecureStrings masked.
fn resource_json(ctx: &Ctx<'_>, f: &FactoryAt, row: &DefinitionRow) -> Value {
    let mut properties = row
        .body
        .get("properties")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    mask_secure_strings(&mut properties);
    json!({
        "id": format!("{}/{}/{}", factory_id(ctx, &f.rg, &f.name), kind_path(row.kind), row.name),
        "name": row.name,
        "type": format!("Microsoft.DataFactory/factories/{}", kind_path(row.kind)),
        "etag": row.etag.to_string(),
        "properties": properties,
    })
}

/// ADF's rule for object names: 1-260 characters, starting with a letter, digit or `_`,
/// without `. + ? / < > * % & : \`.
pub(crate) fn check_name(kind: Kind, name: &str) -> Result<(), ApiError> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    let ok = first_ok
        && name.chars().count() <= 260
        && !name.chars().any(|c| {
            matches!(
                c,
                '.' | '+' | '?' | '/' | '<' | '>' | '*' | '%' | '&' | ':' | '\\'
            ) || c.is_control()
        });
    let what = format!("{} name", kind_label(kind));
    super::factories::name_rule(
        ok,
        "InvalidResourceName",
        &what,
        name,
        "1 to 260 characters starting with a letter, digit or '_', without . + ? / < > * % & : \\",
    )
}
