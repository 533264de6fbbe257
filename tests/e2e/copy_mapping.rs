//! Proves the Copy activity's `TabularTranslator` through the real `sluice` binary, in the
//! shapes ADF's "Schema and data type mapping in copy activity" documents: mappings by 1-based
//! `ordinal` for delimited text without a header line (source side, and sink side for a
//! headerless delimited sink), by ADF's generated `Prop_<n>` names, clear errors for mixed
//! and out-of-range ordinals; and `typeConversion` with `typeConversionSettings` (.NET date
//! and time formats, `culture` number notation, `treatBooleanAsNumber`,
//! `allowDataTruncation` both ways) loading text files into typed PostgreSQL columns.

use std::path::Path;

use serde_json::{json, Value};
use sluice_e2e::*;

/// Linked services `Pg` and `Files` (on `root`), a headerless CSV dataset `In` at
/// `in/data.csv` holding `csv`, the table dataset `Dst` on `dst`, and pipeline `P` copying
/// `In` to `Dst` with `translator`.
fn csv_to_table(db: &TestDb, root: &Path, csv: &[u8], translator: Value) -> TestFactory {
    std::fs::create_dir_all(root.join("in")).unwrap();
    std::fs::write(root.join("in/data.csv"), csv).unwrap();
    let f = TestFactory::new();
    f.local_pg("Pg").put(
        "linkedService",
        "Files",
        json!({"type": "FileServer", "typeProperties": {"host": root.to_str().unwrap()}}),
    );
    f.file_dataset(
        "In",
        "Files",
        "DelimitedText",
        json!({"type": "FileServerLocation", "folderPath": "in"}),
        Some("data.csv"),
        json!({"firstRowAsHeader": false}),
    );
    f.table("Dst", "Pg", &db.schema, "dst");
    f.copy_pipeline_with(
        "P",
        "In",
        "Dst",
        json!({"source": {"type": "DelimitedTextSource"},
               "sink": {"type": "AzurePostgreSqlSink"},
               "translator": translator}),
    );
    f
}

