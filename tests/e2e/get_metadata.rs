//! Proves the GetMetadata activity through the real `sluice` binary, with the output shapes of
//! ADF's "Get Metadata activity" page: a local folder's `childItems` (`{"name", "type"}`, and
//! only files modified in range when `modifiedDatetimeStart` is set), a file's `itemName`,
//! `size`, `lastModified` (ISO 8601), `contentMD5` (base64 MD5) and `structure`/`columnCount`
//! from its header; a PostgreSQL table's `structure` with ADF's type names; `exists: false`
//! for a missing file, folder or table (and a clear failure when `exists` is not asked); the
//! same on Blob Storage (Azurite), also for a Binary dataset; a Parquet file's structure; and
//! `validate` refusing a field a table or a Binary file does not have.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use sluice_e2e::azurite::Azurite;
use sluice_e2e::*;

fn files_ls(f: &TestFactory, name: &str, root: &Path) {
    f.put(
        "linkedService",
        name,
        json!({"type": "FileServer", "typeProperties": {"host": root.to_str().unwrap()}}),
    );
}

fn write(root: &Path, rel: &str, bytes: &[u8], age: Duration) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&p).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

/// A GetMetadata activity on `dataset` asking `fields`.
/// A GetMetadata activity on `dataset` asking `fields`, with `storeSettings` unless `store` is
/// null.
fn get_metadata(name: &str, dataset: &str, fields: &[&str], store: Value) -> Value {
    let mut a = json!({"name": name, "type": "GetMetadata", "typeProperties": {
        "dataset": {"referenceName": dataset, "type": "DatasetReference"},
        "fieldList": fields}});
    if !store.is_null() {
        a["typeProperties"]["storeSettings"] = store;
    }
    a
}

fn pipeline(f: &TestFactory, name: &str, activities: Vec<Value>) {
    f.put("pipeline", name, json!({"activities": activities}));
}

fn output<'a>(run: &'a Value, name: &str) -> &'a Value {
    &activity(run, name)["output"]
}

