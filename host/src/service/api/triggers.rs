//! Triggers over ADF's REST API: `triggers/{name}` PUT (parsed with the model's trigger
//! parser, so a bad recurrence is a 400 naming the property; the pipelines it starts and the
//! triggers it depends on must exist), GET, DELETE (refused while started, as ADF's
//! `TriggerEnabledCannotUpdate`), the list, `start` and `stop` (ADF's long-running operations,
//! answered at once with 200 and no polling headers, which the SDK's `begin_start(...).result()`
//! takes as done), `queryTriggerRuns` and the rerun of a tumbling window's run.
//! `runtimeState` is read-only: the state kept beside the definition, never the PUT body's.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::factories::{factory_id, if_match};
use super::{empty, ok_json, ApiError, Ctx, FactoryAt};
use crate::model::trigger::{Dependency, Trigger, TriggerKind};
use crate::service::control::{Kind, TriggerRow, TriggerRunRow};

pub(crate) async fn one(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    name: &str,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let control = &ctx.api.control;
    let tenant = ctx.tenant.id;
    match ctx.method {
        Method::PUT => {
            super::definitions::check_name(Kind::Triggers, name)?;
            let mut properties = super::definitions::take_properties(bytes, Kind::Triggers, name)?;
            // Read-only in ADF: the state is changed by start and stop only.
            properties.remove("runtimeState");
            super::factories::require(ctx, f).await?;
            if super::factories::if_none_match_any(ctx)
                && control
                    .get_trigger(tenant, &f.rg, &f.name, name)
                    .await?
                    .is_some()
            {
                return Err(super::factories::exists(&format!("trigger '{name}'")));
            }
            let stored = json!({ "properties": Value::Object(properties) });
            check_put(ctx, f, name, &stored).await?;
            let if_match = if_match(ctx);
            let (row, created) = control
                .put_trigger(tenant, &f.rg, &f.name, name, &stored, if_match.as_deref())
                .await?;
            tracing::info!(created, "trigger stored");
            ok_json(resource_json(ctx, f, &row))
        }
        Method::GET => match control.get_trigger(tenant, &f.rg, &f.name, name).await? {
            Some(row) => ok_json(resource_json(ctx, f, &row)),
            None => Err(not_found(f, name)),
        },
        Method::DELETE => {
            super::factories::require(ctx, f).await?;
            if control.delete_trigger(tenant, &f.rg, &f.name, name).await? {
                tracing::info!("trigger deleted");
                empty(StatusCode::OK)
            } else {
                empty(StatusCode::NO_CONTENT)
            }
        }
        _ => Err(ctx.not_allowed("trigger")),
    }
}

pub(crate) async fn list(ctx: &Ctx<'_>, f: &FactoryAt) -> Result<Response, ApiError> {
    if ctx.method != Method::GET {
        return Err(ctx.not_allowed("triggers"));
    }
    super::factories::require(ctx, f).await?;
    let page = ctx
        .api
        .control
        .list_triggers(
            ctx.tenant.id,
            &f.rg,
            &f.name,
            ctx.query("$skipToken"),
            ctx.api.config.page_size,
        )
        .await?;
    ctx.list_answer(
        &page,
        |r| resource_json(ctx, f, r),
        || format!("{}/triggers", factory_id(ctx, &f.rg, &f.name)),
    )
}

/// `triggers/{name}/start`: only the types Sluice fires can be started.
pub(crate) async fn start(ctx: &Ctx<'_>, f: &FactoryAt, name: &str) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("triggerStart"));
    }
    let control = &ctx.api.control;
    let Some(row) = control
        .get_trigger(ctx.tenant.id, &f.rg, &f.name, name)
        .await?
    else {
        return Err(not_found(f, name));
    };
    if let TriggerKind::Other(ty) = parse(name, &row.definition.body)?.kind {
        return Err(ApiError::BadRequest {
            code: "TriggerTypeNotSupported",
            message: format!(
                "trigger '{name}' is a {ty}: Sluice fires only ScheduleTrigger and \
                 TumblingWindowTrigger"
            ),
        });
    }
    control
        .start_trigger(ctx.tenant.id, &f.rg, &f.name, name, chrono::Utc::now())
        .await?;
    tracing::info!("trigger started");
    empty(StatusCode::OK)
}

pub(crate) async fn stop(ctx: &Ctx<'_>, f: &FactoryAt, name: &str) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("triggerStop"));
    }
    ctx.api
        .control
        .stop_trigger(ctx.tenant.id, &f.rg, &f.name, name)
        .await?;
    tracing::info!("trigger stopped");
    empty(StatusCode::OK)
}

pub(crate) async fn query_runs(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("queryTriggerRuns"));
    }
    let q = super::runs::run_query(ctx, bytes)?;
    super::factories::require(ctx, f).await?;
    let page = ctx
        .api
        .control
        .query_trigger_runs(ctx.tenant.id, &f.rg, &f.name, &q)
        .await?;
    ok_json(page.to_adf_json(TriggerRunRow::to_adf_json))
}

