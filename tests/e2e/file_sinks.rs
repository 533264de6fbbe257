//! Proves how file sinks name and lay out what they write, through the real `sluice` binary: a
//! sink dataset with only `folderPath` gets ADF's generated name (`Data.<GUID>.txt`, or
//! `<table>.txt` when a whole table is copied, from the `fileName` row of ADF's file system
//! and Azure Blob connector pages), or
//! `<fileNamePrefix>_00000<fileExtension>` when a prefix is set; a sink `fileName` with
//! wildcards is refused against the dataset's `location.fileName`; and
//! `DelimitedTextWriteSettings.quoteAllText` quotes every string value ("whether string values
//! should always be enclosed with quotes") and nothing else, checked byte for byte.

use std::path::Path;

use serde_json::{json, Value};
use sluice_e2e::*;

/// Linked services `Pg` and `Files` (on `root`), table dataset `Src` on `src`, a DelimitedText
/// dataset `Out` in folder `out` (`fileName` when given, other `typeProperties` in `extra`),
/// and pipeline `P` copying `Src` to `Out` with `sink`.
fn table_to_folder(
    db: &TestDb,
    root: &Path,
    file: Option<&str>,
    extra: Value,
    sink: Value,
) -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg").put(
        "linkedService",
        "Files",
        json!({"type": "FileServer", "typeProperties": {"host": root.to_str().unwrap()}}),
    );
    f.table("Src", "Pg", &db.schema, "src");
    f.file_dataset(
        "Out",
        "Files",
        "DelimitedText",
        json!({"type": "FileServerLocation", "folderPath": "out"}),
        file,
        extra,
    );
    let query = format!("SELECT * FROM {}.src ORDER BY id", db.schema);
    f.copy_pipeline(
        "P",
        "Src",
        "Out",
        json!({"type": "AzurePostgreSqlSource", "query": query}),
        sink,
    );
    f
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn folder_only_sink_gets_a_generated_or_prefixed_name() {
    let db = TestDb::new("fsink_name").await;
    db.exec("CREATE TABLE {s}.src (id int, name text); INSERT INTO {s}.src VALUES (1, 'ann'), (2, 'bob')")
        .await;
    let root = tempfile::tempdir().unwrap();
    let f = table_to_folder(
        &db,
        root.path(),
        None,
        json!({}),
        json!({"type": "DelimitedTextSink", "storeSettings": {"type": "FileServerWriteSettings"}}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let names = names_in(&root.path().join("out"));
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let guid = name
        .strip_prefix("Data.")
        .and_then(|n| n.strip_suffix(".txt"))
        .unwrap_or_else(|| panic!("not Data.<guid>.txt: {name}"));
    assert!(
        guid.len() == 36
            && guid.chars().filter(|c| *c == '-').count() == 4
            && guid.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
        "not a GUID: {guid}"
    );
    let got = std::fs::read(root.path().join("out").join(name)).unwrap();
    assert_eq!(got, b"1,ann\r\n2,bob\r\n");

    // With a prefix and an extension: ADF's <fileNamePrefix>_<fileIndex>.<fileExtension>.
    let root = tempfile::tempdir().unwrap();
    let f = table_to_folder(
        &db,
        root.path(),
        None,
        json!({"firstRowAsHeader": true}),
        json!({"type": "DelimitedTextSink",
               "formatSettings": {"type": "DelimitedTextWriteSettings", "fileNamePrefix": "export", "fileExtension": ".csv"}}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(names_in(&root.path().join("out")), ["export_00000.csv"]);
    let got = std::fs::read(root.path().join("out/export_00000.csv")).unwrap();
    assert_eq!(got, b"id,name\r\n1,ann\r\n2,bob\r\n");

    // From a whole table (no query): ADF's [table name].[format].
    let root = tempfile::tempdir().unwrap();
    let f = table_to_folder(
        &db,
        root.path(),
        None,
        json!({"compressionCodec": "gzip"}),
        json!({"type": "DelimitedTextSink"}),
    );
    f.copy_pipeline(
        "P",
        "Src",
        "Out",
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "DelimitedTextSink"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(names_in(&root.path().join("out")), ["src.txt.gz"]);
}

#[tokio::test]
async fn wildcard_sink_file_name_is_reported_against_the_location() {
    let db = TestDb::new("fsink_wild").await;
    db.exec("CREATE TABLE {s}.src (id int)").await;
    let root = tempfile::tempdir().unwrap();
    let f = table_to_folder(
        &db,
        root.path(),
        Some("*.csv"),
        json!({}),
        json!({"type": "DelimitedTextSink"}),
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    let all = run.all();
    assert!(
        all.contains("dataset 'Out'")
            && all.contains("typeProperties.location: property 'fileName'")
            && all.contains("wildcards")
            && !all.contains("sink.type"),
        "{all}"
    );
}

#[tokio::test]
async fn quote_all_text_quotes_every_string_and_nothing_else() {
    let db = TestDb::new("fsink_quote").await;
    db.exec(
        "CREATE TABLE {s}.src (id int, name text, note text, amount numeric);
         INSERT INTO {s}.src VALUES (1, 'ann', 'say \"hi\"', 1.5), (2, '', NULL, NULL)",
    )
    .await;
    let root = tempfile::tempdir().unwrap();
    let f = table_to_folder(
        &db,
        root.path(),
        Some("q.csv"),
        json!({"firstRowAsHeader": true}),
        json!({"type": "DelimitedTextSink",
               "formatSettings": {"type": "DelimitedTextWriteSettings", "quoteAllText": true, "fileExtension": ".csv"}}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let got = std::fs::read(root.path().join("out/q.csv")).unwrap();
    // Strings (and the header's names) quoted, the quote inside escaped with the dataset's
    // escapeChar (default `\`); the number, the integer and the NULLs (nullValue "") not.
    assert_eq!(
        String::from_utf8_lossy(&got),
        "\"id\",\"name\",\"note\",\"amount\"\r\n1,\"ann\",\"say \\\"hi\\\"\",1.5\r\n2,\"\",,\r\n"
    );

    // Without it, only what needs quotes is quoted.
    let f = table_to_folder(
        &db,
        root.path(),
        Some("q.csv"),
        json!({"firstRowAsHeader": true}),
        json!({"type": "DelimitedTextSink"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let got = std::fs::read(root.path().join("out/q.csv")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "id,name,note,amount\r\n1,ann,\"say \\\"hi\\\"\",1.5\r\n2,\"\",,\r\n"
    );
}