#[tokio::test]
async fn headerless_csv_maps_by_ordinal_and_by_prop_names() {
    let db = TestDb::new("cmap_ord").await;
    db.exec("CREATE TABLE {s}.dst (id int, name text, city text)")
        .await;
    let root = tempfile::tempdir().unwrap();
    // Columns in the file: city, id, name; the translator puts them in place by ordinal.
    let f = csv_to_table(
        &db,
        root.path(),
        b"Oslo,1,ann\r\nRome,2,bob\r\n",
        json!({"type": "TabularTranslator", "mappings": [
            {"source": {"type": "String", "ordinal": 2}, "sink": {"name": "id", "type": "Int32"}},
            {"source": {"type": "String", "ordinal": 3}, "sink": {"name": "name"}},
            {"source": {"type": "String", "ordinal": 1}, "sink": {"name": "city"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json())["rowsCopied"], 2);
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE (id, name, city) IN ((1, 'ann', 'Oslo'), (2, 'bob', 'Rome'))")
            .await,
        2
    );

    // The same by ADF's names for the columns of a file without a header line.
    db.exec("TRUNCATE {s}.dst").await;
    let f = csv_to_table(
        &db,
        root.path(),
        b"Oslo,1,ann\r\n",
        json!({"type": "TabularTranslator", "mappings": [
            {"source": {"name": "Prop_1"}, "sink": {"name": "id"}},
            {"source": {"name": "Prop_2"}, "sink": {"name": "name"}},
            {"source": {"name": "Prop_0"}, "sink": {"name": "city"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.dst WHERE (id, name, city) = (1, 'ann', 'Oslo')")
            .await,
        1
    );
}

#[tokio::test]
async fn bad_ordinals_name_the_mapping_and_property() {
    let db = TestDb::new("cmap_bad").await;
    db.exec("CREATE TABLE {s}.dst (id int, name text)").await;
    let root = tempfile::tempdir().unwrap();
    // Out of range: known only once the file's columns are.
    let f = csv_to_table(
        &db,
        root.path(),
        b"1,ann\r\n",
        json!({"type": "TabularTranslator", "mappings": [
            {"source": {"ordinal": 1}, "sink": {"name": "id"}},
            {"source": {"ordinal": 5}, "sink": {"name": "name"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_one_clean_error(
        &run,
        &[
            "translator.mappings[1].source.ordinal",
            "5 is out of range",
            "2 columns",
        ],
    );
    assert_eq!(db.count("dst").await, 0);

    // Mixed: one mapping by ordinal, the next by name.
    let f = csv_to_table(
        &db,
        root.path(),
        b"1,ann\r\n",
        json!({"type": "TabularTranslator", "mappings": [
            {"source": {"ordinal": 1}, "sink": {"name": "id"}},
            {"source": {"name": "Prop_1"}, "sink": {"name": "name"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let all = run.all();
    assert!(
        all.contains("translator.mappings[1].source")
            && all.contains("mapping 1 selects its source column by name"),
        "{all}"
    );

    // Zero is not an ordinal.
    let f = csv_to_table(
        &db,
        root.path(),
        b"1,ann\r\n",
        json!({"type": "TabularTranslator", "mappings": [
            {"source": {"ordinal": 0}, "sink": {"name": "id"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let all = run.all();
    assert!(
        all.contains("translator.mappings[0].source")
            && all.contains("'ordinal'")
            && all.contains("1 or more"),
        "{all}"
    );
}

#[tokio::test]
async fn sink_ordinals_place_columns_of_a_headerless_csv() {
    let db = TestDb::new("cmap_sink").await;
    db.exec("CREATE TABLE {s}.src (id int, name text, city text); INSERT INTO {s}.src VALUES (1, 'ann', 'Oslo'), (2, 'bob', NULL)")
        .await;
    let root = tempfile::tempdir().unwrap();
    let f = TestFactory::new();
    f.local_pg("Pg").put(
        "linkedService",
        "Files",
        json!({"type": "FileServer", "typeProperties": {"host": root.path().to_str().unwrap()}}),
    );
    f.table("Src", "Pg", &db.schema, "src");
    f.file_dataset(
        "Out",
        "Files",
        "DelimitedText",
        json!({"type": "FileServerLocation", "folderPath": "out"}),
        Some("people.csv"),
        json!({"firstRowAsHeader": false}),
    );
    f.copy_pipeline_with(
        "P",
        "Src",
        "Out",
        json!({"source": {"type": "AzurePostgreSqlSource", "query": "SELECT * FROM {s}.src ORDER BY id".replace("{s}", &db.schema)},
               "sink": {"type": "DelimitedTextSink"},
               "translator": {"type": "TabularTranslator", "mappings": [
                   {"source": {"name": "id"}, "sink": {"ordinal": 3}},
                   {"source": {"name": "name"}, "sink": {"ordinal": 1}},
                   {"source": {"name": "city"}, "sink": {"ordinal": 2}}]}}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let got = std::fs::read(root.path().join("out/people.csv")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "ann,Oslo,1\r\nbob,,2\r\n",
        "name, city, id by sink ordinal"
    );
}

#[tokio::test]
async fn type_conversion_settings_read_text_into_typed_columns() {
    let db = TestDb::new("cmap_conv").await;
    db.exec(
        "CREATE TABLE {s}.dst (code varchar(5), amount numeric(12,2), flag int, seen timestamp,
                               born date, at timestamptz, took interval)",
    )
    .await;
    let root = tempfile::tempdir().unwrap();
    let csv =
        "ABCDEFG;1.234,5;true;31/12/2024 13:45;05.03.2024;2024-06-01 08:00 +02:00;01.02:03:04\r\n\
               XY;-7,25;false;01/01/2025 00:00;29.02.2024;2024-06-01 08:00 -05:30;00.00:00:01\r\n";
    let settings = |truncate: bool| {
        json!({"type": "TabularTranslator", "typeConversion": true,
               "typeConversionSettings": {"allowDataTruncation": truncate, "treatBooleanAsNumber": true,
                   "dateTimeFormat": "dd/MM/yyyy HH:mm", "dateFormat": "dd.MM.yyyy",
                   "dateTimeOffsetFormat": "yyyy-MM-dd HH:mm zzz", "timeSpanFormat": "dd\\.hh\\:mm\\:ss",
                   "culture": "de-DE"},
               "mappings": [
                   {"source": {"ordinal": 1}, "sink": {"name": "code"}},
                   {"source": {"ordinal": 2}, "sink": {"name": "amount"}},
                   {"source": {"ordinal": 3}, "sink": {"name": "flag"}},
                   {"source": {"ordinal": 4}, "sink": {"name": "seen"}},
                   {"source": {"ordinal": 5}, "sink": {"name": "born"}},
                   {"source": {"ordinal": 6}, "sink": {"name": "at"}},
                   {"source": {"ordinal": 7}, "sink": {"name": "took"}}]})
    };
    let f = csv_to_table(&db, root.path(), csv.as_bytes(), settings(true));
    // The dataset's delimiter is ';' (the German culture writes ',' as its decimal point).
    f.file_dataset(
        "In",
        "Files",
        "DelimitedText",
        json!({"type": "FileServerLocation", "folderPath": "in"}),
        Some("data.csv"),
        json!({"firstRowAsHeader": false, "columnDelimiter": ";"}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json())["rowsCopied"], 2);
    assert_eq!(
        db.query_i64(
            "SELECT count(*) FROM {s}.dst WHERE code = 'ABCDE' AND amount = 1234.50 AND flag = 1
               AND seen = '2024-12-31 13:45' AND born = '2024-03-05'
               AND at = '2024-06-01 06:00:00+00' AND took = interval '1 day 02:03:04'"
        )
        .await,
        1,
        "row 1: truncated, German number, true as 1, .NET formats"
    );
    assert_eq!(
        db.query_i64(
            "SELECT count(*) FROM {s}.dst WHERE code = 'XY' AND amount = -7.25 AND flag = 0
               AND seen = '2025-01-01 00:00' AND born = '2024-02-29'
               AND at = '2024-06-01 13:30:00+00' AND took = interval '1 second'"
        )
        .await,
        1,
        "row 2"
    );

    // Without truncation the long code fails the copy, naming the setting, row and column.
    db.exec("TRUNCATE {s}.dst").await;
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(f.path().join("pipeline/P.json")).unwrap())
            .unwrap();
    v["properties"]["activities"][0]["typeProperties"]["translator"] = settings(false);
    std::fs::write(f.path().join("pipeline/P.json"), v.to_string()).unwrap();
    let run = run_factory(&f, &[]);
    assert_one_clean_error(
        &run,
        &[
            "typeConversionSettings.allowDataTruncation",
            "row 1",
            "column \"code\"",
            "7 characters",
            "character varying(5)",
        ],
    );
    assert_eq!(db.count("dst").await, 0);
}

#[tokio::test]
async fn text_that_misses_the_format_fails_clearly_and_settings_need_type_conversion() {
    let db = TestDb::new("cmap_fmt").await;
    db.exec("CREATE TABLE {s}.dst (seen timestamp)").await;
    let root = tempfile::tempdir().unwrap();
    let f = csv_to_table(
        &db,
        root.path(),
        b"31/12/2024 13:45\r\n2024-12-31\r\n",
        json!({"type": "TabularTranslator", "typeConversion": true,
               "typeConversionSettings": {"dateTimeFormat": "dd/MM/yyyy HH:mm"},
               "mappings": [{"source": {"ordinal": 1}, "sink": {"name": "seen"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_one_clean_error(
        &run,
        &[
            "typeConversionSettings.dateTimeFormat",
            "row 2",
            "\"2024-12-31\" does not match",
        ],
    );

    // Unsupported cultures are refused when the factory is read.
    let f = csv_to_table(
        &db,
        root.path(),
        b"1\r\n",
        json!({"type": "TabularTranslator", "typeConversion": true,
               "typeConversionSettings": {"culture": "ja-JP"},
               "mappings": [{"source": {"ordinal": 1}, "sink": {"name": "seen"}}]}),
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.all().contains("culture") && run.all().contains("ja-JP"),
        "{}",
        run.all()
    );
}
