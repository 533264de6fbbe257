//! Proves the service's control database against a real PostgreSQL: migrations apply once
//! however many processes start at once; `sluice tenant` creates, lists, re-keys and deletes
//! tenants and only the token's hash is stored; factories and definitions follow etags and
//! `If-Match`; SecureStrings are sealed in the table; runs are queued with their graphile job
//! and queried with ADF's filters; no tenant gets more run slots than its limit under
//! concurrent claimers; and expired leases fail their runs naming the lost worker.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sluice::service::control::crypto::linked_service_aad;
use sluice::service::control::{
    ActivityRunRow, Control, ControlError, Kind, MasterKey, NewRun, NewTenant, RunQuery, RunStatus,
    SlotClaim,
};
use sluice_e2e::*;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// A database of its own for one test (the control schema is fixed), dropped afterwards.
struct ControlDb {
    name: String,
    url: String,
}

impl ControlDb {
    async fn new() -> ControlDb {
        let name = format!("ctl_{}", &Uuid::new_v4().simple().to_string()[..12]);
        connect_local()
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let base = pg_url();
        let url = match base.rsplit_once('/') {
            Some((server, _db)) => format!("{server}/{name}"),
            None => panic!("unexpected test URL {base}"),
        };
        ControlDb { name, url }
    }

    async fn control(&self) -> Control {
        tokio::time::timeout(STEP_TIMEOUT, Control::connect(&self.url))
            .await
            .expect("timed out")
            .unwrap()
    }

    /// A plain client on the database, for looking at the tables.
    async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }
}

impl Drop for ControlDb {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                pg_url().as_str(),
                "-q",
                "-c",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            ])
            .output();
    }
}

async fn tenant(control: &Control, name: &str, max_runs: u32) -> Uuid {
    let created = control
        .create_tenant(NewTenant {
            name: name.into(),
            max_concurrent_runs: Some(max_runs),
            ..NewTenant::default()
        })
        .await
        .unwrap();
    created.tenant.id
}

/// A tenant with factory `rg/f` holding pipeline `copy`.
async fn tenant_with_pipeline(control: &Control, name: &str, max_runs: u32) -> Uuid {
    let t = tenant(control, name, max_runs).await;
    control
        .put_factory(t, "rg", "f", &json!({"location": "local"}), None)
        .await
        .unwrap();
    let body = json!({"properties": {"activities": [], "annotations": ["nightly"]}});
    control
        .put_definition(t, "rg", "f", Kind::Pipelines, "Copy", &body, None)
        .await
        .unwrap();
    t
}

fn new_run(tenant: Uuid, parameters: Value) -> NewRun {
    NewRun {
        tenant_id: tenant,
        resource_group: "RG".into(),
        factory: "F".into(),
        pipeline_name: "copy".into(),
        parameters,
        ..NewRun::default()
    }
}

fn window() -> Value {
    json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2999-01-01T00:00:00Z"})
}

