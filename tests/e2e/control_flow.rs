//! Control flow as ADF runs it: a sequential ForEach runs its items one at a time in array
//! order (whether `isSequential` is `true`, the string `"true"` of ADF's own syntax example, or
//! an expression), nested and inside ExecutePipeline too; Switch picks the case whose `value`
//! equals its `on` string; `activity('X').status` and `.error` feed Try-Catch patterns.

use serde_json::{json, Value};
use sluice_e2e::*;

/// `SELECT string_agg(v, ',' ORDER BY id)` of a test table: the order rows were inserted in.
async fn inserted(db: &TestDb, table: &str) -> String {
    let sql = format!(
        "SELECT coalesce(string_agg(v, ',' ORDER BY id), '') FROM \"{}\".\"{table}\"",
        db.schema
    );
    db.client.query_one(sql.as_str(), &[]).await.unwrap().get(0)
}

/// A Script activity inserting `value` (bound as `$1`) into `{schema}.{table}`.
fn insert(name: &str, schema: &str, table: &str, value: &str) -> Value {
    json!({"name": name, "type": "Script",
        "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
        "typeProperties": {"scripts": [{"type": "NonQuery",
            "text": format!("INSERT INTO \"{schema}\".\"{table}\" (v) VALUES ($1)"),
            "parameters": [{"name": "v", "type": "String", "value": value, "direction": "Input"}]}]}})
}

/// A 10-item sequential loop appending `item()` must give exactly `[1, ..., 10]` (a parallel
/// loop on tokio's scheduler tends to give `[10, 1, 2, ...]`: the last task spawned runs
/// first). `isSequential` as ADF's docs write it (`"true"`), as a boolean and as an expression.
#[tokio::test]
async fn a_sequential_for_each_appends_in_array_order() {
    let items: Vec<i64> = (1..=10).collect();
    for sequential in [
        json!("true"),
        json!(true),
        json!({"value": "@equals(pipeline().parameters.mode, 'serial')", "type": "Expression"}),
        json!("@pipeline().parameters.mode_flag"),
    ] {
        let f = TestFactory::new();
        f.put(
            "pipeline",
            "P",
            json!({"parameters": {"mode": {"type": "String", "defaultValue": "serial"},
                                  "mode_flag": {"type": "String", "defaultValue": "True"}},
                "variables": {"acc": {"type": "Array", "defaultValue": []},
                              "result": {"type": "Array"}},
                "activities": [
                {"name": "Loop", "type": "ForEach", "typeProperties": {
                    "isSequential": sequential, "items": {"value": "@range(1, 10)", "type": "Expression"},
                    "activities": [{"name": "Add", "type": "AppendVariable",
                        "typeProperties": {"variableName": "acc", "value": "@item()"}}]}},
                {"name": "Show", "type": "SetVariable",
                 "dependsOn": [{"activity": "Loop", "dependencyConditions": ["Succeeded"]}],
                 "typeProperties": {"variableName": "result", "value": "@variables('acc')"}}]}),
        );
        let run = run_factory(&f, &[]);
        assert_eq!(run.code, 0, "{sequential}: {}", run.all());
        let shown = activity(&run.json(), "Show")["output"]["value"].clone();
        assert_eq!(shown, json!(items), "isSequential {sequential}");
    }

    // Nested sequential loops: the inner one runs to the end for each outer item, in order.
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"variables": {"acc": {"type": "Array", "defaultValue": []}, "result": {"type": "Array"}},
            "activities": [
            {"name": "Outer", "type": "ForEach", "typeProperties": {
                "isSequential": true, "items": {"value": "@createArray('a', 'b', 'c')", "type": "Expression"},
                "activities": [{"name": "Inner", "type": "ForEach", "typeProperties": {
                    "isSequential": "true", "items": {"value": "@range(1, 3)", "type": "Expression"},
                    "activities": [{"name": "Add", "type": "AppendVariable", "typeProperties": {
                        "variableName": "acc", "value": "@concat(string(item()))"}}]}}]}},
            {"name": "Show", "type": "SetVariable",
             "dependsOn": [{"activity": "Outer", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"variableName": "result", "value": "@variables('acc')"}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        activity(&run.json(), "Show")["output"]["value"],
        json!(["1", "2", "3", "1", "2", "3", "1", "2", "3"])
    );
}

/// A value that is neither a boolean nor "true"/"false" is an error naming the property, not a
/// silent parallel loop.
#[test]
fn is_sequential_must_be_a_boolean() {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "Loop", "type": "ForEach", "typeProperties": {
            "isSequential": "yes", "items": {"value": "@range(1, 2)", "type": "Expression"},
            "activities": [{"name": "W", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 0}}]}}]}),
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let msg = first_error(&run);
    assert!(msg.contains("isSequential") && msg.contains("yes"), "{msg}");
}

