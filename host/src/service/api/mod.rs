//! The HTTP API: Azure Data Factory's management REST API (api-version 2018-06-01) over the
//! control database, so that ADF tooling (Microsoft's SDKs, curl scripts written for Azure)
//! drives Sluice. `/healthz`, `/readyz`, `/metrics` and the Monitor page's static files need
//! no token; everything under `/subscriptions` does (see [`auth`]).
//!
//! - [`paths`]: ARM paths to operations, case-insensitive as ADF's;
//! - [`auth`], [`body`], [`errors`]: tokens, rate, api-version, body caps, ARM errors;
//! - `factories`, `definitions`, `validate`, `runs`, `plugins`, `triggers`: the operations;
//! - `subscriptions`: ARM's list of the subscriptions a token reaches (one, the tenant's);
//! - `/` and `/monitor/*`: the Monitor page's embedded assets ([`crate::service::monitor`]);
//! - [`tls`]: the accept loop, plain or TLS (rustls, ring).

pub mod auth;
pub mod body;
mod definitions;
pub mod errors;
mod factories;
pub mod paths;
mod plugins;
mod runs;
mod subscriptions;
pub mod tls;
mod triggers;
mod validate;

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::Value;
use tokio::net::TcpListener;
use tracing::Instrument;

/// How a createRun body's parameter values become the planner's `NAME=VALUE` texts (the
/// worker plans a stored run's `parameters` the same way).
use crate::service::control::{Control, Kind, MasterKey, TenantInfo};
pub use errors::ApiError;
use paths::{Parsed, Rest, Target};

/// The one api-version served.
pub const SUPPORTED_API_VERSION: &str = "2018-06-01";
/// Default cap of a JSON request body.
pub const DEFAULT_BODY_LIMIT: usize = 4 << 20;
/// Default cap of an uploaded plugin component.
pub const DEFAULT_PLUGIN_LIMIT: usize = 32 << 20;
/// Items per page of a list (then `nextLink`).
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// How `sluice serve` runs the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where to listen (port 0 picks a free one; see [`BoundApi::local_addr`]).
    pub listen: SocketAddr,
    /// PEM certificate chain and private key; both or neither. With them the API speaks
    /// only TLS (Microsoft's SDKs refuse to send a bearer token over plain http).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest JSON body accepted (413 past it).
    pub body_limit: usize,
    /// Largest plugin component accepted (413 past it).
    pub plugin_limit: usize,
    /// Items per page of lists.
    pub page_size: usize,
    /// Runs per page of queryPipelineRuns, queryActivityRuns and queryTriggerRuns (ADF: 100).
    pub query_page_size: usize,
    /// Seals SecureStrings of linked services before they are stored.
    pub master_key: MasterKey,
}

impl ApiConfig {
    /// Defaults: no TLS, 4 MiB bodies, 32 MiB plugins, pages of 50 (100 runs a query).
    pub fn new(listen: SocketAddr, master_key: MasterKey) -> ApiConfig {
        ApiConfig {
            listen,
            tls_cert: None,
            tls_key: None,
            body_limit: DEFAULT_BODY_LIMIT,
            plugin_limit: DEFAULT_PLUGIN_LIMIT,
            page_size: DEFAULT_PAGE_SIZE,
            query_page_size: crate::service::control::DEFAULT_QUERY_PAGE,
            master_key,
        }
    }
}

/// Shared state of the handlers.
pub(crate) struct Api {
    pub control: Control,
    pub config: ApiConfig,
    pub tokens: auth::TokenCache,
    pub limiter: auth::RateLimiter,
    pub https: bool,
    /// The (tenant, status) pairs `/metrics` has reported runs for.
    pub run_gauges: Mutex<HashSet<(String, &'static str)>>,
}

/// The process-wide Prometheus recorder (installed once; the worker's metrics land in it too).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; /metrics shows only this one's"
                );
            }
            handle
        })
        .clone()
}

/// A listening API, not serving yet (tests read the port first).
pub struct BoundApi {
    listener: TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    router: Router,
}

impl BoundApi {
    pub fn local_addr(&self) -> Result<SocketAddr, ApiError> {
        self.listener
            .local_addr()
            .map_err(|e| ApiError::Startup(format!("listening socket: {e}")))
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), ApiError> {
        tls::serve(self.listener, self.tls, self.router, shutdown).await
    }
}

/// Binds the listener and reads the TLS files.
pub async fn bind_api(config: ApiConfig, control: Control) -> Result<BoundApi, ApiError> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        (None, None) => None,
        _ => {
            return Err(ApiError::Startup(
                "--tls-cert and --tls-key go together: give both or neither".into(),
            ))
        }
    };
    // Installed before the first request, so that every request is counted.
    metrics_handle();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| ApiError::Startup(format!("cannot listen on {}: {e}", config.listen)))?;
    let api = Arc::new(Api {
        control,
        https: tls.is_some(),
        config,
        tokens: auth::TokenCache::default(),
        limiter: auth::RateLimiter::default(),
        run_gauges: Mutex::new(HashSet::new()),
    });
    Ok(BoundApi {
        listener,
        tls,
        router: router(api),
    })
}

