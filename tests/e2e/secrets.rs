//! Azure Key Vault secrets and redaction, end to end: the real `sluice` binary reads
//! `AzureKeyVaultSecret` references from a local HTTPS Key Vault
//! ([`sluice_e2e::keyvault::FakeKeyVault`], trusted through `SSL_CERT_FILE`), signs in with
//! client credentials or a managed identity, and every secret it learned (Key Vault values, the
//! passwords inside them, the client secret, the access tokens) is searched for, verbatim,
//! JSON-escaped and URL-encoded, in everything the runs printed and wrote.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sluice::cli::pgcluster::{ClusterOptions, TempCluster};
use sluice::secrets::Secret;
use sluice_e2e::keyvault::FakeKeyVault;
use sluice_e2e::*;

/// A secret with characters that JSON and URLs escape (`"`, `\`, `@`).
fn awkward_secret(tag: &str) -> String {
    format!(
        "kv\"{tag}\\@{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn kv_ref(secret: &str, version: Option<&str>) -> Value {
    let mut r = json!({"type": "AzureKeyVaultSecret",
        "store": {"referenceName": "kv", "type": "LinkedServiceReference"},
        "secretName": secret});
    if let Some(v) = version {
        r["secretVersion"] = json!(v);
    }
    r
}

fn key_vault_ls(f: &TestFactory, name: &str, base_url: &str) {
    f.put(
        "linkedService",
        name,
        json!({"type": "AzureKeyVault", "typeProperties": {"baseUrl": base_url}}),
    );
}

fn lookup_pipeline(f: &TestFactory, name: &str, ls: &str, query: &str) {
    f.put(
        "dataset",
        &format!("{name}_ds"),
        json!({"type": "AzurePostgreSqlTable",
               "linkedServiceName": {"referenceName": ls, "type": "LinkedServiceReference"},
               "typeProperties": {}}),
    );
    f.put(
        "pipeline",
        name,
        json!({"activities": [{"name": "Look", "type": "Lookup", "typeProperties": {
            "source": {"type": "AzurePostgreSqlSource", "query": query},
            "dataset": {"referenceName": format!("{name}_ds"), "type": "DatasetReference"}}}]}),
    );
}

fn run_env(f: &TestFactory, pipeline: &str, env: &[(String, String)]) -> Run {
    let path = f.path().to_str().unwrap().to_string();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sluice_env(
        &[
            "run",
            &path,
            "--pipeline",
            pipeline,
            "--output",
            "json",
            "-v",
        ],
        &env,
    )
}

/// The spellings a secret may leak in.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let encoded: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    vec![
        secret.to_string(),
        json[1..json.len() - 1].to_string(),
        encoded,
    ]
}

/// Fails if any secret appears in `text` in any of its spellings.
fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        for form in forms(s) {
            assert!(
                !text.contains(&form),
                "{what} contains a secret (starting {:?}):\n{text}",
                &s[..6.min(s.len())]
            );
        }
    }
}

/// Every file under `dir`, searched for the secrets.
fn assert_files_clean(dir: &Path, secrets: &[String]) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += assert_files_clean(&path, secrets);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            assert_clean(
                &path.display().to_string(),
                &String::from_utf8_lossy(&bytes),
                secrets,
            );
            n += 1;
        }
    }
    n
}

