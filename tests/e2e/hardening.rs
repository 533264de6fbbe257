//! Proves that hostile or careless definitions end in a named error instead of a crash
//! (regressions of the hardening issue): out-of-range durations fail their own activity while
//! siblings finish and every started activity keeps a record, and out-of-range limits on the
//! command line are refused before anything runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use sluice_e2e::*;

fn statuses(out: &serde_json::Value) -> Vec<(String, String)> {
    out["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["activityName"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn huge_wait_times_fail_their_activity_and_siblings_finish() {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "Literal", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1e300}},
            {"name": "Computed", "type": "Wait", "typeProperties": {"waitTimeInSeconds": "@mul(1e300, 1)"}},
            {"name": "Sibling", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}
        ]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let out = run.json();
    let mut got = statuses(&out);
    got.sort();
    assert_eq!(
        got,
        [
            ("Computed".to_string(), "Failed".to_string()),
            ("Literal".to_string(), "Failed".to_string()),
            ("Sibling".to_string(), "Succeeded".to_string()),
        ],
        "{}",
        run.stdout
    );
    for a in out["activities"].as_array().unwrap() {
        if a["status"] == "Failed" {
            let msg = a["error"]["message"].as_str().unwrap();
            assert!(msg.contains("waitTimeInSeconds"), "{msg}");
        }
    }
}

#[tokio::test]
async fn out_of_range_timespans_and_plugin_timeouts_are_refused() {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "W", "type": "Wait",
            "policy": {"timeout": "144115188075855872.00:00:01"},
            "typeProperties": {"waitTimeInSeconds": 1}}]}),
    );
    let path = f.path().to_str().unwrap().to_string();
    let v = sluice(&["validate", &path]);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(v.stderr.contains("10675199 days at most"), "{}", v.stderr);
    for timeout in ["1e20", "1e19", "NaN", "0"] {
        let run = sluice(&["run", &path, "--plugin-timeout", timeout]);
        assert_eq!(run.code, 1, "--plugin-timeout {timeout}: {}", run.all());
        assert!(run.stderr.contains("--plugin-timeout"), "{}", run.stderr);
    }
}

/// A factory whose pipeline `P` sets a variable to an expression nested 2,000 calls deep.
fn deeply_nested_factory() -> TestFactory {
    let deep = format!("@{}1{}", "add(1,".repeat(2000), ")".repeat(2000));
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"variables": {"v": {"type": "String"}},
               "activities": [
            {"name": "Deep", "type": "SetVariable",
             "typeProperties": {"variableName": "v", "value": deep}}]}),
    );
    f
}

#[tokio::test]
async fn deeply_nested_expressions_are_refused_before_the_run_starts() {
    let f = deeply_nested_factory();
    let path = f.path().to_str().unwrap().to_string();
    // Planning checks every expression's syntax, so the run is refused before anything runs,
    // with the activity and property named (it used to overflow the stack: rc 134).
    let run = sluice(&["run", &path, "--output", "json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("activity 'Deep' typeProperties.value")
            && run.stderr.contains("nests deeper than 128 levels"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn validate_reports_deeply_nested_and_broken_control_expressions() {
    let f = deeply_nested_factory();
    f.put(
        "pipeline",
        "Q",
        json!({"activities": [
            {"name": "Broken", "type": "Wait", "typeProperties": {"waitTimeInSeconds": "@add(1,"}}]}),
    );
    let v = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_eq!(v.code, 1, "{}", v.all());
    assert!(
        v.stderr.contains("nests deeper than 128 levels"),
        "{}",
        v.stderr
    );
    assert!(
        v.stderr
            .contains("activity 'Broken' typeProperties.waitTimeInSeconds"),
        "{}",
        v.stderr
    );
}

/// A copy that fails after some batches were committed reports what it read and what stays
/// in the sink (it used to report `{}`), and the error as ADF lists it.
#[tokio::test]
async fn a_failed_copy_reports_the_rows_its_committed_batches_hold() {
    let db = TestDb::new("partial").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id FROM generate_series(1, 10000) g;
         CREATE TABLE {s}.dst (id int CHECK (id <> 7777));",
    )
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource", "query": format!("SELECT id FROM \"{}\".src ORDER BY id", db.schema)}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "BulkInsert", "writeBatchSize": 1000}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    let copy = &run.json()["activities"][0];
    assert_eq!(copy["status"], "Failed", "{copy}");
    let output = &copy["output"];
    // Batches 1..7 (ids 1..7000) were committed before the batch holding 7777 failed.
    assert_eq!(db.count("dst").await, 7000);
    assert_eq!(output["rowsCopied"], 7000, "{output}");
    assert!(output["rowsRead"].as_u64().unwrap() >= 7000, "{output}");
    assert!(output["dataWritten"].as_u64().unwrap() > 0, "{output}");
    assert_eq!(
        output["executionDetails"][0]["status"], "Failed",
        "{output}"
    );
    let error = output["errors"][0]["Message"].as_str().unwrap();
    assert!(error.contains("7777") || error.contains("check"), "{error}");
}