/// `sluice serve`'s API: binds, serves until `shutdown`, drains.
pub async fn serve_api(
    config: ApiConfig,
    control: Control,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ApiError> {
    let bound = bind_api(config, control).await?;
    tracing::info!(addr = %bound.local_addr()?, tls = bound.tls.is_some(), "API listening");
    bound.serve(shutdown).await
}

fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .route("/", get(crate::service::monitor::index))
        .route("/monitor/{file}", get(crate::service::monitor::asset))
        .fallback(arm)
        .layer(middleware::from_fn(count_requests))
        .with_state(api)
}

/// Prometheus text: the counters of this process, and the control database's runs by tenant
/// and status and queue depth, read at each scrape.
async fn metrics_page(State(api): State<Arc<Api>>) -> Response {
    let handle = metrics_handle();
    match (
        api.control.run_counts().await,
        api.control.queue_depth().await,
    ) {
        (Ok(counts), Ok(depth)) => {
            let now: HashSet<(String, &'static str)> = counts
                .iter()
                .map(|c| (c.tenant.clone(), c.status.as_str()))
                .collect();
            for c in &counts {
                metrics::gauge!("sluice_runs", "tenant" => c.tenant.clone(), "status" => c.status.as_str())
                    .set(c.count as f64);
            }
            if let Ok(mut seen) = api.run_gauges.lock() {
                // A tenant's status that has no runs any more reads 0, not its last count.
                for (tenant, status) in seen.difference(&now) {
                    metrics::gauge!("sluice_runs", "tenant" => tenant.clone(), "status" => *status)
                        .set(0.0);
                }
                seen.extend(now);
            }
            metrics::gauge!("sluice_queue_depth").set(depth as f64);
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "/metrics: run counts unavailable");
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

async fn readyz(State(api): State<Arc<Api>>) -> Response {
    match api.control.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "control database not reachable");
            ApiError::Unavailable.into_response()
        }
    }
}

