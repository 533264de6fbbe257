//! Table tests of the trigger arithmetic: one row per example of ADF's "Create a trigger that
//! runs a pipeline on a schedule" ("Examples of trigger recurrence schedules", the startTime
//! example, the quickstart's 15-minute trigger) and of "Create a trigger that runs a pipeline
//! on a tumbling window", plus daylight saving rows. Time is an argument: nothing waits.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::time::format_utc;
use super::{Dependency, Trigger, TriggerKind, TumblingWindowTrigger, WindowFrequency};
use crate::model::trigger::Recurrence;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn trigger(properties: Value) -> Result<Trigger, String> {
    Trigger::from_json(&json!({"name": "T", "properties": properties}), "file")
        .map_err(|e| e.to_string())
}

fn recurrence(rec: Value) -> Recurrence {
    let t = trigger(json!({
        "type": "ScheduleTrigger",
        "typeProperties": {"recurrence": rec},
        "pipelines": [{"pipelineReference": {"referenceName": "P", "type": "PipelineReference"},
                       "parameters": {"when": "@trigger().scheduledTime"}}]
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    match t.kind {
        TriggerKind::Schedule(s) => s.recurrence,
        other => panic!("not a schedule trigger: {other:?}"),
    }
}

fn fires(rec: &Recurrence, from: &str, n: usize) -> Vec<String> {
    rec.fire_times(at(from)).take(n).map(format_utc).collect()
}

struct Row {
    doc: &'static str,
    frequency: &'static str,
    start: &'static str,
    schedule: &'static str,
    from: &'static str,
    expected: &'static [&'static str],
}

/// 2027-05-01 is a Saturday. Every row has `interval` 1 and `timeZone` UTC, as the docs' table
/// assumes; rows "at the specified start time" start at 08:30.
const DOC_EXAMPLES: &[Row] = &[
    Row {
        doc: r#"{"hours":[5]}: Run at 5:00 AM every day"#,
        frequency: "Day",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"hours":[5]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-01T05:00:00Z", "2027-05-02T05:00:00Z", "2027-05-03T05:00:00Z"],
    },
    Row {
        doc: "Run at 5:15 AM every day",
        frequency: "Day",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[15], "hours":[5]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-01T05:15:00Z", "2027-05-02T05:15:00Z", "2027-05-03T05:15:00Z"],
    },
    Row {
        doc: "Run at 5:15 AM and 5:15 PM every day",
        frequency: "Day",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[15], "hours":[5,17]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-01T05:15:00Z",
            "2027-05-01T17:15:00Z",
            "2027-05-02T05:15:00Z",
            "2027-05-02T17:15:00Z",
        ],
    },
    Row {
        doc: "Run at 5:15 AM, 5:45 AM, 5:15 PM, and 5:45 PM every day",
        frequency: "Day",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[15,45], "hours":[5,17]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-01T05:15:00Z",
            "2027-05-01T05:45:00Z",
            "2027-05-01T17:15:00Z",
            "2027-05-01T17:45:00Z",
            "2027-05-02T05:15:00Z",
        ],
    },
    Row {
        doc: "Run every 15 minutes",
        frequency: "Day",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0,15,30,45]}"#,
        from: "2027-05-01T23:20:00Z",
        expected: &["2027-05-01T23:30:00Z", "2027-05-01T23:45:00Z", "2027-05-02T00:00:00Z"],
    },
    Row {
        doc: "Run every hour; start 12:25 PM: runs at 00:25, 01:25, ..., 23:25",
        frequency: "Day",
        start: "2027-05-01T12:25:00Z",
        schedule: r#"{"hours":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23]}"#,
        from: "2027-05-01T22:00:00Z",
        expected: &["2027-05-01T22:25:00Z", "2027-05-01T23:25:00Z", "2027-05-02T00:25:00Z"],
    },
    Row {
        doc: r#"{"minutes":[0]}: Run every hour on the hour"#,
        frequency: "Day",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0]}"#,
        from: "2027-05-01T22:30:00Z",
        expected: &["2027-05-01T23:00:00Z", "2027-05-02T00:00:00Z", "2027-05-02T01:00:00Z"],
    },
    Row {
        doc: r#"{"minutes":[0]} with a week frequency: one day a week only"#,
        frequency: "Week",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0]}"#,
        from: "2027-05-01T22:30:00Z",
        expected: &["2027-05-01T23:00:00Z", "2027-05-08T00:00:00Z", "2027-05-08T01:00:00Z"],
    },
    Row {
        doc: "Run at 15 minutes past every hour, ending at 11:15 PM",
        frequency: "Day",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[15]}"#,
        from: "2027-05-01T22:30:00Z",
        expected: &["2027-05-01T23:15:00Z", "2027-05-02T00:15:00Z", "2027-05-02T01:15:00Z"],
    },
    Row {
        doc: "Run at 5:00 PM on Saturdays every week",
        frequency: "Week",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"hours":[17], "weekDays":["saturday"]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-01T17:00:00Z", "2027-05-08T17:00:00Z", "2027-05-15T17:00:00Z"],
    },
    Row {
        doc: "Run at 5:00 PM on Monday, Wednesday, and Friday every week",
        frequency: "Week",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"hours":[17], "weekDays":["monday", "wednesday", "friday"]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-03T17:00:00Z",
            "2027-05-05T17:00:00Z",
            "2027-05-07T17:00:00Z",
            "2027-05-10T17:00:00Z",
        ],
    },
    Row {
        doc: "Run at 5:15 PM and 5:45 PM on Monday, Wednesday, and Friday every week",
        frequency: "Week",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[15,45], "hours":[17], "weekDays":["monday", "wednesday", "friday"]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-03T17:15:00Z",
            "2027-05-03T17:45:00Z",
            "2027-05-05T17:15:00Z",
            "2027-05-05T17:45:00Z",
        ],
    },
    Row {
        doc: "Run every 15 minutes on weekdays",
        frequency: "Week",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0,15,30,45], "weekDays":["monday", "tuesday", "wednesday", "thursday", "friday"]}"#,
        from: "2027-05-07T23:40:00Z",
        expected: &["2027-05-07T23:45:00Z", "2027-05-10T00:00:00Z", "2027-05-10T00:15:00Z"],
    },
    Row {
        doc: "Run every 15 minutes on weekdays between 9:00 AM and 4:45 PM",
        frequency: "Week",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0,15,30,45], "hours": [9, 10, 11, 12, 13, 14, 15, 16], "weekDays":["monday", "tuesday", "wednesday", "thursday", "friday"]}"#,
        from: "2027-05-03T16:40:00Z",
        expected: &["2027-05-03T16:45:00Z", "2027-05-04T09:00:00Z", "2027-05-04T09:15:00Z"],
    },
    Row {
        doc: "Run on Tuesdays and Thursdays at the specified start time",
        frequency: "Week",
        start: "2027-05-01T08:30:00Z",
        schedule: r#"{"weekDays":["tuesday", "thursday"]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-04T08:30:00Z", "2027-05-06T08:30:00Z", "2027-05-11T08:30:00Z"],
    },
    Row {
        doc: "Run at 6:00 AM on the 28th day of every month",
        frequency: "Month",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0], "hours":[6], "monthDays":[28]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-28T06:00:00Z", "2027-06-28T06:00:00Z", "2027-07-28T06:00:00Z"],
    },
    Row {
        doc: "Run at 6:00 AM on the last day of the month",
        frequency: "Month",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0], "hours":[6], "monthDays":[-1]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-31T06:00:00Z", "2027-06-30T06:00:00Z", "2027-07-31T06:00:00Z"],
    },
    Row {
        doc: "Run at 6:00 AM on the first and last day of every month",
        frequency: "Month",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0], "hours":[6], "monthDays":[1,-1]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-01T06:00:00Z",
            "2027-05-31T06:00:00Z",
            "2027-06-01T06:00:00Z",
            "2027-06-30T06:00:00Z",
        ],
    },
    Row {
        doc: "Run on the first and 14th day of every month at the specified start time",
        frequency: "Month",
        start: "2027-05-01T08:30:00Z",
        schedule: r#"{"monthDays":[1,14]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-01T08:30:00Z",
            "2027-05-14T08:30:00Z",
            "2027-06-01T08:30:00Z",
            "2027-06-14T08:30:00Z",
        ],
    },
    Row {
        doc: "Run on the first Friday of every month at 5:00 AM",
        frequency: "Month",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0], "hours":[5], "monthlyOccurrences":[{"day":"friday", "occurrence":1}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-07T05:00:00Z", "2027-06-04T05:00:00Z", "2027-07-02T05:00:00Z"],
    },
    Row {
        doc: "Run on the first Friday of every month at the specified start time",
        frequency: "Month",
        start: "2027-05-01T08:30:00Z",
        schedule: r#"{"monthlyOccurrences":[{"day":"friday", "occurrence":1}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-07T08:30:00Z", "2027-06-04T08:30:00Z", "2027-07-02T08:30:00Z"],
    },
    Row {
        doc: "Run on the third Friday from the end of the month, every month, at the specified start time",
        frequency: "Month",
        start: "2027-05-01T08:30:00Z",
        schedule: r#"{"monthlyOccurrences":[{"day":"friday", "occurrence":-3}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-14T08:30:00Z", "2027-06-11T08:30:00Z", "2027-07-16T08:30:00Z"],
    },
    Row {
        doc: "Run on the first and last Friday of every month at 5:15 AM",
        frequency: "Month",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[15], "hours":[5], "monthlyOccurrences":[{"day":"friday", "occurrence":1},{"day":"friday", "occurrence":-1}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-07T05:15:00Z",
            "2027-05-28T05:15:00Z",
            "2027-06-04T05:15:00Z",
            "2027-06-25T05:15:00Z",
        ],
    },
    Row {
        doc: "Run on the first and last Friday of every month at the specified start time",
        frequency: "Month",
        start: "2027-05-01T08:30:00Z",
        schedule: r#"{"monthlyOccurrences":[{"day":"friday", "occurrence":1},{"day":"friday", "occurrence":-1}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-07T08:30:00Z", "2027-05-28T08:30:00Z", "2027-06-04T08:30:00Z"],
    },
    Row {
        doc: "Run on the fifth Friday of every month; no fifth Friday, no run",
        frequency: "Month",
        start: "2027-05-01T08:30:00Z",
        schedule: r#"{"monthlyOccurrences":[{"day":"friday", "occurrence":5}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-07-30T08:30:00Z", "2027-10-29T08:30:00Z", "2027-12-31T08:30:00Z"],
    },
    Row {
        doc: "Run every 15 minutes on the last Friday of the month",
        frequency: "Month",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[0,15,30,45], "monthlyOccurrences":[{"day":"friday", "occurrence":-1}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &["2027-05-28T00:00:00Z", "2027-05-28T00:15:00Z", "2027-05-28T00:30:00Z"],
    },
    Row {
        doc: "Run at 5:15 AM, 5:45 AM, 5:15 PM, and 5:45 PM on the third Wednesday of every month",
        frequency: "Month",
        start: "2027-05-01T00:00:00Z",
        schedule: r#"{"minutes":[15,45], "hours":[5,17], "monthlyOccurrences":[{"day":"wednesday", "occurrence":3}]}"#,
        from: "2027-05-01T00:00:00Z",
        expected: &[
            "2027-05-19T05:15:00Z",
            "2027-05-19T05:45:00Z",
            "2027-05-19T17:15:00Z",
            "2027-05-19T17:45:00Z",
            "2027-06-16T05:15:00Z",
        ],
    },
];

