//! The `sluice` command line: `run`, `validate`, `demo` and `plugin`.

pub mod demo;
pub mod pgcluster;
pub mod plugin;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use crate::model::load::{Factory, Kind};
use crate::model::params::Scope;
use crate::model::pg_endpoint::PgEndpoint;
use crate::model::pipeline;
use crate::pipeline::executor::{run_pipeline, RunSettings};
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
    },
    /// Fill a table with generated rows and copy it to a table and to CSV (see examples/demo).
    Demo(crate::cli::demo::DemoArgs),
    /// Build, create, inspect and list WebAssembly plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
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
    #[command(flatten)]
    pub plugins: plugin::PluginArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
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
    init_logging(cli.verbose);
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
    match runtime.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::secrets::redact(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "sluice=info,warn",
        1 => "sluice=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| crate::secrets::RedactingWriter)
        .with_target(false)
        .try_init();
}

async fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let run = run(&args).await?;
            print_run(&run, args.output)?;
            Ok(if run.status == Status::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Validate { path } => validate(&path),
        Command::Demo(args) => crate::cli::demo::run(args).await,
        Command::Plugin(c) => tokio::task::spawn_blocking(move || plugin::dispatch(c)).await?,
    }
}

/// Loads the factory and runs the chosen pipeline.
pub async fn run(args: &RunArgs) -> Result<PipelineRun> {
    let mut factory = Factory::load(&args.path)?;
    for (name, url) in &args.connections {
        factory.get(Kind::LinkedService, name, "--connection")?;
        let endpoint = PgEndpoint::from_url(url).with_context(|| format!("--connection {name}"))?;
        factory.pg_overrides.insert(name.clone(), endpoint);
    }
    let name = choose_pipeline(&factory, args.pipeline.as_deref())?;
    let mut warnings = factory.notices.clone();
    let pipeline = pipeline::load(&factory, &name, &mut warnings)?;
    let params = pipeline.parameter_values(&args.params, false)?;
    // Resolve every activity once up front so a bad definition fails before anything runs
    // (leniently: values only the run has, such as activity outputs, are checked then). This
    // also collects the Key Vault secrets the run needs, which are fetched before it starts.
    {
        let _collecting = crate::secrets::resolve::collect();
        check_activities(
            &factory,
            &pipeline.activities,
            &Scope {
                pipeline: params.clone(),
                lenient: true,
                ..Scope::default()
            },
            &mut warnings,
        )?;
        collect_children(&factory, &pipeline.activities, &mut Default::default());
    }
    crate::secrets::resolve::fetch_all(&factory)
        .await
        .map_err(anyhow::Error::msg)?;
    for w in &warnings {
        tracing::warn!("not implemented, ignored: {w}");
    }
    let settings = RunSettings {
        progress: args.output == OutputFormat::Text,
        plugins: Some(Arc::new(args.plugins.host(Some(&factory.root))?)),
    };
    Ok(run_pipeline(Arc::new(factory), &pipeline, params, &settings, warnings).await)
}

/// Resolves, leniently and ignoring errors (the child run reports them), the pipelines that
/// ExecutePipeline activities start, so their Key Vault references are fetched at run start too.
fn collect_children(
    factory: &Factory,
    activities: &[crate::model::pipeline::Activity],
    seen: &mut std::collections::BTreeSet<String>,
) {
    for a in activities {
        let child = a.raw["typeProperties"]["pipeline"]["referenceName"].as_str();
        if let Some(name) = child.filter(|_| a.activity_type == "ExecutePipeline") {
            if seen.insert(name.to_string()) {
                if let Ok(p) = pipeline::load(factory, name, &mut Vec::new()) {
                    if let Ok(params) = p.parameter_values(&[], true) {
                        let scope = Scope {
                            pipeline: params,
                            lenient: true,
                            ..Scope::default()
                        };
                        let _ = check_activities(factory, &p.activities, &scope, &mut Vec::new());
                    }
                    collect_children(factory, &p.activities, seen);
                }
            }
        }
        for inner in a.nested.values() {
            collect_children(factory, inner, seen);
        }
    }
}