/// The route's label, set on responses by [`arm`].
#[derive(Clone, Copy)]
struct RouteLabel(&'static str);

/// Counts every response by route, method and status, and times it (labels come from fixed
/// sets, so clients cannot grow them).
async fn count_requests(request: Request, next: Next) -> Response {
    let method = match *request.method() {
        Method::GET => "GET",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        _ => "other",
    };
    let path_label = match request.uri().path() {
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        "/" => "monitor",
        p if p.starts_with("/monitor/") => "monitor",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or(path_label, |r| r.0);
    let status = response.status().as_u16();
    metrics::counter!("sluice_api_requests_total", "route" => route, "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("sluice_api_request_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Everything under `/subscriptions`.
async fn arm(State(api): State<Arc<Api>>, request: Request) -> Response {
    let parsed = paths::parse(request.uri().path());
    let label = match &parsed {
        Some(p) => p.label(),
        None if is_subscription_list(request.uri().path()) => "subscriptions",
        None => "unknown",
    };
    let span = tracing::info_span!(
        "api",
        route = label,
        tenant = tracing::field::Empty,
        factory = tracing::field::Empty,
        run_id = tracing::field::Empty,
    );
    let method = request.method().clone();
    let started = Instant::now();
    let result = handle(&api, parsed, request).instrument(span.clone()).await;
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    span.in_scope(|| {
        tracing::info!(
            %method,
            status = response.status().as_u16(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "request"
        );
    });
    response.extensions_mut().insert(RouteLabel(label));
    response
}

/// `GET /subscriptions` (ARM's Subscriptions - List), answered by [`subscriptions`].
fn is_subscription_list(path: &str) -> bool {
    path.trim_matches('/').eq_ignore_ascii_case("subscriptions")
}

/// What a handler knows about its request.
pub(crate) struct Ctx<'a> {
    pub api: &'a Api,
    pub tenant: TenantInfo,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    /// `https://host:port` as the client addressed us (for `nextLink`).
    pub origin: String,
}

impl Ctx<'_> {
    pub fn query(&self, name: &str) -> Option<&str> {
        paths::query_value(&self.query, name)
    }

    /// The subscription prefix of resource ids.
    pub fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", self.tenant.subscription_id)
    }

    pub fn not_allowed(&self, route: &'static str) -> ApiError {
        ApiError::MethodNotAllowed {
            method: self.method.to_string(),
            route,
        }
    }

    /// ARM's answer to a list: `{"value": [item(row)...]}`, and a `nextLink` to the list's
    /// `path()` when another page follows.
    pub fn list_answer<T>(
        &self,
        page: &crate::service::control::Page<T>,
        item: impl Fn(&T) -> Value,
        path: impl FnOnce() -> String,
    ) -> Result<Response, ApiError> {
        let value: Vec<Value> = page.items.iter().map(item).collect();
        let mut out = serde_json::json!({ "value": value });
        if let Some(next) = &page.next {
            out["nextLink"] = Value::String(self.next_link(&path(), next));
        }
        ok_json(out)
    }

    /// An absolute `nextLink` for `path` with the continuation `token`.
    pub fn next_link(&self, path: &str, token: &str) -> String {
        format!(
            "{}{path}?api-version={SUPPORTED_API_VERSION}&%24skipToken={}",
            self.origin,
            paths::encode(token)
        )
    }
}

async fn handle(api: &Api, parsed: Option<Parsed>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let tenant = api.tokens.tenant(&api.control, &parts.headers).await?;
    let span = tracing::Span::current();
    span.record("tenant", tenant.name.as_str());
    api.limiter.admit(&tenant)?;
    let query = paths::query_pairs(parts.uri.query());
    if is_subscription_list(parts.uri.path()) {
        subscriptions::check_api_version(&query)?;
        return subscriptions::list(&parts.method, &tenant);
    }
    auth::check_api_version(&query)?;
    let parsed = parsed.ok_or_else(|| ApiError::NoRoute(auth::truncate(parts.uri.path(), 200)))?;
    auth::check_subscription(&tenant, &parsed.subscription)?;
    if let Target::Factory { factory, rest, .. } = &parsed.target {
        span.record("factory", factory.as_str());
        if let Rest::Run(id)
        | Rest::CancelRun(id)
        | Rest::QueryActivityRuns(id)
        | Rest::RerunTriggerRun(_, id) = rest
        {
            span.record("run_id", id.as_str());
        }
    }
    let is_plugin_put = matches!(
        parsed.target,
        Target::Factory {
            rest: Rest::Plugin(..),
            ..
        }
    ) && parts.method == Method::PUT;
    let limit = if is_plugin_put {
        api.config.plugin_limit
    } else {
        api.config.body_limit
    };
    let bytes = body::read_capped(&parts.headers, body, limit).await?;
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the URI's authority.
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string());
    let ctx = Ctx {
        api,
        tenant,
        method: parts.method,
        headers: parts.headers,
        query,
        origin: format!("{}://{host}", if api.https { "https" } else { "http" }),
    };
    match parsed.target {
        Target::SubscriptionFactories => factories::list(&ctx, None).await,
        Target::GroupFactories { rg } => factories::list(&ctx, Some(&rg)).await,
        Target::Factory { rg, factory, rest } => {
            let f = FactoryAt { rg, name: factory };
            match rest {
                Rest::Itself => factories::one(&ctx, &f, &bytes).await,
                Rest::Definitions(Kind::Triggers) => triggers::list(&ctx, &f).await,
                Rest::Definition(Kind::Triggers, name) => {
                    triggers::one(&ctx, &f, &name, &bytes).await
                }
                Rest::Definitions(kind) => definitions::list(&ctx, &f, kind).await,
                Rest::Definition(kind, name) => {
                    definitions::one(&ctx, &f, kind, &name, &bytes).await
                }
                Rest::CreateRun(pipeline) => runs::create(&ctx, &f, &pipeline, &bytes).await,
                Rest::Run(id) => runs::get(&ctx, &f, &id).await,
                Rest::CancelRun(id) => runs::cancel(&ctx, &f, &id).await,
                Rest::QueryRuns => runs::query(&ctx, &f, &bytes).await,
                Rest::QueryActivityRuns(id) => runs::query_activities(&ctx, &f, &id, &bytes).await,
                Rest::Plugins => plugins::list(&ctx, &f, None).await,
                Rest::PluginVersions(name) => plugins::list(&ctx, &f, Some(&name)).await,
                Rest::Plugin(name, version) => plugins::one(&ctx, &f, &name, &version, bytes).await,
                Rest::StartTrigger(name) => triggers::start(&ctx, &f, &name).await,
                Rest::StopTrigger(name) => triggers::stop(&ctx, &f, &name).await,
                Rest::QueryTriggerRuns => triggers::query_runs(&ctx, &f, &bytes).await,
                Rest::RerunTriggerRun(name, id) => triggers::rerun(&ctx, &f, &name, &id).await,
            }
        }
    }
}

/// A factory named by a path.
pub(crate) struct FactoryAt {
    pub rg: String,
    pub name: String,
}

/// `200 OK` with a JSON body.
pub(crate) fn ok_json(value: Value) -> Result<Response, ApiError> {
    Ok((StatusCode::OK, axum::Json(value)).into_response())
}

/// An empty answer with `status`.
pub(crate) fn empty(status: StatusCode) -> Result<Response, ApiError> {
    Ok((status, Body::empty()).into_response())
}

/// RFC 3339 UTC with microseconds, as ADF's timestamps.
pub(crate) fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
