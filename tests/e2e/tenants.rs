//! Proves that one process runs two tenants' pipelines side by side without sharing anything
//! about a run: each run sees only its own SecureString and Key Vault values although both
//! factories use the same linked-service, secret and plugin names, each run's output masks only
//! its own secrets, and cancelling one run (mid-copy) leaves the other to finish with exact rows
//! while the cancelled copy keeps only whole committed batches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sluice::copy::transform::PluginHost;
use sluice::engine::{self, RunOptions, Status};
use sluice::plugins::{PluginRuntime, RuntimeConfig, Tenant};
use sluice_e2e::keyvault::FakeKeyVault;
use sluice_e2e::*;

/// Set in the child process that runs the test with the Key Vault's environment.
const VAULT_VAR: &str = "SLUICE_TENANTS_TEST_VAULT";
const ROWS: i64 = 5000;
const BATCH: i64 = 500;

/// One tenant's values: the same names, different values.
struct Tenant1 {
    name: &'static str,
    secure_string: String,
    kv_password: String,
    kv_version: String,
    keep_up_to: i64,
}

fn tenant_from_env(name: &'static str, keep_up_to: i64) -> Tenant1 {
    let var = |k: &str| std::env::var(format!("{VAULT_VAR}_{}_{k}", name.to_uppercase())).unwrap();
    Tenant1 {
        name,
        secure_string: var("SS"),
        kv_password: var("KV"),
        kv_version: var("VERSION"),
        keep_up_to,
    }
}