#[test]
fn documented_schedule_examples() {
    for row in DOC_EXAMPLES {
        let schedule: Value =
            serde_json::from_str(row.schedule).unwrap_or_else(|e| panic!("{}: {e}", row.doc));
        let rec = recurrence(json!({
            "frequency": row.frequency, "interval": 1, "startTime": row.start,
            "timeZone": "UTC", "schedule": schedule
        }));
        assert_eq!(
            fires(&rec, row.from, row.expected.len()),
            row.expected,
            "{}",
            row.doc
        );
    }
}

/// "Assume that the current time is 2017-04-08 13:00, the start time is 2017-04-07 14:00, and
/// the recurrence is every two days ... the first execution is at 2017-04-09 at 14:00", then
/// 04-11, 04-13, 04-15; "the same even if the startTime value is 2017-04-05 14:00 or
/// 2017-04-01 14:00".
#[test]
fn start_time_in_the_past_without_schedule() {
    for start in [
        "2017-04-07T14:00:00Z",
        "2017-04-05T14:00:00Z",
        "2017-04-01T14:00:00Z",
    ] {
        let rec = recurrence(
            json!({"frequency": "Day", "interval": 2, "startTime": start, "timeZone": "UTC"}),
        );
        assert_eq!(
            fires(&rec, "2017-04-08T13:00:00Z", 4),
            [
                "2017-04-09T14:00:00Z",
                "2017-04-11T14:00:00Z",
                "2017-04-13T14:00:00Z",
                "2017-04-15T14:00:00Z"
            ],
            "start {start}"
        );
    }
}

