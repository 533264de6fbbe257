//! `sluice demo`: the main job on a fresh machine. Starts a throw-away PostgreSQL cluster with
//! the installed `initdb`/`pg_ctl` (or uses `SLUICE_PG_URL`), fills `sluice_demo.events` with
//! generated rows, runs the factory in `examples/demo` (table -> table, table -> CSV,
//! CSV -> table) and checks that all three tables hold the same rows.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::cli::pgcluster::{ClusterOptions, TempCluster};
use crate::cli::{print_run, OutputFormat};
use crate::engine::{self, ProgressBoard};
use crate::model::load::Factory;
use crate::model::pg_endpoint::PgEndpoint;
use crate::pipeline::run::Status;
use crate::stores::postgres::connect::connect;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Rows to generate in the source table.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: i64,
    /// The demo factory folder.
    #[arg(long, default_value = "examples/demo")]
    pub factory: PathBuf,
    /// Folder for the CSV file (the `DemoFiles` linked service's root).
    #[arg(long, env = "SLUICE_DEMO_OUT", default_value = "sluice-out")]
    pub out: PathBuf,
    /// How to print the run result on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// The demo's tables; every built-in type a typical events table has.
/// The standard bench table `sluice_demo.events` (and two empty copies): eleven columns of the
/// common types, shared by the demo and the benchmarks.
pub const SETUP_SQL: &str = "
DROP SCHEMA IF EXISTS sluice_demo CASCADE;
CREATE SCHEMA sluice_demo;
CREATE TABLE sluice_demo.events (
    id bigint PRIMARY KEY, customer integer NOT NULL, amount numeric(12,2), score double precision,
    note text, category varchar(20), active boolean, day date, created timestamptz, ref uuid, payload jsonb);
CREATE TABLE sluice_demo.events_copy (LIKE sluice_demo.events INCLUDING ALL);
CREATE TABLE sluice_demo.events_from_csv (LIKE sluice_demo.events INCLUDING ALL);
";

/// Fills `sluice_demo.events` with `$1` generated rows.
pub const FILL_SQL: &str = "
INSERT INTO sluice_demo.events
SELECT g, (g % 9973)::int, round((g % 100000) / 7.0, 2), g / 3.0,
       'event ' || g || ' for customer ' || (g % 9973),
       (ARRAY['web','store','phone','partner'])[1 + g % 4], g % 3 = 0,
       DATE '2020-01-01' + (g % 1500)::int, TIMESTAMPTZ '2020-01-01 00:00:00+00' + g * INTERVAL '1 second',
       md5(g::text)::uuid, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 7))
FROM generate_series(1, $1::bigint) AS g";

/// Runs the demo; the cluster (if started) is stopped on every path.
/// Progress lines go on `board`, the front end's (its logs print above them).
pub async fn run(args: DemoArgs, board: ProgressBoard) -> Result<ExitCode> {
    if args.rows < 1 {
        bail!("--rows must be at least 1");
    }
    let factory_dir = locate_factory(&args.factory)?;
    let (endpoint, cluster) = server().await?;
    let result = demo(&args, &factory_dir, &endpoint, board).await;
    if let Some(mut c) = cluster {
        c.stop();
    }
    result
}

/// The server in `SLUICE_PG_URL`, or else a throw-away cluster started with the installed
/// `initdb`/`pg_ctl` (returned so the caller stops it when done).
pub async fn server() -> Result<(PgEndpoint, Option<TempCluster>)> {
    match std::env::var("SLUICE_PG_URL") {
        Ok(url) if !url.trim().is_empty() => {
            tracing::info!("using the server in SLUICE_PG_URL");
            Ok((PgEndpoint::from_url(&url).context("SLUICE_PG_URL")?, None))
        }
        _ => {
            tracing::info!(
                "no server configured (SLUICE_PG_URL): starting a throw-away PostgreSQL cluster"
            );
            let c = TempCluster::start(ClusterOptions {
                fast: true,
                ..ClusterOptions::default()
            })
            .await?;
            Ok((PgEndpoint::from_url(&c.url())?, Some(c)))
        }
    }
}

fn locate_factory(given: &std::path::Path) -> Result<PathBuf> {
    if given.is_dir() {
        return Ok(given.to_path_buf());
    }
    let beside_source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(given);
    if beside_source.is_dir() {
        return Ok(beside_source);
    }
    bail!(
        "demo factory {} not found; run from the repository root or pass --factory",
        given.display()
    )
}

async fn demo(
    args: &DemoArgs,
    factory_dir: &std::path::Path,
    endpoint: &PgEndpoint,
    board: ProgressBoard,
) -> Result<ExitCode> {
    let client = connect(endpoint, "sluice demo").await?;
    client
        .batch_execute(SETUP_SQL)
        .await
        .context("creating the demo tables")?;
    let t = std::time::Instant::now();
    client
        .execute(FILL_SQL, &[&args.rows])
        .await
        .context("generating the demo rows")?;
    client.batch_execute("ANALYZE sluice_demo.events").await?;
    tracing::info!(
        "generated {} rows in {:.1}s",
        args.rows,
        t.elapsed().as_secs_f64()
    );

    let mut factory = Factory::load(factory_dir)?;
    factory
        .pg_overrides
        .insert("DemoPostgres".into(), endpoint.clone());
    if let Some(files) = factory.linked_services.get_mut("DemoFiles") {
        files.properties["typeProperties"]["host"] =
            serde_json::Value::String(args.out.display().to_string());
    }
    let options = engine::RunOptions {
        progress: Some(board),
        ..engine::RunOptions::new("local")
    };
    let run = engine::start(Arc::new(factory), Some("DemoCopy"), options)
        .await?
        .finish()
        .await?;
    print_run(&run, args.output)?;
    if run.status != Status::Succeeded {
        return Ok(ExitCode::FAILURE);
    }
    for table in ["events_copy", "events_from_csv"] {
        let sql = format!(
            "SELECT (SELECT count(*) FROM (SELECT * FROM sluice_demo.events EXCEPT ALL SELECT * FROM sluice_demo.{table}) a) + \
                    (SELECT count(*) FROM (SELECT * FROM sluice_demo.{table} EXCEPT ALL SELECT * FROM sluice_demo.events) b)"
        );
        let differing: i64 = client.query_one(sql.as_str(), &[]).await?.get(0);
        if differing != 0 {
            eprintln!("demo check failed: sluice_demo.{table} differs from sluice_demo.events in {differing} rows");
            return Ok(ExitCode::FAILURE);
        }
        eprintln!(
            "check: sluice_demo.{table} holds exactly the {} rows of sluice_demo.events",
            args.rows
        );
    }
    Ok(ExitCode::SUCCESS)
}
