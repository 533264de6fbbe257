//! The Script activity on the local PostgreSQL server: queries and non-queries, bound
//! parameters (never spliced into the SQL), ADF's output shape and clear errors.

use serde_json::{json, Value};
use sluice_e2e::*;

fn script_factory(scripts: Value) -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Run", "type": "Script",
        "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
        "typeProperties": {"scripts": scripts, "scriptBlockExecutionTimeout": "00:00:05"}}]}),
    );
    f
}

#[tokio::test]
async fn queries_and_non_queries_run_in_order_with_bound_parameters() {
    let db = TestDb::new("script_ok").await;
    db.exec("CREATE TABLE {s}.wm (name text PRIMARY KEY, value timestamptz, note text);
             INSERT INTO {s}.wm VALUES ('orders', '2024-01-01T00:00:00Z', NULL), ('other', NULL, NULL)")
        .await;
    let s = &db.schema;
    let f = script_factory(json!([
        {"type": "NonQuery", "text": format!("UPDATE {s}.wm SET value = $1, note = $2 WHERE name = $3"),
         "parameters": [
            {"name": "v", "type": "DateTime", "value": "2024-06-30T12:00:00Z", "direction": "Input"},
            {"name": "n", "type": "String", "value": "it's'; DROP TABLE x; --"},
            {"name": "k", "type": "String", "value": "orders"}]},
        {"type": "Query", "text": format!("SELECT name, value, note FROM {s}.wm WHERE value IS NOT NULL OR name = $1 ORDER BY name"),
         "parameters": [{"name": "k", "type": "String", "value": "other"}]},
        {"type": "NonQuery", "text": format!("DELETE FROM {s}.wm WHERE value IS NULL")}
    ]));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = activity_output(&run.json()).clone();
    assert_eq!(out["recordsAffected"], 2);
    assert_eq!(out["resultSetCount"], 1);
    assert_eq!(
        out["resultSets"][0],
        json!({"rowCount": 2, "rows": [
            {"name": "orders", "value": "2024-06-30T12:00:00Z", "note": "it's'; DROP TABLE x; --"},
            {"name": "other", "value": null, "note": null}]})
    );
    assert_eq!(db.count("wm").await, 1);
}

#[tokio::test]
async fn a_failing_block_names_itself_and_the_server_error() {
    let db = TestDb::new("script_bad").await;
    let f = script_factory(json!([
        {"type": "NonQuery", "text": "SELECT 1"},
        {"type": "Query", "text": format!("SELECT * FROM {}.missing", db.schema)}
    ]));
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let msg = first_error(&run);
    assert!(msg.contains("scripts[1]"), "{msg}");
    assert!(msg.contains("missing"), "{msg}");

    let f = script_factory(json!([{"type": "Select", "text": "SELECT 1"}]));
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("scripts[0]") && run.stderr.contains("Select"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn the_block_timeout_is_enforced_on_the_server() {
    let f = script_factory(json!([{"type": "NonQuery", "text": "SELECT pg_sleep(30)"}]));
    sluice_bin(); // build it (if needed) outside the timing
    let t = std::time::Instant::now();
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let msg = first_error(&run);
    assert!(
        msg.contains("timeout") || msg.contains("canceling"),
        "{msg}"
    );
    assert!(
        t.elapsed().as_secs() < 25,
        "the 5 s block timeout did not apply"
    );
}

/// ADF users write blocks of several statements (`TRUNCATE; INSERT; SELECT`). They run in one
/// transaction, as PostgreSQL runs a multi-statement query: the output has a result set per
/// row-returning statement with typed values (numbers as numbers, booleans, dates) and
/// `recordsAffected` counting the DML; a failing statement undoes the whole block.
#[tokio::test]
async fn a_block_of_several_statements_runs_in_one_transaction() {
    let db = TestDb::new("script_multi").await;
    db.exec(
        "CREATE TABLE {s}.t (id int PRIMARY KEY, amount numeric(10,2), ok boolean, day date);
             INSERT INTO {s}.t VALUES (9, 1, true, NULL)",
    )
    .await;
    let s = &db.schema;
    let f = script_factory(json!([
        {"type": "Query", "text": format!(
            "TRUNCATE \"{s}\".t;\n\
             INSERT INTO \"{s}\".t VALUES (1, 12.50, true, '2024-02-29'), (2, -3, false, NULL);\n\
             -- a comment; with a semicolon\n\
             UPDATE \"{s}\".t SET ok = NOT ok WHERE id = 2;\n\
             SELECT id, amount, ok, day, 'x;y' AS note FROM \"{s}\".t ORDER BY id;\n\
             SELECT count(*) AS n FROM \"{s}\".t;")},
        {"type": "NonQuery", "text": format!(
            "DO $$ BEGIN PERFORM 1; END $$; DELETE FROM \"{s}\".t WHERE id = 2;")}
    ]));
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = activity_output(&run.json()).clone();
    assert_eq!(out["resultSetCount"], 2, "{out}");
    // 2 inserted + 1 updated, then 1 deleted (TRUNCATE and DO report no rows).
    assert_eq!(out["recordsAffected"], 4, "{out}");
    assert_eq!(
        out["resultSets"],
        json!([
            {"rowCount": 2, "rows": [
                {"id": 1, "amount": 12.5, "ok": true, "day": "2024-02-29T00:00:00", "note": "x;y"},
                {"id": 2, "amount": -3.0, "ok": true, "day": null, "note": "x;y"}]},
            {"rowCount": 1, "rows": [{"n": 2}]}
        ])
    );
    assert_eq!(db.count("t").await, 1);

    // The second statement fails: the TRUNCATE before it is undone.
    let f = script_factory(json!([{"type": "NonQuery", "text": format!(
        "TRUNCATE \"{s}\".t; INSERT INTO \"{s}\".t VALUES (1, 0, true, NULL), (1, 0, true, NULL)")}]));
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let msg = first_error(&run);
    assert!(
        msg.contains("scripts[0] statement 2") && msg.contains("duplicate"),
        "{msg}"
    );
    assert_eq!(db.count("t").await, 1);

    // Parameters bind to one statement: a block with parameters and two statements is refused
    // by validate, naming the block.
    let f = script_factory(json!([{"type": "NonQuery",
        "text": "SELECT $1; SELECT 2",
        "parameters": [{"name": "p", "type": "Int32", "value": 1}]}]));
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("scripts[0]") && run.stderr.contains("one statement"),
        "{}",
        run.stderr
    );
}