/// The quickstart's trigger: every 15 minutes from startTime, none after endTime; and a start
/// in the future "runs once at the specified start time" first.
#[test]
fn minute_recurrence_stops_at_end_time() {
    let rec = recurrence(
        json!({"frequency": "Minute", "interval": 15, "startTime": "2017-12-08T00:00:00Z",
                                "endTime": "2017-12-08T01:00:00Z", "timeZone": "UTC"}),
    );
    assert_eq!(
        fires(&rec, "2017-12-07T00:00:00Z", 10),
        [
            "2017-12-08T00:00:00Z",
            "2017-12-08T00:15:00Z",
            "2017-12-08T00:30:00Z",
            "2017-12-08T00:45:00Z",
            "2017-12-08T01:00:00Z"
        ]
    );
    assert_eq!(rec.next_after(at("2017-12-08T01:00:00Z")), None);
    assert_eq!(
        rec.next_after(at("2017-12-08T00:15:00Z"))
            .map(format_utc)
            .as_deref(),
        Some("2017-12-08T00:30:00Z")
    );
}

struct DstRow {
    doc: &'static str,
    rec: &'static str,
    from: &'static str,
    expected: &'static [&'static str],
}

/// US daylight saving 2027: clocks spring forward on March 14 (02:00 PST to 03:00 PDT) and
/// fall back on November 7 (02:00 PDT to 01:00 PST); Europe: March 28 and October 31.
const DST: &[DstRow] = &[
    DstRow {
        doc: "daily 02:30 Pacific across spring forward: the skipped 02:30 runs at 03:30 PDT",
        rec: r#"{"frequency":"Day","interval":1,"startTime":"2027-03-12T00:00:00","timeZone":"Pacific Standard Time","schedule":{"hours":[2],"minutes":[30]}}"#,
        from: "2027-03-12T00:00:00Z",
        expected: &[
            "2027-03-12T10:30:00Z",
            "2027-03-13T10:30:00Z",
            "2027-03-14T10:30:00Z",
            "2027-03-15T09:30:00Z",
        ],
    },
    DstRow {
        doc: "daily 02:30 Pacific across fall back: 02:30 exists once, in PST",
        rec: r#"{"frequency":"Day","interval":1,"startTime":"2027-11-05T00:00:00","timeZone":"Pacific Standard Time","schedule":{"hours":[2],"minutes":[30]}}"#,
        from: "2027-11-06T00:00:00Z",
        expected: &[
            "2027-11-06T09:30:00Z",
            "2027-11-07T10:30:00Z",
            "2027-11-08T10:30:00Z",
        ],
    },
    DstRow {
        doc: "daily 01:30 Pacific across fall back: the repeated 01:30 fires once, the first (PDT)",
        rec: r#"{"frequency":"Day","interval":1,"startTime":"2027-11-05T00:00:00","timeZone":"Pacific Standard Time","schedule":{"hours":[1],"minutes":[30]}}"#,
        from: "2027-11-06T00:00:00Z",
        expected: &[
            "2027-11-06T08:30:00Z",
            "2027-11-07T08:30:00Z",
            "2027-11-08T09:30:00Z",
        ],
    },
    DstRow {
        doc: "the same schedule by IANA name",
        rec: r#"{"frequency":"Day","interval":1,"startTime":"2027-03-12T00:00:00","timeZone":"America/Los_Angeles","schedule":{"hours":[2],"minutes":[30]}}"#,
        from: "2027-03-13T00:00:00Z",
        expected: &[
            "2027-03-13T10:30:00Z",
            "2027-03-14T10:30:00Z",
            "2027-03-15T09:30:00Z",
        ],
    },
    DstRow {
        doc: "Day recurrence without schedule keeps 08:00 wall-clock time across spring forward",
        rec: r#"{"frequency":"Day","interval":1,"startTime":"2027-03-13T08:00:00","timeZone":"Pacific Standard Time"}"#,
        from: "2027-03-01T00:00:00Z",
        expected: &[
            "2027-03-13T16:00:00Z",
            "2027-03-14T15:00:00Z",
            "2027-03-15T15:00:00Z",
        ],
    },
    DstRow {
        doc: "Hour recurrence fires at regular intervals across spring forward (no adjustment)",
        rec: r#"{"frequency":"Hour","interval":1,"startTime":"2027-03-14T00:00:00","timeZone":"Pacific Standard Time"}"#,
        from: "2027-03-14T00:00:00Z",
        expected: &[
            "2027-03-14T08:00:00Z",
            "2027-03-14T09:00:00Z",
            "2027-03-14T10:00:00Z",
            "2027-03-14T11:00:00Z",
        ],
    },
    DstRow {
        doc: "weekly Sunday 02:30 in W. Europe Standard Time across March 28",
        rec: r#"{"frequency":"Week","interval":1,"startTime":"2027-03-20T00:00:00","timeZone":"W. Europe Standard Time","schedule":{"hours":[2],"minutes":[30],"weekDays":["Sunday"]}}"#,
        from: "2027-03-20T00:00:00Z",
        expected: &[
            "2027-03-21T01:30:00Z",
            "2027-03-28T01:30:00Z",
            "2027-04-04T00:30:00Z",
        ],
    },
    DstRow {
        doc: "monthly last Friday 09:00 Eastern: EST in February, EDT in March",
        rec: r#"{"frequency":"Month","interval":1,"startTime":"2027-02-01T00:00:00","timeZone":"Eastern Standard Time","schedule":{"hours":[9],"minutes":[0],"monthlyOccurrences":[{"day":"Friday","occurrence":-1}]}}"#,
        from: "2027-02-01T00:00:00Z",
        expected: &["2027-02-26T14:00:00Z", "2027-03-26T13:00:00Z"],
    },
    DstRow {
        doc: "India Standard Time has no daylight saving: 05:00 IST is 23:30 UTC the day before",
        rec: r#"{"frequency":"Day","interval":1,"startTime":"2027-03-12T00:00:00","timeZone":"India Standard Time","schedule":{"hours":[5],"minutes":[0]}}"#,
        from: "2027-03-12T00:00:00Z",
        expected: &["2027-03-12T23:30:00Z", "2027-03-13T23:30:00Z"],
    },
];

