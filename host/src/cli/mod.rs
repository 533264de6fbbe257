//! The `sluice` command line: `run`, `validate`, `demo`, `plugin`, and the service's `serve`,
//! `worker` and `tenant`. It parses arguments,
//! calls the [`crate::engine`] facade and prints; `anyhow` errors live here only.
//!
//! Layer: the top; nothing imports it.

pub mod demo;
pub mod pgcluster;
pub mod plugin;
mod plugin_template;
pub mod service;
pub mod tenant;
pub mod trigger;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::engine;
use crate::model::load::{Factory, Kind};
use crate::model::pg_endpoint::PgEndpoint;
use crate::pipeline::run::{PipelineRun, Status};

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Runs Azure Data Factory copy pipelines into and out of PostgreSQL"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a pipeline of a factory folder or JSON file.
    Run(RunArgs),
    /// Check every definition and reference without connecting anywhere.
    Validate {
        /// Factory folder (linkedService/, dataset/, pipeline/) or a JSON file.
        path: PathBuf,
        /// Check as `run --connection NAME=URL` would run: that PostgreSQL linked service is
        /// replaced by the server at URL (nothing connects to it).
        #[arg(long = "connection", value_name = "NAME=URL", value_parser = parse_key_value)]
        connections: Vec<(String, String)>,
        /// Plugins are looked for where `run` looks (`--plugins`, then the factory's `plugins/`).
        #[command(flatten)]
        plugins: plugin::PluginDirArgs,
    },
    /// Fill a table with generated rows and copy it to a table and to CSV (see examples/demo).
    Demo(crate::cli::demo::DemoArgs),
    /// Build, create, inspect and list WebAssembly plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Create, list, re-key and delete the tenants of the service (on its control database).
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Serve ADF's management REST API (api-version 2018-06-01) with embedded workers.
    Serve(service::ServeArgs),
    /// Run queued pipeline runs of the service (start any number, on any machine).
    Worker(service::WorkerArgs),
    /// Check triggers' recurrences: `next` prints when one would fire, running nothing.
    #[command(subcommand)]
    Trigger(trigger::TriggerCommand),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Factory folder (linkedService/, dataset/, pipeline/) or a JSON file.
    pub path: PathBuf,
    /// Pipeline to run; may be omitted when the factory has exactly one.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Pipeline parameter, typed by its declaration (Int, Float, Bool, Array/Object as JSON).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// Point a PostgreSQL linked service at another server: NAME=postgres://user@host:port/db.
    #[arg(long = "connection", value_name = "NAME=URL", value_parser = parse_key_value)]
    pub connections: Vec<(String, String)>,
    /// How to print the run result on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The most activity runs this pipeline run may start, ForEach iterations and child
    /// pipelines included; past it, activities fail with ActivityRunLimitExceeded.
    #[arg(long, value_name = "N", default_value_t = crate::copy::context::DEFAULT_MAX_ACTIVITY_RUNS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_activity_runs: u64,
    /// The most activity runs this pipeline run may have going at once (a ForEach of
    /// ExecutePipeline fans out exponentially); past it, activities fail with
    /// ActivityRunLimitExceeded.
    #[arg(long, value_name = "N", default_value_t = crate::copy::context::DEFAULT_MAX_CONCURRENT_ACTIVITY_RUNS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_concurrent_activity_runs: u64,
    #[command(flatten)]
    pub plugins: plugin::PluginArgs,
}

/// How a command prints its result on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Text,
    /// One JSON document, camelCase keys (for scripts).
    Json,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, found {s:?}"))
}

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let colour = colour_on_stderr();
    // One board for the process's runs: their copies' lines, with the logs printed above.
    let board = crate::copy::progress::ProgressBoard::stderr(colour);
    init_logging(cli.verbose, colour, &board);
    crate::secrets::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, board)) {
        Ok(code) => code,
        Err(e) => {
            // Several problems (every unsupported activity of a pipeline) come one per line.
            for line in crate::secrets::redact_logs(&format!("{e:#}")).lines() {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Colour on stderr: only on a terminal, and not when `NO_COLOR` is set to anything
/// (<https://no-color.org>).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Log lines through the progress board, so they print above the copies' lines instead of
/// at the end of one; masked by [`crate::secrets::RedactingWriter`] as every log line is.
struct BoardWriter(crate::copy::progress::ProgressBoard);

impl std::io::Write for BoardWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .suspend(|| crate::secrets::RedactingWriter.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        crate::secrets::RedactingWriter.flush()
    }
}

fn init_logging(verbose: u8, colour: bool, board: &crate::copy::progress::ProgressBoard) {
    let default = match verbose {
        0 => "sluice=info,warn",
        1 => "sluice=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer({
            let board = board.clone();
            move || BoardWriter(board.clone())
        })
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}

async fn dispatch(
    command: Command,
    board: crate::copy::progress::ProgressBoard,
) -> Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let run = run(&args, Some(board)).await?;
            print_run(&run, args.output)?;
            Ok(if run.status == Status::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Validate {
            path,
            connections,
            plugins,
        } => validate(&path, &connections, &plugins),
        Command::Demo(args) => crate::cli::demo::run(args, board).await,
        Command::Plugin(c) => tokio::task::spawn_blocking(move || plugin::dispatch(c)).await?,
        Command::Tenant(c) => tenant::dispatch(c).await,
        Command::Serve(args) => service::serve(&args).await,
        Command::Worker(args) => service::worker(&args).await,
        Command::Trigger(c) => trigger::dispatch(c),
    }
}