fn choose_pipeline(factory: &Factory, wanted: Option<&str>) -> Result<String> {
    match wanted {
        Some(name) => Ok(factory
            .get(Kind::Pipeline, name, "--pipeline")?
            .name
            .clone()),
        None => {
            let names: Vec<&String> = factory.pipelines.keys().collect();
            match names.as_slice() {
                [one] => Ok((*one).clone()),
                [] => bail!("{}: no pipeline defined", factory.root.display()),
                many => bail!(
                    "{}: several pipelines ({}); choose one with --pipeline NAME",
                    factory.root.display(),
                    many.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    }
}

fn check_activities(
    factory: &Factory,
    activities: &[crate::model::pipeline::Activity],
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for a in activities {
        check_activity(factory, a, scope, warnings)?;
        for inner in a.nested.values() {
            check_activities(factory, inner, scope, warnings)?;
        }
    }
    Ok(())
}

/// Resolves one activity's definition (references, properties) without running it.
fn check_activity(
    factory: &Factory,
    a: &crate::model::pipeline::Activity,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<(), crate::ModelError> {
    match a.activity_type.as_str() {
        "Copy" => crate::model::copy::resolve(factory, &a.raw, &a.at, scope, warnings).map(drop),
        "Lookup" => {
            crate::model::lookup::resolve(factory, &a.raw, &a.at, scope, warnings).map(drop)
        }
        "Script" => {
            crate::model::script::resolve(factory, &a.raw, &a.at, scope, warnings).map(drop)
        }
        _ => Ok(()),
    }
}

/// Checks every linked service, dataset and pipeline; prints all problems, not just the first.
pub fn validate(path: &std::path::Path) -> Result<ExitCode> {
    let factory = Factory::load(path)?;
    let (errors, warnings) = validate_factory(&factory);
    for w in factory.notices.iter().chain(&warnings) {
        eprintln!(
            "warning: not implemented, ignored: {}",
            crate::secrets::redact(w)
        );
    }
    for (r, at) in crate::secrets::resolve::wanted() {
        eprintln!(
            "note: {at}: Azure Key Vault {} of linked service '{}' is fetched when the pipeline runs",
            r.describe(),
            r.store
        );
    }
    for e in &errors {
        eprintln!("error: {}", crate::secrets::redact(e));
    }
    if errors.is_empty() {
        println!(
            "{}: valid ({} linked services, {} datasets, {} pipelines)",
            path.display(),
            factory.linked_services.len(),
            factory.datasets.len(),
            factory.pipelines.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{}: {} problem(s) found", path.display(), errors.len());
        Ok(ExitCode::FAILURE)
    }
}

/// Every error and warning of a factory, without connecting anywhere.
pub fn validate_factory(factory: &Factory) -> (Vec<String>, Vec<String>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let lenient = Scope {
        lenient: true,
        ..Scope::default()
    };
    // Key Vault references are checked (shape, store) but never fetched.
    let _collecting = crate::secrets::resolve::collect();
    for def in factory.linked_services.values() {
        if let Err(e) = crate::model::linked_service::parse(def, &def.properties, &mut warnings) {
            errors.push(e.to_string());
        }
    }
    for name in factory.datasets.keys() {
        let reference = serde_json::json!({"referenceName": name, "type": "DatasetReference"});
        if let Err(e) = crate::model::dataset::resolve(
            factory,
            &reference,
            &format!("dataset '{name}'"),
            &lenient,
            &mut Vec::new(),
        ) {
            errors.push(e.to_string());
        }
    }
    for name in factory.pipelines.keys() {
        match pipeline::load(factory, name, &mut warnings) {
            Ok(p) => match p.parameter_values(&[], true) {
                Ok(params) => {
                    let scope = Scope {
                        pipeline: params,
                        lenient: true,
                        ..Scope::default()
                    };
                    if let Err(e) = check_activities(factory, &p.activities, &scope, &mut warnings)
                    {
                        errors.push(format!("{e:#}"));
                    }
                }
                Err(e) => errors.push(e.to_string()),
            },
            Err(e) => errors.push(e.to_string()),
        }
    }
    let wanted = crate::secrets::resolve::wanted();
    errors.extend(crate::secrets::resolve::check_stores(factory, &wanted, true).1);
    errors.dedup();
    warnings.sort();
    warnings.dedup();
    (errors, warnings)
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
                let mut line = format!(
                    "  {} ({}): {:?}",
                    a.activity_name, a.activity_type, a.status
                );
                let out = &j["output"];
                if let (Some(rows), Some(secs)) =
                    (out["rowsCopied"].as_u64(), out["copyDuration"].as_f64())
                {
                    let rate = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
                    line.push_str(&format!(
                        ", {rows} rows, {:.1} MB read in {secs:.2}s ({rate:.0} rows/s)",
                        out["dataRead"].as_u64().unwrap_or(0) as f64 / 1e6
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