#[tokio::test]
async fn migrations_apply_once_when_four_processes_start_together_and_again_later() {
    let db = ControlDb::new().await;
    let url = db.url.clone();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Control::connect(&url).await })
        })
        .collect();
    for start in starts {
        start.await.unwrap().expect("a concurrent start failed");
    }
    let control = db.control().await;
    control.ping().await.unwrap();
    let client = db.client().await;
    let applied: i64 = client
        .query_one("SELECT count(*) FROM sluice_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, 1);
    let queue: i64 = client
        .query_one("SELECT count(*) FROM graphile_worker.migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(queue > 0, "graphile_worker's schema was not installed");
}

#[tokio::test]
async fn tenant_commands_create_list_rotate_and_delete_storing_only_hashes() {
    let db = ControlDb::new().await;
    let url = db.url.as_str();
    let limit = Duration::from_secs(60);
    let run = sluice_within(
        &[
            "tenant",
            "create",
            "acme",
            "--max-concurrent-runs",
            "3",
            "--plugin-call-timeout",
            "1.5s",
            "--plugin-memory",
            "64",
            "--control-db",
            url,
            "--output",
            "json",
        ],
        &[],
        limit,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let created = run.json();
    let keys: HashSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, HashSet::from(["tenant", "subscriptionId", "token"]));
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 43, "{token}");
    Uuid::parse_str(created["subscriptionId"].as_str().unwrap()).unwrap();

    let dup = sluice_within(
        &["tenant", "create", "ACME", "--control-db", url],
        &[],
        limit,
    );
    assert_ne!(dup.code, 0);
    assert!(
        dup.stderr.contains("a tenant named 'ACME' exists already"),
        "{}",
        dup.all()
    );

    let list = sluice_within(
        &["tenant", "list", "--output", "json"],
        &[("SLUICE_CONTROL_DB", url)],
        limit,
    );
    assert_eq!(list.code, 0, "{}", list.all());
    let listed = list.json();
    assert_eq!(listed[0]["tenant"], "acme");
    assert_eq!(listed[0]["maxConcurrentRuns"], 3);
    assert_eq!(listed[0]["pluginMemoryMiB"], 64);
    assert_eq!(listed[0]["pluginCallTimeoutSeconds"], 1.5);
    assert!(!list.all().contains(&token));

    let control = db.control().await;
    let info = control
        .authenticate(&token)
        .await
        .unwrap()
        .expect("the token authenticates");
    assert_eq!(info.name, "acme");
    assert_eq!(info.plugin_call_timeout, Some(Duration::from_millis(1500)));
    let client = db.client().await;
    let stored: String = client
        .query_one("SELECT t::text FROM sluice.tenants t", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains(&token), "the token is stored in clear");

    let rotated = sluice_within(
        &[
            "tenant",
            "token",
            "rotate",
            "acme",
            "--control-db",
            url,
            "--output",
            "json",
        ],
        &[],
        limit,
    );
    assert_eq!(rotated.code, 0, "{}", rotated.all());
    let new_token = rotated.json()["token"].as_str().unwrap().to_string();
    assert_ne!(new_token, token);
    assert!(
        control.authenticate(&token).await.unwrap().is_none(),
        "the old token still works"
    );
    assert!(control.authenticate(&new_token).await.unwrap().is_some());
    assert!(control.authenticate("forged").await.unwrap().is_none());

    let deleted = sluice_within(
        &["tenant", "delete", "acme", "--control-db", url],
        &[],
        limit,
    );
    assert_eq!(deleted.code, 0, "{}", deleted.all());
    assert!(control.authenticate(&new_token).await.unwrap().is_none());
    assert!(control.list_tenants().await.unwrap().is_empty());
    let again = sluice_within(
        &["tenant", "delete", "acme", "--control-db", url],
        &[],
        limit,
    );
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("was not found"), "{}", again.all());
}

