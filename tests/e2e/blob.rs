//! Proves the Azure Blob Storage store against Azurite: wildcards and `$$FILEPATH` over blobs,
//! numbered sink files, and bad input (an unreachable endpoint, a missing container or blob, a
//! corrupt gzip or Parquet blob, a wrong key) failing with one clear error that names the
//! dataset and object, never shows the account key, and leaves no blob behind.

use std::time::Instant;

use serde_json::{json, Value};
use sluice_e2e::azurite::{Azurite, ACCOUNT_KEY};
use sluice_e2e::*;

/// A file dataset on `ls`; `path` is `container/folder`.
fn blob_ds(
    f: &TestFactory,
    name: &str,
    ls: &str,
    ty: &str,
    path: &str,
    file: Option<&str>,
    extra: Value,
) {
    let (container, folder) = path.split_once('/').unwrap_or((path, ""));
    let location =
        json!({"type": "AzureBlobStorageLocation", "container": container, "folderPath": folder});
    f.file_dataset(name, ls, ty, location, file, extra);
}

/// A clean failure (see [`assert_one_clean_error`]) that does not show the account key.
fn failed(run: &Run, needles: &[&str]) -> String {
    assert!(
        !run.all().contains(ACCOUNT_KEY),
        "the account key leaked: {}",
        run.all()
    );
    assert_one_clean_error(run, needles)
}

