//! The whole service as users run it: a real `sluice serve` process (TLS, two embedded
//! workers) on its own control database, driven by Microsoft's Python SDK
//! (tests/service/sdk_runs.py): a copy run with parameters polled to the end, pipeline and
//! activity runs queried, a long run cancelled, and a failed run rerun with `isRecovery` +
//! `startFromFailure` once the table it lacked exists.

use std::time::Duration;

use sluice_e2e::service::{create_tenant, ControlDb, TlsServe};
use sluice_e2e::{connect_local, pg_url};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::service_api::sdk::sdk_python;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsofts_python_sdk_runs_cancels_and_recovers_through_sluice_serve() {
    // The data: a database of its own with schema sdk (source with 3 rows, an empty sink).
    let data = format!("sdk_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    connect_local()
        .await
        .batch_execute(&format!("CREATE DATABASE \"{data}\""))
        .await
        .unwrap();
    let server = pg_url().rsplit_once('/').unwrap().0.to_string();
    let (client, conn) =
        tokio_postgres::connect(&format!("{server}/{data}"), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE SCHEMA sdk;
             CREATE TABLE sdk.source (id int PRIMARY KEY, name text);
             INSERT INTO sdk.source VALUES (1, 'a'), (2, 'b'), (3, 'c');
             CREATE TABLE sdk.sink (id int PRIMARY KEY, name text);",
        )
        .await
        .unwrap();
    let connection =
        sluice_e2e::local_connection_string().replace("Database=test", &format!("Database={data}"));

    let ctl = ControlDb::new().await;
    let tenant = create_tenant(&ctl.url, "sdk-user", &[]);
    let serve = TlsServe::start(&ctl.url, &["--workers", "2", "--lease", "3"]).await;
    let port = serve.port;

    let mut script = tokio::process::Command::new(sdk_python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/service/sdk_runs.py"))
        .env("SLUICE_API_URL", format!("https://127.0.0.1:{port}"))
        .env("SLUICE_CA", &serve.ca)
        .env("SLUICE_TOKEN", tenant["token"].as_str().unwrap())
        .env(
            "SLUICE_SUBSCRIPTION",
            tenant["subscriptionId"].as_str().unwrap(),
        )
        .env("SLUICE_PG_CONNECTION", &connection)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = script.stdin.take().unwrap();
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let talk = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.trim() == "CREATE_LATER" {
                client
                    .batch_execute(
                        "CREATE TABLE sdk.later (id int PRIMARY KEY, name text);
                         INSERT INTO sdk.later VALUES (7, 'late');",
                    )
                    .await
                    .unwrap();
                stdin.write_all(b"go\n").await.unwrap();
                stdin.flush().await.unwrap();
            }
            stdout.push_str(&line);
            stdout.push('\n');
        }
    };
    tokio::time::timeout(Duration::from_secs(300), talk)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "sdk_runs.py did not finish in 300 s:\n{stdout}\n{}",
                serve.process.output()
            )
        });
    let out = script.wait_with_output().await.unwrap();
    assert!(
        out.status.success() && stdout.contains("sdk_runs: all passed"),
        "sdk_runs.py failed:\n{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        serve.process.output()
    );
    // The recovered run copied the late table into the sink (the TRUNCATE before it cleared
    // the first copy's rows).
    let rows: i64 = client
        .query_one("SELECT count(*) FROM sdk.sink WHERE id = 7", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    drop(serve);
    drop(client);
    let _ = connect_local()
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{data}\" WITH (FORCE)"))
        .await;
}