#[tokio::test]
async fn factories_and_definitions_follow_etags_and_page_by_name() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let a = tenant(&control, "a", 2).await;
    let b = tenant(&control, "b", 2).await;
    let (f1, created) = control
        .put_factory(
            a,
            "RG",
            "Fac",
            &json!({"location": "x", "tags": {"k": "v"}}),
            None,
        )
        .await
        .unwrap();
    assert!(created);
    let (f2, created) = control
        .put_factory(a, "rg", "fac", &json!({}), Some(&f1.etag.to_string()))
        .await
        .unwrap();
    assert!(!created);
    assert_ne!(f1.etag, f2.etag);
    assert_eq!(f2.name, "Fac", "the name keeps its first spelling");
    let stale = control
        .put_factory(a, "rg", "fac", &json!({}), Some(&f1.etag.to_string()))
        .await;
    assert!(
        matches!(stale, Err(ControlError::EtagMismatch)),
        "{stale:?}"
    );
    control
        .put_factory(a, "rg", "fac", &json!({}), Some("*"))
        .await
        .unwrap();
    let missing = control
        .put_factory(a, "rg", "other", &json!({}), Some("*"))
        .await;
    assert!(matches!(missing, Err(ControlError::EtagMismatch)));
    assert!(
        control.get_factory(b, "rg", "fac").await.unwrap().is_none(),
        "tenant b sees a's factory"
    );

    let no_factory = control
        .put_definition(
            a,
            "rg",
            "nope",
            Kind::Pipelines,
            "p",
            &json!({"properties": {}}),
            None,
        )
        .await;
    assert!(
        matches!(no_factory, Err(ControlError::NotFound(_))),
        "{no_factory:?}"
    );
    let mut names = Vec::new();
    for name in ["p3", "P1", "p0", "P4", "p2"] {
        let (d, created) = control
            .put_definition(
                a,
                "rg",
                "fac",
                Kind::Pipelines,
                name,
                &json!({"properties": {"activities": []}}),
                None,
            )
            .await
            .unwrap();
        assert!(created);
        names.push(d.name);
    }
    let p1 = control
        .get_definition(a, "RG", "FAC", Kind::Pipelines, "p1")
        .await
        .unwrap()
        .unwrap();
    let wrong = control
        .put_definition(
            a,
            "rg",
            "fac",
            Kind::Pipelines,
            "p1",
            &json!({}),
            Some(&Uuid::new_v4().to_string()),
        )
        .await;
    assert!(matches!(wrong, Err(ControlError::EtagMismatch)));
    let (p1b, created) = control
        .put_definition(
            a,
            "rg",
            "fac",
            Kind::Pipelines,
            "p1",
            &json!({"properties": {"x": 1}}),
            Some(&format!("\"{}\"", p1.etag)),
        )
        .await
        .unwrap();
    assert!(!created);
    assert_ne!(p1b.etag, p1.etag);
    let star_missing = control
        .put_definition(a, "rg", "fac", Kind::Datasets, "d", &json!({}), Some("*"))
        .await;
    assert!(matches!(star_missing, Err(ControlError::EtagMismatch)));

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = control
            .list_definitions(a, "rg", "fac", Kind::Pipelines, after.as_deref(), 2)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|d| d.name.clone()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec!["p0", "P1", "p2", "p3", "P4"]);
    assert!(control
        .list_definitions(a, "rg", "fac", Kind::Datasets, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
    let bad = control
        .list_definitions(a, "rg", "fac", Kind::Pipelines, Some("junk!"), 2)
        .await;
    assert!(matches!(bad, Err(ControlError::Invalid(_))));

    assert!(control
        .delete_definition(a, "rg", "fac", Kind::Pipelines, "P0")
        .await
        .unwrap());
    assert!(!control
        .delete_definition(a, "rg", "fac", Kind::Pipelines, "p0")
        .await
        .unwrap());
    assert_eq!(
        control
            .factory_definitions(a, "rg", "fac")
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(control.delete_factory(a, "rg", "fac").await.unwrap());
    let gone = control.factory_definitions(a, "rg", "fac").await;
    assert!(matches!(gone, Err(ControlError::NotFound(_))));
    let client = db.client().await;
    let left: i64 = client
        .query_one("SELECT count(*) FROM sluice.definitions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "deleting the factory left its definitions");
}

#[tokio::test]
async fn secure_strings_are_sealed_in_the_table_and_open_only_for_their_tenant() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let key = MasterKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
    let a = tenant(&control, "a", 2).await;
    control
        .put_factory(a, "rg", "f", &json!({}), None)
        .await
        .unwrap();
    let secret = "correct horse battery staple";
    let original = json!({"properties": {"type": "PostgreSqlV2", "typeProperties": {
        "server": "db", "password": {"type": "SecureString", "value": secret}}}});
    let mut body = original.clone();
    let aad = linked_service_aad(a, "F", "Pg");
    key.seal_secure_strings(&mut body, &aad).unwrap();
    control
        .put_definition(a, "rg", "f", Kind::LinkedServices, "pg", &body, None)
        .await
        .unwrap();
    let client = db.client().await;
    let stored: String = client
        .query_one("SELECT body::text FROM sluice.definitions", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        !stored.contains(secret),
        "the secret is in the table in clear: {stored}"
    );
    assert!(stored.contains("sluice:sealed:v1:"));
    let row = control
        .get_definition(a, "rg", "f", Kind::LinkedServices, "PG")
        .await
        .unwrap()
        .unwrap();
    let mut masked = row.body.clone();
    sluice::service::control::mask_secure_strings(&mut masked);
    assert_eq!(
        masked["properties"]["typeProperties"]["password"]["value"],
        "**********"
    );
    let mut opened = row.body.clone();
    key.open_secure_strings(&mut opened, &linked_service_aad(a, "f", "pg"))
        .unwrap();
    assert_eq!(opened, original);
    let other = linked_service_aad(Uuid::new_v4(), "f", "pg");
    assert!(key
        .open_secure_strings(&mut row.body.clone(), &other)
        .is_err());
}

#[tokio::test]
async fn runs_are_queued_with_their_job_queried_with_filters_and_cancelled() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let t = tenant_with_pipeline(&control, "t", 2).await;
    let other = tenant_with_pipeline(&control, "other", 2).await;
    let missing = control
        .create_run(NewRun {
            pipeline_name: "nope".into(),
            ..new_run(t, json!({}))
        })
        .await;
    assert!(
        matches!(missing, Err(ControlError::NotFound(_))),
        "{missing:?}"
    );
    let first = control
        .create_run(new_run(t, json!({"n": 5, "s": "x"})))
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Queued);
    assert_eq!(first.pipeline_name, "Copy");
    let client = db.client().await;
    let payloads: Vec<Value> = client
        .query(
            "SELECT j.payload FROM graphile_worker._private_jobs j \
             JOIN graphile_worker._private_tasks t ON t.id = j.task_id \
             WHERE t.identifier = 'sluice_run'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(payloads, vec![json!({"runId": first.run_id.to_string()})]);
    let adf = first.to_adf_json();
    assert_eq!(adf["status"], "Queued");
    assert_eq!(adf["parameters"], json!({"n": "5", "s": "x"}));
    assert_eq!(adf["invokedBy"]["invokedByType"], "Manual");
    assert_eq!(adf["isLatest"], true);
    assert_eq!(adf["annotations"], json!(["nightly"]));
    assert!(adf["runStart"].is_null() && adf["durationInMs"].is_null());

    let second = control.create_run(new_run(t, json!({}))).await.unwrap();
    control.create_run(new_run(other, json!({}))).await.unwrap();
    assert!(
        control
            .get_run(other, first.run_id)
            .await
            .unwrap()
            .is_none(),
        "another tenant sees the run"
    );

    let cancelled = control
        .request_cancel(t, second.run_id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(cancelled.run_end.is_some());
    let claim = control
        .claim_slot(second.run_id, "w", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claim, SlotClaim::NotRunnable(RunStatus::Cancelled));
    assert!(control
        .request_cancel(other, first.run_id, false)
        .await
        .unwrap()
        .is_none());

    let mut q = window();
    q["filters"] = json!([{"operand": "Status", "operator": "Equals", "values": ["queued"]}]);
    let page = control
        .query_runs(t, "rg", "f", &RunQuery::from_adf_json(&q).unwrap())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        vec![first.run_id]
    );
    q["filters"] =
        json!([{"operand": "RunId", "operator": "NotIn", "values": [first.run_id.to_string()]}]);
    let page = control
        .query_runs(t, "rg", "f", &RunQuery::from_adf_json(&q).unwrap())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        vec![second.run_id]
    );

    let rerun = control
        .create_run(NewRun {
            is_recovery: true,
            reference_run_id: Some(first.run_id),
            ..new_run(t, json!({}))
        })
        .await
        .unwrap();
    assert_eq!(rerun.run_group_id, first.run_group_id);
    assert!(
        !control
            .get_run(t, first.run_id)
            .await
            .unwrap()
            .unwrap()
            .is_latest
    );
    let mut q = window();
    q["filters"] = json!([{"operand": "LatestOnly", "operator": "Equals", "values": ["true"]}]);
    q["orderBy"] = json!([{"orderBy": "Status", "order": "ASC"}]);
    let mut query = RunQuery::from_adf_json(&q).unwrap();
    query.limit = 1;
    let page = control.query_runs(t, "rg", "f", &query).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].status, RunStatus::Cancelled);
    q["continuationToken"] = json!(page.next.clone().expect("a second page"));
    let mut query = RunQuery::from_adf_json(&q).unwrap();
    query.limit = 1;
    let page2 = control.query_runs(t, "rg", "f", &query).await.unwrap();
    assert_eq!(page2.items[0].run_id, rerun.run_id);
    assert!(page2.next.is_none());
    let page_json = page2.to_adf_json(|r| r.to_adf_json());
    assert!(page_json["continuationToken"].is_null());
    assert_eq!(
        page_json["value"][0]["runId"],
        json!(rerun.run_id.to_string())
    );
}

