//! Proves ADLS Gen2 (`AzureBlobFS`) and the Entra ID sign-ins of the Azure Storage linked
//! services against Azurite, with the real `sluice` binary:
//!
//! - `AzureBlobFS` with an account key: PostgreSQL -> Parquet and CSV in a file system
//!   (`AzureBlobFSLocation`, `AzureBlobFSWriteSettings`) and back (`AzureBlobFSReadSettings`),
//!   the blobs checked with Azurite's own API and the rows compared exactly;
//! - `AzureBlobFS` with `sasUri` + `sasToken`;
//! - `AzureBlobFS` with a service principal, and `AzureBlobStorage` with `serviceEndpoint` and
//!   the managed identity, over HTTPS Azurite started with `--oauth basic` (it then checks the
//!   bearer tokens' issuer, audience and lifetime), the tokens coming from the fake Entra ID /
//!   managed identity endpoints of [`sluice_e2e::keyvault::FakeKeyVault`] found through the
//!   same environment as the Key Vault client (`AZURE_AUTHORITY_HOST`, `IDENTITY_ENDPOINT`);
//! - wrong or missing properties failing with the linked service / dataset and the property
//!   named, and no secret (key, SAS signature, client secret, token) ever printed.
//!
//! Shapes: "Copy data to and from Azure Data Lake Storage Gen2" and "Copy and transform data
//! in Azure Blob Storage" (learn.microsoft.com, Azure Data Factory).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sluice_e2e::azurite::{Azurite, ACCOUNT_KEY};
use sluice_e2e::keyvault::{FakeKeyVault, CLIENT_ID, TENANT};
use sluice_e2e::*;

const STORAGE: &str = "https://storage.azure.com";

/// A file dataset in file system `fs` of ADLS linked service `ls`.
fn lake_ds(f: &TestFactory, name: &str, ls: &str, ty: &str, fs: &str, folder: &str, file: &str) {
    let extra = if ty == "DelimitedText" {
        json!({"firstRowAsHeader": true, "columnDelimiter": ","})
    } else {
        json!({})
    };
    f.file_dataset(
        name,
        ls,
        ty,
        json!({"type": "AzureBlobFSLocation", "fileSystem": fs, "folderPath": folder}),
        Some(file),
        extra,
    );
}

/// A Copy activity `name` from `input` to `output`, after `after` when given.
fn copy(
    name: &str,
    input: &str,
    output: &str,
    source: Value,
    sink: Value,
    after: Option<&str>,
) -> Value {
    let mut a = json!({"name": name, "type": "Copy",
        "inputs": [{"referenceName": input, "type": "DatasetReference"}],
        "outputs": [{"referenceName": output, "type": "DatasetReference"}],
        "typeProperties": {"source": source, "sink": sink}});
    if let Some(prev) = after {
        a["dependsOn"] = json!([{"activity": prev, "dependencyConditions": ["Succeeded"]}]);
    }
    a
}

fn pg_source() -> Value {
    json!({"type": "AzurePostgreSqlSource"})
}

fn pg_sink() -> Value {
    json!({"type": "AzurePostgreSqlSink"})
}

/// `src` (with NULLs and non-ASCII text) and empty `back1`, `back2` of the same shape.
async fn tables(db: &TestDb) {
    db.exec(
        "CREATE TABLE {s}.src (id int, name text, amount numeric(10,2));
         INSERT INTO {s}.src VALUES (1, 'ann', 10.50), (2, 'bée, \"q\"', NULL), (3, NULL, -3.25);
         CREATE TABLE {s}.back1 (LIKE {s}.src);
         CREATE TABLE {s}.back2 (LIKE {s}.src)",
    )
    .await;
}

/// PostgreSQL -> `out` (file dataset) -> `back` (table), as two Copy activities `W<n>`, `R<n>`.
fn round_trip(
    n: usize,
    out: &str,
    back: &str,
    source_type: &str,
    sink_type: &str,
    settings: &str,
    after: Option<&str>,
) -> [Value; 2] {
    let w = format!("W{n}");
    let r = format!("R{n}");
    [
        copy(
            &w,
            "Src",
            out,
            pg_source(),
            json!({"type": sink_type, "storeSettings": {"type": format!("{settings}WriteSettings")}}),
            after,
        ),
        copy(
            &r,
            out,
            back,
            json!({"type": source_type, "storeSettings": {"type": format!("{settings}ReadSettings"), "recursive": false}}),
            pg_sink(),
            Some(&w),
        ),
    ]
}

