//! Proves the pipeline executor honours `dependsOn` conditions (Succeeded, Failed, Skipped,
//! Completed), propagates Skipped, reports ADF's pipeline status and exit code, and passes
//! typed `--param` values through dataset parameters.

use serde_json::json;
use sluice_e2e::*;

fn copy(name: &str, input: &str, output: &str, deps: serde_json::Value) -> serde_json::Value {
    json!({"name": name, "type": "Copy", "dependsOn": deps,
           "inputs": [{"referenceName": input, "type": "DatasetReference"}],
           "outputs": [{"referenceName": output, "type": "DatasetReference"}],
           "typeProperties": {"source": {"type": "AzurePostgreSqlSource"}, "sink": {"type": "AzurePostgreSqlSink"}}})
}

fn status_of(run: &serde_json::Value, name: &str) -> String {
    run["activities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["activityName"] == name)
        .unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn dependency_conditions_route_success_and_failure() {
    let db = TestDb::new("deps").await;
    db.exec("CREATE TABLE {s}.src AS SELECT 1 AS id; CREATE TABLE {s}.ok (id int); CREATE TABLE {s}.ok2 (id int)").await;
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Ok", "Pg", &db.schema, "ok")
        .table("Ok2", "Pg", &db.schema, "ok2");
    f.table("Broken", "Pg", &db.schema, "missing_table");
    f.put("pipeline", "P", json!({"activities": [
        copy("Fails", "Src", "Broken", json!([])),
        copy("OnSuccess", "Src", "Ok", json!([{"activity": "Fails", "dependencyConditions": ["Succeeded"]}])),
        copy("AfterSkip", "Src", "Ok", json!([{"activity": "OnSuccess", "dependencyConditions": ["Succeeded"]}])),
        copy("OnSkip", "Src", "Ok2", json!([{"activity": "OnSuccess", "dependencyConditions": ["Skipped"]}])),
        copy("OnFailure", "Src", "Ok", json!([{"activity": "Fails", "dependencyConditions": ["Failed"]}])),
        copy("OnCompletion", "Src", "Ok", json!([{"activity": "Fails", "dependencyConditions": ["Completed"]}])),
    ]}));
    let run = run_factory(&f, &[]);
    let out = run.json();
    assert_eq!(status_of(&out, "Fails"), "Failed");
    assert_eq!(status_of(&out, "OnSuccess"), "Skipped");
    assert_eq!(
        status_of(&out, "AfterSkip"),
        "Skipped",
        "Skipped propagates down a chain"
    );
    assert_eq!(status_of(&out, "OnSkip"), "Succeeded");
    assert_eq!(status_of(&out, "OnFailure"), "Succeeded");
    assert_eq!(status_of(&out, "OnCompletion"), "Succeeded");
    assert_eq!(db.count("ok").await, 2);
    assert_eq!(db.count("ok2").await, 1);
    // Leaf AfterSkip was skipped; its parent OnSuccess too; evaluating up reaches the failed
    // activity, so the pipeline fails as in ADF.
    assert_eq!(out["status"], "Failed");
    assert_ne!(run.code, 0);
}

#[tokio::test]
async fn a_handled_failure_leaves_the_pipeline_succeeded() {
    let db = TestDb::new("trycatch").await;
    db.exec("CREATE TABLE {s}.src AS SELECT 1 AS id; CREATE TABLE {s}.ok (id int)")
        .await;
    let f = TestFactory::new();
    f.local_pg("Pg")
        .table("Src", "Pg", &db.schema, "src")
        .table("Ok", "Pg", &db.schema, "ok")
        .table("Broken", "Pg", &db.schema, "missing");
    f.put("pipeline", "P", json!({"activities": [
        copy("Try", "Src", "Broken", json!([])),
        copy("Catch", "Src", "Ok", json!([{"activity": "Try", "dependencyConditions": ["Failed"]}])),
    ]}));
    let run = run_factory(&f, &[]);
    assert_eq!(run.json()["status"], "Succeeded", "{}", run.all());
    assert_eq!(run.code, 0);
}

#[tokio::test]
async fn typed_parameters_reach_dataset_parameters() {
    let db = TestDb::new("params").await;
    db.exec("CREATE TABLE {s}.src AS SELECT g AS id FROM generate_series(1, 7) g; CREATE TABLE {s}.target_a (id int)").await;
    let f = TestFactory::new();
    f.local_pg("Pg").table("Src", "Pg", &db.schema, "src");
    f.put("dataset", "Dyn", json!({"type": "AzurePostgreSqlTable",
        "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
        "parameters": {"tableName": {"type": "String"}},
        "typeProperties": {"schema": db.schema, "table": {"value": "@dataset().tableName", "type": "Expression"}}}));
    f.put("pipeline", "P", json!({
        "parameters": {"suffix": {"type": "String", "defaultValue": "zzz"}, "limit": {"type": "Int", "defaultValue": 1}},
        "activities": [{"name": "Copy", "type": "Copy",
            "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
            "outputs": [{"referenceName": "Dyn", "type": "DatasetReference", "parameters": {"tableName": "target_@{pipeline().parameters.suffix}"}}],
            "typeProperties": {"source": {"type": "AzurePostgreSqlSource", "query": format!("SELECT id FROM \"{}\".src WHERE id <= @{{pipeline().parameters.limit}}", db.schema)},
                               "sink": {"type": "AzurePostgreSqlSink"}}}]}));
    let run = run_factory(&f, &["--param", "suffix=a", "--param", "limit=5"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.count("target_a").await, 5);
    let bad = run_factory(&f, &["--param", "limit=five"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("parameters.limit") && bad.stderr.contains("\"five\" is not an Int"),
        "{}",
        bad.stderr
    );
}
