//! Pipeline runs: `createRun` (parameters checked against the pipeline's declarations with the
//! planning code, then stored Queued and enqueued), `pipelineruns/{runId}` GET and `cancel`,
//! `queryPipelineRuns` and `queryActivityruns` in ADF's shapes (`{"value":[..],
//! "continuationToken":..}`), SecureString parameters masked in every run answer.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{body, empty, ok_json, ApiError, Ctx, FactoryAt};
use crate::model::error::ModelError;
use crate::secrets::SecretBook;
use crate::service::control::crypto::MASK;
use crate::service::control::{ActivityRunRow, Kind, NewRun, RunQuery, RunRow};

pub(crate) async fn create(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    pipeline: &str,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("createRun"));
    }
    let control = &ctx.api.control;
    let tenant = ctx.tenant.id;
    let mut parameters = body::parse_object(bytes)?;
    let reference = match ctx
        .query("referencePipelineRunId")
        .filter(|v| !v.is_empty())
    {
        Some(id) => Some(run_uuid(id)?),
        None => None,
    };
    let is_recovery = flag(ctx, "isRecovery")?;
    let start_from_failure = flag(ctx, "startFromFailure")?;
    let start_activity = ctx
        .query("startActivityName")
        .filter(|v| !v.is_empty())
        .map(str::to_string);
    let Some(def) = control
        .get_definition(tenant, &f.rg, &f.name, Kind::Pipelines, pipeline)
        .await?
    else {
        return Err(ApiError::NotFound(format!(
            "the pipeline '{pipeline}' was not found in factory '{}'",
            f.name
        )));
    };
    let reference_run = match reference {
        Some(id) => Some(find_run(ctx, f, id).await?),
        None => None,
    };
    if (is_recovery || start_from_failure) && reference_run.is_none() {
        return Err(ApiError::BadRequest {
            code: "InvalidParameters",
            message: "isRecovery and startFromFailure need referencePipelineRunId".into(),
        });
    }
    if let Some(r) = &reference_run {
        if !r.pipeline_name.eq_ignore_ascii_case(&def.name) {
            return Err(ApiError::BadRequest {
                code: "InvalidParameters",
                message: format!(
                    "the reference run {} is a run of pipeline '{}', not '{}'",
                    r.run_id, r.pipeline_name, def.name
                ),
            });
        }
    }
    if let Some(start) = &start_activity {
        check_start_activity(&def.body, &def.name, start)?;
    }
    if let Some(r) = &reference_run {
        unmask_from_reference(&mut parameters, r);
    }
    check_parameters(ctx, f, &def.name, &parameters).await?;
    let new = NewRun {
        tenant_id: tenant,
        resource_group: f.rg.clone(),
        factory: f.name.clone(),
        pipeline_name: def.name.clone(),
        parameters: Value::Object(parameters),
        is_recovery,
        reference_run_id: reference,
        start_activity,
        start_from_failure,
        invoked_by: None,
        trigger: None,
    };
    let row = control.create_run(new).await?;
    tracing::Span::current().record("run_id", row.run_id.to_string());
    tracing::info!(pipeline = %row.pipeline_name, is_recovery, "run queued");
    ok_json(json!({ "runId": row.run_id.to_string() }))
}

/// Plans the pipeline with the given parameters (the factory built from the control database,
/// secrets opened in memory), as `sluice run` would before starting: an unknown parameter, a
/// value of the wrong type or a missing required one is a 400.
async fn check_parameters(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    pipeline: &str,
    parameters: &Map<String, Value>,
) -> Result<(), ApiError> {
    let loaded = super::validate::load(ctx, f).await?;
    let given: Vec<(String, String)> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), crate::service::control::runs::parameter_text(v)))
        .collect();
    crate::model::plan::plan_run(&loaded.factory, pipeline, &given, &SecretBook::default())
        .map(|_| ())
        .map_err(|e| {
            // A parameter's own error, or one in the definitions the run needs.
            let code = match &e {
                ModelError::Invalid { property, .. } if property.starts_with("parameters") => {
                    "InvalidParameters"
                }
                _ => "InvalidDefinition",
            };
            ApiError::BadRequest {
                code,
                message: loaded.redact(&cli_words_to_api(&e.to_string())),
            }
        })
}

/// `startActivityName` must name one of the pipeline's top-level activities.
fn check_start_activity(body: &Value, pipeline: &str, start: &str) -> Result<(), ApiError> {
    let names: Vec<&str> = body
        .pointer("/properties/activities")
        .and_then(Value::as_array)
        .map(|acts| {
            acts.iter()
                .filter_map(|a| a.get("name")?.as_str())
                .collect()
        })
        .unwrap_or_default();
    if names.contains(&start) {
        Ok(())
    } else {
        Err(ApiError::BadRequest {
            code: "InvalidParameters",
            message: format!(
                "startActivityName '{}': pipeline '{pipeline}' has no such activity (it has: {})",
                super::auth::truncate(start, 100),
                names.join(", ")
            ),
        })
    }
}

/// The planner speaks of `--param NAME=VALUE`; a createRun gives parameters in its body.
fn cli_words_to_api(message: &str) -> String {
    message
        .replace(
            "give it with --param NAME=VALUE",
            "give it in the createRun body",
        )
        .replace("--param ", "parameter ")
}

pub(crate) async fn get(ctx: &Ctx<'_>, f: &FactoryAt, id: &str) -> Result<Response, ApiError> {
    if ctx.method != Method::GET {
        return Err(ctx.not_allowed("pipelineRun"));
    }
    let run = find_run(ctx, f, run_uuid(id)?).await?;
    let mut answer = run.to_adf_json();
    mask_secure_parameters(ctx, f, std::iter::once(&mut answer)).await?;
    ok_json(answer)
}

