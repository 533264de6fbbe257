//! `@trigger()` in runs: a `sluice worker` runs queued runs as a trigger would queue them (the
//! trigger's record in `NewRun.trigger`, its parameters unevaluated, `invokedBy` naming it),
//! and a Script writes what the run saw into PostgreSQL: trigger-supplied parameter
//! expressions evaluated over the window, `trigger()` itself in activity properties and in a
//! dataset's definition and parameters, `pipeline().TriggerType`/`TriggerName`/`TriggerId`/
//! `TriggerTime` from the trigger. A manual run keeps `Manual`, its parameters stay literal,
//! and `trigger()?.outputs?.windowStartTime` is null; on the command line
//! `trigger().outputs.windowStartTime` fails naming the property, as in ADF.
//!
//! Shapes from "System variables supported by Azure Data Factory" and "Create a trigger that
//! runs a pipeline on a tumbling window" (learn.microsoft.com).

use std::time::Duration;

use serde_json::{json, Value};
use sluice::service::control::{Kind, NewRun};
use sluice_e2e::service::Fixture;
use sluice_e2e::*;

const COLUMNS: &str = "label, window_start, window_end, scheduled, trigger_type, trigger_name, \
                       trigger_id, trigger_time";

/// Linked service `Pg`, dataset `Seen` (its schema and table from `trigger()` and a parameter
/// given with `trigger()`) and pipeline `Load`, which records what it sees in `{s}.seen`.
async fn factory(fx: &Fixture, db: &TestDb) {
    fx.put_local_pg().await;
    fx.put(
        Kind::Datasets,
        "Seen",
        json!({"type": "AzurePostgreSqlTable",
            "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
            "parameters": {"table": {"type": "String"}},
            "typeProperties": {
                "schema": format!("@{{if(empty(trigger().name), 'nowhere', '{}')}}", db.schema),
                "table": "@dataset().table"}}),
    )
    .await;
    let insert = format!(
        "INSERT INTO \"{}\".seen ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        db.schema
    );
    let p = |name: &str, value: &str| json!({"name": name, "type": "String", "value": value});
    fx.put(
        Kind::Pipelines,
        "Load",
        json!({
            "parameters": {
                "windowStart": {"type": "String"},
                "scheduled": {"type": "String"},
                "label": {"type": "String", "defaultValue": "default"}
            },
            "activities": [
                {"name": "Record", "type": "Script",
                 "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
                 "typeProperties": {"scripts": [{"type": "NonQuery", "text": insert, "parameters": [
                     p("label", "@pipeline().parameters.label"),
                     p("ws", "@pipeline().parameters.windowStart"),
                     p("we", "@coalesce(trigger()?.outputs?.windowEndTime, 'none')"),
                     p("sc", "@pipeline().parameters.scheduled"),
                     p("tt", "@pipeline().TriggerType"),
                     p("tn", "@pipeline().TriggerName"),
                     p("ti", "@pipeline().TriggerId"),
                     p("tm", "@{pipeline().TriggerTime}|@{trigger().startTime}")]}]}},
                {"name": "ReadBack", "type": "Lookup",
                 "dependsOn": [{"activity": "Record", "dependencyConditions": ["Succeeded"]}],
                 "typeProperties": {"source": {"type": "AzurePostgreSqlSource"}, "firstRowOnly": false,
                     "dataset": {"referenceName": "Seen", "type": "DatasetReference",
                         "parameters": {"table": "@if(empty(trigger().startTime), 'nothing', 'seen')"}}}}
            ]
        }),
    )
    .await;
}

/// Runs `run` on the worker to its end; the status, message and `ReadBack`'s row count.
async fn run_to_end(fx: &Fixture, run: NewRun) -> (String, String, Value) {
    let id = fx.create(run).await;
    let (status, message) = fx
        .wait_status(id, &["Succeeded", "Failed"], Duration::from_secs(90))
        .await;
    let read_back = fx
        .activity_runs(id)
        .await
        .into_iter()
        .find(|a| a["activityName"] == "ReadBack")
        .map(|a| a["output"]["count"].clone())
        .unwrap_or(Value::Null);
    (status, message, read_back)
}

