//! A factory folder laid out as ADF's git integration writes it (root `publish_config.json`
//! and `arm-template-parameters-definition.json`, `factory/<name>.json` with global
//! parameters, `trigger/`, `integrationRuntime/`, `dataflow/`, `managedVirtualNetwork/` beside
//! the definitions): `validate` passes with one notice naming the folders passed over (the root
//! settings files, which change nothing, silently; `trigger/` is read and checked, so neither
//! `validate` nor `run` names it), `run` reads
//! `pipeline().globalParameters` in a Script and a dataset reference; and system variables
//! (`pipeline().RunId`, `pipeline().Pipeline`) in dataset and linked service expressions
//! resolve in the context of the activity using them.
//!
//! Shapes from "Source control in Azure Data Factory" and "Global parameters in Azure Data
//! Factory" (learn.microsoft.com), "System variables supported by Azure Data Factory".

use std::path::Path;

use serde_json::{json, Value};
use sluice_e2e::*;

fn write_json(root: &Path, rel: &str, value: &Value) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// The parts of a git-integration folder Sluice does not run, as ADF writes them.
fn git_extras(root: &Path, globals: Value) {
    write_json(
        root,
        "publish_config.json",
        &json!({"publishBranch": "adf_publish", "includeFactoryTemplate": true}),
    );
    write_json(
        root,
        "arm-template-parameters-definition.json",
        &json!({"Microsoft.DataFactory/factories/pipelines": {}, "Microsoft.DataFactory/factories/linkedServices": {"*": {"properties": {"typeProperties": {"connectionString": "-::secureString"}}}}}),
    );
    write_json(
        root,
        "factory/gitfactory.json",
        &json!({"name": "gitfactory", "location": "westeurope",
                "properties": {"globalParameters": globals},
                "identity": {"type": "SystemAssigned"}}),
    );
    write_json(
        root,
        "trigger/Nightly.json",
        &json!({"name": "Nightly", "properties": {"type": "ScheduleTrigger", "runtimeState": "Started",
                "pipelines": [{"pipelineReference": {"referenceName": "P", "type": "PipelineReference"}}],
                "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1,
                    "startTime": "2027-01-01T02:00:00Z", "timeZone": "UTC"}}}}),
    );
    write_json(
        root,
        "integrationRuntime/SelfHosted.json",
        &json!({"name": "SelfHosted", "properties": {"type": "SelfHosted", "typeProperties": {}}}),
    );
    write_json(
        root,
        "dataflow/Flow.json",
        &json!({"name": "Flow", "properties": {"type": "MappingDataFlow", "typeProperties": {"sources": [], "sinks": [], "script": ""}}}),
    );
    write_json(
        root,
        "managedVirtualNetwork/default.json",
        &json!({"name": "default", "properties": {}}),
    );
}

#[tokio::test]
async fn a_git_integration_folder_validates_with_one_notice_and_runs_with_global_parameters() {
    let db = TestDb::new("git_layout").await;
    db.exec("CREATE TABLE {s}.items (n int, label text, tags text)")
        .await;
    let f = TestFactory::new();
    f.local_pg("Pg");
    f.put(
        "dataset",
        "Tbl",
        json!({"type": "AzurePostgreSqlTable",
               "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
               "parameters": {"schema": {"type": "String"}, "table": {"type": "String"}},
               "typeProperties": {"schema": "@dataset().schema", "table": "@dataset().table"}}),
    );
    f.put(
        "pipeline",
        "P",
        json!({"activities": [
            {"name": "Insert", "type": "Script",
             "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
             "typeProperties": {"scripts": [{"type": "NonQuery",
                "text": "INSERT INTO \"@{pipeline().globalParameters.schema}\".items VALUES ($1, $2, $3)",
                "parameters": [
                    {"name": "n", "type": "Int32", "value": "@pipeline().globalParameters.count"},
                    {"name": "l", "type": "String", "value": "@pipeline().globalParameters.label"},
                    {"name": "t", "type": "String", "value": "@{join(pipeline().globalParameters.tags, '|')}"}]}]}},
            {"name": "Look", "type": "Lookup",
             "dependsOn": [{"activity": "Insert", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                "dataset": {"referenceName": "Tbl", "type": "DatasetReference",
                    "parameters": {"schema": "@pipeline().globalParameters.schema",
                                   "table": "@pipeline().globalParameters.settings.table"}}}}
        ]}),
    );
    git_extras(
        f.path(),
        json!({"schema": {"type": "String", "value": db.schema},
               "count": {"type": "Int", "value": 7},
               "label": {"type": "String", "value": "seven"},
               "tags": {"type": "Array", "value": ["a", "b"]},
               "settings": {"type": "Object", "value": {"table": "items"}}}),
    );

    let path = f.path().to_str().unwrap();
    let v = sluice(&["validate", path]);
    assert_eq!(v.code, 0, "{}", v.all());
    let all = v.all();
    let notices: Vec<&str> = all.lines().filter(|l| l.contains("passed over")).collect();
    assert_eq!(notices.len(), 1, "{}", v.all());
    for part in ["dataflow/", "integrationRuntime/", "managedVirtualNetwork/"] {
        assert!(notices[0].contains(part), "{part} in {}", notices[0]);
    }
    assert!(
        !all.contains("trigger/"),
        "triggers are read, not passed over: {all}"
    );
    assert!(
        !all.contains("publish_config.json") && !all.contains("arm-template-parameters"),
        "git integration's own settings files change nothing and are skipped silently: {all}"
    );

    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        !run.stderr.contains("trigger/"),
        "run ignores triggers: {}",
        run.stderr
    );
    let out = run.json();
    assert_eq!(
        activity(&out, "Look")["output"]["firstRow"],
        json!({"n": 7, "label": "seven", "tags": "a|b"})
    );
    assert_eq!(db.count("items").await, 1);
}

