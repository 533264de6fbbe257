//! The scheduler's pure rules: which schedule instants are due, which windows a dependency
//! waits for, and what a trigger run's pipeline runs make of it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use uuid::Uuid;

use super::completion::{outcome, Outcome};
use super::fire::due_instants;
use super::windows::{dependency_range, overlapping};
use super::{Clock, ManualClock};
use crate::model::trigger::{Dependency, Trigger, TriggerKind, TumblingWindowTrigger, Window};
use crate::service::control::RunStatus;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn minutely() -> crate::model::trigger::Recurrence {
    let json = json!({"name": "Every", "properties": {"type": "ScheduleTrigger",
        "typeProperties": {"recurrence": {"frequency": "Minute", "interval": 1,
            "startTime": "2027-01-01T00:00:00Z"}}}});
    match Trigger::from_json(&json, "Every").unwrap().kind {
        TriggerKind::Schedule(s) => s.recurrence,
        other => panic!("{other:?}"),
    }
}

fn tumbling(minutes: u32, start: &str) -> TumblingWindowTrigger {
    let json = json!({"name": "W", "properties": {"type": "TumblingWindowTrigger",
        "pipeline": {"pipelineReference": {"referenceName": "p"}},
        "typeProperties": {"frequency": "Minute", "interval": minutes, "startTime": start}}});
    match Trigger::from_json(&json, "W").unwrap().kind {
        TriggerKind::TumblingWindow(w) => w,
        other => panic!("{other:?}"),
    }
}

#[test]
fn due_instants_are_the_ones_since_start_within_catch_up() {
    let r = minutely();
    let minute = TimeDelta::minutes(1);
    // On time: the instant at now.
    assert_eq!(
        due_instants(&r, None, t("2027-01-01T10:00:00Z"), minute),
        vec![t("2027-01-01T09:59:00Z"), t("2027-01-01T10:00:00Z")]
    );
    // A late tick still fires what is within the bound ...
    assert_eq!(
        due_instants(&r, None, t("2027-01-01T10:00:30Z"), minute),
        vec![t("2027-01-01T10:00:00Z")]
    );
    // ... never what came before the trigger was started ...
    assert_eq!(
        due_instants(
            &r,
            Some(t("2027-01-01T10:00:10Z")),
            t("2027-01-01T10:00:30Z"),
            minute
        ),
        Vec::<DateTime<Utc>>::new()
    );
    // ... and after a long gap only the latest instants, not the missed hours.
    let after_gap = due_instants(
        &r,
        Some(t("2027-01-01T00:00:00Z")),
        t("2027-01-01T15:00:20Z"),
        minute,
    );
    assert_eq!(after_gap, vec![t("2027-01-01T15:00:00Z")]);
    // Nothing before the recurrence's startTime.
    assert!(due_instants(&r, None, t("2026-12-31T23:59:59Z"), minute).is_empty());
}

#[test]
fn dependency_ranges_default_to_the_window_and_shift_by_offset() {
    let w = Window {
        start: t("2027-01-01T01:00:00Z"),
        end: t("2027-01-01T02:00:00Z"),
    };
    let other = Dependency::Trigger {
        trigger: "Up".into(),
        offset: None,
        size: None,
    };
    assert_eq!(
        dependency_range(&other, "Me", &w),
        ("Up".into(), (w.start, w.end))
    );
    let shifted = Dependency::Trigger {
        trigger: "Up".into(),
        offset: Some(TimeDelta::minutes(-30)),
        size: Some(TimeDelta::hours(2)),
    };
    assert_eq!(
        dependency_range(&shifted, "Me", &w).1,
        (t("2027-01-01T00:30:00Z"), t("2027-01-01T02:30:00Z"))
    );
    let own = Dependency::SelfDependency {
        offset: TimeDelta::hours(-1),
        size: None,
    };
    assert_eq!(
        dependency_range(&own, "Me", &w),
        ("Me".into(), (t("2027-01-01T00:00:00Z"), w.start))
    );
}

#[test]
fn overlapping_windows_are_the_ones_touching_the_range() {
    let up = tumbling(15, "2027-01-01T00:00:00Z");
    let got = overlapping(&up, t("2027-01-01T00:20:00Z"), t("2027-01-01T01:00:00Z")).unwrap();
    let starts: Vec<_> = got.iter().map(|w| w.start).collect();
    assert_eq!(
        starts,
        vec![
            t("2027-01-01T00:15:00Z"),
            t("2027-01-01T00:30:00Z"),
            t("2027-01-01T00:45:00Z")
        ]
    );
    // Before the reference's startTime there is nothing to wait for.
    assert!(
        overlapping(&up, t("2026-12-31T23:00:00Z"), t("2027-01-01T00:00:00Z"))
            .unwrap()
            .is_empty()
    );
    // A range reaching past startTime waits for the windows that exist.
    assert_eq!(
        overlapping(&up, t("2026-12-31T23:50:00Z"), t("2027-01-01T00:10:00Z"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn outcomes_follow_the_pipeline_runs() {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let run = |s: RunStatus, m: &str| Some(("p".to_string(), s, m.to_string()));
    assert_eq!(
        outcome(&[
            (a, run(RunStatus::Succeeded, "")),
            (b, run(RunStatus::InProgress, ""))
        ]),
        Outcome::Running
    );
    assert_eq!(
        outcome(&[(a, run(RunStatus::Succeeded, ""))]),
        Outcome::Succeeded
    );
    match outcome(&[
        (a, run(RunStatus::Succeeded, "")),
        (b, run(RunStatus::Failed, "boom")),
    ]) {
        Outcome::Failed(m) => assert!(m.contains("boom") && m.contains(&b.to_string()), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(outcome(&[(a, None)]), Outcome::Failed(m) if m.contains("no longer exists")));
}

#[test]
fn manual_clock_moves_only_when_told() {
    let clock = ManualClock::new(t("2027-01-01T00:00:00Z"));
    assert_eq!(clock.now(), t("2027-01-01T00:00:00Z"));
    assert_eq!(
        clock.advance(TimeDelta::minutes(5)),
        t("2027-01-01T00:05:00Z")
    );
    clock.set(t("2028-01-01T00:00:00Z"));
    assert_eq!(clock.now(), t("2028-01-01T00:00:00Z"));
}