#[test]
fn daylight_saving_transitions() {
    for row in DST {
        let rec = recurrence(
            serde_json::from_str(row.rec).unwrap_or_else(|e| panic!("{}: {e}", row.doc)),
        );
        assert_eq!(
            fires(&rec, row.from, row.expected.len()),
            row.expected,
            "{}",
            row.doc
        );
    }
}

#[test]
fn other_recurrences() {
    // Every 3 weeks from a Wednesday: the start's weekday and time.
    let rec = recurrence(
        json!({"frequency": "Week", "interval": 3, "startTime": "2027-05-05T07:00:00Z"}),
    );
    assert_eq!(
        fires(&rec, "2027-05-06T00:00:00Z", 2),
        ["2027-05-26T07:00:00Z", "2027-06-16T07:00:00Z"]
    );
    // Monthly from January 31: the last day of shorter months, the 31st again in March.
    let rec = recurrence(
        json!({"frequency": "Month", "interval": 1, "startTime": "2027-01-31T06:00:00Z"}),
    );
    assert_eq!(
        fires(&rec, "2027-01-01T00:00:00Z", 3),
        [
            "2027-01-31T06:00:00Z",
            "2027-02-28T06:00:00Z",
            "2027-03-31T06:00:00Z"
        ]
    );
    // An explicit monthDays 31 skips months without one (documented).
    let rec = recurrence(
        json!({"frequency": "Month", "startTime": "2027-01-01T06:00:00Z", "schedule": {"monthDays": [31]}}),
    );
    assert_eq!(
        fires(&rec, "2027-02-01T00:00:00Z", 2),
        ["2027-03-31T06:00:00Z", "2027-05-31T06:00:00Z"]
    );
    // Hour frequency with minutes, every 2 hours from 08:20.
    let rec = recurrence(
        json!({"frequency": "Hour", "interval": 2, "startTime": "2027-05-01T08:20:00Z", "schedule": {"minutes": [15, 45]}}),
    );
    assert_eq!(
        fires(&rec, "2027-05-01T00:00:00Z", 3),
        [
            "2027-05-01T08:45:00Z",
            "2027-05-01T10:15:00Z",
            "2027-05-01T10:45:00Z"
        ]
    );
    // A schedule that can never fire ends instead of looping.
    let rec = recurrence(
        json!({"frequency": "Month", "interval": 12, "startTime": "2027-02-01T00:00:00Z", "schedule": {"monthDays": [30]}}),
    );
    assert_eq!(rec.first_at_or_after(at("2027-01-01T00:00:00Z")), None);
}

