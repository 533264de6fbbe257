//! The Lookup activity through real PostgreSQL and a CSV file: output shapes, JSON types, the
//! 5,000-row cap, the 4 MB limit and refused bytea.

use serde_json::{json, Value};
use sluice_e2e::*;

fn lookup_factory(db: &TestDb, source: Value, first_row_only: Option<bool>) -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg").table("T", "Pg", &db.schema, "t");
    let mut tp =
        json!({"source": source, "dataset": {"referenceName": "T", "type": "DatasetReference"}});
    if let Some(b) = first_row_only {
        tp["firstRowOnly"] = json!(b);
    }
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Look", "type": "Lookup", "typeProperties": tp}]}),
    );
    f
}

#[tokio::test]
async fn first_row_only_is_the_default_and_values_keep_json_types() {
    let db = TestDb::new("lookup_first").await;
    db.exec(
        "CREATE TABLE {s}.t (id bigint, n numeric(10,2), f double precision, ok boolean, name text,
                             d date, ts timestamp, tstz timestamptz, u uuid, j jsonb, nothing int);
         INSERT INTO {s}.t VALUES (42, 12.50, 1.5, true, 'it''s', '2024-02-29', '2024-02-29 13:45:00.25',
                                   '2024-02-29 13:45:00+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', NULL),
                                  (43, 0, 0, false, 'second', NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .await;
    let f = lookup_factory(
        &db,
        json!({"type": "AzurePostgreSqlSource", "query": format!("SELECT * FROM {}.t ORDER BY id", db.schema)}),
        None,
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = activity_output(&run.json()).clone();
    assert_eq!(
        out,
        json!({"firstRow": {"id": 42, "n": 12.5, "f": 1.5, "ok": true, "name": "it's",
            "d": "2024-02-29T00:00:00", "ts": "2024-02-29T13:45:00.25", "tstz": "2024-02-29T11:45:00Z",
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": "{\"a\": 1}", "nothing": null}})
    );
}

#[tokio::test]
async fn all_rows_are_capped_at_5000_and_counted() {
    let db = TestDb::new("lookup_all").await;
    db.exec("CREATE TABLE {s}.t AS SELECT g AS id FROM generate_series(1, 12000) g")
        .await;
    let f = lookup_factory(&db, json!({"type": "AzurePostgreSqlSource"}), Some(false));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = activity_output(&run.json()).clone();
    assert_eq!(out["count"], 5000);
    let ids: Vec<i64> = out["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=5000).collect::<Vec<_>>());

    // An empty result: count 0, and firstRowOnly gives an empty object as ADF does.
    db.exec("TRUNCATE {s}.t").await;
    let run = run_factory(&f, &[]);
    assert_eq!(activity_output(&run.json())["count"], 0);
    let f = lookup_factory(&db, json!({"type": "AzurePostgreSqlSource"}), Some(true));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity_output(&run.json()), &json!({}));
}

#[tokio::test]
async fn output_over_4_mb_and_bytea_fail_clearly() {
    let db = TestDb::new("lookup_limits").await;
    db.exec("CREATE TABLE {s}.t AS SELECT g AS id, repeat('x', 2000) AS pad, '\\x0102'::bytea AS b FROM generate_series(1, 3000) g")
        .await;
    let q = |cols: &str| json!({"type": "AzurePostgreSqlSource", "query": format!("SELECT {cols} FROM {}.t", db.schema)});
    let run = run_factory(&lookup_factory(&db, q("id, pad"), Some(false)), &[]);
    assert_ne!(run.code, 0);
    let msg = first_error(&run);
    assert!(msg.contains("4 MB"), "{msg}");
    assert!(msg.contains("Look"), "{msg}");

    let run = run_factory(&lookup_factory(&db, q("id, b"), None), &[]);
    assert_ne!(run.code, 0);
    let msg = first_error(&run);
    assert!(msg.contains("column 'b'"), "{msg}");
    assert!(msg.contains("Byte[]"), "{msg}");
}

#[tokio::test]
async fn a_csv_file_can_be_looked_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cfg.csv"),
        "name,value\nwatermark,2024-01-01\nlimit,10\n",
    )
    .unwrap();
    let f = TestFactory::new();
    f.put(
        "linkedService",
        "Files",
        json!({"type": "FileServer", "typeProperties": {"host": dir.path().to_str().unwrap()}}),
    );
    f.put(
        "dataset",
        "Cfg",
        json!({"type": "DelimitedText",
        "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
        "typeProperties": {"location": {"type": "FileServerLocation", "fileName": "cfg.csv"},
                           "columnDelimiter": ",", "firstRowAsHeader": true}}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Look", "type": "Lookup", "typeProperties": {
        "source": {"type": "DelimitedTextSource"}, "firstRowOnly": false,
        "dataset": {"referenceName": "Cfg", "type": "DatasetReference"}}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        activity_output(&run.json()),
        &json!({"count": 2, "value": [{"name": "watermark", "value": "2024-01-01"}, {"name": "limit", "value": "10"}]})
    );
}