#[test]
fn a_global_parameter_of_the_wrong_type_is_named() {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"activities": [{"name": "W", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 0}}]}),
    );
    git_extras(
        f.path(),
        json!({"retries": {"type": "Int", "value": "three"}}),
    );
    let v = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(v.code, 0);
    assert!(
        v.stderr.contains("gitfactory.json")
            && v.stderr.contains("globalParameters.retries")
            && v.stderr.contains("not an Int"),
        "{}",
        v.stderr
    );
}

#[tokio::test]
async fn system_variables_resolve_in_datasets_and_linked_services() {
    let db = TestDb::new("git_sysvars").await;
    db.exec(
        "CREATE TABLE {s}.src (id int, name text); INSERT INTO {s}.src VALUES (1, 'a'), (2, 'b');
             CREATE TABLE {s}.seen (run_id text, pipeline text)",
    )
    .await;
    let out_root = tempfile::tempdir().unwrap();
    let f = TestFactory::new();
    f.local_pg("Pg").table("Src", "Pg", &db.schema, "src");
    // A PostgreSQL linked service whose database comes from a parameter: the run's pipeline
    // (named as the test database) feeds it from the activity that uses it.
    let cs = local_connection_string();
    let db_name = cs
        .split(';')
        .find_map(|p| p.strip_prefix("Database="))
        .unwrap()
        .to_string();
    let cs_param = cs.replace(
        &format!("Database={db_name}"),
        "Database=@{linkedService().db}",
    );
    f.put(
        "linkedService",
        "PgByName",
        json!({"type": "AzurePostgreSql", "parameters": {"db": {"type": "String"}},
               "typeProperties": {"connectionString": cs_param}}),
    );
    f.put(
        "linkedService",
        "Files",
        // A system variable straight in a linked service property.
        json!({"type": "FileServer", "typeProperties": {
            "host": format!("{}/@{{pipeline().DataFactory}}", out_root.path().to_str().unwrap())}}),
    );
    f.put(
        "dataset",
        "Out",
        json!({"type": "DelimitedText",
               "linkedServiceName": {"referenceName": "Files", "type": "LinkedServiceReference"},
               "typeProperties": {"location": {"type": "FileServerLocation",
                    "folderPath": "@pipeline().Pipeline",
                    "fileName": "@concat('out_', pipeline().RunId, '.csv')"},
                 "columnDelimiter": ",", "firstRowAsHeader": true}}),
    );
    f.put(
        "pipeline",
        &db_name,
        json!({"activities": [
            {"name": "Export", "type": "Copy",
             "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
             "outputs": [{"referenceName": "Out", "type": "DatasetReference"}],
             "typeProperties": {"source": {"type": "AzurePostgreSqlSource"},
                "sink": {"type": "DelimitedTextSink", "storeSettings": {"type": "FileServerWriteSettings"}}}},
            {"name": "Note", "type": "Script",
             "linkedServiceName": {"referenceName": "PgByName", "type": "LinkedServiceReference",
                                   "parameters": {"db": "@pipeline().Pipeline"}},
             "typeProperties": {"scripts": [{"type": "NonQuery",
                "text": format!("INSERT INTO \"{}\".seen VALUES ($1, $2)", db.schema),
                "parameters": [{"name": "r", "type": "String", "value": "@pipeline().RunId"},
                               {"name": "p", "type": "String", "value": "@pipeline().Pipeline"}]}]}}
        ]}),
    );
    let v = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_eq!(v.code, 0, "{}", v.all());

    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let run_id = run.json()["runId"].as_str().unwrap().to_string();
    assert_eq!(run_id.len(), 36, "{run_id}");
    let file = out_root
        .path()
        .join("sluice")
        .join(&db_name)
        .join(format!("out_{run_id}.csv"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), run.all()));
    assert_eq!(text.lines().count(), 3, "{text}");
    let seen = db
        .client
        .query_one(
            format!("SELECT run_id, pipeline FROM \"{}\".seen", db.schema).as_str(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(seen.get::<_, String>(0), run_id);
    assert_eq!(seen.get::<_, String>(1), db_name);
}
