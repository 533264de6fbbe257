//! Proves that control activities stop promptly when a run, or one activity, is cancelled from
//! outside: a long Wait, an Until that would loop for a day, and a ForEach whose iterations
//! wait, all end as `Cancelled` within seconds, and nothing new starts after the cancel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sluice::engine::{self, RunOptions, Status};
use sluice_e2e::*;

fn status_of(run: &Value, name: &str) -> Vec<String> {
    run["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["activityName"] == name)
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect()
}

fn factory() -> TestFactory {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({
        "variables": {"n": {"type": "String", "defaultValue": "0"}},
        "activities": [
            {"name": "LongWait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 3600}},
            {"name": "Forever", "type": "Until", "typeProperties": {
                "expression": "@equals(1, 2)", "timeout": "1.00:00:00",
                "activities": [{"name": "Tick", "type": "Wait",
                    "typeProperties": {"waitTimeInSeconds": 1}}]}},
            {"name": "Each", "type": "ForEach", "typeProperties": {
                "items": "@range(1, 40)", "batchCount": 2,
                "activities": [{"name": "Inner", "type": "Wait",
                    "typeProperties": {"waitTimeInSeconds": 60}}]}},
            {"name": "After", "type": "SetVariable",
             "dependsOn": [{"activity": "LongWait", "dependencyConditions": ["Completed"]}],
             "typeProperties": {"variableName": "n", "value": "1"}}
        ]}),
    );
    f
}

#[tokio::test]
async fn cancelling_a_run_stops_waits_loops_and_iterations_promptly() {
    let f = factory();
    let factory = Arc::new(engine::load(f.path()).unwrap());
    let run = engine::start(factory, Some("P"), RunOptions::new("t"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = Instant::now();
    run.cancel();
    let out = tokio::time::timeout(STEP_TIMEOUT, run.finish())
        .await
        .unwrap()
        .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    let json = out.to_json();
    assert_eq!(out.status, Status::Cancelled, "{json:#}");
    for name in ["LongWait", "Forever", "Each"] {
        assert_eq!(status_of(&json, name), ["Cancelled"], "{name}: {json:#}");
    }
    // Two iterations were running (batchCount 2): they were cancelled, the other 38 never ran.
    let inner = status_of(&json, "Inner");
    assert_eq!(inner, ["Cancelled", "Cancelled"], "{json:#}");
    // Nothing starts after the cancel, even what a Completed condition would allow.
    assert!(status_of(&json, "After").is_empty(), "{json:#}");
}

#[tokio::test]
async fn cancelling_one_activity_leaves_the_rest_of_the_run_going() {
    let f = factory();
    let factory = Arc::new(engine::load(f.path()).unwrap());
    let run = engine::start(factory, Some("P"), RunOptions::new("t"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(run.cancel_activity("LongWait"));
    assert!(!run.cancel_activity("NoSuchActivity"));
    // `After` runs once LongWait completed (cancelled counts as not succeeded, not failed):
    // give it a moment, then stop the rest.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    run.cancel();
    let out = tokio::time::timeout(STEP_TIMEOUT, run.finish())
        .await
        .unwrap()
        .unwrap();
    let json = out.to_json();
    assert_eq!(status_of(&json, "LongWait"), ["Cancelled"], "{json:#}");
    let long_wait = activity(&json, "LongWait");
    assert_eq!(long_wait["error"]["errorCode"], "OperationCanceled");
    assert!(
        long_wait["durationInMs"].as_u64().unwrap() < 1500,
        "{long_wait:#}"
    );
}
