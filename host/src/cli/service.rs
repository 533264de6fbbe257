//! `sluice serve` and `sluice worker`: the service's processes. `serve` answers ADF's REST API,
//! fires Started triggers and runs N embedded workers; `worker` only runs queued pipeline runs,
//! on any machine that reaches the control database and the data stores. Both apply pending migrations, need
//! `SLUICE_MASTER_KEY`, and drain on SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::service::control::{Control, MasterKey};
use crate::service::scheduler::{Scheduler, SystemClock, DEFAULT_CATCH_UP};
use crate::service::worker::{run_workers, WorkerConfig};

/// Options every worker takes (`serve`'s embedded ones too).
#[derive(clap::Args, Clone)]
pub struct WorkerOptions {
    /// Seconds a run's lease lasts: a run whose worker died is marked Failed this long after
    /// its last renewal.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    pub lease: f64,
    /// Seconds running runs may go on after SIGTERM before they are stopped.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub grace: f64,
    /// The folder of tenants' local files: FileServer linked services resolve under
    /// DIR/<tenant id> (default: the cache folder's files/).
    #[arg(long, value_name = "DIR")]
    pub files_root: Option<PathBuf>,
    /// Where tenants' plugins and compiled code are cached (default: the user's cache folder).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct WorkerArgs {
    /// The control database (postgres://...).
    #[arg(long, env = "SLUICE_CONTROL_DB", value_name = "URL")]
    pub control_db: String,
    /// Pipeline runs at once in this process.
    #[arg(long, value_name = "N", default_value_t = default_concurrency())]
    pub concurrency: usize,
    /// Serve this worker's `/metrics` (Prometheus text: runs, rows and bytes copied, plugin
    /// traps and timeouts) on ADDR, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub options: WorkerOptions,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (e.g. 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The control database (postgres://...).
    #[arg(long, env = "SLUICE_CONTROL_DB", value_name = "URL")]
    pub control_db: String,
    /// TLS certificate chain (PEM); with --tls-key the API is served over HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Embedded workers (pipeline runs at once in this process); 0 serves the API only.
    #[arg(long, value_name = "N", default_value_t = default_concurrency())]
    pub workers: usize,
    /// Seconds between the trigger scheduler's passes (firing Started triggers). Any number
    /// of `serve` processes may share a control database: each instant fires once.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub trigger_interval: f64,
    /// Runs per page of queryPipelineRuns, queryActivityRuns and queryTriggerRuns (then a
    /// continuationToken); ADF's own page holds 100.
    #[arg(long, value_name = "N", default_value_t = crate::service::control::DEFAULT_QUERY_PAGE,
          value_parser = clap::value_parser!(usize))]
    pub query_page_size: usize,
    #[command(flatten)]
    pub options: WorkerOptions,
}

fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn seconds(flag: &str, value: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{flag} {value}: expected a positive number of seconds"))
}

impl WorkerOptions {
    fn config(&self, control_db: &str, concurrency: usize) -> Result<WorkerConfig> {
        let cache = match &self.cache_dir {
            Some(d) => d.clone(),
            None => crate::plugins::default_cache_dir()
                .context("no cache folder: give --cache-dir")?
                .join("service"),
        };
        // Tenants never reach the operator's own folders: without --files-root their files
        // live under the cache folder, one sub-folder per tenant.
        let files_root = self
            .files_root
            .clone()
            .unwrap_or_else(|| cache.join("files"));
        let mut config = WorkerConfig::new(control_db, concurrency, cache);
        config.lease = seconds("--lease", self.lease)?;
        config.grace = seconds("--grace", self.grace)?;
        config.files_root = Some(files_root);
        Ok(config)
    }
}

/// The master key, or an error saying how to make one.
fn master_key() -> Result<MasterKey> {
    Ok(MasterKey::from_env()?)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: draining"),
    }
}

/// `sluice worker`.
pub async fn worker(args: &WorkerArgs) -> Result<ExitCode> {
    let key = master_key()?;
    let config = args.options.config(&args.control_db, args.concurrency)?;
    let control = Control::connect(&args.control_db)
        .await
        .context("connecting to the control database")?;
    if let Some(addr) = args.metrics_listen {
        let handle = crate::service::api::metrics_handle();
        let page = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || std::future::ready(handle.render())),
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics-listen {addr}"))?;
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, page).await {
                tracing::warn!("/metrics stopped: {e}");
            }
        });
    }
    run_workers(control, config, key, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// `sluice serve`.
pub async fn serve(args: &ServeArgs) -> Result<ExitCode> {
    let key = master_key()?;
    let every = seconds("--trigger-interval", args.trigger_interval)?;
    let control = Control::connect(&args.control_db)
        .await
        .context("connecting to the control database")?;
    let stop = tokio_util::sync::CancellationToken::new();
    let workers = if args.workers > 0 {
        let config = args.options.config(&args.control_db, args.workers)?;
        let (control, key, stop) = (control.clone(), key.clone(), stop.clone());
        Some(tokio::spawn(async move {
            run_workers(control, config, key, async move { stop.cancelled().await }).await
        }))
    } else {
        None
    };
    // An instant may be fired late by up to two passes (a minute at least), never replayed
    // after a longer gap (see Scheduler::with_catch_up).
    let catch_up = every
        .checked_mul(2)
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .unwrap_or(DEFAULT_CATCH_UP)
        .max(DEFAULT_CATCH_UP);
    let scheduler = tokio::spawn(Scheduler::new(control.clone()).with_catch_up(catch_up).run(
        Arc::new(SystemClock),
        every,
        stop.clone(),
    ));
    let api_stop = stop.clone();
    let signal = async move {
        shutdown_signal().await;
        api_stop.cancel();
    };
    let config = crate::service::api::ApiConfig {
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        query_page_size: args.query_page_size.clamp(1, 1000),
        ..crate::service::api::ApiConfig::new(args.listen, key)
    };
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        "Monitor page: {scheme}://{}/ (a link ending in #token=<tenant token> signs in directly)",
        args.listen
    );
    let served = crate::service::api::serve_api(config, control, signal).await;
    stop.cancel();
    scheduler.await.context("the trigger scheduler stopped")?;
    if let Some(w) = workers {
        w.await.context("the embedded workers stopped")??;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}
