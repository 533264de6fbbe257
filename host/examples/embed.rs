//! Embedding the Sluice engine in your own program: load a factory, start a pipeline, watch
//! its activities through an observer, cancel one activity from outside, and print the
//! ADF-shaped run record.
//!
//! Run it with `cargo run -p sluice --example embed`. It writes a small factory of control
//! activities to a temporary folder, so it needs no database.

use std::sync::Arc;
use std::time::Duration;

use sluice::engine::{self, RunObserver, RunOptions, Status};

/// Prints what the run does as it goes.
struct Printer;

impl RunObserver for Printer {
    fn activity_started(&self, a: &sluice::engine::ActivityStarted) {
        println!("started  {} ({})", a.activity_name, a.activity_type);
    }

    fn activity_finished(&self, record: &serde_json::Value) {
        println!(
            "finished {} -> {}",
            record["activityName"].as_str().unwrap_or("?"),
            record["status"].as_str().unwrap_or("?")
        );
    }
}

const PIPELINE: &str = r#"{
  "name": "Embedded",
  "properties": {
    "parameters": {"items": {"type": "Array", "defaultValue": [1, 2, 3]}},
    "variables": {"seen": {"type": "Array", "defaultValue": []}},
    "activities": [
      {"name": "EachItem", "type": "ForEach", "typeProperties": {
        "items": "@pipeline().parameters.items", "isSequential": true,
        "activities": [{"name": "Note", "type": "AppendVariable",
          "typeProperties": {"variableName": "seen", "value": "@item()"}}]}},
      {"name": "LongWait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 3600}}
    ]
  }
}"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("pipeline"))?;
    std::fs::write(dir.path().join("pipeline").join("Embedded.json"), PIPELINE)?;

    let factory = Arc::new(engine::load(dir.path())?);
    let problems = engine::validate(&factory);
    assert!(problems.errors.is_empty(), "{:?}", problems.errors);

    let options = RunOptions {
        parameters: vec![("items".into(), "[10, 20, 30]".into())],
        observer: Some(Arc::new(Printer)),
        ..RunOptions::new("example-tenant")
    };
    let run = engine::start(factory, Some("Embedded"), options).await?;
    // An hour-long wait is more than this example wants: stop just that activity.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("cancelling LongWait: {}", run.cancel_activity("LongWait"));
    let result = run.finish().await?;
    println!("{}", serde_json::to_string_pretty(&result.to_json())?);
    assert_eq!(result.status, Status::Failed);
    Ok(())
}
