//! What plugins cost: a PostgreSQL -> PostgreSQL copy of the standard bench table without a
//! plugin, with the identity plugin and with mask-pii (the text column hashed), run in turn in
//! one process on the same data; then plugin load time (cold compile, compiled code from the
//! disk cache, already in memory) and instance creation time.
//!
//! Run: `cargo bench -p sluice --bench plugins`. It builds `guest-plugins/` for wasm32-wasip2,
//! uses `SLUICE_PG_URL` or starts a throw-away cluster with `initdb`/`pg_ctl`.
//! `SLUICE_BENCH_ROWS` (default 1,000,000) and `SLUICE_BENCH_RUNS` (default 3) set the size;
//! figures are medians.

// Only the factory writer of the module the other benches share is used here.
#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use sluice::copy::context::RunContext;
use sluice::copy::transform::PluginHost;
use sluice::model::load::Factory;
use sluice::model::pg_endpoint::PgEndpoint;
use sluice::pipeline::executor::run_pipeline;
use sluice::pipeline::run::Status;
use sluice::plugins::{
    LoadSource, PluginRef, PluginRegistry, PluginRuntime, RuntimeConfig, Tenant,
};
use sluice::stores::postgres::connect::connect;
use sluice::types::schema::Schema;

/// The copy variants measured, by name and `source.transforms`.
fn variants() -> Vec<(&'static str, Value)> {
    vec![
        ("no plugin", json!([])),
        ("identity", json!([{"plugin": "identity"}])),
        (
            "mask-pii",
            json!([{"plugin": "mask-pii",
                    "config": {"columns": ["note"], "salt": "bench"}}]),
        ),
    ]
}

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench())
}

async fn bench() -> Result<()> {
    let rows = env_usize("SLUICE_BENCH_ROWS", 1_000_000)?;
    let runs = env_usize("SLUICE_BENCH_RUNS", 3)?.max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugins = root.join("target").join("sluice-bench-plugins");
    eprintln!("building guest-plugins/ ...");
    sluice::plugins::build_guest_plugins(&root.join("guest-plugins"), &plugins)?;

    let (endpoint, cluster) = sluice::cli::demo::server().await?;
    let result = measure(&endpoint, &plugins, rows, runs).await;
    if let Some(mut c) = cluster {
        c.stop();
    }
    result
}

async fn measure(endpoint: &PgEndpoint, plugins: &Path, rows: usize, runs: usize) -> Result<()> {
    let client = connect(endpoint, "sluice bench").await?;
    client.batch_execute(sluice::cli::demo::SETUP_SQL).await?;
    client
        .execute(sluice::cli::demo::FILL_SQL, &[&(rows as i64)])
        .await?;
    client.batch_execute("ANALYZE sluice_demo.events").await?;

    let dir = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    write_factory(dir.path())?;
    let mut factory = Factory::load(dir.path())?;
    factory.pg_overrides.insert("Pg".into(), endpoint.clone());
    let factory = Arc::new(factory);
    let host = Arc::new(PluginHost::new(
        vec![plugins.to_path_buf()],
        Tenant::new("bench"),
        RuntimeConfig::with_cache_dir(cache.path()),
    ));

    // Interleaved runs, so drift on the machine affects every variant alike.
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); variants().len()];
    for run in 0..=runs {
        for (i, (name, _)) in variants().iter().enumerate() {
            let s = copy_once(&factory, &host, i, rows).await?;
            if run > 0 {
                secs[i].push(s); // run 0 warms caches (and compiles the plugins)
            }
            eprintln!("  run {run} {name}: {s:.3}s");
        }
    }
    println!(
        "\nPostgreSQL -> PostgreSQL, {rows} rows of sluice_demo.events, median of {runs} runs"
    );
    println!(
        "{:<12} {:>10} {:>12} {:>10}",
        "variant", "seconds", "rows/s", "vs none"
    );
    let base = median(secs[0].clone());
    for (i, (name, _)) in variants().iter().enumerate() {
        let m = median(secs[i].clone());
        println!(
            "{name:<12} {m:>10.3} {:>12.0} {:>9.2}x",
            rows as f64 / m,
            base / m
        );
    }
    load_times(plugins).await
}