/// A month-by-month load: 25 months inserted by a sequential ForEach's Script land in a
/// `bigserial` table in array order; the same through ExecutePipeline, whose child runs its own
/// sequential loop for each parent item.
#[tokio::test]
async fn sequential_loads_insert_in_array_order() {
    let db = TestDb::new("cf_seq").await;
    db.exec(
        "CREATE TABLE {s}.loads (id bigserial PRIMARY KEY, v text NOT NULL);
         CREATE TABLE {s}.nested (id bigserial PRIMARY KEY, v text NOT NULL)",
    )
    .await;
    let s = &db.schema;
    let months: Vec<String> = (0..25)
        .map(|i| format!("{}-{:02}", 2022 + i / 12, i % 12 + 1))
        .collect();
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.put(
        "pipeline",
        "Months",
        json!({"parameters": {"months": {"type": "Array", "defaultValue": months}},
            "activities": [{"name": "EachMonth", "type": "ForEach", "typeProperties": {
                "isSequential": "true", "items": {"value": "@pipeline().parameters.months", "type": "Expression"},
                "activities": [insert("Load", s, "loads", "@item()")]}}]}),
    );
    f.put(
        "pipeline",
        "Child",
        json!({"parameters": {"n": {"type": "String"}},
            "activities": [{"name": "Parts", "type": "ForEach", "typeProperties": {
                "isSequential": true, "items": {"value": "@createArray('a', 'b')", "type": "Expression"},
                "activities": [insert("Part", s, "nested",
                    "@concat(pipeline().parameters.n, item())")]}}]}),
    );
    f.put(
        "pipeline",
        "Parent",
        json!({"activities": [{"name": "Each", "type": "ForEach", "typeProperties": {
            "isSequential": "true", "items": {"value": "@createArray('1', '2', '3')", "type": "Expression"},
            "activities": [{"name": "Call", "type": "ExecutePipeline", "typeProperties": {
                "pipeline": {"referenceName": "Child", "type": "PipelineReference"},
                "waitOnCompletion": true, "parameters": {"n": "@item()"}}}]}}]}),
    );
    let run = run_factory(&f, &["--pipeline", "Months"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(inserted(&db, "loads").await, months.join(","));
    let run = run_factory(&f, &["--pipeline", "Parent"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(inserted(&db, "nested").await, "1a,1b,2a,2b,3a,3b");
}

/// A SetVariable writing `value` into variable `picked`.
fn pick(name: &str, value: &str) -> Value {
    json!({"name": name, "type": "SetVariable",
        "typeProperties": {"variableName": "picked", "value": value}})
}

/// Switch (learn.microsoft.com/azure/data-factory/control-flow-switch-activity): the case whose
/// `value` equals the evaluated `on` string runs, else `defaultActivities`; the other lists'
/// activities do not run; a failing case fails the Switch; duplicate case values are refused.
#[test]
fn switch_runs_the_matching_case_or_the_default() {
    let factory = |on: &str| {
        let f = TestFactory::new();
        f.put(
            "pipeline",
            "P",
            json!({"parameters": {"region": {"type": "String", "defaultValue": on}},
                "variables": {"picked": {"type": "String", "defaultValue": "none"}, "seen": {"type": "String"}},
                "activities": [
                {"name": "Route", "type": "Switch", "typeProperties": {
                    "on": {"value": "@toLower(pipeline().parameters.region)", "type": "Expression"},
                    "cases": [
                        {"value": "eu", "activities": [pick("PickEu", "eu-case")]},
                        {"value": "us", "activities": [pick("PickUs", "us-case"),
                            {"name": "Boom", "type": "Fail", "dependsOn": [{"activity": "PickUs", "dependencyConditions": ["Succeeded"]}],
                             "typeProperties": {"message": "us is closed", "errorCode": "US1"}}]}
                    ],
                    "defaultActivities": [pick("PickDefault", "@concat('default:', pipeline().parameters.region)")]}},
                {"name": "Show", "type": "SetVariable",
                 "dependsOn": [{"activity": "Route", "dependencyConditions": ["Completed"]}],
                 "typeProperties": {"variableName": "seen", "value": "@variables('picked')"}}]}),
        );
        f
    };
    let names = |run: &Value| -> Vec<String> {
        run["activities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["activityName"].as_str().unwrap().to_string())
            .collect()
    };

    let run = run_factory(&factory("EU"), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(activity(&out, "Show")["output"]["value"], "eu-case");
    let ran = names(&out);
    assert!(
        !ran.iter().any(|n| n == "PickUs" || n == "PickDefault"),
        "{ran:?}"
    );

    let run = run_factory(&factory("Mars"), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        activity(&run.json(), "Show")["output"]["value"],
        "default:Mars"
    );

    // The `us` case fails: the Switch fails naming the inner activity (the run succeeds, as
    // in ADF, since its leaf `Show` runs on Completed and succeeds).
    let run = run_factory(&factory("us"), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(activity(&out, "Route")["status"], "Failed");
    let msg = activity(&out, "Route")["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("Boom") && msg.contains("us is closed"),
        "{msg}"
    );
    assert_eq!(activity(&out, "Show")["output"]["value"], "us-case");

    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"variables": {"picked": {"type": "String"}}, "activities": [
            {"name": "Route", "type": "Switch", "typeProperties": {"on": "a", "cases": [
                {"value": "a", "activities": [pick("A1", "1")]},
                {"value": "a", "activities": [pick("A2", "2")]}]}}]}),
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("cases[1].value") && run.stderr.contains("earlier case"),
        "{}",
        run.stderr
    );
}

/// Try-Catch and audit patterns: after a failing Script, an activity on `Failed` reads
/// `@activity('Load').error.message` and `.error.errorCode`, one on `Completed` reads
/// `.status` (any case, as ADF's expressions); the handled failure writes them to PostgreSQL.
#[tokio::test]
async fn failed_activities_expose_status_and_error_to_expressions() {
    let db = TestDb::new("cf_err").await;
    db.exec("CREATE TABLE {s}.audit (id bigserial PRIMARY KEY, v text NOT NULL)")
        .await;
    let s = &db.schema;
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.put(
        "pipeline",
        "P",
        json!({"variables": {"msg": {"type": "String"}, "code": {"type": "String"}, "status": {"type": "String"}},
            "activities": [
            {"name": "Load", "type": "Script",
             "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
             "typeProperties": {"scripts": [{"type": "NonQuery",
                 "text": format!("INSERT INTO \"{s}\".missing_table VALUES (1)")}]}},
            {"name": "Ok", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 0}},
            {"name": "Catch", "type": "SetVariable",
             "dependsOn": [{"activity": "Load", "dependencyConditions": ["Failed"]}],
             "typeProperties": {"variableName": "msg", "value": "@activity('Load').error.message"}},
            {"name": "Code", "type": "SetVariable",
             "dependsOn": [{"activity": "Load", "dependencyConditions": ["Failed"]}],
             "typeProperties": {"variableName": "code", "value": "@activity('Load').Error.ErrorCode"}},
            {"name": "Audit", "type": "SetVariable",
             "dependsOn": [{"activity": "Load", "dependencyConditions": ["Completed"]},
                           {"activity": "Ok", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"variableName": "status",
                 "value": "@concat(activity('Load').status, '/', activity('Ok').Status, '/', activity('Ok').error.message, '.')"}},
            {"name": "Log", "type": "Script",
             "dependsOn": [{"activity": "Catch", "dependencyConditions": ["Succeeded"]}],
             "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
             "typeProperties": {"scripts": [{"type": "NonQuery",
                 "text": format!("INSERT INTO \"{s}\".audit (v) VALUES ($1)"),
                 "parameters": [{"name": "m", "type": "String",
                     "value": "@{activity('Load').error.errorCode}: @{activity('Load').error.message}"}]}]}}]}),
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.all());
    let run = run_factory(&f, &[]);
    let out = run.json();
    let load = activity(&out, "Load");
    assert_eq!(load["status"], "Failed", "{out:#}");
    let message = load["error"]["message"].as_str().unwrap().to_string();
    let code = load["error"]["errorCode"].as_str().unwrap().to_string();
    assert!(message.contains("missing_table"), "{message}");
    assert_eq!(activity(&out, "Catch")["output"]["value"], message.as_str());
    assert_eq!(activity(&out, "Code")["output"]["value"], code.as_str());
    assert_eq!(code, "ScriptFailed");
    assert_eq!(
        activity(&out, "Audit")["output"]["value"],
        "Failed/Succeeded/."
    );
    assert_eq!(inserted(&db, "audit").await, format!("{code}: {message}"));
}