/// Replaces the PostgreSQL linked services named by `--connection NAME=URL`; returns the
/// passwords given, for masking.
fn apply_connections(
    factory: &mut Factory,
    connections: &[(String, String)],
) -> Result<Vec<crate::secrets::Secret>> {
    let mut passwords = Vec::new();
    for (name, url) in connections {
        factory.get(Kind::LinkedService, name, "--connection")?;
        let endpoint = PgEndpoint::from_url(url).with_context(|| format!("--connection {name}"))?;
        passwords.extend(endpoint.password.clone());
        factory.pg_overrides.insert(name.clone(), endpoint);
    }
    Ok(passwords)
}

/// Loads the factory (with `--connection` overrides) and runs the chosen pipeline through the
/// engine, drawing its copies' progress on `progress` (with `--output json` too: the lines go
/// to stderr, stdout holds only the JSON). Errors are masked with the run's redactor.
pub async fn run(
    args: &RunArgs,
    progress: Option<crate::copy::progress::ProgressBoard>,
) -> Result<PipelineRun> {
    let mut factory = Factory::load(&args.path)?;
    let passwords = apply_connections(&mut factory, &args.connections)?;
    let options = engine::RunOptions {
        parameters: args.params.clone(),
        plugins: Some(Arc::new(args.plugins.host(Some(&factory.root))?)),
        progress,
        mask: passwords,
        max_activity_runs: args.max_activity_runs,
        max_concurrent_activity_runs: args.max_concurrent_activity_runs,
        ..engine::RunOptions::new("local")
    };
    let handle = engine::start(Arc::new(factory), args.pipeline.as_deref(), options).await?;
    Ok(handle.finish().await?)
}

/// Checks every linked service, dataset and pipeline, and that every plugin is in the folders
/// `run` would search; prints all problems, not just the first.
pub fn validate(
    path: &std::path::Path,
    connections: &[(String, String)],
    plugins: &plugin::PluginDirArgs,
) -> Result<ExitCode> {
    let mut factory = Factory::load(path)?;
    let passwords = apply_connections(&mut factory, connections)?;
    let registry = crate::plugins::PluginRegistry::new(plugins.dirs(Some(&factory.root)));
    let mut found = engine::validate_with_plugins(&factory, &registry);
    let mask = crate::secrets::Redactor::default();
    for p in &passwords {
        mask.register(p.expose());
    }
    for line in found
        .errors
        .iter_mut()
        .chain(found.warnings.iter_mut())
        .chain(found.notes.iter_mut())
    {
        *line = mask.redact(line);
    }
    for w in &found.warnings {
        eprintln!("warning: {w}");
    }
    for n in &found.notes {
        eprintln!("note: {n}");
    }
    for e in &found.errors {
        eprintln!("error: {e}");
    }
    let summary = format!("{}: {}", path.display(), found.summary(&factory));
    if found.errors.is_empty() {
        println!("{summary}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{summary}");
        Ok(ExitCode::FAILURE)
    }
}

/// Prints the run: JSON on stdout for `--output json`, a short summary otherwise.
pub fn print_run(run: &PipelineRun, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&run.to_json())?),
        OutputFormat::Text => {
            let json = run.to_json();
            println!(
                "pipeline {} {:?} in {:.2}s (run {})",
                run.pipeline_name,
                run.status,
                run.duration_in_ms as f64 / 1000.0,
                run.run_id
            );
            for (a, j) in run
                .activities
                .iter()
                .zip(json["activities"].as_array().into_iter().flatten())
            {
                // ForEach iterations told apart as on their progress lines.
                let name = match &a.iteration {
                    Some(iteration) => format!("{iteration} {}", a.activity_name),
                    None => a.activity_name.clone(),
                };
                let mut line = format!("  {name} ({}): {:?}", a.activity_type, a.status);
                let out = &j["output"];
                if let (Some(rows), Some(secs)) =
                    (out["rowsCopied"].as_u64(), out["copyDuration"].as_f64())
                {
                    let rate = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
                    // Binary units (KiB, MiB), as the progress lines show them.
                    line.push_str(&format!(
                        ", {rows} rows, {} read in {secs:.2}s ({rate:.0} rows/s)",
                        indicatif::HumanBytes(out["dataRead"].as_u64().unwrap_or(0))
                    ));
                }
                if let Some(msg) = j["error"]["message"].as_str() {
                    line.push_str(&format!("\n    error: {msg}"));
                }
                println!("{line}");
            }
        }
    }
    Ok(())
}
