//! The Monitor page (issue 18) in a real browser: a real `sluice serve` process (TLS, two
//! embedded workers, queries paged 2 runs at a time) with two tenants, and
//! tests/browser/monitor.mjs driving Debian's headless Chromium through Playwright: sign-in
//! from a `#token=` link, a run started from the page with parameters and watched to the end,
//! its Copy details checked against the API, a long run cancelled, a failed run's error and
//! masked input, a rerun from the failed activity, the runs list's filter and paging, the
//! triggers view, and a second tenant that sees none of it. Screenshots of each view land in
//! target/monitor-screenshots/.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_e2e::service::{create_tenant, ControlDb, TlsServe};
use sluice_e2e::TestDb;

const CHROMIUM: &str = "/usr/bin/chromium";

/// tests/browser with Playwright installed, or a loud failure saying how to get it.
fn browser_tests() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium; \
         .ci/run does)"
    );
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "Playwright is missing: run `npm ci --prefix tests/browser` (tests/run does)"
    );
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_page_watches_cancels_and_reruns_runs_in_chromium() {
    let browser = browser_tests();
    let db = TestDb::new("monitor").await;
    db.exec(
        "CREATE TABLE {s}.source (id int PRIMARY KEY, name text);
         INSERT INTO {s}.source SELECT g, 'row ' || g FROM generate_series(1, 2500) g;
         CREATE TABLE {s}.sink (id int PRIMARY KEY, name text);",
    )
    .await;
    let ctl = ControlDb::new().await;
    let a = create_tenant(&ctl.url, "monitor-a-tenant", &[]);
    let b = create_tenant(&ctl.url, "monitor-b-tenant", &[]);
    let serve = TlsServe::start(
        &ctl.url,
        &["--workers", "2", "--lease", "3", "--query-page-size", "2"],
    )
    .await;
    let port = serve.port;
    let http = &serve.http;
    // The page itself: served without a token, locked down by its headers.
    let page = http
        .get(format!("https://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(page.text().await.unwrap().contains("/monitor/app.js"));

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/monitor-screenshots");
    let script = tokio::process::Command::new("node")
        .arg(browser.join("monitor.mjs"))
        .current_dir(&browser)
        .env("SLUICE_URL", format!("https://127.0.0.1:{port}"))
        .env("NODE_EXTRA_CA_CERTS", &serve.ca)
        .env("SLUICE_TOKEN_A", a["token"].as_str().unwrap())
        .env("SLUICE_TOKEN_B", b["token"].as_str().unwrap())
        .env("SLUICE_SUB_B", b["subscriptionId"].as_str().unwrap())
        .env(
            "SLUICE_PG_CONNECTION",
            sluice_e2e::local_connection_string(),
        )
        .env("SLUICE_SCHEMA", &db.schema)
        .env("SCREENSHOTS", &shots)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(420), script)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "monitor.mjs did not finish in 420 s:\n{}",
                serve.process.output()
            )
        })
        .expect("node runs (Node.js 18+ is needed)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("monitor: all passed"),
        "monitor.mjs failed:\n{stdout}\n{stderr}\nserver:\n{}",
        serve.process.output()
    );
    // The rerun copied the late table into the sink.
    assert_eq!(db.count("sink").await, 1);
    for view in [
        "run-succeeded",
        "copy-details",
        "run-failed",
        "runs",
        "tenant-b",
    ] {
        assert!(shots.join(format!("{view}.png")).exists(), "{view}.png");
    }
    drop(serve);
}
