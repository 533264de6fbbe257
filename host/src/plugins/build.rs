//! Building plugin crates for `wasm32-wasip2` and installing the results as
//! `name@version.wasm`, the file name the [`super::PluginRegistry`] resolves.
//!
//! The name and version come from the built component's own `info()` (not from the crate's
//! package name), so what the registry resolves is exactly what the plugin says it is.
//! Artifacts are found through cargo's JSON messages rather than by guessing target paths, which
//! keeps this right for workspaces, custom target directories and renamed libraries.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use super::runtime::inspect_all;

/// The target every plugin is built for.
pub const PLUGIN_TARGET: &str = "wasm32-wasip2";

/// Builds the plugin crate, or every plugin crate of the Cargo workspace, at `dir` in release
/// mode and copies each component into `out_dir` as `name@version.wasm`. Returns the installed
/// paths, sorted. Fails when nothing was built.
pub fn build_guest_plugins(dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let artifacts = cargo_build_wasm(dir)?;
    if artifacts.is_empty() {
        bail!(
            "{} built no WebAssembly component: is `crate-type = [\"cdylib\"]` set in its [lib]?",
            dir.display()
        );
    }
    install(&artifacts, out_dir)
}

/// Runs `cargo build --release --target wasm32-wasip2` in `dir` and returns the `.wasm`
/// artifacts cargo reports.
fn cargo_build_wasm(dir: &Path) -> Result<Vec<PathBuf>> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "{} has no Cargo.toml: expected a plugin crate or workspace",
            dir.display()
        );
    }
    // cargo runs in `dir` (so its rust-toolchain.toml applies); the path must not be relative.
    let manifest = manifest.canonicalize()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--target", PLUGIN_TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        // A host build's flags are for the host; they must not leak into the wasm build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run cargo to build the plugin (is Rust installed?)")?;
    let mut artifacts = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            artifacts.extend(wasm_artifacts(&line?));
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "building plugins in {} failed ({status}); if the target is missing run `rustup target add {PLUGIN_TARGET}`",
            dir.display()
        );
    }
    artifacts.sort();
    artifacts.dedup();
    Ok(artifacts)
}

/// The `.wasm` files a `compiler-artifact` message names, if it is one for a cdylib.
fn wasm_artifacts(line: &str) -> Vec<PathBuf> {
    let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
        return Vec::new();
    };
    if msg["reason"] != "compiler-artifact" {
        return Vec::new();
    }
    let cdylib = msg["target"]["crate_types"]
        .as_array()
        .is_some_and(|k| k.iter().any(|k| k == "cdylib"));
    if !cdylib {
        return Vec::new();
    }
    msg["filenames"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str())
        .filter(|f| f.ends_with(".wasm"))
        .map(PathBuf::from)
        .collect()
}

/// Copies each artifact to `out_dir/name@version.wasm`, the name and version from its `info()`.
fn install(artifacts: &[PathBuf], out_dir: &Path) -> Result<Vec<PathBuf>> {
    if artifacts.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let descriptions = inspect_all(artifacts)?;
    let mut installed = Vec::with_capacity(artifacts.len());
    for (artifact, d) in artifacts.iter().zip(descriptions) {
        // The name and version come from the guest: checked before they become a file name,
        // so `info()` cannot name a file outside `out_dir`.
        crate::model::plugin_ref::validate_name(&d.name)
            .map_err(|e| anyhow::anyhow!("{}: info(): {e}", artifact.display()))?;
        semver::Version::parse(&d.version).map_err(|e| {
            anyhow::anyhow!(
                "{}: info(): version `{}` is not a semantic version: {e}",
                artifact.display(),
                d.version.escape_debug()
            )
        })?;
        let dest = out_dir.join(format!("{}@{}.wasm", d.name, d.version));
        copy_atomically(artifact, &dest)?;
        installed.push(dest);
    }
    installed.sort();
    Ok(installed)
}

/// Copies through a temporary file and a rename, so a long-lived host that scans `out_dir`
/// never loads a half-written component.
fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::copy(from, tmp.path())
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    tmp.persist(to)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_cdylib_wasm_artifacts_only() {
        let cdylib = r#"{"reason":"compiler-artifact","target":{"crate_types":["cdylib","rlib"]},"filenames":["/t/a.wasm","/t/liba.rlib"]}"#;
        let rlib = r#"{"reason":"compiler-artifact","target":{"crate_types":["rlib"]},"filenames":["/t/libb.rlib"]}"#;
        assert_eq!(wasm_artifacts(cdylib), vec![PathBuf::from("/t/a.wasm")]);
        assert!(wasm_artifacts(rlib).is_empty());
        assert!(wasm_artifacts(r#"{"reason":"build-finished"}"#).is_empty());
        assert!(wasm_artifacts("not json").is_empty());
    }
}
