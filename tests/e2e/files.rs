//! Proves file sources and sinks on a local folder through the real `sluice` binary: wildcards,
//! whole folders read recursively in name order, `additionalColumns` with `$$FILEPATH`, numbered
//! files by `maxRowsPerFile`, gzip both ways; and that bad input (a missing file, a corrupt gzip
//! or Parquet file, a stray quote, files with different columns) fails with one clear error
//! naming the file, leaving no partial target behind.

use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};
use sluice_e2e::*;

fn files_ls(f: &TestFactory, name: &str, root: &Path) {
    f.put(
        "linkedService",
        name,
        json!({"type": "FileServer", "typeProperties": {"host": root.to_str().unwrap()}}),
    );
}

/// A file dataset `name` of type `ty` on linked service `Files`.
fn file_ds(f: &TestFactory, name: &str, ty: &str, folder: &str, file: Option<&str>, extra: Value) {
    let location = json!({"type": "FileServerLocation", "folderPath": folder});
    f.file_dataset(name, "Files", ty, location, file, extra);
}

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn setup(db: &TestDb) -> (TestFactory, tempfile::TempDir) {
    let f = TestFactory::new();
    let root = tempfile::tempdir().unwrap();
    f.local_pg("Pg");
    files_ls(&f, "Files", root.path());
    let _ = db;
    (f, root)
}

#[tokio::test]
async fn wildcards_recursion_and_additional_columns() {
    let db = TestDb::new("files_wild").await;
    let (f, root) = setup(&db);
    let r = root.path();
    write(r, "in/b.csv", b"id,name\n2,bee\n");
    write(r, "in/a.csv", b"id,name\n1,ann\n");
    write(r, "in/notes.txt", b"not,data\nx,y\n");
    write(r, "in/sub/c.csv", b"name,id\ncy,3\n"); // same columns, another order
    write(r, "other/d.csv", b"id,name\n4,dee\n");
    db.exec("CREATE TABLE {s}.dst (id int, name text, src text, tag text)")
        .await;
    file_ds(
        &f,
        "In",
        "DelimitedText",
        "in",
        None,
        json!({"firstRowAsHeader": true}),
    );
    f.table("Dst", "Pg", &db.schema, "dst");
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "DelimitedTextSource",
               "storeSettings": {"type": "FileServerReadSettings", "recursive": true, "wildcardFileName": "*.csv"},
               "formatSettings": {"type": "DelimitedTextReadSettings"},
               "additionalColumns": [{"name": "src", "value": "$$FILEPATH"}, {"name": "tag", "value": "batch-1"}]}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json())["rowsCopied"], 3);
    let got = db
        .query_i64("SELECT count(*) FROM {s}.dst WHERE (id, name, src, tag) IN ((1, 'ann', 'a.csv', 'batch-1'), (2, 'bee', 'b.csv', 'batch-1'), (3, 'cy', 'sub/c.csv', 'batch-1'))")
        .await;
    assert_eq!(got, 3);

    // Not recursive, wildcard folder: only other/d.csv.
    db.exec("TRUNCATE {s}.dst").await;
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "DelimitedTextSource",
               "storeSettings": {"type": "FileServerReadSettings", "recursive": false, "wildcardFolderPath": "oth*", "wildcardFileName": "*.csv"},
               "additionalColumns": [{"name": "src", "value": "$$FILEPATH"}]}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE id = 4 AND src = 'other/d.csv'")
            .await,
        1
    );
    assert_eq!(db.count("dst").await, 1);
}

