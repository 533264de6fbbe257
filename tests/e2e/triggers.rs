//! `sluice trigger next` on a factory folder with a `trigger/` folder as ADF's git integration
//! writes it: exact JSON for a schedule trigger in a Windows time zone across a daylight
//! saving change and for a tumbling window trigger, a clear error for a bad definition, and
//! `validate` reading the folder (both triggers fit their pipeline, so it passes).
//!
//! Shapes from "Create a trigger that runs a pipeline on a schedule" and "Create a trigger
//! that runs a pipeline on a tumbling window" (learn.microsoft.com).

use serde_json::json;
use sluice_e2e::*;

fn factory() -> TestFactory {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "Load",
        json!({"parameters": {"when": {"type": "String"}},
               "activities": [{"name": "Wait", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}),
    );
    // Mondays and Fridays at 01:00 Pacific time: PDT from March 14, 2027.
    f.put(
        "trigger",
        "Twice",
        json!({"type": "ScheduleTrigger", "runtimeState": "Started",
               "pipelines": [{"pipelineReference": {"referenceName": "Load", "type": "PipelineReference"},
                              "parameters": {"when": "@trigger().scheduledTime"}}],
               "typeProperties": {"recurrence": {"frequency": "Week", "interval": 1,
                   "startTime": "2027-01-01T00:00:00", "timeZone": "Pacific Standard Time",
                   "schedule": {"hours": [1], "minutes": [0], "weekDays": ["Monday", "Friday"]}}}}),
    );
    f.put(
        "trigger",
        "Windows",
        json!({"type": "TumblingWindowTrigger", "runtimeState": "Started",
               "pipeline": {"pipelineReference": {"referenceName": "Load", "type": "PipelineReference"},
                            "parameters": {"when": "@trigger().outputs.windowStartTime"}},
               "typeProperties": {"frequency": "Hour", "interval": 6, "startTime": "2027-04-30T00:00:00Z",
                   "delay": "00:15:00", "maxConcurrency": 2,
                   "retryPolicy": {"count": 1, "intervalInSeconds": 30}}}),
    );
    f
}

#[test]
fn trigger_next_prints_exact_fire_times_and_windows() {
    let f = factory();
    let path = f.path().to_str().unwrap();
    let args = |name: &'static str, from: &'static str| {
        vec![
            "trigger",
            "next",
            path,
            "--trigger",
            name,
            "--from",
            from,
            "--count",
            "3",
            "--output",
            "json",
        ]
    };

    let r = sluice(&args("Twice", "2027-05-01T00:00:00Z"));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.json(),
        json!([
            "2027-05-03T08:00:00Z",
            "2027-05-07T08:00:00Z",
            "2027-05-10T08:00:00Z"
        ])
    );
    // Before the change 01:00 is PST (09:00 UTC); the week of March 14 moves to 08:00 UTC.
    let r = sluice(&args("Twice", "2027-03-11T00:00:00Z"));
    assert_eq!(
        r.json(),
        json!([
            "2027-03-12T09:00:00Z",
            "2027-03-15T08:00:00Z",
            "2027-03-19T08:00:00Z"
        ]),
        "{}",
        r.all()
    );

    // The window ending at 00:00 is due at 00:15, so it is still to come at 00:00.
    let r = sluice(&args("Windows", "2027-05-01T00:00:00Z"));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.json(),
        json!([
            {"windowStartTime": "2027-04-30T18:00:00Z", "windowEndTime": "2027-05-01T00:00:00Z"},
            {"windowStartTime": "2027-05-01T00:00:00Z", "windowEndTime": "2027-05-01T06:00:00Z"},
            {"windowStartTime": "2027-05-01T06:00:00Z", "windowEndTime": "2027-05-01T12:00:00Z"}
        ])
    );

    // Text output shows the local time beside each instant.
    let r = sluice(&[
        "trigger",
        "next",
        path,
        "--trigger",
        "Twice",
        "--from",
        "2027-05-01T00:00:00Z",
        "--count",
        "1",
    ]);
    assert_eq!(
        r.stdout.trim(),
        "2027-05-03T08:00:00Z  (2027-05-03 01:00:00 PDT America/Los_Angeles)",
        "{}",
        r.all()
    );

    // validate reads the trigger folder (no notice passing it over) and the triggers fit.
    let v = sluice(&["validate", path]);
    assert_eq!(v.code, 0, "{}", v.all());
    assert!(!v.all().contains("trigger/"), "{}", v.all());
}

#[test]
fn trigger_next_names_the_trigger_and_property_of_a_bad_definition() {
    let f = factory();
    f.put(
        "trigger",
        "Broken",
        json!({"type": "ScheduleTrigger",
               "typeProperties": {"recurrence": {"frequency": "Day", "startTime": "2027-01-01T00:00:00",
                                                 "timeZone": "Atlantis Standard Time"}}}),
    );
    let path = f.path().to_str().unwrap();
    let r = sluice(&["trigger", "next", path, "--trigger", "Broken"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains(
            "trigger 'Broken': property 'properties.typeProperties.recurrence.timeZone': \"Atlantis Standard Time\" is not a known time zone"
        ),
        "{}",
        r.all()
    );
    // Other triggers of the folder are not held up by it.
    assert_eq!(
        sluice(&[
            "trigger",
            "next",
            path,
            "--trigger",
            "Twice",
            "--count",
            "1"
        ])
        .code,
        0
    );
    let r = sluice(&["trigger", "next", path, "--trigger", "Missing"]);
    assert!(
        r.stderr
            .contains("no trigger 'Missing' (defined: Broken, Twice, Windows)"),
        "{}",
        r.all()
    );
}