#[tokio::test]
async fn wildcards_filepath_and_numbered_files_on_blob() {
    let db = TestDb::new("blob_wild").await;
    let az = Azurite::start();
    az.create_container("data");
    az.put_blob("data", "in/2024/a.csv", b"id,name\n1,ann\n");
    az.put_blob("data", "in/2024/b.csv", b"id,name\n2,bee\n");
    az.put_blob("data", "in/2025/c.csv", b"id,name\n3,cy\n");
    az.put_blob("data", "in/2025/skip.txt", b"id,name\n9,no\n");
    db.exec(
        "CREATE TABLE {s}.dst (id int, name text, src text);
         CREATE TABLE {s}.src AS SELECT g AS id, 'n' || g AS name FROM generate_series(1, 25) g;
         CREATE TABLE {s}.back (id int, name text)",
    )
    .await;
    let f = TestFactory::new();
    f.local_pg("Pg");
    az.linked_service(&f, "Blob");
    f.table("Dst", "Pg", &db.schema, "dst");
    f.table("Src", "Pg", &db.schema, "src");
    f.table("Back", "Pg", &db.schema, "back");
    blob_ds(
        &f,
        "In",
        "Blob",
        "DelimitedText",
        "data/in",
        None,
        json!({"firstRowAsHeader": true}),
    );
    blob_ds(&f, "Parts", "Blob", "Json", "data/parts", None, json!({}));
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "Read", "type": "Copy",
             "inputs": [{"referenceName": "In", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Dst", "type": "DatasetReference"}],
             "typeProperties": {
                "source": {"type": "DelimitedTextSource",
                           "storeSettings": {"type": "AzureBlobStorageReadSettings", "recursive": true,
                                             "wildcardFolderPath": "in/202*", "wildcardFileName": "*.csv"},
                           "additionalColumns": [{"name": "src", "value": "$$FILEPATH"}]},
                "sink": {"type": "AzurePostgreSqlSink"}}},
            {"name": "Split", "type": "Copy", "dependsOn": [{"activity": "Read", "dependencyConditions": ["Succeeded"]}],
             "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Parts", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                "sink": {"type": "JsonSink", "storeSettings": {"type": "AzureBlobStorageWriteSettings"},
                         "formatSettings": {"type": "JsonWriteSettings", "maxRowsPerFile": 10, "fileNamePrefix": "rows"}}}},
            {"name": "Join", "type": "Copy", "dependsOn": [{"activity": "Split", "dependencyConditions": ["Succeeded"]}],
             "inputs": [{"referenceName": "Parts", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Back", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "JsonSource"}, "sink": {"type": "AzurePostgreSqlSink"}}}
        ]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE (id, name, src) IN ((1, 'ann', '2024/a.csv'), (2, 'bee', '2024/b.csv'), (3, 'cy', '2025/c.csv'))")
            .await,
        3
    );
    assert_eq!(db.count("dst").await, 3);
    let parts: Vec<String> = az
        .list_blobs("data")
        .into_iter()
        .filter(|b| b.starts_with("parts/"))
        .collect();
    assert_eq!(
        parts,
        [
            "parts/rows_00000.json",
            "parts/rows_00001.json",
            "parts/rows_00002.json"
        ]
    );
    assert_eq!(db.difference("src", "back", "*").await, 0);
    assert!(!run.all().contains(ACCOUNT_KEY));
}

#[tokio::test]
async fn bad_blob_input_fails_once_clearly() {
    let db = TestDb::new("blob_bad").await;
    let az = Azurite::start();
    az.create_container("data");
    az.put_blob("data", "in/bad.csv.gz", b"certainly not gzip");
    az.put_blob(
        "data",
        "in/bad.parquet",
        b"PAR1 not really parquet at all PAR1",
    );
    let mut quote = b"id,name\n".to_vec();
    for i in 0..20000 {
        quote.extend_from_slice(format!("{i},row {i}\n").as_bytes());
    }
    quote.extend_from_slice(b"20000,\"stray\n");
    az.put_blob("data", "in/quote.csv", &quote);
    db.exec("CREATE TABLE {s}.dst (id text, name text)").await;
    let f = TestFactory::new();
    f.local_pg("Pg");
    az.linked_service(&f, "Blob");
    f.table("Dst", "Pg", &db.schema, "dst");
    let pg_sink = json!({"type": "AzurePostgreSqlSink"});

    // A missing blob.
    blob_ds(
        &f,
        "In",
        "Blob",
        "DelimitedText",
        "data/in",
        Some("nope.csv"),
        json!({}),
    );
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "DelimitedTextSource"}),
        pg_sink.clone(),
    );
    failed(
        &run_factory(&f, &[]),
        &["dataset 'In'", "data/in/nope.csv", "not found"],
    );

    // A missing container.
    blob_ds(
        &f,
        "In",
        "Blob",
        "DelimitedText",
        "nosuch/in",
        None,
        json!({}),
    );
    failed(
        &run_factory(&f, &[]),
        &["dataset 'In'", "container 'nosuch'"],
    );

    // A corrupt gzip blob.
    blob_ds(
        &f,
        "In",
        "Blob",
        "DelimitedText",
        "data/in",
        Some("bad.csv.gz"),
        json!({"compressionCodec": "gzip"}),
    );
    failed(&run_factory(&f, &[]), &["data/in/bad.csv.gz", "gzip"]);

    // A corrupt Parquet blob.
    blob_ds(
        &f,
        "In",
        "Blob",
        "Parquet",
        "data/in",
        Some("bad.parquet"),
        json!({}),
    );
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "ParquetSource"}),
        pg_sink.clone(),
    );
    failed(&run_factory(&f, &[]), &["data/in/bad.parquet", "Parquet"]);

    // A stray quote in a blob copied to another blob: the target never appears.
    blob_ds(
        &f,
        "In",
        "Blob",
        "DelimitedText",
        "data/in",
        Some("quote.csv"),
        json!({"firstRowAsHeader": true}),
    );
    blob_ds(
        &f,
        "Out",
        "Blob",
        "DelimitedText",
        "data/out",
        Some("copy.csv"),
        json!({}),
    );
    f.copy_pipeline(
        "P",
        "In",
        "Out",
        json!({"type": "DelimitedTextSource"}),
        json!({"type": "DelimitedTextSink"}),
    );
    failed(
        &run_factory(&f, &[]),
        &[
            "data/in/quote.csv",
            "line 20002",
            "quoted value is not closed",
        ],
    );
    assert!(
        az.list_blobs("data").iter().all(|b| !b.starts_with("out/")),
        "a partial blob was left: {:?}",
        az.list_blobs("data")
    );

    // A sink into a missing container fails before any row moves.
    blob_ds(
        &f,
        "Out",
        "Blob",
        "DelimitedText",
        "nosuch/out",
        Some("copy.csv"),
        json!({}),
    );
    blob_ds(
        &f,
        "In",
        "Blob",
        "DelimitedText",
        "data/in",
        Some("quote.csv"),
        json!({}),
    );
    failed(
        &run_factory(&f, &[]),
        &["dataset 'Out'", "container 'nosuch'", "does not exist"],
    );

    // A wrong key: refused, and neither key is shown.
    let wrong = "d3Jvbmcga2V5IHdyb25nIGtleSB3cm9uZyBrZXk=";
    f.put(
        "linkedService",
        "Blob",
        json!({"type": "AzureBlobStorage", "typeProperties": {"connectionString":
            az.connection_string().replace(ACCOUNT_KEY, wrong)}}),
    );
    let run = run_factory(&f, &[]);
    failed(&run, &["data/in/quote.csv"]);
    assert!(
        !run.all().contains(wrong),
        "the wrong key leaked: {}",
        run.all()
    );
}