/// A sink connection ended by the server mid-copy (what a restart does: SQLSTATE 57P01) is a
/// system error, not the user's, and the output counts what was committed before it.
#[tokio::test]
async fn a_sink_connection_ended_by_the_server_is_a_system_error() {
    let db = TestDb::new("shutdown").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 3000000) g;
         CREATE TABLE {s}.dst (id int, pad text);",
    )
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "CopyCommand", "writeBatchSize": 20000}),
    );
    let path = f.path().to_str().unwrap().to_string();
    let run = tokio::task::spawn_blocking(move || sluice(&["run", &path, "--output", "json"]));
    // Once some batches are in, end the sink's COPY as a server shutdown would.
    let mut ended = 0;
    for _ in 0..600 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if db.count("dst").await == 0 {
            continue;
        }
        // Only this test's COPY: other tests copy at the same time.
        ended = db
            .query_i64(&format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE query LIKE 'COPY %FROM STDIN%' AND strpos(query, '\"{}\"') > 0 \
                 AND pid <> pg_backend_pid()",
                db.schema
            ))
            .await;
        if ended > 0 {
            break;
        }
    }
    assert!(
        ended > 0,
        "the copy finished before its sink could be ended"
    );
    let run = run.await.unwrap();
    assert_eq!(run.code, 1, "{}", run.all());
    let copy = &run.json()["activities"][0];
    assert_eq!(copy["status"], "Failed", "{copy}");
    assert_eq!(copy["error"]["failureType"], "SystemError", "{copy}");
    let committed = db.count("dst").await;
    assert!(committed > 0);
    assert_eq!(copy["output"]["rowsCopied"], committed, "{copy}");
}

/// A batch the server refuses when it commits (a deferred constraint) fails the copy: the COPY
/// reporting success before its commit must not count rows that never landed.
#[tokio::test]
async fn a_batch_refused_at_commit_fails_the_copy() {
    let db = TestDb::new("deferred").await;
    db.exec(
        "CREATE TABLE {s}.src AS SELECT g AS id, g % 5 AS k FROM generate_series(1, 100) g;
         CREATE TABLE {s}.dst (id int, k int UNIQUE DEFERRABLE INITIALLY DEFERRED);",
    )
    .await;
    let f = TestFactory::pg_src_to_dst(
        &db,
        json!({"type": "AzurePostgreSqlSource"}),
        json!({"type": "AzurePostgreSqlSink", "writeMethod": "CopyCommand"}),
    );
    let run = sluice(&["run", f.path().to_str().unwrap(), "--output", "json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let copy = &run.json()["activities"][0];
    assert_eq!(copy["status"], "Failed", "{copy}");
    assert_eq!(db.count("dst").await, 0);
    assert_eq!(copy["output"]["rowsCopied"], 0, "{copy}");
    let message = copy["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("duplicate key"), "{message}");
}