/// One copy of variant `i`; returns copyDuration in seconds after checking the row count.
async fn copy_once(
    factory: &Arc<Factory>,
    host: &Arc<PluginHost>,
    i: usize,
    rows: usize,
) -> Result<f64> {
    let mut warnings = Vec::new();
    let p = sluice::model::pipeline::load(factory, &format!("V{i}"), &mut warnings)?;
    let ctx = RunContext::new("bench").with_plugins(host.clone());
    let run = run_pipeline(factory.clone(), &p, Default::default(), &ctx, warnings).await;
    if run.status != Status::Succeeded {
        bail!("variant {i} failed: {}", run.to_json());
    }
    let out = &run.to_json()["activities"][0]["output"];
    if out["rowsCopied"].as_u64() != Some(rows as u64) {
        bail!(
            "variant {i} copied {} rows, expected {rows}",
            out["rowsCopied"]
        );
    }
    out["copyDuration"]
        .as_f64()
        .context("copyDuration missing from the output")
}

/// Plugin load (cold compile, disk cache, memory) and instance creation, for identity.
async fn load_times(plugins: &Path) -> Result<()> {
    let registry = PluginRegistry::new([plugins.to_path_buf()]);
    let reference = PluginRef::parse("identity")?;
    let cache = tempfile::tempdir()?;
    let mut cold = Vec::new();
    let mut disk = Vec::new();
    let mut memory = Vec::new();
    for _ in 0..5 {
        let _ = std::fs::remove_dir_all(cache.path().join("x"));
        let dir: PathBuf = cache.path().join("x");
        let first = PluginRuntime::new(RuntimeConfig::with_cache_dir(&dir))?;
        let l = first.load(&registry, &reference)?;
        expect_source(l.load.source, LoadSource::Compiled)?;
        cold.push(l.load.total);
        let l = first.load(&registry, &reference)?;
        expect_source(l.load.source, LoadSource::Memory)?;
        memory.push(l.load.total);
        let second = PluginRuntime::new(RuntimeConfig::with_cache_dir(&dir))?;
        let l = second.load(&registry, &reference)?;
        expect_source(l.load.source, LoadSource::Disk)?;
        disk.push(l.load.total);
    }
    let runtime = PluginRuntime::new(RuntimeConfig::in_memory())?;
    let loaded = runtime.load(&registry, &reference)?;
    let tenant = Tenant::new("bench");
    let schema = Schema::default();
    let mut instantiate = Vec::new();
    let mut create = Vec::new();
    for _ in 0..2000 {
        let i = runtime.instantiate(&tenant, &loaded, "{}", &schema).await?;
        instantiate.push(i.instantiate_time());
        create.push(i.create_time());
    }
    let ms = |v: Vec<Duration>| median(v.iter().map(|d| d.as_secs_f64() * 1e3).collect());
    let us = |v: Vec<Duration>| median(v.iter().map(|d| d.as_secs_f64() * 1e6).collect());
    println!("\nidentity plugin, median");
    println!("load, cold (compile + write cache)   {:>9.2} ms", ms(cold));
    println!("load, cached on disk (new process)   {:>9.2} ms", ms(disk));
    println!(
        "load, cached in memory               {:>9.3} ms",
        ms(memory)
    );
    println!(
        "instantiate                          {:>9.1} µs",
        us(instantiate)
    );
    println!(
        "instantiate + create + output-schema {:>9.1} µs",
        us(create)
    );
    Ok(())
}

fn expect_source(got: LoadSource, want: LoadSource) -> Result<()> {
    if got != want {
        bail!("expected a load from {want:?}, got {got:?}");
    }
    Ok(())
}

fn write_factory(dir: &Path) -> Result<()> {
    let put = |kind: &str, name: &str, props: Value| -> Result<()> {
        Ok(sluice::model::load::write_definition(
            dir, kind, name, &props,
        )?)
    };
    // The connection string is replaced by the bench server (pg_overrides).
    common::write_demo_tables(dir)?;
    for (i, (_, transforms)) in variants().into_iter().enumerate() {
        put(
            "pipeline",
            &format!("V{i}"),
            json!({"activities": [{
            "name": "Copy", "type": "Copy",
            "inputs": [{"referenceName": "Events", "type": "DatasetReference"}],
            "outputs": [{"referenceName": "Copy", "type": "DatasetReference"}],
            "typeProperties": {
                "source": {"type": "AzurePostgreSqlSource", "transforms": transforms},
                "sink": {"type": "AzurePostgreSqlSink",
                         "preCopyScript": "TRUNCATE sluice_demo.events_copy"}}}]}),
        )?;
    }
    Ok(())
}
