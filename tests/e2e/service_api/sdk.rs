//! Microsoft's own Python SDK (`azure-mgmt-datafactory`, in target/sdk-venv) against the
//! server: factories and definitions, and every answer of the run operations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_e2e::local_connection_string;

use super::server::{Service, Tenant};

#[tokio::test]
async fn microsofts_python_sdk_manages_factories_and_definitions() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("sdk", 10_000).await;
    run_sdk_script(&s, &t, "sdk_crud").await;
    s.stop().await;
}

#[tokio::test]
async fn microsofts_python_sdk_parses_every_run_answer() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("sdk-runs", 10_000).await;
    run_sdk_script(&s, &t, "sdk_queued_runs").await;
    s.stop().await;
}

/// Runs tests/service/`script`.py with the venv's python against the server as tenant `t`;
/// it must end with "`script`: all passed".
pub async fn run_sdk_script(s: &Service, t: &Tenant, script: &str) {
    let out = tokio::process::Command::new(sdk_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("service/{script}.py")))
        .env("SLUICE_API_URL", &s.base)
        .env("SLUICE_CA", &s.ca)
        .env("SLUICE_TOKEN", &t.token)
        .env("SLUICE_SUBSCRIPTION", t.sub.to_string())
        .env("SLUICE_PG_CONNECTION", local_connection_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script}.py failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{script}: all passed")),
        "{stdout}"
    );
}

/// The venv's python (tests/service/setup-venv makes it); fails loudly when it is missing.
pub fn sdk_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sdk-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/service/setup-venv (tests/run does) to install Microsoft's \
         azure-mgmt-datafactory SDK into target/sdk-venv",
        python.display()
    );
    python
}