pub(crate) async fn cancel(ctx: &Ctx<'_>, f: &FactoryAt, id: &str) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("cancel"));
    }
    let run_id = run_uuid(id)?;
    let recursive = flag(ctx, "isRecursive")?;
    find_run(ctx, f, run_id).await?;
    match ctx
        .api
        .control
        .request_cancel(ctx.tenant.id, run_id, recursive)
        .await?
    {
        Some(run) => {
            tracing::info!(recursive, status = %run.status, "cancel requested");
            empty(StatusCode::OK)
        }
        None => Err(run_not_found(id)),
    }
}

pub(crate) async fn query(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("queryPipelineRuns"));
    }
    let q = run_query(ctx, bytes)?;
    super::factories::require(ctx, f).await?;
    let page = ctx
        .api
        .control
        .query_runs(ctx.tenant.id, &f.rg, &f.name, &q)
        .await?;
    let mut answer = page.to_adf_json(RunRow::to_adf_json);
    if let Some(runs) = answer.get_mut("value").and_then(Value::as_array_mut) {
        mask_secure_parameters(ctx, f, runs.iter_mut()).await?;
    }
    ok_json(answer)
}

/// A SecureString parameter's value is a secret: in run answers the parameters the run's
/// pipeline declares SecureString (as it is defined now) read `**********`. A rerun that passes
/// the masked text back gets the original value (see [`unmask_from_reference`]).
async fn mask_secure_parameters(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    runs: impl Iterator<Item = &mut Value>,
) -> Result<(), ApiError> {
    let mut secure: HashMap<String, Vec<String>> = HashMap::new();
    for run in runs {
        let Some(pipeline) = run.get("pipelineName").and_then(Value::as_str) else {
            continue;
        };
        let key = pipeline.to_ascii_lowercase();
        if !secure.contains_key(&key) {
            let names = secure_parameter_names(ctx, f, pipeline).await?;
            secure.insert(key.clone(), names);
        }
        let names = secure.get(&key).map_or(&[][..], Vec::as_slice);
        if let Some(params) = run.get_mut("parameters").and_then(Value::as_object_mut) {
            for (name, value) in params.iter_mut() {
                if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    *value = Value::String(MASK.to_string());
                }
            }
        }
    }
    Ok(())
}

/// The parameters `pipeline` declares with type SecureString.
async fn secure_parameter_names(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    pipeline: &str,
) -> Result<Vec<String>, ApiError> {
    let def = ctx
        .api
        .control
        .get_definition(ctx.tenant.id, &f.rg, &f.name, Kind::Pipelines, pipeline)
        .await?;
    let declared = def
        .as_ref()
        .and_then(|d| d.body.pointer("/properties/parameters"))
        .and_then(Value::as_object);
    Ok(declared
        .into_iter()
        .flatten()
        .filter(|(_, p)| {
            p.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("SecureString"))
        })
        .map(|(name, _)| name.clone())
        .collect())
}

/// A rerun (`referencePipelineRunId`) that passes back a parameter as the masked text runs with
/// the reference run's value of it: clients only ever saw the mask.
fn unmask_from_reference(parameters: &mut Map<String, Value>, reference: &RunRow) {
    for (name, value) in parameters.iter_mut() {
        if value.as_str() == Some(MASK) {
            if let Some(original) = reference.parameters.get(name.as_str()) {
                *value = original.clone();
            }
        }
    }
}

pub(crate) async fn query_activities(
    ctx: &Ctx<'_>,
    f: &FactoryAt,
    id: &str,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    if ctx.method != Method::POST {
        return Err(ctx.not_allowed("queryActivityRuns"));
    }
    let run = find_run(ctx, f, run_uuid(id)?).await?;
    let q = run_query(ctx, bytes)?;
    let page = ctx
        .api
        .control
        .query_activity_runs(ctx.tenant.id, run.run_id, &q)
        .await?;
    ok_json(page.to_adf_json(ActivityRunRow::to_adf_json))
}

/// A RunFilterParameters body (an empty body is no filter at all).
pub(crate) fn run_query(ctx: &Ctx<'_>, bytes: &[u8]) -> Result<RunQuery, ApiError> {
    let body = Value::Object(body::parse_object(bytes)?);
    let mut q = RunQuery::from_adf_json(&body).map_err(ApiError::from)?;
    q.limit = ctx.api.config.query_page_size;
    Ok(q)
}

/// The run, if it is this tenant's and this factory's.
async fn find_run(ctx: &Ctx<'_>, f: &FactoryAt, run_id: Uuid) -> Result<RunRow, ApiError> {
    let run = ctx.api.control.get_run(ctx.tenant.id, run_id).await?;
    match run {
        Some(r)
            if r.resource_group.eq_ignore_ascii_case(&f.rg)
                && r.factory.eq_ignore_ascii_case(&f.name) =>
        {
            Ok(r)
        }
        _ => Err(run_not_found(&run_id.to_string())),
    }
}

fn run_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("the pipeline run '{id}' was not found"))
}

fn run_uuid(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::BadRequest {
        code: "InvalidRunId",
        message: format!(
            "the run id '{}' is not a valid UUID",
            super::auth::truncate(id, 64)
        ),
    })
}

/// A boolean query parameter (`true`/`false`, any case); absent is false.
fn flag(ctx: &Ctx<'_>, name: &str) -> Result<bool, ApiError> {
    match ctx.query(name) {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "the query parameter {name} must be true or false, not '{}'",
            super::auth::truncate(v, 32)
        ))),
    }
}
