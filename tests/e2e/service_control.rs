//! Proves the service's control database against a real PostgreSQL: migrations apply once
//! however many processes start at once; `sluice tenant` creates, lists, re-keys and deletes
//! tenants and only the token's hash is stored; factories and definitions follow etags and
//! `If-Match`; SecureStrings are sealed in the table; plugins stay with their tenant's
//! factory. The runs' side is in [`runs`] (`service_control_runs.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "service_control_runs.rs"]
mod runs;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use sluice::service::control::crypto::linked_service_aad;
use sluice::service::control::{Control, ControlError, Kind, MasterKey, NewRun, NewTenant};
use sluice_e2e::*;
use uuid::Uuid;

pub(crate) use sluice_e2e::service::ControlDb;

pub(crate) async fn tenant(control: &Control, name: &str, max_runs: u32) -> Uuid {
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
pub(crate) async fn tenant_with_pipeline(control: &Control, name: &str, max_runs: u32) -> Uuid {
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

pub(crate) fn new_run(tenant: Uuid, parameters: Value) -> NewRun {
    NewRun {
        tenant_id: tenant,
        resource_group: "RG".into(),
        factory: "F".into(),
        pipeline_name: "copy".into(),
        parameters,
        ..NewRun::default()
    }
}

pub(crate) fn window() -> Value {
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
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../host/migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count() as i64;
    assert!(files >= 3, "host/migrations holds the migrations");
    assert_eq!(applied, files, "each migration applied once");
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
async fn plugins_belong_to_their_tenants_factory_and_are_found_by_hash() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let a = tenant(&control, "a", 2).await;
    let b = tenant(&control, "b", 2).await;
    for t in [a, b] {
        control
            .put_factory(t, "rg", "f", &json!({}), None)
            .await
            .unwrap();
    }
    let missing = control
        .put_plugin(a, "rg", "nope", "upper", "1.0.0", b"x", "00")
        .await;
    assert!(
        matches!(missing, Err(ControlError::NotFound(_))),
        "{missing:?}"
    );
    // The same name under two tenants: different bytes, each sees its own.
    let pa = control
        .put_plugin(a, "rg", "f", "upper", "1.0.0", b"tenant a bytes", "aa")
        .await
        .unwrap();
    control
        .put_plugin(b, "rg", "f", "upper", "1.0.0", b"tenant b", "bb")
        .await
        .unwrap();
    assert_eq!((pa.size, pa.sha256.as_str()), (14, "aa"));
    for version in ["1.1.0", "2.0.0"] {
        control
            .put_plugin(a, "rg", "f", "upper", version, b"v", "cc")
            .await
            .unwrap();
    }
    control
        .put_plugin(a, "rg", "f", "lower", "1.0.0", b"l", "dd")
        .await
        .unwrap();
    let got = control
        .get_plugin(b, "RG", "F", "upper", "1.0.0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.sha256, "bb");
    assert!(control
        .get_plugin(b, "rg", "f", "upper", "2.0.0")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        control.plugin_bytes(a, "aa").await.unwrap().unwrap(),
        b"tenant a bytes"
    );
    assert!(
        control.plugin_bytes(b, "aa").await.unwrap().is_none(),
        "tenant b reads a's plugin"
    );

    let first = control
        .list_plugins(a, "rg", "f", None, None, 3)
        .await
        .unwrap();
    let names: Vec<String> = first
        .items
        .iter()
        .map(|p| format!("{}@{}", p.name, p.version))
        .collect();
    assert_eq!(names, vec!["lower@1.0.0", "upper@1.0.0", "upper@1.1.0"]);
    let rest = control
        .list_plugins(a, "rg", "f", None, first.next.as_deref(), 3)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].version, "2.0.0");
    assert!(rest.next.is_none());
    let upper = control
        .list_plugins(a, "rg", "f", Some("upper"), None, 10)
        .await
        .unwrap();
    assert_eq!(upper.items.len(), 3);
    assert_eq!(
        control.factory_plugins(b, "rg", "f").await.unwrap().len(),
        1
    );

    assert!(control
        .delete_plugin(a, "rg", "f", "upper", "1.0.0")
        .await
        .unwrap());
    assert!(!control
        .delete_plugin(a, "rg", "f", "upper", "1.0.0")
        .await
        .unwrap());
    assert!(control
        .get_plugin(b, "rg", "f", "upper", "1.0.0")
        .await
        .unwrap()
        .is_some());
    control.delete_tenant("a").await.unwrap();
    assert!(
        control.plugin_bytes(a, "cc").await.unwrap().is_none(),
        "the tenant's plugins outlived it"
    );
}