#[tokio::test]
async fn local_files_folders_and_missing_items() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let day = Duration::from_secs(86_400);
    write(r, "in/old.csv", b"id,name\n0,old\n", 10 * day);
    write(r, "in/new.csv", b"id,name\n1,ann\n2,bee\n", Duration::ZERO);
    std::fs::create_dir_all(r.join("in/sub")).unwrap();
    let f = TestFactory::new();
    files_ls(&f, "Files", r);
    let loc = json!({"type": "FileServerLocation", "folderPath": "in"});
    let header = json!({"firstRowAsHeader": true});
    f.file_dataset(
        "Folder",
        "Files",
        "DelimitedText",
        loc.clone(),
        None,
        header.clone(),
    );
    f.file_dataset(
        "New",
        "Files",
        "DelimitedText",
        loc.clone(),
        Some("new.csv"),
        header.clone(),
    );
    f.file_dataset(
        "Gone",
        "Files",
        "DelimitedText",
        loc.clone(),
        Some("gone.csv"),
        header.clone(),
    );
    let gone_folder = json!({"type": "FileServerLocation", "folderPath": "nowhere"});
    f.file_dataset(
        "GoneFolder",
        "Files",
        "DelimitedText",
        gone_folder,
        None,
        header,
    );
    let since = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    pipeline(
        &f,
        "P",
        vec![
            get_metadata(
                "Folder",
                "Folder",
                &["exists", "itemName", "itemType", "childItems"],
                json!({"type": "FileServerReadSettings"}),
            ),
            get_metadata(
                "Recent",
                "Folder",
                &["childItems"],
                json!({"type": "FileServerReadSettings", "modifiedDatetimeStart": since}),
            ),
            get_metadata(
                "File",
                "New",
                &[
                    "itemName",
                    "itemType",
                    "size",
                    "lastModified",
                    "contentMD5",
                    "structure",
                    "columnCount",
                ],
                json!({"type": "FileServerReadSettings"}),
            ),
            get_metadata(
                "Gone",
                "Gone",
                &["exists", "size"],
                json!({"type": "FileServerReadSettings"}),
            ),
            get_metadata(
                "GoneFolder",
                "GoneFolder",
                &["exists"],
                json!({"type": "FileServerReadSettings"}),
            ),
        ],
    );
    let run = run_factory(&f, &["--pipeline", "P"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let j = run.json();
    assert_eq!(
        output(&j, "Folder"),
        &json!({"exists": true, "itemName": "in", "itemType": "Folder", "childItems": [
            {"name": "new.csv", "type": "File"},
            {"name": "old.csv", "type": "File"},
            {"name": "sub", "type": "Folder"}]})
    );
    // Only files modified in range, and no folders (ADF's documented filter).
    assert_eq!(
        output(&j, "Recent")["childItems"],
        json!([{"name": "new.csv", "type": "File"}])
    );
    let file = output(&j, "File");
    assert_eq!(file["itemName"], "new.csv");
    assert_eq!(file["itemType"], "File");
    assert_eq!(file["size"], 20);
    // MD5 of "id,name\n1,ann\n2,bee\n", base64 (computed independently).
    assert_eq!(file["contentMD5"], "JFDDZ1xw63ttrzY2XYhKtg==");
    assert_eq!(
        file["structure"],
        json!([{"name": "id", "type": "String"}, {"name": "name", "type": "String"}])
    );
    assert_eq!(file["columnCount"], 2);
    let modified = file["lastModified"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(modified).unwrap();
    assert!(modified.ends_with('Z'), "{modified}");
    assert!((chrono::Utc::now() - parsed.with_timezone(&chrono::Utc)).num_minutes() < 10);
    // `exists` asked: a missing item is not a failure, and nothing else is reported.
    assert_eq!(output(&j, "Gone"), &json!({"exists": false}));
    assert_eq!(output(&j, "GoneFolder"), &json!({"exists": false}));

    // Without `exists`, a missing file fails naming it; a folder's `size` fails naming the field.
    pipeline(
        &f,
        "Missing",
        vec![get_metadata("Size", "Gone", &["size"], json!({}))],
    );
    let run = run_factory(&f, &["--pipeline", "Missing"]);
    assert_one_clean_error(&run, &["dataset 'Gone'", "in/gone.csv", "does not exist"]);
    pipeline(
        &f,
        "FolderSize",
        vec![get_metadata("Size", "Folder", &["size"], json!({}))],
    );
    let run = run_factory(&f, &["--pipeline", "FolderSize"]);
    assert_one_clean_error(&run, &["'size'", "folder 'in'"]);
}

#[tokio::test]
async fn postgres_table_structure_and_exists() {
    let db = TestDb::new("getmeta_pg").await;
    db.exec("CREATE TABLE {s}.t (id int, name text, amount numeric(10,2), at timestamptz, big bigint, ok boolean)")
        .await;
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.table("T", "Pg", &db.schema, "t");
    f.table("Missing", "Pg", &db.schema, "no_such_table");
    pipeline(
        &f,
        "P",
        vec![
            get_metadata(
                "T",
                "T",
                &["exists", "structure", "columnCount"],
                json!(null),
            ),
            get_metadata("Missing", "Missing", &["exists"], json!(null)),
        ],
    );
    let run = run_factory(&f, &["--pipeline", "P"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let j = run.json();
    assert_eq!(
        output(&j, "T"),
        &json!({"exists": true, "columnCount": 6, "structure": [
            {"name": "id", "type": "Int32"},
            {"name": "name", "type": "String"},
            {"name": "amount", "type": "Decimal"},
            {"name": "at", "type": "DateTime"},
            {"name": "big", "type": "Int64"},
            {"name": "ok", "type": "Boolean"}]})
    );
    assert_eq!(output(&j, "Missing"), &json!({"exists": false}));

    // A Parquet file's structure: written by a Copy from the table, read back by GetMetadata.
    db.exec("INSERT INTO {s}.t VALUES (1, 'a', 1.50, now(), 2, true)")
        .await;
    let root = tempfile::tempdir().unwrap();
    files_ls(&f, "Files", root.path());
    let loc = json!({"type": "FileServerLocation", "folderPath": "out"});
    f.file_dataset("Pq", "Files", "Parquet", loc, Some("t.parquet"), json!({}));
    f.put(
        "pipeline",
        "Pq",
        json!({"activities": [
            {"name": "Write", "type": "Copy",
             "inputs": [{"referenceName": "T", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Pq", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource"}, "sink": {"type": "ParquetSink"}}},
            {"name": "Meta", "type": "GetMetadata",
             "dependsOn": [{"activity": "Write", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"dataset": {"referenceName": "Pq", "type": "DatasetReference"},
                                "fieldList": ["columnCount", "structure"]}}]}),
    );
    let run = run_factory(&f, &["--pipeline", "Pq"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let meta = output(&run.json(), "Meta").clone();
    assert_eq!(meta["columnCount"], 6, "{meta}");
    let types: Vec<&str> = meta["structure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["Int32", "String", "Decimal", "DateTime", "Int64", "Boolean"]
    );

    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "S", "type": "GetMetadata", "typeProperties": {
            "dataset": {"referenceName": "Missing", "type": "DatasetReference"},
            "fieldList": ["structure"]}}]}),
    );
    let run = run_factory(&f, &["--pipeline", "P"]);
    assert_one_clean_error(
        &run,
        &["dataset 'Missing'", "no_such_table", "does not exist"],
    );

    // A field a table does not have is refused before anything runs.
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "S", "type": "GetMetadata", "typeProperties": {
            "dataset": {"referenceName": "T", "type": "DatasetReference"},
            "fieldList": ["childItems"]}}]}),
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.all().contains("fieldList") && run.all().contains("'childItems' does not apply"),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn blob_files_folders_and_missing_items() {
    let az = Azurite::start();
    az.create_container("data");
    az.put_blob("data", "in/a.txt", b"hello blob");
    az.put_blob("data", "in/deeper/b.txt", b"x");
    let f = TestFactory::new();
    az.linked_service(&f, "Blob");
    let at = |folder: &str| json!({"type": "AzureBlobStorageLocation", "container": "data", "folderPath": folder});
    let csv = json!({"firstRowAsHeader": false});
    f.file_dataset(
        "Folder",
        "Blob",
        "DelimitedText",
        at("in"),
        None,
        csv.clone(),
    );
    f.file_dataset(
        "A",
        "Blob",
        "DelimitedText",
        at("in"),
        Some("a.txt"),
        csv.clone(),
    );
    f.file_dataset(
        "Gone",
        "Blob",
        "DelimitedText",
        at("in"),
        Some("gone.txt"),
        csv.clone(),
    );
    f.file_dataset(
        "GoneFolder",
        "Blob",
        "DelimitedText",
        at("nothing/here"),
        None,
        csv,
    );
    let settings = json!({"type": "AzureBlobStorageReadSettings"});
    pipeline(
        &f,
        "P",
        vec![
            get_metadata(
                "Folder",
                "Folder",
                &["exists", "itemName", "itemType", "childItems"],
                settings.clone(),
            ),
            get_metadata(
                "A",
                "A",
                &["itemName", "size", "contentMD5", "lastModified"],
                settings.clone(),
            ),
            get_metadata("Gone", "Gone", &["exists"], settings.clone()),
            get_metadata(
                "GoneFolder",
                "GoneFolder",
                &["exists", "childItems"],
                settings,
            ),
        ],
    );
    let run = run_factory(&f, &["--pipeline", "P"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let j = run.json();
    assert_eq!(
        output(&j, "Folder"),
        &json!({"exists": true, "itemName": "in", "itemType": "Folder", "childItems": [
            {"name": "a.txt", "type": "File"},
            {"name": "deeper", "type": "Folder"}]})
    );
    let a = output(&j, "A");
    assert_eq!(a["itemName"], "a.txt");
    assert_eq!(a["size"], 10);
    // MD5 of "hello blob", base64 (computed independently).
    assert_eq!(a["contentMD5"], "d7BI/EKi9fb2czjYPjWmqw==");
    assert!(a["lastModified"].as_str().unwrap().ends_with('Z'), "{a}");
    assert_eq!(output(&j, "Gone"), &json!({"exists": false}));
    assert_eq!(output(&j, "GoneFolder"), &json!({"exists": false}));

    // A Binary dataset (ADF's usual one for GetMetadata) has metadata but no columns, and Copy
    // does not take it.
    f.file_dataset("Bin", "Blob", "Binary", at("in"), Some("a.txt"), json!({}));
    pipeline(
        &f,
        "P",
        vec![get_metadata(
            "Bin",
            "Bin",
            &["exists", "size"],
            json!({"type": "AzureBlobStorageReadSettings"}),
        )],
    );
    let run = run_factory(&f, &["--pipeline", "P"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        output(&run.json(), "Bin"),
        &json!({"exists": true, "size": 10})
    );
    pipeline(
        &f,
        "P",
        vec![get_metadata("Bin", "Bin", &["structure"], json!(null))],
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.all()
            .contains("'structure' is not supported for Binary dataset 'Bin'"),
        "{}",
        run.all()
    );
    f.copy_pipeline(
        "P",
        "Bin",
        "A",
        json!({"type": "BinarySource"}),
        json!({"type": "DelimitedTextSink"}),
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.all()
            .contains("Binary dataset, which Copy does not read or write"),
        "{}",
        run.all()
    );
}
