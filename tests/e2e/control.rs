//! Pipelines beyond a bare Copy, through real PostgreSQL: the incremental-load and copy-all
//! examples, every control activity, variables, retries, timeouts and ExecutePipeline.

use serde_json::{json, Value};
use sluice_e2e::*;

fn example(name: &str) -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/").to_string() + name
}

/// examples/incremental/setup.sql in the test's own schema.
async fn example_data(db: &TestDb) {
    let sql = std::fs::read_to_string(example("incremental/setup.sql")).unwrap();
    let sql = sql
        .lines()
        .filter(|l| !l.contains("SCHEMA"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("sluice_example.", "{s}.");
    db.exec(&sql).await;
}

fn run_example(pipeline: &str, db: &TestDb) -> Run {
    let conn = format!("Warehouse={}", pg_url());
    let schema = format!("schema={}", db.schema);
    sluice(&[
        "run",
        &example("incremental"),
        "--pipeline",
        pipeline,
        "--connection",
        &conn,
        "--param",
        &schema,
        "--output",
        "json",
    ])
}

#[tokio::test]
async fn incremental_load_copies_only_changed_rows_and_moves_the_watermark() {
    let db = TestDb::new("incr").await;
    example_data(&db).await;
    let run = run_example("IncrementalLoad", &db);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(
        activity(&out, "CopyChangedOrders")["output"]["rowsCopied"],
        1000
    );
    assert_eq!(
        db.query_i64("SELECT count(*) FROM {s}.watermark WHERE value = (SELECT max(updated_at) FROM {s}.orders)")
            .await,
        1
    );
    // Change 10 rows and add 5: the next run copies exactly those 15.
    db.exec(
        "UPDATE {s}.orders SET amount = -1, updated_at = now() WHERE id <= 10;
             INSERT INTO {s}.orders SELECT g, 0, now() FROM generate_series(1001, 1005) g",
    )
    .await;
    let run = run_example("IncrementalLoad", &db);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(
        activity(&out, "CopyChangedOrders")["output"]["rowsCopied"],
        15
    );
    assert_eq!(db.difference("orders", "orders_copy", "*").await, 0);
    // Nothing changed: nothing copied.
    let run = run_example("IncrementalLoad", &db);
    assert_eq!(
        activity(&run.json(), "CopyChangedOrders")["output"]["rowsCopied"],
        0
    );
}

#[tokio::test]
async fn for_each_copies_every_table_a_lookup_lists() {
    let db = TestDb::new("foreach").await;
    example_data(&db).await;
    let run = run_example("CopyAllTables", &db);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(activity(&out, "EachTable")["output"]["ItemsCount"], 2);
    assert_eq!(db.count("copy_customers").await, 100);
    assert_eq!(db.count("copy_products").await, 50);
    assert_eq!(db.difference("src_products", "copy_products", "*").await, 0);
}

fn pipeline(activities: Value, extra: Value) -> TestFactory {
    let f = TestFactory::new();
    f.local_pg("Pg");
    let mut props = json!({"activities": activities});
    for (k, v) in extra.as_object().unwrap() {
        props[k] = v.clone();
    }
    f.put("pipeline", "P", props);
    f
}

#[tokio::test]
async fn variables_conditions_loops_and_filters() {
    let f = pipeline(
        json!([
            {"name": "Start", "type": "SetVariable",
             "typeProperties": {"variableName": "n", "value": "@pipeline().parameters.start"}},
            {"name": "Loop", "type": "Until", "dependsOn": [{"activity": "Start", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"expression": {"value": "@greaterOrEquals(int(variables('n')), 5)", "type": "Expression"},
                                "timeout": "00:01:00",
                                "activities": [
                 {"name": "Grow", "type": "AppendVariable",
                  "typeProperties": {"variableName": "seen", "value": "@variables('n')"}},
                 {"name": "Step", "type": "SetVariable", "dependsOn": [{"activity": "Grow", "dependencyConditions": ["Succeeded"]}],
                  "typeProperties": {"variableName": "n", "value": "@string(add(int(variables('n')), 1))"}}]}},
            {"name": "Check", "type": "IfCondition", "dependsOn": [{"activity": "Loop", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"expression": {"value": "@equals(length(variables('seen')), 3)", "type": "Expression"},
                 "ifTrueActivities": [{"name": "Yes", "type": "SetVariable",
                     "typeProperties": {"variableName": "branch", "value": "@concat('true:', join(variables('seen'), ','))"}}],
                 "ifFalseActivities": [{"name": "No", "type": "SetVariable",
                     "typeProperties": {"variableName": "branch", "value": "false"}}]}},
            {"name": "Evens", "type": "Filter", "dependsOn": [{"activity": "Check", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"items": "@range(1, 6)", "condition": "@equals(mod(item(), 2), 0)"}},
            {"name": "Pause", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}},
            {"name": "Report", "type": "SetVariable",
             "dependsOn": [{"activity": "Evens", "dependencyConditions": ["Succeeded"]},
                           {"activity": "Pause", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"variableName": "branch",
                                "value": "@{variables('branch')} evens=@{activity('Evens').output.Value} run=@{pipeline().RunId}"}}
        ]),
        json!({"parameters": {"start": {"type": "String", "defaultValue": "0"}},
               "variables": {"n": {"type": "String"}, "seen": {"type": "Array", "defaultValue": []},
                             "branch": {"type": "String"}}}),
    );
    let run = run_factory(&f, &["--param", "start=2"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(activity(&out, "Yes")["status"], "Succeeded");
    // As in ADF, the branch not taken does not run at all.
    assert!(!out["activities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["activityName"] == "No"));
    let report = activity(&out, "Report")["output"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let run_id = out["runId"].as_str().unwrap();
    assert_eq!(report, format!("true:2,3,4 evens=[2,4,6] run={run_id}"));
    assert_eq!(activity(&out, "Loop")["output"]["iterations"], 3);
}

#[tokio::test]
async fn fail_sets_the_error_and_dependents_route_on_it() {
    let f = pipeline(
        json!([
            {"name": "Boom", "type": "Fail",
             "typeProperties": {"message": "@concat('bad input: ', pipeline().parameters.what)", "errorCode": "E42"}},
            {"name": "OnFail", "type": "SetVariable", "dependsOn": [{"activity": "Boom", "dependencyConditions": ["Failed"]}],
             "typeProperties": {"variableName": "v", "value": "handled"}}
        ]),
        json!({"parameters": {"what": {"type": "String", "defaultValue": "x"}}, "variables": {"v": {"type": "String"}}}),
    );
    let run = run_factory(&f, &[]);
    let out = run.json();
    assert_eq!(activity(&out, "Boom")["error"]["errorCode"], "E42");
    assert_eq!(activity(&out, "Boom")["error"]["message"], "bad input: x");
    assert_eq!(activity(&out, "OnFail")["status"], "Succeeded");
    // The Failed-path leaf succeeded, but the failed activity is evaluated too: ADF's
    // "try-catch" shape (A -> B on failure) makes the pipeline succeed.
    assert_eq!(out["status"], "Succeeded", "{}", run.stdout);
}

#[tokio::test]
async fn retries_recover_from_a_transient_failure_and_timeouts_stop_an_activity() {
    let db = TestDb::new("retry").await;
    db.exec("CREATE SEQUENCE {s}.attempts").await;
    let f = pipeline(
        json!([
            {"name": "Flaky", "type": "Script",
             "policy": {"retry": 2, "retryIntervalInSeconds": 1},
             "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
             "typeProperties": {"scripts": [{"type": "Query",
                 "text": format!("SELECT 1 / (nextval('{}.attempts') - 1) AS ok", db.schema)}]}},
            {"name": "Slow", "type": "Wait", "policy": {"timeout": "00:00:01"},
             "typeProperties": {"waitTimeInSeconds": 30}}
        ]),
        json!({}),
    );
    sluice_bin(); // build it (if needed) outside the timing
    let t = std::time::Instant::now();
    let run = run_factory(&f, &[]);
    let out = run.json();
    let flaky = activity(&out, "Flaky");
    assert_eq!(flaky["status"], "Succeeded", "{}", run.stdout);
    assert_eq!(flaky["attempts"], 2);
    assert_eq!(flaky["output"]["resultSets"][0]["rows"][0]["ok"], 1);
    let slow = activity(&out, "Slow");
    assert_eq!(slow["status"], "Failed");
    assert_eq!(slow["error"]["errorCode"], "ActivityTimeout");
    assert!(t.elapsed().as_secs() < 25);
    assert_eq!(out["status"], "Failed");
}

#[tokio::test]
async fn execute_pipeline_passes_parameters_and_reports_child_failures() {
    let f = TestFactory::new();
    f.put("pipeline", "Child", json!({
        "parameters": {"n": {"type": "Int"}},
        "activities": [{"name": "Guard", "type": "IfCondition",
            "typeProperties": {"expression": "@greater(pipeline().parameters.n, 10)",
                "ifTrueActivities": [{"name": "TooBig", "type": "Fail",
                    "typeProperties": {"message": "@{pipeline().parameters.n} is too big", "errorCode": "Big"}}]}}]}));
    f.put(
        "pipeline",
        "Parent",
        json!({"activities": [
        {"name": "Small", "type": "ExecutePipeline",
         "typeProperties": {"pipeline": {"referenceName": "Child", "type": "PipelineReference"},
                            "parameters": {"n": 3}, "waitOnCompletion": true}},
        {"name": "Large", "type": "ExecutePipeline",
         "typeProperties": {"pipeline": {"referenceName": "Child", "type": "PipelineReference"},
                            "parameters": {"n": 30}, "waitOnCompletion": true}}]}),
    );
    let run = run_factory(&f, &["--pipeline", "Parent"]);
    let out = run.json();
    assert_eq!(
        activity(&out, "Small")["status"],
        "Succeeded",
        "{}",
        run.stdout
    );
    assert_eq!(activity(&out, "Small")["output"]["pipelineName"], "Child");
    let large = activity(&out, "Large");
    assert_eq!(large["status"], "Failed");
    let msg = large["error"]["message"].as_str().unwrap();
    assert!(msg.contains("30 is too big"), "{msg}");
    assert_ne!(run.code, 0);
}

#[tokio::test]
async fn expression_errors_name_the_activity_property_and_position() {
    let f = pipeline(
        json!([{"name": "Bad", "type": "SetVariable",
                "typeProperties": {"variableName": "v", "value": "@concat('a', toUpper())"}}]),
        json!({"variables": {"v": {"type": "String"}}}),
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0);
    let all = run.all();
    assert!(all.contains("activity 'Bad'"), "{all}");
    assert!(all.contains("typeProperties.value"), "{all}");
    assert!(all.contains("position"), "{all}");
}

#[tokio::test]
async fn dataset_and_linked_service_parameters_resolve_through_expressions() {
    let db = TestDb::new("lsparams").await;
    db.exec("CREATE TABLE {s}.src_a AS SELECT g AS id FROM generate_series(1, 7) g; CREATE TABLE {s}.dst (id int)")
        .await;
    let url = pg_url();
    let rest = url.split("://").nth(1).unwrap();
    let (user, rest) = rest.split_once('@').unwrap();
    let (hostport, database) = rest.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    let f = TestFactory::new();
    f.put("linkedService", "Pg", json!({"type": "AzurePostgreSql",
        "parameters": {"db": {"type": "String"}, "port": {"type": "String", "defaultValue": port}},
        "typeProperties": {"connectionString":
            format!("Server={host};Database=@{{linkedService().db}};Port=@{{linkedService().port}};UID={user};EncryptionMethod=0")}}));
    f.put(
        "dataset",
        "T",
        json!({"type": "AzurePostgreSqlTable",
        "parameters": {"db": {"type": "String"}, "table": {"type": "String"}},
        "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference",
                              "parameters": {"db": "@dataset().db"}},
        "typeProperties": {"schema": db.schema, "table": "@toLower(dataset().table)"}}),
    );
    let ds = |table: &str| {
        json!({"referenceName": "T", "type": "DatasetReference",
        "parameters": {"db": "@pipeline().parameters.db", "table": table}})
    };
    f.put("pipeline", "P", json!({
        "parameters": {"db": {"type": "String"}},
        "activities": [{"name": "Copy", "type": "Copy", "inputs": [ds("@concat('SRC_', 'A')")], "outputs": [ds("DST")],
            "typeProperties": {"source": {"type": "AzurePostgreSqlSource"}, "sink": {"type": "AzurePostgreSqlSink"}}}]}));
    let param = format!("db={database}");
    let run = run_factory(&f, &["--param", &param]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(db.count("dst").await, 7);
}

#[tokio::test]
async fn execute_pipeline_without_waiting_returns_at_once_and_the_child_still_runs() {
    let db = TestDb::new("nowait").await;
    db.exec("CREATE TABLE {s}.log (at timestamptz)").await;
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.put("pipeline", "Child", json!({"activities": [
        {"name": "Pause", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 2}},
        {"name": "Write", "type": "Script", "dependsOn": [{"activity": "Pause", "dependencyConditions": ["Succeeded"]}],
         "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
         "typeProperties": {"scripts": [{"type": "NonQuery", "text": format!("INSERT INTO {}.log VALUES (now())", db.schema)}]}}]}));
    f.put(
        "pipeline",
        "Parent",
        json!({"activities": [
        {"name": "Fire", "type": "ExecutePipeline",
         "typeProperties": {"pipeline": {"referenceName": "Child", "type": "PipelineReference"},
                            "waitOnCompletion": false}}]}),
    );
    let run = run_factory(&f, &["--pipeline", "Parent"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    let fire = activity(&out, "Fire");
    assert_eq!(fire["status"], "Succeeded");
    assert!(fire["durationInMs"].as_u64().unwrap() < 1500, "{fire}");
    assert!(fire["output"].get("pipelineRunId").is_none(), "{fire}");
    // The process waited for the detached child before exiting.
    assert_eq!(db.count("log").await, 1);
}
