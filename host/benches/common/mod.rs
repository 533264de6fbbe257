//! What the benches that run the release `sluice` binary share (`suite`, `service`): numbers
//! from the environment, the release build, short error tails, the source revision they
//! measured, their generated sections of BENCHMARKS.md, and the set-up they repeat; and the
//! bench tables' definitions, which `plugins` writes too.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// `name` from the environment as a count (`1_000_000` and `1,000,000` allowed), or `default`.
pub fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .replace(['_', ','], "")
            .parse()
            .with_context(|| format!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// `cargo build --release -p sluice --bin sluice` (with the `CARGO` running this bench); the
/// binary lands beside this bench's profile directory.
pub fn build_sluice(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "sluice",
            "--bin",
            "sluice",
        ])
        .current_dir(root)
        .status()
        .context("cannot run cargo to build the sluice binary")?;
    if !status.success() {
        bail!("cargo build --release -p sluice failed ({status})");
    }
    // target/release/deps/<bench>-<hash> -> target/release/sluice
    let exe = std::env::current_exe()?;
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot locate the target directory")?;
    let bin = profile.join("sluice");
    if !bin.is_file() {
        bail!("{} not found after the build", bin.display());
    }
    Ok(bin)
}

/// The last `max` bytes of `s` (on a character boundary), on one line.
pub fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    let start = s
        .char_indices()
        .map(|(i, _)| i)
        .find(|&i| s.len() - i <= max)
        .unwrap_or(0);
    s[start..].replace('\n', " / ")
}

/// Replaces the part of BENCHMARKS.md between `begin` and `end` with `generated` (which
/// carries the markers), keeping what is written around it; appends it when the markers are
/// missing.
pub fn write_doc(path: &Path, begin: &str, end: &str, generated: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let new = match (text.find(begin), text.find(end)) {
        (Some(b), Some(e)) if e > b => {
            format!(
                "{}{}{}",
                &text[..b],
                generated.trim_end(),
                &text[e + end.len()..]
            )
        }
        _ if text.trim().is_empty() => format!("# Benchmarks\n\n{generated}"),
        _ => format!("{}\n\n{generated}", text.trim_end()),
    };
    std::fs::write(path, new)?;
    Ok(())
}

/// `git` commit of the tree the binary was built from, and whether it had local changes.
pub fn source_revision(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if !changes.is_empty() => {
                format!("commit {rev} plus uncommitted changes")
            }
            _ => format!("commit {rev}"),
        },
        None => "an unknown revision (no git)".into(),
    }
}

/// A private copy of the built `sluice` binary in a temporary folder (kept alive by the returned
/// guard): a concurrent `cargo build` must not swap the binary mid-run.
pub fn private_copy(built: &Path) -> Result<(tempfile::TempDir, PathBuf)> {
    let bin_dir = tempfile::tempdir()?;
    let sluice_bin = bin_dir.path().join("sluice");
    std::fs::copy(built, &sluice_bin).with_context(|| format!("copying {}", built.display()))?;
    Ok((bin_dir, sluice_bin))
}

/// Builds `guest-plugins/` into `target/sluice-bench-plugins` and returns that folder.
pub fn build_bench_plugins(root: &Path) -> Result<PathBuf> {
    let plugin_dir = root.join("target").join("sluice-bench-plugins");
    eprintln!("building guest-plugins/ ...");
    sluice::plugins::build_guest_plugins(&root.join("guest-plugins"), &plugin_dir)?;
    Ok(plugin_dir)
}

/// The URL of the bench's PostgreSQL: the throw-away cluster `sluice demo` started, or the
/// server in `SLUICE_PG_URL` when it did not start one.
pub fn server_url(cluster: &Option<sluice::cli::pgcluster::TempCluster>) -> Result<String> {
    match cluster {
        Some(c) => Ok(c.url()),
        None => std::env::var("SLUICE_PG_URL").context("SLUICE_PG_URL"),
    }
}

/// Writes the bench tables' definitions into factory folder `dir`: linked service `Pg` (its
/// connection string is replaced by the bench server) and the datasets `Events`
/// (`sluice_demo.events`) and `Copy` (`sluice_demo.events_copy`).
pub fn write_demo_tables(dir: &Path) -> Result<()> {
    sluice::model::load::write_definition(
        dir,
        "linkedService",
        "Pg",
        &serde_json::json!({"type": "AzurePostgreSql", "typeProperties": {
            "connectionString": "Server=localhost;Database=postgres;Port=5432;UID=postgres"}}),
    )?;
    for (name, table) in [("Events", "events"), ("Copy", "events_copy")] {
        sluice::model::load::write_definition(
            dir,
            "dataset",
            name,
            &serde_json::json!({"type": "AzurePostgreSqlTable",
                "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
                "typeProperties": {"schema": "sluice_demo", "table": table}}),
        )?;
    }
    Ok(())
}
