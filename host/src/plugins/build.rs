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

/// Which crates of a Cargo workspace a build takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    /// The workspace's `default-members` (all members when it names none): what a user gets.
    /// `guest-plugins/` leaves its hostile test plugins out of them.
    Default,
    /// Every member (`cargo build --workspace`): the tests build the hostile plugins this way.
    All,
}

/// Builds the plugin crate, or the default members of the Cargo workspace, at `dir` in release
/// mode and copies each component into `out_dir` as `name@version.wasm`. Returns the installed
/// paths, sorted. Fails when nothing was built.
pub fn build_guest_plugins(dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    build_plugins(dir, out_dir, Members::Default)
}

/// [`build_guest_plugins`] with the choice of workspace members.
pub fn build_plugins(dir: &Path, out_dir: &Path, members: Members) -> Result<Vec<PathBuf>> {
    let artifacts = cargo_build_wasm(dir, members)?;
    if artifacts.is_empty() {
        bail!(
            "{} built no WebAssembly component: is `crate-type = [\"cdylib\"]` set in its [lib]?",
            dir.display()
        );
    }
    install(&artifacts, out_dir)
}

/// Runs `cargo build --release --target wasm32-wasip2` in `dir` and returns the `.wasm`
/// artifacts cargo reports. Cargo's own output (progress and the compiler's rendered
/// diagnostics) goes on to this process's stderr as it comes; a failed build's error carries
/// the compiler's first error, so callers that do not show stderr still see what went wrong.
fn cargo_build_wasm(dir: &Path, members: Members) -> Result<Vec<PathBuf>> {
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
        .args(match members {
            Members::Default => &[][..],
            Members::All => &["--workspace"][..],
        })
        // A host build's flags are for the host; they must not leak into the wasm build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run cargo to build the plugin (is Rust installed?)")?;
    // Stderr is read on its own thread so neither pipe can fill up and stall cargo.
    let stderr = child.stderr.take().map(|pipe| {
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in std::io::BufReader::new(pipe).lines().map_while(|l| l.ok()) {
                eprintln!("{line}");
                if seen.len() < MAX_KEPT_STDERR {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            seen
        })
    });
    let mut artifacts = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            artifacts.extend(wasm_artifacts(&line?));
        }
    }
    let status = child.wait()?;
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    if !status.success() {
        bail!("{}", build_failure(dir, &status.to_string(), &stderr));
    }
    artifacts.sort();
    artifacts.dedup();
    Ok(artifacts)
}

/// How much of cargo's stderr is kept for the error of a failed build.
const MAX_KEPT_STDERR: usize = 256 << 10;

/// Lines of the compiler's first error quoted in a failed build's message.
const MAX_ERROR_LINES: usize = 40;

/// The message of a failed build: the compiler's first error as it rendered it, and the
/// `rustup target add` advice only when the compiler says the wasm target is missing (a mistake
/// in the plugin's code must not send its author off installing targets).
fn build_failure(dir: &Path, status: &str, stderr: &str) -> String {
    let mut msg = format!("building plugins in {} failed ({status})", dir.display());
    let first_error: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.starts_with("error"))
        .take_while(|l| !l.trim().is_empty())
        .take(MAX_ERROR_LINES)
        .collect();
    if !first_error.is_empty() {
        msg.push_str(":\n");
        msg.push_str(&first_error.join("\n"));
    }
    let target_missing = stderr.contains("target may not be installed")
        || (stderr.contains("E0463")
            && (stderr.contains("crate for `core`") || stderr.contains("crate for `std`")));
    if target_missing {
        msg.push_str(&format!(
            "\nthe {PLUGIN_TARGET} target is missing: run `rustup target add {PLUGIN_TARGET}`"
        ));
    }
    msg
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

    #[test]
    fn a_compile_error_is_quoted_without_the_target_advice() {
        let stderr = "   Compiling shout v0.1.0 (/tmp/shout)\n\
            error[E0308]: mismatched types\n --> src/lib.rs:3:18\n  |\n3 |     let x: u32 = \"a\";\n\n\
            error: could not compile `shout` (lib) due to 1 previous error\n";
        let msg = build_failure(Path::new("shout"), "exit status: 101", stderr);
        assert!(
            msg.starts_with("building plugins in shout failed (exit status: 101):\nerror[E0308]: mismatched types\n --> src/lib.rs:3:18"),
            "{msg}"
        );
        assert!(
            !msg.contains("could not compile"),
            "only the first error: {msg}"
        );
        assert!(!msg.contains("rustup"), "{msg}");
    }

    #[test]
    fn a_missing_target_gets_the_rustup_advice() {
        let stderr = "error[E0463]: can't find crate for `core`\n  |\n  = note: the `wasm32-wasip2` target may not be installed\n";
        let msg = build_failure(Path::new("p"), "exit status: 101", stderr);
        assert!(msg.contains("error[E0463]"), "{msg}");
        assert!(
            msg.ends_with("run `rustup target add wasm32-wasip2`"),
            "{msg}"
        );
    }
}