/// PG tables `Src`, `Back1`, `Back2` on `db`, and pipeline `P` copying `Src` through
/// `Out1` (Parquet) and `Out2` (CSV) into `Back1` and `Back2`.
fn factory(db: &TestDb, settings: &str) -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.table("Src", "Pg", &db.schema, "src");
    f.table("Back1", "Pg", &db.schema, "back1");
    f.table("Back2", "Pg", &db.schema, "back2");
    let mut activities = Vec::new();
    activities.extend(round_trip(
        1,
        "Out1",
        "Back1",
        "ParquetSource",
        "ParquetSink",
        settings,
        None,
    ));
    activities.extend(round_trip(
        2,
        "Out2",
        "Back2",
        "DelimitedTextSource",
        "DelimitedTextSink",
        settings,
        Some("R1"),
    ));
    f.put("pipeline", "P", json!({ "activities": activities }));
    f
}

async fn assert_rows_back(db: &TestDb) {
    assert_eq!(db.count("back1").await, 3);
    assert_eq!(db.difference("src", "back1", "*").await, 0);
    assert_eq!(db.count("back2").await, 3);
    assert_eq!(db.difference("src", "back2", "*").await, 0);
}

fn run_env(f: &TestFactory, env: &[(String, String)]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sluice_env(
        &["run", f.path().to_str().unwrap(), "--output", "json"],
        &env,
    )
}