fn factory(db: &TestDb, vault_url: &str, t: &Tenant1, other: &Tenant1) -> TestFactory {
    let f = TestFactory::new();
    let cs = local_connection_string();
    f.put(
        "linkedService",
        "Pg",
        json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString":
            {"type": "SecureString", "value": format!("{cs};PWD={}", t.secure_string)}}}),
    );
    f.put(
        "linkedService",
        "kv",
        json!({"type": "AzureKeyVault", "typeProperties": {"baseUrl": vault_url}}),
    );
    f.put(
        "linkedService",
        "PgKv",
        json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString": {
            "type": "AzureKeyVaultSecret", "secretName": "pg-conn", "secretVersion": t.kv_version,
            "store": {"referenceName": "kv", "type": "LinkedServiceReference"}}}}),
    );
    f.table("Src", "Pg", &db.schema, "src");
    f.table("Dst", "PgKv", &db.schema, &format!("dst_{}", t.name));
    let query = format!("SELECT id, email FROM \"{}\".src ORDER BY id", db.schema);
    let lookup = |name: &str, ls_dataset: &str, text: &str| {
        json!({"name": name, "type": "Lookup", "typeProperties": {
            "source": {"type": "AzurePostgreSqlSource", "query": format!("SELECT '{text}'::int AS x")},
            "dataset": {"referenceName": ls_dataset, "type": "DatasetReference"}}})
    };
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "Load", "type": "Copy",
             "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Dst", "type": "DatasetReference"}],
             "typeProperties": {
                "source": {"type": "AzurePostgreSqlSource", "query": query,
                    "transforms": [{"plugin": "filter",
                        "config": {"column": "id", "op": "le", "value": t.keep_up_to}}]},
                "sink": {"type": "AzurePostgreSqlSink", "writeBatchSize": BATCH}}},
            // The server repeats the literal in its error: this run's own secrets must be
            // masked there, the other tenant's value must not be (masking it would tell this
            // tenant that some other tenant uses that value).
            lookup("EchoOwn", "Dst", &format!("{} {}", t.secure_string, t.kv_password)),
            lookup("EchoOther", "Src", &other.secure_string),
        ]}),
    );
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tenants_in_one_process_see_only_their_own_secrets_and_a_cancel_stops_only_one() {
    // The Key Vault client reads its credentials and trusted CA from the environment, which
    // is process-wide: the test runs itself in a child process that has them.
    let Ok(vault_url) = std::env::var(VAULT_VAR) else {
        let vault = FakeKeyVault::start().unwrap();
        let cs = local_connection_string();
        let mut env: Vec<(String, String)> = vault.client_env();
        env.push((VAULT_VAR.into(), vault.url.clone()));
        for t in ["A", "B"] {
            let ss = format!("ss-{t}-{}", uuid::Uuid::new_v4().simple());
            let kv = format!("kv-{t}-{}", uuid::Uuid::new_v4().simple());
            let version = vault.set("pg-conn", &format!("{cs};PWD={kv}"));
            env.push((format!("{VAULT_VAR}_{t}_SS"), ss));
            env.push((format!("{VAULT_VAR}_{t}_KV"), kv));
            env.push((format!("{VAULT_VAR}_{t}_VERSION"), version));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        rerun_in_child(
            module_path!(),
            "two_tenants_in_one_process_see_only_their_own_secrets_and_a_cancel_stops_only_one",
            &env,
        );
        // Each run fetched its own version of the same secret name.
        let gets = vault.gets();
        assert_eq!(gets.len(), 2, "{gets:?}");
        return;
    };

    let a = tenant_from_env("a", 3000);
    let b = tenant_from_env("b", 4000);
    let db = TestDb::new("tenants").await;
    db.exec(&format!(
        "CREATE TABLE {{s}}.src (id int, email text);
         INSERT INTO {{s}}.src SELECT g, 'user' || g || '@example.com' FROM generate_series(1, {ROWS}) g;
         CREATE TABLE {{s}}.dst_a (id int, email text);
         CREATE TABLE {{s}}.dst_b (id int, email text);
         -- About 2 ms a row written to b's table, so b's copy is still running when it is
         -- cancelled (a batch of {BATCH} rows takes about a second).
         CREATE FUNCTION {{s}}.slow() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN PERFORM pg_sleep(0.002); RETURN NEW; END$$;
         CREATE TRIGGER slow BEFORE INSERT ON {{s}}.dst_b FOR EACH ROW EXECUTE FUNCTION {{s}}.slow();"
    ))
    .await;
    let fa = factory(&db, &vault_url, &a, &b);
    let fb = factory(&db, &vault_url, &b, &a);

    let cache = tempfile::tempdir().unwrap();
    let runtime = PluginRuntime::new(RuntimeConfig::with_cache_dir(cache.path())).unwrap();
    let host = |t: &Tenant1| {
        Arc::new(PluginHost::with_runtime(
            vec![plugins_dir()],
            Tenant::new(t.name),
            runtime.clone(),
        ))
    };
    let options = |t: &Tenant1| RunOptions {
        plugins: Some(host(t)),
        ..RunOptions::new(t.name)
    };
    let start = |f: &TestFactory, t: &Tenant1| {
        let factory = Arc::new(engine::load(f.path()).unwrap());
        engine::start(factory, Some("P"), options(t))
    };
    let run_a = tokio::time::timeout(STEP_TIMEOUT, start(&fa, &a))
        .await
        .unwrap()
        .unwrap();
    let run_b = tokio::time::timeout(STEP_TIMEOUT, start(&fb, &b))
        .await
        .unwrap()
        .unwrap();

    // Cancel B once its copy has committed a few batches (and long before it could finish).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db.count("dst_b").await < 2 * BATCH {
        assert!(
            std::time::Instant::now() < deadline,
            "tenant b's copy made no progress"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run_b.cancel();
    let cancelled_at = std::time::Instant::now();
    let out_b = tokio::time::timeout(STEP_TIMEOUT, run_b.finish())
        .await
        .unwrap()
        .unwrap();
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(10),
        "the cancelled run took {:?} to stop",
        cancelled_at.elapsed()
    );
    let out_a = tokio::time::timeout(STEP_TIMEOUT, run_a.finish())
        .await
        .unwrap()
        .unwrap();

    // A finished its copy with exactly its rows (its own filter config: id <= 3000).
    let ja = out_a.to_json();
    assert_eq!(activity(&ja, "Load")["status"], "Succeeded", "{ja:#}");
    assert_eq!(
        activity(&ja, "Load")["output"]["rowsCopied"],
        3000,
        "{ja:#}"
    );
    db.exec("CREATE VIEW {s}.want_a AS SELECT * FROM {s}.src WHERE id <= 3000")
        .await;
    assert_eq!(db.difference("dst_a", "want_a", "*").await, 0);

    // B was cancelled mid-copy: whole committed batches only, no partial batch.
    let jb = out_b.to_json();
    assert_eq!(out_b.status, Status::Cancelled, "{jb:#}");
    assert_eq!(activity(&jb, "Load")["status"], "Cancelled", "{jb:#}");
    let copied_b = db.count("dst_b").await;
    assert!(
        (2 * BATCH..4000).contains(&copied_b),
        "{copied_b} rows in dst_b"
    );
    assert_eq!(
        copied_b % BATCH,
        0,
        "a partial batch was committed: {copied_b} rows"
    );
    db.exec("CREATE VIEW {s}.want_b AS SELECT * FROM {s}.src WHERE id <= 4000")
        .await;
    assert_eq!(
        db.query_i64(
            "SELECT count(*) FROM (SELECT * FROM {s}.dst_b EXCEPT ALL SELECT * FROM {s}.want_b) x"
        )
        .await,
        0
    );

    // Each run masks its own secrets, and only its own.
    for (json, own, other) in [(&ja, &a, &b), (&jb, &b, &a)] {
        let text = json.to_string();
        for secret in [&own.secure_string, &own.kv_password] {
            assert!(
                !text.contains(secret.as_str()),
                "tenant {}'s output shows its secret:\n{json:#}",
                own.name
            );
        }
        let echo_own = activity(json, "EchoOwn")["error"]["message"]
            .as_str()
            .unwrap();
        assert!(echo_own.contains("********** **********"), "{echo_own}");
        let echo_other = activity(json, "EchoOther")["error"]["message"]
            .as_str()
            .unwrap();
        assert!(
            echo_other.contains(other.secure_string.as_str()),
            "tenant {}'s output masked another tenant's value: {echo_other}",
            own.name
        );
    }
}
