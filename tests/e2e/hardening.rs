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