#[tokio::test]
async fn max_rows_per_file_gzip_round_trip() {
    let db = TestDb::new("files_split").await;
    let (f, root) = setup(&db);
    db.exec(
        "CREATE TABLE {s}.src (id int, name text, amount numeric, at timestamptz);
         INSERT INTO {s}.src SELECT g, 'name ' || g || E' \"q\",\n', g * 1.5, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 2500) g;
         CREATE TABLE {s}.back (LIKE {s}.src)",
    )
    .await;
    f.table("Src", "Pg", &db.schema, "src");
    f.table("Back", "Pg", &db.schema, "back");
    file_ds(
        &f,
        "Parts",
        "DelimitedText",
        "out",
        None,
        json!({"firstRowAsHeader": true, "compressionCodec": "gzip"}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "Split", "type": "Copy",
             "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Parts", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                "sink": {"type": "DelimitedTextSink", "storeSettings": {"type": "FileServerWriteSettings"},
                         "formatSettings": {"type": "DelimitedTextWriteSettings", "maxRowsPerFile": 1000,
                                            "fileNamePrefix": "part", "fileExtension": ".csv"}}}},
            {"name": "Join", "type": "Copy", "dependsOn": [{"activity": "Split", "dependencyConditions": ["Succeeded"]}],
             "inputs": [{"referenceName": "Parts", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Back", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "DelimitedTextSource",
                    "storeSettings": {"type": "FileServerReadSettings", "wildcardFileName": "part_*.csv.gz"}},
                "sink": {"type": "AzurePostgreSqlSink"}}}
        ]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let mut names: Vec<String> = std::fs::read_dir(root.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "part_00000.csv.gz",
            "part_00001.csv.gz",
            "part_00002.csv.gz"
        ]
    );
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(root.path().join("out/part_00002.csv.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    assert!(
        text.starts_with("id,name,amount,at\r\n2001,"),
        "{}",
        &text[..60]
    );
    let out = &run.json()["activities"];
    let split = out
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["activityName"] == "Split")
        .unwrap();
    assert_eq!(split["output"]["rowsCopied"], 2500);
    let on_disk: u64 = names
        .iter()
        .map(|n| {
            std::fs::metadata(root.path().join("out").join(n))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(
        split["output"]["dataWritten"], on_disk,
        "dataWritten is the stored (compressed) size"
    );
    assert_eq!(db.difference("src", "back", "*").await, 0);
}

/// Copies `input` (a file dataset) into a CSV file target that already exists, expecting a
/// failure naming `needles`; the old target must be untouched and no temporary file left.
async fn fails_without_partial_target(
    f: &TestFactory,
    root: &Path,
    source: Value,
    needles: &[&str],
) -> String {
    write(root, "target/out.csv", b"old\r\n");
    file_ds(
        f,
        "Target",
        "DelimitedText",
        "target",
        Some("out.csv"),
        json!({}),
    );
    f.copy_pipeline(
        "P",
        "In",
        "Target",
        source,
        json!({"type": "DelimitedTextSink"}),
    );
    let run = run_factory(f, &[]);
    let e = assert_one_clean_error(&run, needles);
    assert_eq!(
        std::fs::read(root.join("target/out.csv")).unwrap(),
        b"old\r\n"
    );
    assert_eq!(
        std::fs::read_dir(root.join("target")).unwrap().count(),
        1,
        "temporary file left"
    );
    e
}

#[tokio::test]
async fn bad_files_fail_once_clearly_and_leave_no_partial_file() {
    let db = TestDb::new("files_bad").await;
    let (f, root) = setup(&db);
    let r = root.path();

    // A missing file.
    file_ds(&f, "In", "DelimitedText", "in", Some("nope.csv"), json!({}));
    fails_without_partial_target(
        &f,
        r,
        json!({"type": "DelimitedTextSource"}),
        &["dataset 'In'", "nope.csv", "cannot open"],
    )
    .await;

    // A stray quote: the quoted value runs to the end of the file. Many good rows come first,
    // so the sink has already written some before the error.
    let mut body = b"id,name\n".to_vec();
    for i in 0..20000 {
        body.extend_from_slice(format!("{i},row {i}\n").as_bytes());
    }
    body.extend_from_slice(b"20000,\"unterminated\n20001,x\n");
    write(r, "in/quote.csv", &body);
    file_ds(
        &f,
        "In",
        "DelimitedText",
        "in",
        Some("quote.csv"),
        json!({"firstRowAsHeader": true}),
    );
    fails_without_partial_target(
        &f,
        r,
        json!({"type": "DelimitedTextSource"}),
        &["quote.csv", "line 20002", "quoted value is not closed"],
    )
    .await;

    // A corrupt gzip file.
    write(r, "in/bad.csv.gz", b"this is not gzip data at all");
    file_ds(
        &f,
        "In",
        "DelimitedText",
        "in",
        Some("bad.csv.gz"),
        json!({"compressionCodec": "gzip"}),
    );
    fails_without_partial_target(
        &f,
        r,
        json!({"type": "DelimitedTextSource"}),
        &["bad.csv.gz", "gzip"],
    )
    .await;

    // A gzip file cut short.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, "1,a\n".repeat(50000).as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    write(r, "in/cut.csv.gz", &gz[..gz.len() / 2]);
    file_ds(
        &f,
        "In",
        "DelimitedText",
        "in",
        Some("cut.csv.gz"),
        json!({"compressionCodec": "gzip"}),
    );
    fails_without_partial_target(
        &f,
        r,
        json!({"type": "DelimitedTextSource"}),
        &["cut.csv.gz"],
    )
    .await;

    // A corrupt Parquet file, and one cut short.
    write(r, "in/bad.parquet", b"PAR1 definitely not parquet PAR0");
    file_ds(&f, "In", "Parquet", "in", Some("bad.parquet"), json!({}));
    fails_without_partial_target(
        &f,
        r,
        json!({"type": "ParquetSource"}),
        &["bad.parquet", "Parquet"],
    )
    .await;

    // Files read together with different columns: the error names both and the difference.
    write(r, "mixed/a.csv", b"id,name\n1,a\n");
    write(r, "mixed/b.csv", b"id,title\n2,b\n");
    file_ds(
        &f,
        "In",
        "DelimitedText",
        "mixed",
        None,
        json!({"firstRowAsHeader": true}),
    );
    fails_without_partial_target(
        &f,
        r,
        json!({"type": "DelimitedTextSource"}),
        &[
            "b.csv has columns (id, title)",
            "a.csv has (id, name)",
            "lacks name",
        ],
    )
    .await;

    // An empty folder.
    std::fs::create_dir_all(r.join("empty")).unwrap();
    file_ds(&f, "In", "DelimitedText", "empty", None, json!({}));
    fails_without_partial_target(
        &f,
        r,
        json!({"type": "DelimitedTextSource"}),
        &["has no files"],
    )
    .await;
}

#[tokio::test]
async fn definition_errors_name_the_property() {
    let db = TestDb::new("files_def").await;
    let (f, _root) = setup(&db);
    db.exec("CREATE TABLE {s}.dst (a text)").await;
    f.table("Dst", "Pg", &db.schema, "dst");
    file_ds(
        &f,
        "In",
        "DelimitedText",
        "in",
        None,
        json!({"compressionCodec": "bzip2"}),
    );
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "DelimitedTextSource"}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(
        run.all().contains("compressionCodec") && run.all().contains("bzip2"),
        "{}",
        run.all()
    );

    file_ds(&f, "In", "Json", "in", None, json!({}));
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert!(
        run.all().contains(
            "\"DelimitedTextSource\" cannot be used with dataset 'In' (Json); use JsonSource"
        ),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn skip_incompatible_rows_skips_rows_with_the_wrong_field_count() {
    let db = TestDb::new("files_skip").await;
    let (f, root) = setup(&db);
    write(
        root.path(),
        "in/a.csv",
        b"id,name\n1,ann\n2,bee,extra\n3,cy\n4\n5,dee\n",
    );
    db.exec("CREATE TABLE {s}.dst (id int, name text)").await;
    file_ds(
        &f,
        "In",
        "DelimitedText",
        "in",
        Some("a.csv"),
        json!({"firstRowAsHeader": true}),
    );
    f.table("Dst", "Pg", &db.schema, "dst");
    f.copy_pipeline_with(
        "P",
        "In",
        "Dst",
        json!({"source": {"type": "DelimitedTextSource"}, "sink": {"type": "AzurePostgreSqlSink"},
               "enableSkipIncompatibleRow": true, "validateDataConsistency": true}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = activity_output(&run.json()).clone();
    assert_eq!(out["rowsRead"], 5, "{out}");
    assert_eq!(out["rowsCopied"], 3, "{out}");
    assert_eq!(out["rowsSkipped"], 2, "{out}");
    let first = out["errors"][0]["Message"].as_str().unwrap_or_default();
    assert!(
        first.contains("a.csv: line 3 (row 2): found 3 fields, expected 2"),
        "{out}"
    );
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE id IN (1, 3, 5)")
            .await,
        3
    );

    // Without it, the same file fails on the first bad row.
    f.copy_pipeline(
        "P",
        "In",
        "Dst",
        json!({"type": "DelimitedTextSource"}),
        json!({"type": "AzurePostgreSqlSink"}),
    );
    let run = run_factory(&f, &[]);
    assert_one_clean_error(&run, &["a.csv: line 3 (row 2): found 3 fields, expected 2"]);
}