fn all_secrets(vault: &FakeKeyVault, values: &[&str]) -> Vec<String> {
    let mut s: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    s.push(vault.client_secret.clone());
    s.extend(vault.tokens());
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_with_key_vault_secrets_fetching_each_once_and_printing_none() {
    let db = TestDb::new("kv_copy").await;
    db.exec("CREATE TABLE {s}.src (id int PRIMARY KEY, v text); CREATE TABLE {s}.dst (id int PRIMARY KEY, v text);
             INSERT INTO {s}.src SELECT g, 'row ' || g FROM generate_series(1, 500) g")
        .await;
    let vault = FakeKeyVault::start().unwrap();
    let pw1 = awkward_secret("conn");
    let conn = format!("{};Password={pw1}", local_connection_string());
    vault.set("pg-conn", &conn);
    // The password of the v2 linked service: an old version is referenced explicitly.
    let pw2 = awkward_secret("v1");
    let v1 = vault.set("pg-password", &pw2);
    let pw_current = awkward_secret("current");
    vault.set("pg-password", &pw_current);

    let (host, port) = ("127.0.0.1", 5432);
    let f = TestFactory::new();
    key_vault_ls(&f, "kv", &format!("{}/", vault.url));
    f.put(
        "linkedService",
        "pg",
        json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString": kv_ref("pg-conn", None)}}),
    );
    f.put(
        "linkedService",
        "pg2",
        json!({"type": "PostgreSqlV2", "typeProperties": {"server": host, "port": port,
            "database": "test", "username": "postgres", "sslMode": 0,
            "password": kv_ref("pg-password", Some(&v1))}}),
    );
    f.table("src", "pg", &db.schema, "src");
    f.table("dst", "pg2", &db.schema, "dst");
    let out = tempfile::tempdir().unwrap();
    f.put(
        "linkedService",
        "files",
        json!({"type": "FileServer", "typeProperties": {"host": out.path().to_str().unwrap()}}),
    );
    f.put(
        "dataset",
        "csv",
        json!({"type": "DelimitedText",
               "linkedServiceName": {"referenceName": "files", "type": "LinkedServiceReference"},
               "typeProperties": {"location": {"type": "FileServerLocation", "fileName": "rows.csv"},
                                  "columnDelimiter": ",", "firstRowAsHeader": true}}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "ToTable", "type": "Copy",
             "inputs": [{"referenceName": "src", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "dst", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                                "sink": {"type": "AzurePostgreSqlSink"}}},
            {"name": "ToCsv", "type": "Copy",
             "inputs": [{"referenceName": "src", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "csv", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                                "sink": {"type": "DelimitedTextSink"}}}]}),
    );

    let run = run_env(&f, "P", &vault.client_env());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.count("dst").await, 500);
    assert_eq!(
        std::fs::read_to_string(out.path().join("rows.csv"))
            .unwrap()
            .lines()
            .count(),
        501
    );
    // Each distinct secret once per run, one sign-in, although `pg` is used three times.
    let mut gets = vault.gets();
    gets.sort();
    assert_eq!(
        gets,
        vec![
            "/secrets/pg-conn".to_string(),
            format!("/secrets/pg-password/{v1}")
        ]
    );
    assert_eq!(vault.token_requests(), 1);
    assert!(
        run.stderr.contains("fetched secret 'pg-conn'"),
        "{}",
        run.stderr
    );

    let secrets = all_secrets(&vault, &[&pw1, &conn, &pw2, &pw_current]);
    assert_clean("stdout and stderr", &run.all(), &secrets);
    assert!(assert_files_clean(out.path(), &secrets) >= 1);
    assert_files_clean(f.path(), &secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_server_echoes_are_masked() {
    const USER: &str = "kv_user";
    let good = awkward_secret("good");
    let bad = awkward_secret("bad");
    let mut cluster = tokio::time::timeout(
        Duration::from_secs(180),
        TempCluster::start(ClusterOptions {
            password_user: Some((USER.to_string(), Secret::new(good.clone()))),
            fast: true,
            ..ClusterOptions::default()
        }),
    )
    .await
    .expect("starting a password-auth cluster timed out")
    .expect("cannot start a throw-away PostgreSQL cluster (initdb/pg_ctl of PostgreSQL 15 must be installed; see host/src/pgcluster.rs)");

    let vault = FakeKeyVault::start().unwrap();
    let old = vault.set("pg-pw", &bad);
    vault.set("pg-pw", &good);
    let f = TestFactory::new();
    key_vault_ls(&f, "kv", &vault.url);
    let ls = |name: &str, version: Option<&str>| {
        f.put(
            "linkedService",
            name,
            json!({"type": "PostgreSqlV2", "typeProperties": {"server": "127.0.0.1",
                "port": cluster.port(), "database": cluster.database(), "username": USER,
                "sslMode": 0, "password": kv_ref("pg-pw", version)}}),
        );
    };
    ls("pg_wrong", Some(&old));
    ls("pg_ok", None);
    lookup_pipeline(&f, "Wrong", "pg_wrong", "SELECT 1 AS one");
    lookup_pipeline(&f, "Ok", "pg_ok", "SELECT 1 AS one");
    // The server repeats the value in its message: invalid input syntax for type integer: "...".
    lookup_pipeline(&f, "Echo", "pg_ok", &format!("SELECT $${good}$$::int AS n"));

    let env = vault.client_env();
    let wrong = run_env(&f, "Wrong", &env);
    let ok = run_env(&f, "Ok", &env);
    let echo = run_env(&f, "Echo", &env);
    cluster.stop();

    assert_eq!(ok.code, 0, "{}", ok.all());
    assert_eq!(ok.json()["activities"][0]["output"]["firstRow"]["one"], 1);
    assert_ne!(wrong.code, 0);
    let e = first_error(&wrong);
    assert!(e.contains("password authentication failed"), "{e}");
    assert_ne!(echo.code, 0);
    let e = first_error(&echo);
    assert!(
        e.contains("invalid input syntax") && e.contains("**********"),
        "{e}"
    );

    let secrets = all_secrets(&vault, &[&good, &bad]);
    for run in [&wrong, &ok, &echo] {
        assert_clean("a run's stdout and stderr", &run.all(), &secrets);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_failures_name_the_vault_and_secret_and_hide_values() {
    let vault = FakeKeyVault::start().unwrap();
    let denied = awkward_secret("denied");
    vault.set("denied", &denied);
    vault.deny("denied");
    let disabled = awkward_secret("disabled");
    vault.add("disabled", &disabled, false);
    let good = format!(
        "{};Password={}",
        local_connection_string(),
        awkward_secret("ok")
    );
    vault.set("good", &good);

    let f = TestFactory::new();
    key_vault_ls(&f, "kv", &vault.url);
    key_vault_ls(&f, "kv_down", "https://127.0.0.1:1");
    for (name, secret, store) in [
        ("pg_denied", "denied", "kv"),
        ("pg_missing", "no-such-secret", "kv"),
        ("pg_disabled", "disabled", "kv"),
        ("pg_good", "good", "kv"),
        ("pg_down", "good", "kv_down"),
    ] {
        let mut r = kv_ref(secret, None);
        r["store"]["referenceName"] = json!(store);
        f.put(
            "linkedService",
            name,
            json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString": r}}),
        );
        lookup_pipeline(&f, name, name, "SELECT 1 AS one");
    }
    let env = vault.client_env();
    let mut wrong_secret = env.clone();
    wrong_secret[2].1 = "not-the-client-secret-1234".into();

    /// Pipeline, environment, what the error must say (nothing: the run succeeds).
    type Case<'a> = (&'a str, &'a [(String, String)], &'a [&'a str]);
    let cases: [Case; 6] = [
        (
            "pg_denied",
            &env,
            &["'denied'", "lacks the `get` permission", "Forbidden"],
        ),
        (
            "pg_missing",
            &env,
            &["'no-such-secret'", "does not exist", "SecretNotFound"],
        ),
        ("pg_disabled", &env, &["'disabled'", "is disabled"]),
        (
            "pg_down",
            &env,
            &["'good'", "cannot reach the vault", "https://127.0.0.1:1"],
        ),
        (
            "pg_good",
            &wrong_secret,
            &["'good'", "cannot get an access token", "invalid_client"],
        ),
        ("pg_good", &env, &[]),
    ];
    let mut secrets = vec![denied.clone(), disabled.clone(), good.clone()];
    secrets.push("not-the-client-secret-1234".into());
    for (pipeline, env, expected) in cases {
        let run = run_env(&f, pipeline, env);
        if expected.is_empty() {
            assert_eq!(run.code, 0, "{}", run.all());
            continue;
        }
        assert_ne!(run.code, 0, "{pipeline} should fail: {}", run.all());
        let e = first_error(&run);
        assert!(
            e.contains(&format!("linked service '{pipeline}'")) && e.contains("connectionString"),
            "the error must name the linked service and property: {e}"
        );
        assert!(e.contains("Azure Key Vault"), "{e}");
        for want in expected {
            assert!(e.contains(want), "{pipeline}: expected {want:?} in: {e}");
        }
        if pipeline != "pg_down" {
            assert!(e.contains(&vault.url), "{e}");
        }
        secrets.extend(vault.tokens());
        secrets.push(vault.client_secret.clone());
        assert_clean(pipeline, &run.all(), &secrets);
    }
}

/// Also: a parameterised Key Vault linked service (`baseUrl` from `linkedService()`), and a
/// secret name passed from the dataset through the PostgreSQL linked service's parameters.
#[test]
fn managed_identity_and_parameterised_references() {
    let vault = FakeKeyVault::start().unwrap();
    let conn = format!(
        "{};Password={}",
        local_connection_string(),
        awkward_secret("mi")
    );
    vault.set("pg-conn-mi", &conn);
    let f = TestFactory::new();
    f.put(
        "linkedService",
        "kv",
        json!({"type": "AzureKeyVault", "parameters": {"vault": {"type": "String"}},
               "typeProperties": {"baseUrl": "@{linkedService().vault}"}}),
    );
    f.put(
        "linkedService",
        "pg",
        json!({"type": "AzurePostgreSql", "parameters": {"secret": {"type": "String"}},
               "typeProperties": {"connectionString": {"type": "AzureKeyVaultSecret",
                   "store": {"referenceName": "kv", "type": "LinkedServiceReference",
                             "parameters": {"vault": vault.url}},
                   "secretName": {"value": "@linkedService().secret", "type": "Expression"}}}}),
    );
    f.put(
        "dataset",
        "ds",
        json!({"type": "AzurePostgreSqlTable",
               "linkedServiceName": {"referenceName": "pg", "type": "LinkedServiceReference",
                                     "parameters": {"secret": "pg-conn-mi"}},
               "typeProperties": {}}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Look", "type": "Lookup", "typeProperties": {
            "source": {"type": "AzurePostgreSqlSource", "query": "SELECT 41 + 1 AS answer"},
            "dataset": {"referenceName": "ds", "type": "DatasetReference"}}}]}),
    );
    let run = run_env(&f, "P", &vault.managed_identity_env());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.json()["activities"][0]["output"]["firstRow"]["answer"],
        42
    );
    assert_eq!(vault.token_requests(), 1);
    assert_eq!(vault.gets(), vec!["/secrets/pg-conn-mi".to_string()]);
    let mut secrets = all_secrets(&vault, &[&conn]);
    secrets.push(sluice_e2e::keyvault::IDENTITY_HEADER.into());
    assert_clean("stdout and stderr", &run.all(), &secrets);

    // validate accepts the parameterised references without connecting.
    let path = f.path().to_str().unwrap().to_string();
    let v = sluice(&["validate", &path]);
    assert_eq!(v.code, 0, "{}", v.all());
    assert_eq!(vault.gets().len(), 1);
}