/// `triggers/{name}/triggerRuns/{runId}/rerun`.
pub(crate) async fn rerun(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    name: &str,
    run_id: &str,
) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("triggerRerun"));
    }
    let id = Uuid::parse_str(run_id).map_err(|_| ApiError::BadRequest {
        code: "InvalidRunId",
        message: format!(
            "the trigger run id '{}' is not a valid UUID",
            super::auth::truncate(run_id, 64)
        ),
    })?;
    let run = ctx
        .api
        .control
        .rerun_trigger_run(ctx.tenant.id, &f.rg, &f.name, name, id, chrono::Utc::now())
        .await?;
    tracing::info!(window = %run.scheduled_time, "trigger run rerun");
    empty(StatusCode::OK)
}

/// Refuses deleting a pipeline that a trigger starts (ADF keeps references whole), naming the
/// triggers.
pub(crate) async fn check_pipeline_delete(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    pipeline: &str,
) -> Result<(), ApiError> {
    let rows = ctx
        .api
        .control
        .factory_definitions(ctx.tenant.id, &f.rg, &f.name)
        .await?;
    let users: Vec<String> = rows
        .iter()
        .filter(|r| r.kind == Kind::Triggers)
        .filter(|r| {
            pipelines_of(&r.body)
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pipeline))
        })
        .map(|r| format!("trigger '{}'", r.name))
        .collect();
    if users.is_empty() {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            code: "ReferencedByOtherResources",
            message: format!(
                "pipeline '{pipeline}' is still referred to by {}",
                users.join(", ")
            ),
        })
    }
}

/// Parses the definition as the scheduler will; a bad one is a 400 naming the property.
fn parse(name: &str, stored: &Value) -> Result<Trigger, ApiError> {
    let mut json = stored.clone();
    json["name"] = Value::String(name.to_string());
    Trigger::from_json(&json, name).map_err(|e| ApiError::BadRequest {
        code: "InvalidDefinition",
        message: e.to_string(),
    })
}

/// The pipelines a stored trigger starts (`properties.pipelines[]` or, for a tumbling
/// window trigger, `properties.pipeline`), read from the JSON so that any type counts.
fn pipelines_of(stored: &Value) -> Vec<String> {
    let props = &stored["properties"];
    let mut targets: Vec<&Value> = props["pipelines"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if !props["pipeline"].is_null() {
        targets.push(&props["pipeline"]);
    }
    targets
        .iter()
        .filter_map(|t| t.pointer("/pipelineReference/referenceName")?.as_str())
        .map(str::to_string)
        .collect()
}

/// A PUT's trigger must parse, its pipelines exist in the factory, and the triggers it
/// depends on exist and be tumbling window triggers.
async fn check_put(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    name: &str,
    stored: &Value,
) -> Result<(), ApiError> {
    let trigger = parse(name, stored)?;
    let control = &ctx.api.control;
    let tenant = ctx.tenant.id;
    let invalid = |message: String| ApiError::BadRequest {
        code: "InvalidDefinition",
        message,
    };
    let (pipelines, property) = match &trigger.kind {
        TriggerKind::Schedule(s) => (
            s.pipelines.iter().map(|p| p.pipeline.clone()).collect(),
            "pipelines",
        ),
        TriggerKind::TumblingWindow(t) => (vec![t.pipeline.pipeline.clone()], "pipeline"),
        TriggerKind::Other(_) => (pipelines_of(stored), "pipelines"),
    };
    if pipelines.is_empty() && matches!(trigger.kind, TriggerKind::Schedule(_)) {
        return Err(invalid(format!(
            "trigger '{name}': property 'pipelines': names no pipeline to start"
        )));
    }
    for pipeline in &pipelines {
        if control
            .get_definition(tenant, &f.rg, &f.name, Kind::Pipelines, pipeline)
            .await?
            .is_none()
        {
            return Err(invalid(format!(
                "trigger '{name}': property '{property}': the pipeline '{pipeline}' is not \
                 defined in factory '{}'",
                f.name
            )));
        }
    }
    if let TriggerKind::TumblingWindow(t) = &trigger.kind {
        for dependency in &t.depends_on {
            let Dependency::Trigger { trigger: other, .. } = dependency else {
                continue;
            };
            if other.eq_ignore_ascii_case(name) {
                continue;
            }
            let other_row = control.get_trigger(tenant, &f.rg, &f.name, other).await?;
            let is_tumbling = other_row.as_ref().is_some_and(|r| {
                r.definition.body["properties"]["type"].as_str() == Some("TumblingWindowTrigger")
            });
            if !is_tumbling {
                return Err(invalid(format!(
                    "trigger '{name}': property 'typeProperties.dependsOn': '{other}' is not a \
                     tumbling window trigger of factory '{}'",
                    f.name
                )));
            }
        }
    }
    Ok(())
}

/// ADF's `TriggerResource`, `runtimeState` from the state kept beside the definition.
fn resource_json(ctx: &Ctx<'_>, f: &FactoryAt, row: &TriggerRow) -> Value {
    let d = &row.definition;
    let mut properties = match d.body.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    properties.insert(
        "runtimeState".into(),
        Value::String(row.runtime_state.clone()),
    );
    json!({
        "id": format!("{}/triggers/{}", factory_id(ctx, &f.rg, &f.name), d.name),
        "name": d.name,
        "type": Kind::Triggers.resource_type(),
        "etag": d.etag.to_string(),
        "properties": properties,
    })
}

fn not_found(f: &FactoryAt, name: &str) -> ApiError {
    ApiError::NotFound(format!(
        "the trigger '{name}' was not found in factory '{}'",
        f.name
    ))
}
