//! The service scales out and loses a worker cleanly: two `sluice worker` processes on one
//! control database run 40 queued runs of 4 tenants (each held to its own
//! `--max-concurrent-runs`), one worker is SIGKILLed in the middle of a copy, and every run
//! ends: the lost ones Failed with a message naming the lost worker, every other one Succeeded
//! with exactly the source's rows. The slot history the control database kept shows no tenant
//! ever ran more runs at once than its limit.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::service::control::crypto::linked_service_aad;
use sluice::service::control::{Control, Kind, MasterKey, NewRun};
use sluice_e2e::service::{create_tenant, free_port, master_key, ControlDb, Process};
use sluice_e2e::{local_connection_string, TestDb};

const RUNS_PER_TENANT: usize = 10;

const SOURCE_ROWS: i64 = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_runs_on_two_workers_one_killed_mid_copy() {
    let db = TestDb::new("scale").await;
    db.exec(&format!(
        "CREATE TABLE {{s}}.src (id bigint PRIMARY KEY, name text, amount numeric(12,2));
         INSERT INTO {{s}}.src SELECT g, 'row ' || g, g * 1.25 FROM generate_series(1, {SOURCE_ROWS}) g;"
    ))
    .await;
    let ctl = ControlDb::new().await;
    let key_text = master_key();
    let key = MasterKey::from_base64(&key_text).unwrap();
    let control = Control::connect(&ctl.url).await.unwrap();
    let limits = [1u32, 2, 3, 4];
    let mut tenants = Vec::new();
    let mut run_ids = Vec::new();
    for (t, limit) in limits.iter().enumerate() {
        let name = format!("scale{t}");
        create_tenant(
            &ctl.url,
            &name,
            &["--max-concurrent-runs", &limit.to_string()],
        );
        let tenant = control.get_tenant(&name).await.unwrap().unwrap();
        control
            .put_factory(tenant.id, "rg", "f", &json!({"location": "local"}), None)
            .await
            .unwrap();
        let mut ls = json!({"properties": {"type": "AzurePostgreSql", "typeProperties": {
            "connectionString": {"type": "SecureString", "value": local_connection_string()}}}});
        key.seal_secure_strings(&mut ls, &linked_service_aad(tenant.id, "f", "Pg"))
            .unwrap();
        let put = |kind, name: &'static str, body: serde_json::Value| {
            let control = control.clone();
            async move {
                control
                    .put_definition(tenant.id, "rg", "f", kind, name, &body, None)
                    .await
                    .unwrap();
            }
        };
        put(Kind::LinkedServices, "Pg", ls).await;
        put(
            Kind::Datasets,
            "Src",
            json!({"properties": {"type": "AzurePostgreSqlTable",
            "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
            "typeProperties": {"schema": db.schema, "table": "src"}}}),
        )
        .await;
        put(Kind::Datasets, "Dst", json!({"properties": {"type": "AzurePostgreSqlTable",
            "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
            "parameters": {"t": {"type": "String"}},
            "typeProperties": {"schema": db.schema, "table": {"value": "@dataset().t", "type": "Expression"}}}}))
        .await;
        put(
            Kind::Pipelines,
            "P",
            json!({"properties": {
            "parameters": {"dst": {"type": "String"}},
            "activities": [{"name": "Copy", "type": "Copy",
                "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
                "outputs": [{"referenceName": "Dst", "type": "DatasetReference",
                             "parameters": {"t": "@pipeline().parameters.dst"}}],
                "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                                   "sink": {"type": "AzurePostgreSqlSink"}}}]}}),
        )
        .await;
        for i in 0..RUNS_PER_TENANT {
            let dst = format!("dst_{t}_{i}");
            db.exec(&format!(
                "CREATE TABLE {{s}}.\"{dst}\" (id bigint PRIMARY KEY, name text, amount numeric(12,2))"
            ))
            .await;
            let run = control
                .create_run(NewRun {
                    tenant_id: tenant.id,
                    resource_group: "rg".into(),
                    factory: "f".into(),
                    pipeline_name: "P".into(),
                    parameters: json!({ "dst": dst }),
                    ..NewRun::default()
                })
                .await
                .unwrap();
            run_ids.push((run.run_id, dst, tenant.id));
        }
        tenants.push((tenant.id, *limit));
    }

    let logs = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let env = [("SLUICE_MASTER_KEY", key_text.as_str())];
    let args = |c: &str| {
        vec![
            "worker".to_string(),
            "--control-db".into(),
            ctl.url.clone(),
            "--concurrency".into(),
            c.into(),
            "--lease".into(),
            "3".into(),
            "--cache-dir".into(),
            cache.path().display().to_string(),
        ]
    };
    let ports = [free_port(), free_port()];
    let mut workers = ports.map(|port| {
        let mut a = args("4");
        a.extend(["--metrics-listen".to_string(), format!("127.0.0.1:{port}")]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        Process::start(&a, &env, logs.path())
    });

    // Wait for a copy in progress, and kill the worker that runs it.
    let client = ctl.client().await;
    let t0 = Instant::now();
    let victim_id: String = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no copy started within 120 s:\n{}\n{}",
            workers[0].output(),
            workers[1].output()
        );
        let row = client
            .query_opt(
                "SELECT r.worker FROM sluice.runs r JOIN sluice.activity_runs a USING (run_id)
                 WHERE r.status = 'InProgress' AND a.status = 'InProgress' LIMIT 1",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            break row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let victim_pid: u32 = victim_id.split(':').nth(1).unwrap().parse().unwrap();
    let victim = workers.iter().position(|w| w.pid() == victim_pid).unwrap();
    workers[victim].signal("-9");
    assert!(workers[victim].wait_exit(Duration::from_secs(10)).is_some());
    let lost: Vec<uuid::Uuid> = client
        .query(
            "SELECT run_id FROM sluice.runs WHERE worker = $1 AND status IN ('InProgress', 'Canceling')",
            &[&victim_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!lost.is_empty(), "the killed worker held no run");

    // Every run ends.
    let t0 = Instant::now();
    loop {
        let open: i64 = client
            .query_one(
                "SELECT count(*) FROM sluice.runs WHERE status NOT IN ('Succeeded', 'Failed', 'Cancelled')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "{open} runs still open after 300 s:\n{}",
            workers[1 - victim].output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut ended: BTreeMap<String, usize> = BTreeMap::new();
    for (run_id, dst, _tenant) in &run_ids {
        let row = client
            .query_one(
                "SELECT status, message FROM sluice.runs WHERE run_id = $1",
                &[run_id],
            )
            .await
            .unwrap();
        let (status, message): (String, String) = (row.get(0), row.get(1));
        *ended.entry(status.clone()).or_default() += 1;
        if lost.contains(run_id) {
            assert_eq!(status, "Failed", "lost run {run_id}: {message}");
            assert!(
                message.contains(&victim_id) && message.contains("lease"),
                "lost run {run_id}'s message names neither the worker nor the lease: {message}"
            );
        } else {
            assert_eq!(status, "Succeeded", "run {run_id} into {dst}: {message}");
            assert_eq!(db.count(dst).await, SOURCE_ROWS, "rows of {dst}");
            assert_eq!(
                db.difference("src", dst, "*").await,
                0,
                "{dst} differs from src"
            );
        }
    }
    assert_eq!(
        ended.values().sum::<usize>(),
        limits.len() * RUNS_PER_TENANT
    );

    // The surviving worker's /metrics counts the runs it ended and the rows they copied.
    let survivor = ports[1 - victim];
    let metrics = reqwest::get(format!("http://127.0.0.1:{survivor}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sum = |name: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let ended_here = sum("sluice_runs_total{");
    assert!(ended_here >= 1.0, "{metrics}");
    assert!(
        metrics.contains("status=\"Succeeded\"") && metrics.contains("tenant=\"scale"),
        "{metrics}"
    );
    assert!(
        sum("sluice_rows_copied_total") >= SOURCE_ROWS as f64 * ended_here - 0.5,
        "{metrics}"
    );

    // No tenant ever held more slots at once than its limit: the most runs of a tenant whose
    // slot intervals overlap, at any slot acquisition.
    for (tenant, limit) in tenants {
        let most: i64 = client
            .query_one(
                "SELECT coalesce(max(n), 0) FROM (
                   SELECT (SELECT count(*) FROM sluice.slot_history o
                           WHERE o.tenant_id = h.tenant_id AND o.acquired_at <= h.acquired_at
                             AND coalesce(o.released_at, 'infinity') > h.acquired_at) AS n
                   FROM sluice.slot_history h WHERE h.tenant_id = $1) x",
                &[&tenant],
            )
            .await
            .unwrap()
            .get(0);
        assert!(most >= 1, "tenant {tenant} never ran");
        assert!(
            most <= i64::from(limit),
            "tenant {tenant} ran {most} runs at once, its limit is {limit}"
        );
    }
}