/// One PEM file trusting both the token endpoint's and Azurite's test CAs (`SSL_CERT_FILE`).
fn ca_bundle(dir: &Path, vault: &FakeKeyVault, az: &Azurite) -> PathBuf {
    let mut pem = std::fs::read_to_string(&vault.ca_file).unwrap();
    pem.push('\n');
    pem.push_str(&std::fs::read_to_string(az.ca_file().expect("HTTPS Azurite")).unwrap());
    let path = dir.join("ca-bundle.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

/// The run printed none of `secrets`.
fn assert_hidden(run: &Run, secrets: &[&str]) {
    let all = run.all();
    for s in secrets {
        assert!(
            !s.is_empty() && !all.contains(s),
            "a secret leaked ({s}): {all}"
        );
    }
}

#[tokio::test]
async fn adls_account_key_round_trip_parquet_and_csv() {
    let db = TestDb::new("adls_key").await;
    tables(&db).await;
    let az = Azurite::start();
    az.create_container("lake");
    let f = factory(&db, "AzureBlobFS");
    f.put(
        "linkedService",
        "Lake",
        json!({"type": "AzureBlobFS", "typeProperties": {"url": az.endpoint(),
            "accountKey": {"type": "SecureString", "value": ACCOUNT_KEY}}}),
    );
    lake_ds(
        &f,
        "Out1",
        "Lake",
        "Parquet",
        "lake",
        "out/pq",
        "rows.parquet",
    );
    lake_ds(
        &f,
        "Out2",
        "Lake",
        "DelimitedText",
        "lake",
        "out/csv",
        "rows.csv",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_hidden(&run, &[ACCOUNT_KEY]);
    // What Azurite holds, read with its own API.
    assert_eq!(
        az.list_blobs("lake"),
        ["out/csv/rows.csv", "out/pq/rows.parquet"]
    );
    let parquet = az.get_blob("lake", "out/pq/rows.parquet").unwrap();
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));
    let csv = String::from_utf8(az.get_blob("lake", "out/csv/rows.csv").unwrap()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.first().copied(), Some("id,name,amount"), "{csv}");
    assert_eq!(lines.len(), 4, "{csv}");
    assert_eq!(lines[1], "1,ann,10.50", "{csv}");
    assert_rows_back(&db).await;
    let out = run.json();
    assert_eq!(activity(&out, "W1")["output"]["rowsCopied"], 3);
    assert_eq!(activity(&out, "R2")["output"]["rowsRead"], 3);
}

#[tokio::test]
async fn adls_sas_uri_with_separate_token() {
    let db = TestDb::new("adls_sas").await;
    tables(&db).await;
    let az = Azurite::start();
    az.create_container("fs1");
    let sas = az.account_sas();
    let sig = sas.split("sig=").nth(1).unwrap().to_string();
    let f = factory(&db, "AzureBlobFS");
    f.put(
        "linkedService",
        "Lake",
        json!({"type": "AzureBlobFS", "typeProperties": {
            "sasUri": {"type": "SecureString", "value": az.endpoint()},
            "sasToken": {"type": "SecureString", "value": sas}}}),
    );
    lake_ds(&f, "Out1", "Lake", "Parquet", "fs1", "", "a.parquet");
    lake_ds(
        &f,
        "Out2",
        "Lake",
        "DelimitedText",
        "fs1",
        "deep/er",
        "b.csv",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_hidden(&run, &[&sig]);
    assert_eq!(az.list_blobs("fs1"), ["a.parquet", "deep/er/b.csv"]);
    assert_rows_back(&db).await;

    // A SAS without the permission to write: refused by the service, the signature not shown.
    let read_only = sas.replace("sp=rwdlac", "sp=rl");
    f.put(
        "linkedService",
        "Lake",
        json!({"type": "AzureBlobFS", "typeProperties": {
            "sasUri": {"type": "SecureString", "value": format!("{}?{read_only}", az.endpoint())}}}),
    );
    let run = run_factory(&f, &[]);
    let e = assert_one_clean_error(&run, &["dataset 'Out1'", "container 'fs1'", "403"]);
    assert_hidden(&run, &[&sig]);
    assert!(!e.contains("sig="), "{e}");
}

#[tokio::test]
async fn adls_account_key_from_key_vault() {
    let db = TestDb::new("adls_kv").await;
    tables(&db).await;
    let vault = FakeKeyVault::start().unwrap();
    vault.set("lake-key", ACCOUNT_KEY);
    let az = Azurite::start();
    az.create_container("kvfs");
    let f = factory(&db, "AzureBlobFS");
    f.put(
        "linkedService",
        "kv",
        json!({"type": "AzureKeyVault", "typeProperties": {"baseUrl": vault.url}}),
    );
    f.put(
        "linkedService",
        "Lake",
        json!({"type": "AzureBlobFS", "typeProperties": {"url": az.endpoint(),
            "accountKey": {"type": "AzureKeyVaultSecret", "secretName": "lake-key",
                "store": {"referenceName": "kv", "type": "LinkedServiceReference"}}}}),
    );
    lake_ds(&f, "Out1", "Lake", "Parquet", "kvfs", "k", "rows.parquet");
    lake_ds(&f, "Out2", "Lake", "DelimitedText", "kvfs", "k", "rows.csv");
    // `validate` checks the reference without fetching it.
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(vault.gets().is_empty());
    let run = run_env(&f, &vault.client_env());
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(vault.gets(), ["/secrets/lake-key"]);
    assert_eq!(az.list_blobs("kvfs"), ["k/rows.csv", "k/rows.parquet"]);
    assert_rows_back(&db).await;
    assert_hidden(&run, &[ACCOUNT_KEY, &vault.client_secret]);
}

#[tokio::test]
async fn adls_service_principal_over_https_azurite() {
    let db = TestDb::new("adls_sp").await;
    tables(&db).await;
    let vault = FakeKeyVault::start().unwrap();
    let az = Azurite::start_oauth();
    az.create_container("lake");
    let f = factory(&db, "AzureBlobFS");
    let bundle = ca_bundle(f.path(), &vault, &az);
    let lake = |key: &str| {
        json!({"type": "AzureBlobFS", "typeProperties": {"url": az.endpoint(),
            "servicePrincipalId": CLIENT_ID, "tenant": TENANT,
            "servicePrincipalCredentialType": "ServicePrincipalKey",
            "servicePrincipalCredential": {"type": "SecureString", "value": key}}})
    };
    f.put("linkedService", "Lake", lake(&vault.client_secret));
    lake_ds(&f, "Out1", "Lake", "Parquet", "lake", "sp", "rows.parquet");
    lake_ds(
        &f,
        "Out2",
        "Lake",
        "DelimitedText",
        "lake",
        "sp",
        "rows.csv",
    );
    let env = vec![
        ("AZURE_AUTHORITY_HOST".to_string(), vault.url.clone()),
        ("SSL_CERT_FILE".to_string(), bundle.display().to_string()),
    ];
    let run = run_env(&f, &env);
    assert_eq!(run.code, 0, "{}", run.all());
    // Tokens for Azure Storage were requested from the Entra ID endpoint (one client per
    // dataset access, each signing in once), and Azurite accepted them.
    let audiences = vault.token_audiences();
    assert!(
        !audiences.is_empty() && audiences.iter().all(|a| a == STORAGE),
        "{audiences:?}"
    );
    assert_eq!(az.list_blobs("lake"), ["sp/rows.csv", "sp/rows.parquet"]);
    assert_rows_back(&db).await;
    let tokens = vault.tokens();
    let mut hidden: Vec<&str> = tokens.iter().map(String::as_str).collect();
    hidden.push(&vault.client_secret);
    assert_hidden(&run, &hidden);

    // A wrong client secret: Entra ID refuses it, the run fails naming the file, and neither
    // secret is shown.
    let wrong = "wrong-secret-5d1e0c";
    f.put("linkedService", "Lake", lake(wrong));
    let before = vault.token_requests();
    let run = run_env(&f, &env);
    assert_one_clean_error(
        &run,
        &[
            "dataset 'Out1'",
            "container 'lake'",
            "token request",
            "invalid_client",
        ],
    );
    assert!(vault.token_requests() > before);
    assert_hidden(&run, &[wrong, &vault.client_secret]);
}

#[tokio::test]
async fn blob_service_endpoint_with_managed_identity_and_service_principal() {
    let db = TestDb::new("blob_mi").await;
    tables(&db).await;
    let vault = FakeKeyVault::start().unwrap();
    let az = Azurite::start_oauth();
    az.create_container("data");
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.table("Src", "Pg", &db.schema, "src");
    f.table("Back1", "Pg", &db.schema, "back1");
    f.table("Back2", "Pg", &db.schema, "back2");
    // Managed identity: a service endpoint and no credentials.
    f.put(
        "linkedService",
        "Mi",
        json!({"type": "AzureBlobStorage", "typeProperties": {
            "serviceEndpoint": format!("{}/", az.endpoint()), "accountKind": "StorageV2"}}),
    );
    // Service principal on the same endpoint.
    f.put(
        "linkedService",
        "Sp",
        json!({"type": "AzureBlobStorage", "typeProperties": {
            "serviceEndpoint": az.endpoint(), "accountKind": "StorageV2",
            "servicePrincipalId": CLIENT_ID, "tenant": TENANT,
            "servicePrincipalKey": {"type": "SecureString", "value": vault.client_secret}}}),
    );
    for (name, ls, ty, file) in [
        ("Out1", "Mi", "Parquet", "mi.parquet"),
        ("Out2", "Sp", "DelimitedText", "sp.csv"),
    ] {
        f.file_dataset(
            name,
            ls,
            ty,
            json!({"type": "AzureBlobStorageLocation", "container": "data", "folderPath": "ep"}),
            Some(file),
            json!({"firstRowAsHeader": true}),
        );
    }
    let mut activities = Vec::new();
    activities.extend(round_trip(
        1,
        "Out1",
        "Back1",
        "ParquetSource",
        "ParquetSink",
        "AzureBlobStorage",
        None,
    ));
    activities.extend(round_trip(
        2,
        "Out2",
        "Back2",
        "DelimitedTextSource",
        "DelimitedTextSink",
        "AzureBlobStorage",
        Some("R1"),
    ));
    f.put("pipeline", "P", json!({ "activities": activities }));
    let bundle = ca_bundle(f.path(), &vault, &az);
    let mut env = vault.managed_identity_env();
    env.retain(|(k, _)| k != "SSL_CERT_FILE");
    env.push(("SSL_CERT_FILE".into(), bundle.display().to_string()));
    env.push(("AZURE_AUTHORITY_HOST".into(), vault.url.clone()));
    // A user-assigned identity chosen as for the Key Vault client.
    env.push(("AZURE_CLIENT_ID".into(), CLIENT_ID.into()));
    let run = run_env(&f, &env);
    assert_eq!(run.code, 0, "{}", run.all());
    let ids = vault.msi_client_ids();
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i.as_deref() == Some(CLIENT_ID)),
        "{ids:?}"
    );
    let audiences = vault.token_audiences();
    assert!(
        audiences.len() >= 2 && audiences.iter().all(|a| a == STORAGE),
        "{audiences:?}"
    );
    assert_eq!(az.list_blobs("data"), ["ep/mi.parquet", "ep/sp.csv"]);
    assert_rows_back(&db).await;
    let tokens = vault.tokens();
    let mut hidden: Vec<&str> = tokens.iter().map(String::as_str).collect();
    hidden.push(&vault.client_secret);
    hidden.push(sluice_e2e::keyvault::IDENTITY_HEADER);
    assert_hidden(&run, &hidden);

    // Without a token, HTTPS Azurite refuses the request: the identity endpoint rejects a
    // wrong identity header, and the run fails on the first blob, cleanly.
    let env: Vec<(String, String)> = env
        .into_iter()
        .map(|(k, v)| {
            if k == "IDENTITY_HEADER" {
                (k, "not-the-header".to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    let run = run_env(&f, &env);
    assert_one_clean_error(
        &run,
        &["dataset 'Out1'", "container 'data'", "token request", "401"],
    );
}

/// A failed `sluice validate` without a panic whose output holds every needle.
fn refused(f: &TestFactory, needles: &[&str], secrets: &[&str]) {
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "must fail: {}", run.all());
    let all = run.all();
    assert!(!all.contains("panicked"), "no panic: {all}");
    for n in needles {
        assert!(all.contains(n), "expected {n:?} in:\n{all}");
    }
    assert_hidden(&run, secrets);
}

#[tokio::test]
async fn bad_adls_definitions_name_the_property() {
    let db = TestDb::new("adls_bad").await;
    tables(&db).await;
    let f = factory(&db, "AzureBlobFS");
    lake_ds(&f, "Out1", "Lake", "Parquet", "lake", "x", "a.parquet");
    lake_ds(&f, "Out2", "Lake", "DelimitedText", "lake", "x", "b.csv");
    let key = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LXNob3c=";
    let ls = |tp: Value| json!({"type": "AzureBlobFS", "typeProperties": tp});
    let cases = [
        (
            ls(json!({"accountKey": key})),
            vec!["linked service 'Lake'", "'url'", "required"],
        ),
        (
            ls(json!({"url": "https://contoso.example.com", "accountKey": key})),
            vec!["linked service 'Lake'", "'url'", "names no storage account"],
        ),
        (
            ls(
                json!({"url": "https://acme.dfs.core.windows.net", "servicePrincipalId": CLIENT_ID,
                "servicePrincipalKey": {"type": "SecureString", "value": key}}),
            ),
            vec!["linked service 'Lake'", "'tenant'"],
        ),
        (
            ls(
                json!({"url": "https://acme.dfs.core.windows.net", "servicePrincipalId": CLIENT_ID, "tenant": TENANT,
                "servicePrincipalCredentialType": "ServicePrincipalCert",
                "servicePrincipalCredential": {"type": "SecureString", "value": key}}),
            ),
            vec![
                "linked service 'Lake'",
                "'servicePrincipalCredentialType'",
                "ServicePrincipalCert",
            ],
        ),
        (
            ls(
                json!({"url": "https://acme.dfs.core.windows.net", "servicePrincipalId": CLIENT_ID, "tenant": TENANT,
                "servicePrincipalKey": {"type": "SecureString", "value": key}, "azureCloudType": "AzureMoon"}),
            ),
            vec!["linked service 'Lake'", "'azureCloudType'", "AzureMoon"],
        ),
    ];
    for (def, needles) in cases {
        f.put("linkedService", "Lake", def);
        refused(&f, &needles, &[key]);
    }

    // A good linked service, but a dataset location of the wrong type or without fileSystem.
    f.put(
        "linkedService",
        "Lake",
        ls(json!({"url": "https://acme.dfs.core.windows.net", "accountKey": {"type": "SecureString", "value": key}})),
    );
    f.file_dataset(
        "Out1",
        "Lake",
        "Parquet",
        json!({"type": "AzureBlobStorageLocation", "container": "lake"}),
        Some("a.parquet"),
        json!({}),
    );
    refused(
        &f,
        &["dataset 'Out1'", "'type'", "AzureBlobFSLocation"],
        &[key],
    );
    f.file_dataset(
        "Out1",
        "Lake",
        "Parquet",
        json!({"type": "AzureBlobFSLocation", "folderPath": "x"}),
        Some("a.parquet"),
        json!({}),
    );
    refused(&f, &["dataset 'Out1'", "'fileSystem'", "required"], &[key]);

    // AzureBlobStorage with a service endpoint and a user-assigned identity.
    f.put(
        "linkedService",
        "Lake",
        json!({"type": "AzureBlobStorage", "typeProperties": {"serviceEndpoint": "https://acme.blob.core.windows.net/",
            "credential": {"referenceName": "uami", "type": "CredentialReference"}}}),
    );
    refused(&f, &["linked service 'Lake'", "'credential'"], &[key]);
}