async fn seen(db: &TestDb, label: &str) -> Vec<String> {
    let client = connect_local().await;
    let sql = format!(
        "SELECT {COLUMNS} FROM \"{}\".seen WHERE label = $1",
        db.schema
    );
    let rows = client.query(&sql, &[&label]).await.unwrap();
    assert_eq!(rows.len(), 1, "one row labelled {label}");
    (0..8)
        .map(|i| rows[0].get::<_, Option<String>>(i).unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggered_runs_see_their_trigger_and_evaluate_its_parameters() {
    let db = TestDb::new("trigger_expr").await;
    db.exec(&format!(
        "CREATE TABLE {{s}}.seen ({})",
        COLUMNS
            .split(", ")
            .map(|c| format!("{c} text"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .await;
    let fx = Fixture::new("triggered", &[]).await;
    factory(&fx, &db).await;
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _worker = fx.worker(&["--concurrency", "1"], logs.path(), cache.path());

    // A tumbling window's run, as the scheduler queues it: parameters as the trigger wrote them.
    let window = NewRun {
        pipeline_name: "Load".into(),
        parameters: json!({
            "windowStart": "@trigger().outputs.windowStartTime",
            "scheduled": {"type": "Expression", "value": "@trigger().scheduledTime"},
            "label": "w_@{formatDateTime(trigger().outputs.windowStartTime, 'yyyyMMddHH')}"
        }),
        invoked_by: Some(json!({"name": "Hourly", "id": "tr-window-1",
            "invokedByType": "TumblingWindowTrigger"})),
        trigger: Some(json!({"name": "Hourly", "type": "TumblingWindowTrigger",
            "startTime": "2027-05-03T09:15:02Z", "scheduledTime": "2027-05-03T08:00:00Z",
            "runId": "tr-window-1",
            "outputs": {"windowStartTime": "2027-05-03T08:00:00Z",
                        "windowEndTime": "2027-05-03T09:00:00Z"}})),
        ..fx.new_run()
    };
    let (status, message, count) = run_to_end(&fx, window).await;
    assert_eq!(status, "Succeeded", "{message}");
    assert_eq!(
        count,
        json!(1),
        "the dataset resolved with trigger() and read the row"
    );
    assert_eq!(
        seen(&db, "w_2027050308").await,
        [
            "w_2027050308",
            "2027-05-03T08:00:00Z",
            "2027-05-03T09:00:00Z",
            "2027-05-03T08:00:00Z",
            "TumblingWindowTrigger",
            "Hourly",
            "tr-window-1",
            "2027-05-03T09:15:02Z|2027-05-03T09:15:02Z"
        ]
    );

    // A schedule trigger's run: no window (`?.` makes that null), the default label.
    let scheduled = NewRun {
        pipeline_name: "Load".into(),
        parameters: json!({"windowStart": "@{trigger().scheduledTime}",
                           "scheduled": "@trigger().scheduledTime"}),
        invoked_by: Some(json!({"name": "Nightly", "id": "tr-sched-1",
            "invokedByType": "ScheduleTrigger"})),
        trigger: Some(json!({"name": "Nightly", "type": "ScheduleTrigger",
            "startTime": "2027-05-04T02:00:01Z", "scheduledTime": "2027-05-04T02:00:00Z",
            "runId": "tr-sched-1"})),
        ..fx.new_run()
    };
    let (status, message, count) = run_to_end(&fx, scheduled).await;
    assert_eq!(status, "Succeeded", "{message}");
    assert_eq!(count, json!(2));
    assert_eq!(
        seen(&db, "default").await,
        [
            "default",
            "2027-05-04T02:00:00Z",
            "none",
            "2027-05-04T02:00:00Z",
            "ScheduleTrigger",
            "Nightly",
            "tr-sched-1",
            "2027-05-04T02:00:01Z|2027-05-04T02:00:01Z"
        ]
    );

    // A manual run: its parameters are values, not expressions; trigger() is the manual
    // trigger's (its startTime is the run's TriggerTime) and has no window.
    let manual = NewRun {
        pipeline_name: "Load".into(),
        parameters: json!({"windowStart": "@trigger().scheduledTime", "scheduled": "s",
                           "label": "manual"}),
        ..fx.new_run()
    };
    let (status, message, count) = run_to_end(&fx, manual).await;
    assert_eq!(status, "Succeeded", "{message}");
    assert_eq!(count, json!(3));
    let row = seen(&db, "manual").await;
    assert_eq!(
        row[..6],
        [
            "manual",
            "@trigger().scheduledTime",
            "none",
            "s",
            "Manual",
            "Manual"
        ]
    );
    let (time, start) = row[7].split_once('|').unwrap();
    assert!(!time.is_empty() && time == start, "{}", row[7]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_parameter_that_does_not_evaluate_fails_the_run_naming_it() {
    let db = TestDb::new("trigger_expr_bad").await;
    let fx = Fixture::new("badtrigger", &[]).await;
    factory(&fx, &db).await;
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let _worker = fx.worker(&["--concurrency", "1"], logs.path(), cache.path());
    let run = NewRun {
        pipeline_name: "Load".into(),
        parameters: json!({"windowStart": "@trigger().outputs.windowStartTime",
                           "scheduled": "@trigger().scheduledTime"}),
        invoked_by: Some(
            json!({"name": "Nightly", "id": "tr-2", "invokedByType": "ScheduleTrigger"}),
        ),
        trigger: Some(json!({"name": "Nightly", "type": "ScheduleTrigger",
            "startTime": "2027-05-04T02:00:01Z", "scheduledTime": "2027-05-04T02:00:00Z",
            "runId": "tr-2"})),
        ..fx.new_run()
    };
    let (status, message, _) = run_to_end(&fx, run).await;
    assert_eq!(status, "Failed");
    assert!(
        message.contains("the trigger's parameter 'windowStart'")
            && message.contains("property 'outputs' doesn't exist"),
        "{message}"
    );
}

#[test]
fn a_manual_run_on_the_command_line_has_a_trigger_without_a_window() {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"variables": {"v": {"type": "String"}}, "activities": [
            {"name": "Start", "type": "SetVariable",
             "typeProperties": {"variableName": "v",
                "value": "@{pipeline().TriggerType} @{equals(trigger().startTime, pipeline().TriggerTime)} @{coalesce(trigger()?.outputs?.windowStartTime, 'none')}"}},
            {"name": "Window", "type": "SetVariable",
             "dependsOn": [{"activity": "Start", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"variableName": "v", "value": "@trigger().outputs.windowStartTime"}}
        ]}),
    );
    let run = run_factory(&f, &[]);
    assert_ne!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(
        activity(&out, "Start")["output"]["value"],
        json!("Manual True none"),
        "{}",
        run.all()
    );
    let error = activity(&out, "Window")["error"]["message"].to_string();
    assert!(
        error.contains("property 'windowStartTime' doesn't exist"),
        "{error}"
    );
}