#[test]
fn validate_checks_references_without_connecting() {
    let f = TestFactory::new();
    // Nothing listens here: validate must not try.
    key_vault_ls(&f, "kv", "https://vault.invalid");
    f.put(
        "linkedService",
        "pg",
        json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString": kv_ref("pg-conn", None)}}),
    );
    f.put(
        "linkedService",
        "pg2",
        json!({"type": "PostgreSqlV2", "typeProperties": {"server": "h", "database": "d",
            "username": "u", "password": kv_ref("pg-pw", Some("0123abcd"))}}),
    );
    lookup_pipeline(&f, "P", "pg", "SELECT 1");
    let path = f.path().to_str().unwrap().to_string();
    let ok = sluice(&["validate", &path]);
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(
        ok.stderr
            .contains("secret 'pg-conn' of linked service 'kv' is fetched when the pipeline runs"),
        "{}",
        ok.stderr
    );

    // Bad references: a store that is not a Key Vault, a dangling store, no secretName, a name
    // Key Vault would refuse, a plain-http vault.
    let mut not_kv = kv_ref("a", None);
    not_kv["store"]["referenceName"] = json!("pg2");
    let mut dangling = kv_ref("b", None);
    dangling["store"]["referenceName"] = json!("nowhere");
    let mut no_name = kv_ref("c", None);
    no_name.as_object_mut().unwrap().remove("secretName");
    for (name, r) in [
        ("bad_store", not_kv),
        ("bad_dangling", dangling),
        ("bad_no_name", no_name),
        ("bad_name", kv_ref("under_score", None)),
    ] {
        f.put(
            "linkedService",
            name,
            json!({"type": "AzurePostgreSql", "typeProperties": {"connectionString": r}}),
        );
    }
    key_vault_ls(&f, "kv_http", "http://vault.example");
    let bad = sluice(&["validate", &path]);
    assert_eq!(bad.code, 1, "{}", bad.all());
    let err = &bad.stderr;
    for want in [
        "store 'pg2' must be an AzureKeyVault linked service",
        "nowhere",
        "secretName is required",
        "\"under_score\" is not a Key Vault secret name",
        "linked service 'kv_http'",
        "https://",
    ] {
        assert!(err.contains(want), "expected {want:?} in:\n{err}");
    }
    // A run with a bad store fails before anything runs, naming it.
    lookup_pipeline(&f, "Bad", "bad_store", "SELECT 1");
    let run = sluice(&["run", &path, "--pipeline", "Bad"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("store 'pg2' must be an AzureKeyVault linked service"),
        "{}",
        run.stderr
    );
}