fn tumbling(type_properties: Value) -> Result<TumblingWindowTrigger, String> {
    let t = trigger(json!({
        "type": "TumblingWindowTrigger",
        "typeProperties": type_properties,
        "pipeline": {"pipelineReference": {"referenceName": "P", "type": "PipelineReference"},
                     "parameters": {"from": "@trigger().outputs.windowStartTime"}}
    }))?;
    match t.kind {
        TriggerKind::TumblingWindow(w) => Ok(w),
        other => Err(format!("not a tumbling window trigger: {other:?}")),
    }
}

fn windows(trigger: &TumblingWindowTrigger, from: &str, n: usize) -> Vec<(String, String)> {
    trigger
        .windows_from(at(from))
        .take(n)
        .map(|w| (format_utc(w.start), format_utc(w.end)))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn tumbling_windows() {
    // "If the frequency value is hourly and the startTime value is 2017-09-01T10:10:10Z, the
    // first window is (2017-09-01T10:10:10Z, 2017-09-01T11:10:10Z)."
    let t = tumbling(json!({"frequency": "Hour", "interval": 1, "startTime": "2017-09-01T10:10:10Z", "maxConcurrency": 10}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        windows(&t, "2017-09-01T00:00:00Z", 2),
        pairs(&[
            ("2017-09-01T10:10:10Z", "2017-09-01T11:10:10Z"),
            ("2017-09-01T11:10:10Z", "2017-09-01T12:10:10Z")
        ])
    );
    // Windows in the past are backfilled: from a later instant, the windows still to come.
    assert_eq!(
        windows(&t, "2017-09-03T00:30:00Z", 2),
        pairs(&[
            ("2017-09-03T00:10:10Z", "2017-09-03T01:10:10Z"),
            ("2017-09-03T01:10:10Z", "2017-09-03T02:10:10Z")
        ]),
        "the window ending 00:10:10 was due before 00:30"
    );
    // delay: the window is the same, its run is due 10 minutes after the window ends.
    let t = tumbling(
        json!({"frequency": "Hour", "interval": 2, "startTime": "2027-05-01T00:00:00Z",
                            "endTime": "2027-05-01T06:00:00Z", "delay": "00:10:00",
                            "retryPolicy": {"count": 2, "intervalInSeconds": 60}}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        windows(&t, "2027-05-01T02:05:00Z", 10),
        pairs(&[
            ("2027-05-01T00:00:00Z", "2027-05-01T02:00:00Z"),
            ("2027-05-01T02:00:00Z", "2027-05-01T04:00:00Z"),
            ("2027-05-01T04:00:00Z", "2027-05-01T06:00:00Z")
        ]),
        "the window ending 02:00 is due at 02:10; endTime 06:00 ends the last window"
    );
    let first = t.window(0).unwrap_or_else(|| panic!("no first window"));
    assert_eq!(format_utc(t.fire_time(&first)), "2027-05-01T02:10:00Z");
    assert_eq!((t.retry.count, t.retry.interval_in_seconds), (2, 60));
    // Month windows from January 31.
    let t =
        tumbling(json!({"frequency": "Month", "interval": 1, "startTime": "2027-01-31T00:00:00Z"}))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.frequency, WindowFrequency::Month);
    assert_eq!(
        windows(&t, "2027-01-01T00:00:00Z", 3),
        pairs(&[
            ("2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z"),
            ("2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z"),
            ("2027-03-31T00:00:00Z", "2027-04-30T00:00:00Z")
        ])
    );
    // Minute windows of 15 from a backfill point far past the start.
    let t = tumbling(
        json!({"frequency": "Minute", "interval": 15, "startTime": "2020-01-01T00:00:00Z"}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        windows(&t, "2027-05-01T00:00:00Z", 2),
        pairs(&[
            ("2027-04-30T23:45:00Z", "2027-05-01T00:00:00Z"),
            ("2027-05-01T00:00:00Z", "2027-05-01T00:15:00Z")
        ])
    );
}

#[test]
fn tumbling_dependencies() {
    let t = tumbling(
        json!({"frequency": "Hour", "interval": 1, "startTime": "2027-05-01T00:00:00Z",
        "dependsOn": [
            {"type": "TumblingWindowTriggerDependencyReference",
             "referenceTrigger": {"referenceName": "Upstream", "type": "TriggerReference"},
             "offset": "-02:00:00", "size": "03:00:00"},
            {"type": "SelfDependencyTumblingWindowTriggerReference", "offset": "-01:00:00"}
        ]}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.depends_on,
        [
            Dependency::Trigger {
                trigger: "Upstream".into(),
                offset: Some(chrono::TimeDelta::hours(-2)),
                size: Some(chrono::TimeDelta::hours(3))
            },
            Dependency::SelfDependency {
                offset: chrono::TimeDelta::hours(-1),
                size: None
            }
        ]
    );
}

#[test]
fn bad_definitions_name_trigger_property_and_reason() {
    let schedule = |rec: Value| {
        trigger(json!({"type": "ScheduleTrigger", "typeProperties": {"recurrence": rec}}))
            .err()
            .unwrap_or_else(|| panic!("accepted {rec}"))
    };
    let cases = [
        (
            schedule(json!({"frequency": "Day", "startTime": "2027-01-01T00:00:00", "timeZone": "Mars Standard Time"})),
            "trigger 'T': property 'properties.typeProperties.recurrence.timeZone': \"Mars Standard Time\" is not a known time zone",
        ),
        (
            schedule(json!({"frequency": "Day", "startTime": "2027-01-01T00:00:00Z", "schedule": {"weekDays": ["monday"]}})),
            "property 'properties.typeProperties.recurrence.schedule.weekDays': can be used with a Week frequency only",
        ),
        (
            schedule(json!({"frequency": "Fortnight", "startTime": "2027-01-01T00:00:00Z"})),
            "property 'properties.typeProperties.recurrence.frequency': \"Fortnight\" is not one of Minute, Hour, Day, Week, Month",
        ),
        (
            schedule(json!({"frequency": "Day"})),
            "property 'properties.typeProperties.recurrence.startTime': is missing",
        ),
        (
            schedule(json!({"frequency": "Month", "startTime": "2027-01-01T00:00:00Z", "schedule": {"monthDays": [0]}})),
            "schedule.monthDays': 0 is not a day of the month",
        ),
        (
            schedule(json!({"frequency": "Day", "startTime": "2027-01-01T00:00:00Z", "schedule": {"hours": [24]}})),
            "schedule.hours': 24 is out of range (0 to 23)",
        ),
        (
            schedule(json!({"frequency": "Day", "startTime": "yesterday"})),
            "recurrence.startTime': \"yesterday\" is not a date-time",
        ),
        (
            tumbling(json!({"frequency": "Minute", "interval": 4, "startTime": "2027-01-01T00:00:00Z"})).err().unwrap_or_default(),
            "properties.typeProperties.interval': 4 minutes is shorter than the 5-minute minimum window",
        ),
        (
            tumbling(json!({"frequency": "Day", "interval": 1, "startTime": "2027-01-01T00:00:00Z"})).err().unwrap_or_default(),
            "\"Day\" is not a tumbling window frequency (Minute, Hour or Month)",
        ),
        (
            tumbling(json!({"frequency": "Hour", "interval": 1, "startTime": "2027-01-01T00:00:00Z",
                            "dependsOn": [{"type": "SelfDependencyTumblingWindowTriggerReference", "offset": "01:00:00"}]}))
            .err()
            .unwrap_or_default(),
            "dependsOn[0].offset': must be negative",
        ),
    ];
    for (message, expected) in cases {
        assert!(message.contains(expected), "{message}\n  lacks: {expected}");
    }
}

#[test]
fn git_integration_shape_and_other_types() {
    let t = Trigger::from_json(
        &json!({"name": "Nightly", "properties": {"type": "ScheduleTrigger", "runtimeState": "Started",
            "pipelines": [{"pipelineReference": {"referenceName": "Load", "type": "PipelineReference"},
                           "parameters": {"day": {"type": "Expression", "value": "@trigger().scheduledTime"}}}],
            "typeProperties": {"recurrence": {"frequency": "Day", "interval": 1,
                "startTime": "2027-05-01T02:00:00", "timeZone": "W. Europe Standard Time"}}}}),
        "ignored",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (t.name.as_str(), t.runtime_state.as_deref()),
        ("Nightly", Some("Started"))
    );
    let TriggerKind::Schedule(s) = &t.kind else {
        panic!("{:?}", t.kind)
    };
    assert_eq!(s.pipelines.len(), 1);
    assert_eq!(s.pipelines[0].pipeline, "Load");
    assert_eq!(
        s.pipelines[0].parameters["day"]["value"],
        "@trigger().scheduledTime"
    );
    // 02:00 CEST is 00:00 UTC.
    assert_eq!(format_utc(s.recurrence.start), "2027-05-01T00:00:00Z");

    let t = Trigger::from_json(
        &json!({"properties": {"type": "BlobEventsTrigger", "typeProperties": {}}}),
        "OnUpload",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.name, "OnUpload");
    assert!(matches!(&t.kind, TriggerKind::Other(ty) if ty == "BlobEventsTrigger"));
}

/// The docs' "Time zone option" table: each `timeZone` value, its UTC offset outside daylight
/// saving, and whether it observes daylight saving (checked in January and July 2027).
#[test]
fn documented_time_zone_values() {
    use chrono::Offset;
    let table: &[(&str, i32, bool)] = &[
        ("UTC", 0, false),
        ("Pacific Standard Time", -8 * 60, true),
        ("Central Standard Time", -6 * 60, true),
        ("Eastern Standard Time", -5 * 60, true),
        ("GMT Standard Time", 0, true),
        ("W. Europe Standard Time", 60, true),
        ("India Standard Time", 5 * 60 + 30, false),
        ("China Standard Time", 8 * 60, false),
    ];
    let offset_minutes = |zone: chrono_tz::Tz, instant: &str| {
        at(instant)
            .with_timezone(&zone)
            .offset()
            .fix()
            .local_minus_utc()
            / 60
    };
    for (name, standard, dst) in table {
        let zone = super::time::resolve_zone(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            offset_minutes(zone, "2027-01-15T12:00:00Z"),
            *standard,
            "{name} in January"
        );
        let summer = standard + if *dst { 60 } else { 0 };
        assert_eq!(
            offset_minutes(zone, "2027-07-15T12:00:00Z"),
            summer,
            "{name} in July"
        );
    }
    assert!(super::time::resolve_zone("Europe/Berlin").is_ok());
}
