//! A queued run's life on a `sluice worker`: cancelled while it runs (Canceling, then
//! Cancelled within seconds), rerun from its failed activity with `isRecovery` +
//! `startFromFailure` (the activity that succeeded is not run again and the rerun joins the
//! original's run group), and a SIGTERM drain (a short run finishes, one longer than the grace
//! period is stopped and recorded as Failed naming the drain, the process exits cleanly), and
//! FileServer linked services resolving under the tenant's folder of `--files-root` only, and a
//! worker that keeps working after its control-database connections are cut.

use std::time::Duration;

use serde_json::json;
use sluice::service::control::{Kind, NewRun};
use sluice_e2e::service::Fixture;
use sluice_e2e::TestDb;

fn wait_pipeline(seconds: u64) -> serde_json::Value {
    json!({"activities": [{"name": "Sleep", "type": "Wait", "typeProperties": {"waitTimeInSeconds": seconds}}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_ends_cancelled_within_seconds() {
    let fx = Fixture::new("canceller", &[]).await;
    fx.put(Kind::Pipelines, "Long", wait_pipeline(120)).await;
    let run = fx.create_run("Long", json!({})).await;
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _worker = fx.worker(
        &["--concurrency", "2", "--lease", "3"],
        logs.path(),
        cache.path(),
    );
    fx.wait_status(run, &["InProgress"], Duration::from_secs(60))
        .await;
    let t0 = std::time::Instant::now();
    let row = fx
        .control
        .request_cancel(fx.tenant.id, run, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status.as_str(), "Canceling");
    let (status, _) = fx
        .wait_status(
            run,
            &["Cancelled", "Failed", "Succeeded"],
            Duration::from_secs(15),
        )
        .await;
    assert_eq!(status, "Cancelled");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    let activities = fx.activity_runs(run).await;
    assert_eq!(activities.len(), 1, "{activities:?}");
    assert_eq!(activities[0]["activityName"], "Sleep");
    assert_eq!(activities[0]["status"], "Cancelled", "{:?}", activities[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_reruns_from_its_failed_activity() {
    let db = TestDb::new("recovery").await;
    db.exec(
        "CREATE TABLE {s}.src (id int PRIMARY KEY, v text);
         INSERT INTO {s}.src SELECT g, 'v' || g FROM generate_series(1, 500) g;
         CREATE TABLE {s}.dst (id int PRIMARY KEY, v text);",
    )
    .await;
    let fx = Fixture::new("recoverer", &[]).await;
    fx.put_local_tables(&db.schema, &[("Src", "src"), ("Dst", "dst")])
        .await;
    let gate = format!("SELECT count(*) AS n FROM \"{}\".gate", db.schema);
    fx.put(Kind::Pipelines, "P", json!({"activities": [
        {"name": "CopyRows", "type": "Copy",
         "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
         "outputs": [{"referenceName": "Dst", "type": "DatasetReference"}],
         "typeProperties": {"source": {"type": "AzurePostgreSqlSource"}, "sink": {"type": "AzurePostgreSqlSink"}}},
        {"name": "CheckGate", "type": "Lookup",
         "dependsOn": [{"activity": "CopyRows", "dependencyConditions": ["Succeeded"]}],
         "typeProperties": {"source": {"type": "AzurePostgreSqlSource", "query": gate},
                            "dataset": {"referenceName": "Src", "type": "DatasetReference"}}}]}))
    .await;
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _worker = fx.worker(
        &["--concurrency", "2", "--lease", "3"],
        logs.path(),
        cache.path(),
    );
    let first = fx.create_run("P", json!({})).await;
    let (status, message) = fx
        .wait_status(first, &["Succeeded", "Failed"], Duration::from_secs(60))
        .await;
    assert_eq!(status, "Failed");
    assert!(message.contains("CheckGate"), "{message}");
    assert_eq!(db.count("dst").await, 500);

    // Fix what failed, then rerun from the failure: the copy is not run again (a second copy
    // would fail on the primary key), the lookup is.
    db.exec("CREATE TABLE {s}.gate (x int)").await;
    let rerun = fx
        .create(NewRun {
            pipeline_name: "P".into(),
            is_recovery: true,
            reference_run_id: Some(first),
            start_from_failure: true,
            ..fx.new_run()
        })
        .await;
    let (status, message) = fx
        .wait_status(rerun, &["Succeeded", "Failed"], Duration::from_secs(60))
        .await;
    assert_eq!(status, "Succeeded", "{message}");
    let names: Vec<String> = fx
        .activity_runs(rerun)
        .await
        .iter()
        .map(|a| a["activityName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["CheckGate"]);
    assert_eq!(db.count("dst").await, 500);
    let group = |id| {
        let control = fx.control.clone();
        let tenant = fx.tenant.id;
        async move {
            control
                .get_run(tenant, id)
                .await
                .unwrap()
                .unwrap()
                .run_group_id
        }
    };
    assert_eq!(group(rerun).await, group(first).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_worker() {
    let fx = Fixture::new("drainer", &["--max-concurrent-runs", "2"]).await;
    fx.put(Kind::Pipelines, "Short", wait_pipeline(3)).await;
    fx.put(Kind::Pipelines, "Long", wait_pipeline(120)).await;
    let short = fx.create_run("Short", json!({})).await;
    let long = fx.create_run("Long", json!({})).await;
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut worker = fx.worker(
        &["--concurrency", "2", "--lease", "3", "--grace", "6"],
        logs.path(),
        cache.path(),
    );
    fx.wait_status(short, &["InProgress"], Duration::from_secs(60))
        .await;
    fx.wait_status(long, &["InProgress"], Duration::from_secs(60))
        .await;
    worker.signal("-TERM");
    let code = worker.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(0), "worker output:\n{}", worker.output());
    assert_eq!(fx.status(short).await.0, "Succeeded", "{}", worker.output());
    let (status, message) = fx.status(long).await;
    assert_eq!(status, "Failed");
    assert!(
        message.contains("SIGTERM") && message.contains("draining"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_server_paths_resolve_under_the_tenants_files_root_only() {
    let db = TestDb::new("files_root").await;
    db.exec(
        "CREATE TABLE {s}.src (id int PRIMARY KEY, v text);
         INSERT INTO {s}.src VALUES (1, 'a'), (2, 'b'), (3, 'c');",
    )
    .await;
    let fx = Fixture::new("filer", &[]).await;
    fx.put_local_tables(&db.schema, &[("Src", "src")]).await;
    // A Windows path, a path climbing out of the root, and a network share.
    for (ls, host) in [
        ("Share", "C:\\exports"),
        ("Escape", "/a/../../.."),
        ("Unc", "\\\\server\\share"),
    ] {
        fx.put(
            Kind::LinkedServices,
            ls,
            json!({"type": "FileServer", "typeProperties": {"host": host}}),
        )
        .await;
        fx.put(Kind::Datasets, &format!("Out{ls}"), json!({"type": "DelimitedText",
            "linkedServiceName": {"referenceName": ls, "type": "LinkedServiceReference"},
            "typeProperties": {"location": {"type": "FileServerLocation", "folderPath": "daily", "fileName": "rows.csv"},
                               "columnDelimiter": ",", "firstRowAsHeader": true}}))
        .await;
        fx.put(
            Kind::Pipelines,
            &format!("To{ls}"),
            json!({"activities": [{"name": "Export", "type": "Copy",
            "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
            "outputs": [{"referenceName": format!("Out{ls}"), "type": "DatasetReference"}],
            "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                               "sink": {"type": "DelimitedTextSink"}}}]}),
        )
        .await;
    }
    let root = tempfile::tempdir().unwrap();
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root_arg = root.path().display().to_string();
    let _worker = fx.worker(
        &[
            "--concurrency",
            "2",
            "--lease",
            "3",
            "--files-root",
            &root_arg,
        ],
        logs.path(),
        cache.path(),
    );
    let ok = fx.create_run("ToShare", json!({})).await;
    let (status, message) = fx
        .wait_status(ok, &["Succeeded", "Failed"], Duration::from_secs(60))
        .await;
    assert_eq!(status, "Succeeded", "{message}");
    let file = root
        .path()
        .join(fx.tenant.id.to_string())
        .join("exports/daily/rows.csv");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert_eq!(text.lines().count(), 4, "{text}");
    for (pipeline, why) in [("ToEscape", "outside the root"), ("ToUnc", "network")] {
        let run = fx.create_run(pipeline, json!({})).await;
        let (status, message) = fx
            .wait_status(run, &["Succeeded", "Failed"], Duration::from_secs(60))
            .await;
        assert_eq!(status, "Failed", "{pipeline}");
        assert!(
            message.contains("host") && message.contains(why),
            "{pipeline}: {message}"
        );
    }
    // Nothing was written anywhere but the tenant's folder.
    let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_survives_losing_its_control_database_connections() {
    let fx = Fixture::new("survivor", &["--max-concurrent-runs", "2"]).await;
    fx.put(Kind::Pipelines, "Short", wait_pipeline(4)).await;
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut worker = fx.worker(
        &["--concurrency", "2", "--lease", "10"],
        logs.path(),
        cache.path(),
    );
    let first = fx.create_run("Short", json!({})).await;
    fx.wait_status(first, &["InProgress"], Duration::from_secs(60))
        .await;
    // Every connection of the worker (its pool and the job queue's) is cut, twice.
    let admin = sluice_e2e::connect_local().await;
    for _ in 0..2 {
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&fx.ctl.name],
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, message) = fx
        .wait_status(first, &["Succeeded", "Failed"], Duration::from_secs(60))
        .await;
    assert_eq!(status, "Succeeded", "{message}\n{}", worker.output());
    let second = fx.create_run("Short", json!({})).await;
    let (status, message) = fx
        .wait_status(second, &["Succeeded", "Failed"], Duration::from_secs(90))
        .await;
    assert_eq!(status, "Succeeded", "{message}\n{}", worker.output());
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "the worker exited:\n{}",
        worker.output()
    );
}