#[tokio::test]
async fn no_tenant_gets_more_slots_than_its_limit_under_eight_claimers() {
    const LIMIT: usize = 3;
    const RUNS: usize = 24;
    let db = ControlDb::new().await;
    let control = db.control().await;
    let t = tenant_with_pipeline(&control, "busy", LIMIT as u32).await;
    let mut ids = Vec::new();
    for _ in 0..RUNS {
        ids.push(
            control
                .create_run(new_run(t, json!({})))
                .await
                .unwrap()
                .run_id,
        );
    }
    let queue = Arc::new(Mutex::new(ids.clone()));
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let fulls = Arc::new(AtomicUsize::new(0));
    let claimers: Vec<_> = (0..8)
        .map(|w| {
            let (control, queue, holding, most, fulls) = (
                control.clone(),
                queue.clone(),
                holding.clone(),
                most.clone(),
                fulls.clone(),
            );
            tokio::spawn(async move {
                let worker = format!("worker-{w}");
                loop {
                    let Some(run_id) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    match control
                        .claim_slot(run_id, &worker, Duration::from_secs(60))
                        .await
                        .unwrap()
                    {
                        SlotClaim::Acquired { slot } => {
                            assert!((slot as usize) < LIMIT);
                            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            let activity = ActivityRunRow {
                                activity_run_id: Uuid::new_v4(),
                                run_id,
                                pipeline_name: String::new(),
                                activity_name: "Copy1".into(),
                                activity_type: "Copy".into(),
                                linked_service_name: None,
                                status: "InProgress".into(),
                                activity_run_start: chrono::Utc::now(),
                                activity_run_end: None,
                                duration_ms: None,
                                input: json!({}),
                                output: json!({}),
                                error: json!({}),
                                retry_attempt: None,
                            };
                            control.activity_started(&activity).await.unwrap();
                            tokio::time::sleep(Duration::from_millis(15)).await;
                            assert!(!control
                                .renew_lease(run_id, &worker, Duration::from_secs(60))
                                .await
                                .unwrap());
                            let done = ActivityRunRow {
                                status: "Succeeded".into(),
                                activity_run_end: Some(chrono::Utc::now()),
                                output: json!({"rowsCopied": 1}),
                                ..activity
                            };
                            control.activity_finished(&done).await.unwrap();
                            holding.fetch_sub(1, Ordering::SeqCst);
                            control
                                .finish_run(run_id, &worker, RunStatus::Succeeded, "")
                                .await
                                .unwrap();
                        }
                        SlotClaim::Full => {
                            fulls.fetch_add(1, Ordering::SeqCst);
                            queue.lock().unwrap().insert(0, run_id);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        SlotClaim::NotRunnable(s) => panic!("run {run_id} is {s}"),
                    }
                }
            })
        })
        .collect();
    for c in claimers {
        tokio::time::timeout(STEP_TIMEOUT, c)
            .await
            .expect("claimers hung")
            .unwrap();
    }
    assert!(
        most.load(Ordering::SeqCst) <= LIMIT,
        "held {} slots at once",
        most.load(Ordering::SeqCst)
    );
    assert!(
        fulls.load(Ordering::SeqCst) > 0,
        "eight claimers never found the {LIMIT} slots full"
    );
    for id in &ids {
        let run = control.get_run(t, *id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        let activities = control
            .query_activity_runs(t, *id, &RunQuery::from_adf_json(&window()).unwrap())
            .await
            .unwrap();
        assert_eq!(activities.items.len(), 1);
        let adf = activities.items[0].to_adf_json();
        assert_eq!(
            (adf["status"].as_str(), adf["pipelineName"].as_str()),
            (Some("Succeeded"), Some("Copy"))
        );
        assert_eq!(adf["output"]["rowsCopied"], 1);
    }
    // The record: at no acquisition did more than LIMIT history entries overlap.
    let client = db.client().await;
    let worst: i64 = client
        .query_one(
            "SELECT coalesce(max(n), 0) FROM (SELECT (SELECT count(*) FROM sluice.slot_history o \
             WHERE o.tenant_id = h.tenant_id AND o.acquired_at <= h.acquired_at \
             AND (o.released_at IS NULL OR o.released_at > h.acquired_at)) AS n \
             FROM sluice.slot_history h) x",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        worst as usize <= LIMIT,
        "slot_history shows {worst} runs at once"
    );
    let entries: i64 = client
        .query_one(
            "SELECT count(*) FROM sluice.slot_history WHERE released_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(entries as usize, RUNS);
}

#[tokio::test]
async fn expired_leases_fail_their_runs_naming_the_lost_worker() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let t = tenant_with_pipeline(&control, "t", 1).await;
    let lost = control
        .create_run(new_run(t, json!({})))
        .await
        .unwrap()
        .run_id;
    let next = control
        .create_run(new_run(t, json!({})))
        .await
        .unwrap()
        .run_id;
    let short = Duration::from_millis(300);
    assert_eq!(
        control.claim_slot(lost, "w-dead", short).await.unwrap(),
        SlotClaim::Acquired { slot: 0 }
    );
    assert_eq!(
        control.claim_slot(next, "w-live", short).await.unwrap(),
        SlotClaim::Full
    );
    let activity = ActivityRunRow {
        activity_run_id: Uuid::new_v4(),
        run_id: lost,
        pipeline_name: String::new(),
        activity_name: "CopyRows".into(),
        activity_type: "Copy".into(),
        linked_service_name: Some("pg".into()),
        status: "InProgress".into(),
        activity_run_start: chrono::Utc::now(),
        activity_run_end: None,
        duration_ms: None,
        input: json!({}),
        output: json!({}),
        error: json!({}),
        retry_attempt: None,
    };
    control.activity_started(&activity).await.unwrap();
    assert!(
        control.reap_expired_leases().await.unwrap().is_empty(),
        "reaped a live lease"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(control.reap_expired_leases().await.unwrap(), vec![lost]);
    let run = control.get_run(t, lost).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.message.starts_with(
            "The worker 'w-dead' that ran this pipeline run stopped (its lease expired at "
        ),
        "{}",
        run.message
    );
    let activities = control
        .query_activity_runs(t, lost, &RunQuery::from_adf_json(&window()).unwrap())
        .await
        .unwrap();
    let failed = activities.items[0].to_adf_json();
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["error"]["target"], "CopyRows");
    assert!(failed["error"]["message"]
        .as_str()
        .unwrap()
        .contains("w-dead"));
    let late = control.renew_lease(lost, "w-dead", short).await;
    assert!(
        matches!(late, Err(ControlError::LeaseLost { .. })),
        "{late:?}"
    );
    let late = control
        .finish_run(lost, "w-dead", RunStatus::Succeeded, "")
        .await;
    assert!(
        matches!(late, Err(ControlError::LeaseLost { .. })),
        "{late:?}"
    );

    // The freed slot goes to the next run; when its lease lapses, a claim takes the slot
    // over and fails the lapsed run in the same transaction.
    assert_eq!(
        control.claim_slot(next, "w-live", short).await.unwrap(),
        SlotClaim::Acquired { slot: 0 }
    );
    let third = control
        .create_run(new_run(t, json!({})))
        .await
        .unwrap()
        .run_id;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        control
            .claim_slot(third, "w-new", Duration::from_secs(60))
            .await
            .unwrap(),
        SlotClaim::Acquired { slot: 0 }
    );
    let taken_over = control.get_run(t, next).await.unwrap().unwrap();
    assert_eq!(taken_over.status, RunStatus::Failed);
    assert!(
        taken_over.message.contains("'w-live'"),
        "{}",
        taken_over.message
    );
    control
        .finish_run(third, "w-new", RunStatus::Succeeded, "")
        .await
        .unwrap();
    let open: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM sluice.slot_history WHERE released_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
}