#[tokio::test]
async fn unreachable_endpoint_fails_fast_and_names_the_account() {
    let db = TestDb::new("blob_down").await;
    db.exec("CREATE TABLE {s}.dst (a text)").await;
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.put(
        "linkedService",
        "Blob",
        json!({"type": "AzureBlobStorage", "typeProperties": {"connectionString": {"type": "SecureString", "value":
            format!("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1")}}}),
    );
    f.table("Dst", "Pg", &db.schema, "dst");
    blob_ds(
        &f,
        "In",
        "Blob",
        "DelimitedText",
        "data/in",
        None,
        json!({}),
    );
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "DelimitedTextSource"}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    sluice_bin(); // build it (if needed) outside the timing
    let t = Instant::now();
    let run = run_factory(&f, &[]);
    let e = failed(
        &run,
        &["dataset 'In'", "storage account 'devstoreaccount1'"],
    );
    assert!(t.elapsed().as_secs() < 60, "took {:?}: {e}", t.elapsed());
}

#[tokio::test]
async fn sas_uri_reads_and_writes_without_showing_the_signature() {
    let db = TestDb::new("blob_sas").await;
    let az = Azurite::start();
    az.create_container("sas");
    az.put_blob("sas", "in/a.csv", b"id,name\n1,ann\n2,bee\n");
    db.exec("CREATE TABLE {s}.dst (id int, name text)").await;
    let sas = az.account_sas();
    let sig = sas.rsplit("sig=").next().unwrap().to_string();
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.put(
        "linkedService",
        "Sas",
        json!({"type": "AzureBlobStorage", "typeProperties": {
            "sasUri": {"type": "SecureString", "value": format!("{}?{sas}", az.endpoint())}}}),
    );
    f.table("Dst", "Pg", &db.schema, "dst");
    blob_ds(
        &f,
        "In",
        "Sas",
        "DelimitedText",
        "sas/in",
        Some("a.csv"),
        json!({"firstRowAsHeader": true}),
    );
    blob_ds(
        &f,
        "Out",
        "Sas",
        "Parquet",
        "sas/out",
        Some("a.parquet"),
        json!({}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "Read", "type": "Copy",
             "inputs": [{"referenceName": "In", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Dst", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "DelimitedTextSource"}, "sink": {"type": "AzurePostgreSqlSink"}}},
            {"name": "Write", "type": "Copy", "dependsOn": [{"activity": "Read", "dependencyConditions": ["Succeeded"]}],
             "inputs": [{"referenceName": "In", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Out", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "DelimitedTextSource"}, "sink": {"type": "ParquetSink"}}}
        ]}),
    );
    let run = run_factory(&f, &["-vv"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.count("dst").await, 2);
    assert!(az
        .get_blob("sas", "out/a.parquet")
        .unwrap()
        .starts_with(b"PAR1"));
    assert!(
        !run.all().contains(&sig),
        "the SAS signature leaked: {}",
        run.all()
    );

    // A missing blob through the SAS: the error shows no query string.
    blob_ds(
        &f,
        "In",
        "Sas",
        "DelimitedText",
        "sas/in",
        Some("nope.csv"),
        json!({}),
    );
    let run = run_factory(&f, &[]);
    let e = failed(&run, &["sas/in/nope.csv", "not found"]);
    assert!(
        !run.all().contains(&sig) && !e.contains("sig="),
        "{}",
        run.all()
    );
}
