//! The incremental-copy pattern under a tumbling window trigger, end to end: a
//! `TumblingWindowTrigger` (hourly, `maxConcurrency: 2`, `startTime` ten hours before the
//! scheduler's clock) passes `@trigger().outputs.windowStartTime` / `windowEndTime` to a Copy
//! whose source query selects the rows of that window, as ADF's "incrementally copy data using
//! a tumbling window" pattern does. Real `sluice worker`s run the pipeline runs; a `Scheduler`
//! on a test clock is ticked until every window is Succeeded.
//!
//! Proves: the 10 backfilled windows each get exactly one trigger run with exactly one pipeline
//! run carrying its window in `trigger_info`; never more than 2 windows are Inprogress (nor
//! more than 2 pipeline runs unfinished); the sink holds exactly the source rows inside the 10
//! windows (rows on a window's edge and rows outside every window included in the source),
//! each exactly once; and every status change of a trigger run moves its `last_updated` to
//! the tick's time (what `queryTriggerRuns` filters on).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use sluice::service::control::Kind;
use sluice::service::scheduler::{Clock, ManualClock, Scheduler};
use sluice_e2e::service::Fixture;
use sluice_e2e::*;
use uuid::Uuid;

const TRIGGER: &str = "HourlyWindows";
const PIPELINE: &str = "IncrementalCopy";

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Linked service `Pg`, datasets `Src`/`Dst` on `db`'s tables and the incremental copy
/// pipeline, its source query bounded by the window parameters.
async fn factory(fx: &Fixture, db: &TestDb) {
    fx.put_local_tables(&db.schema, &[("Src", "src"), ("Dst", "dst")])
        .await;
    let query = format!(
        "SELECT id, ts, v FROM \"{}\".src WHERE ts >= '@{{pipeline().parameters.windowStart}}' \
         AND ts < '@{{pipeline().parameters.windowEnd}}'",
        db.schema
    );
    fx.put(
        Kind::Pipelines,
        PIPELINE,
        json!({
            "parameters": {"windowStart": {"type": "String"}, "windowEnd": {"type": "String"}},
            "activities": [{"name": "CopyWindow", "type": "Copy",
                "inputs": [{"referenceName": "Src", "type": "DatasetReference"}],
                "outputs": [{"referenceName": "Dst", "type": "DatasetReference"}],
                "typeProperties": {
                    "source": {"type": "AzurePostgreSqlSource", "query": query},
                    "sink": {"type": "AzurePostgreSqlSink"}}}]}),
    )
    .await;
}

/// A trigger run as the test observes it after a tick.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    status: String,
    last_updated: DateTime<Utc>,
}

async fn trigger_runs(client: &tokio_postgres::Client) -> HashMap<Uuid, Seen> {
    client
        .query(
            "SELECT trigger_run_id, status, last_updated FROM sluice.trigger_runs",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0),
                Seen {
                    status: r.get(1),
                    last_updated: r.get(2),
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tumbling_window_backfill_with_max_concurrency_2_copies_each_row_once() {
    let db = TestDb::new("trigwin").await;
    // Rows every 7 minutes from two hours before the first window to two hours after the last,
    // plus a row on every window edge (the last one, at 10:00, is outside: windows end
    // exclusive).
    db.exec(
        "CREATE TABLE {s}.src (id int PRIMARY KEY, ts timestamptz NOT NULL, v text);
         INSERT INTO {s}.src SELECT g, timestamptz '2027-05-02T22:00:00Z' + g * interval '7 minutes',
                'v' || g FROM generate_series(0, 119) g;
         INSERT INTO {s}.src SELECT 1000 + h, timestamptz '2027-05-03T00:00:00Z' + h * interval '1 hour',
                'edge' || h FROM generate_series(0, 10) h;
         CREATE TABLE {s}.dst (id int, ts timestamptz, v text);
         CREATE VIEW {s}.expected AS SELECT * FROM {s}.src
                WHERE ts >= '2027-05-03T00:00:00Z' AND ts < '2027-05-03T10:00:00Z';",
    )
    .await;
    let inside = db.count("expected").await;
    let all = db.count("src").await;
    assert!(
        inside > 0 && inside < all,
        "rows inside {inside}, all {all}"
    );

    let fx = Fixture::new("trigwin", &[]).await;
    factory(&fx, &db).await;
    let now = t("2027-05-03T10:00:00Z");
    let start = now - TimeDelta::hours(10);
    fx.control
        .put_trigger(
            fx.tenant.id,
            "rg",
            "f",
            TRIGGER,
            &json!({"properties": {"type": "TumblingWindowTrigger",
                "pipeline": {"pipelineReference": {"referenceName": PIPELINE, "type": "PipelineReference"},
                             "parameters": {"windowStart": "@trigger().outputs.windowStartTime",
                                            "windowEnd": "@trigger().outputs.windowEndTime"}},
                "typeProperties": {"frequency": "Hour", "interval": 1,
                                   "startTime": iso(start), "maxConcurrency": 2}}}),
            None,
        )
        .await
        .unwrap();
    fx.control
        .start_trigger(fx.tenant.id, "rg", "f", TRIGGER, now)
        .await
        .unwrap();

    // Two workers with room for four runs: the limit of two at a time is the trigger's.
    let (logs, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let workers = [
        fx.worker(
            &["--concurrency", "2", "--lease", "5"],
            logs.path(),
            cache.path(),
        ),
        fx.worker(
            &["--concurrency", "2", "--lease", "5"],
            logs.path(),
            cache.path(),
        ),
    ];
    let logs_of = || {
        workers
            .iter()
            .map(|w| w.output())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };

    // Tick once a second of test time (so each tick's changes carry a time of their own) until
    // every window is Succeeded; wall time only bounds the wait. Well under an hour of test
    // time passes, so no eleventh window falls due.
    let clock = ManualClock::new(now);
    let scheduler = Scheduler::new(fx.ctl.control().await);
    let client = fx.ctl.client().await;
    let mut seen: HashMap<Uuid, Seen> = HashMap::new();
    let mut most_inprogress = 0;
    let t0 = std::time::Instant::now();
    let limit = Duration::from_secs(300);
    let mut ticks = 0;
    loop {
        let at = clock.advance(TimeDelta::seconds(1));
        let report = scheduler.tick(at).await.unwrap();
        assert_eq!(report.errors, 0, "tick at {at}: {report:?}");
        ticks += 1;
        let runs = trigger_runs(&client).await;
        for (id, run) in &runs {
            if seen.get(id).map(|s| &s.status) != Some(&run.status) {
                assert_eq!(
                    run.last_updated, at,
                    "trigger run {id} became {} at the tick at {at} but last_updated is {}",
                    run.status, run.last_updated
                );
            } else {
                assert_eq!(
                    Some(run),
                    seen.get(id),
                    "trigger run {id} changed without a status change"
                );
            }
            assert_ne!(
                run.status,
                "Failed",
                "a window failed; workers:\n{}",
                logs_of()
            );
        }
        let inprogress = runs.values().filter(|r| r.status == "Inprogress").count();
        assert!(
            inprogress <= 2,
            "tick {ticks}: {inprogress} windows Inprogress"
        );
        most_inprogress = most_inprogress.max(inprogress);
        let unfinished: i64 = client
            .query_one(
                "SELECT count(*) FROM sluice.runs WHERE status NOT IN ('Succeeded', 'Failed', 'Cancelled')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            unfinished <= 2,
            "tick {ticks}: {unfinished} pipeline runs unfinished"
        );
        seen = runs;
        if seen.len() == 10 && seen.values().all(|r| r.status == "Succeeded") {
            break;
        }
        assert!(
            t0.elapsed() < limit,
            "not every window Succeeded after {limit:?} ({ticks} ticks): {seen:?}; workers:\n{}",
            logs_of()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(most_inprogress, 2, "the backfill ran two windows at a time");
    assert!(clock.now() < now + TimeDelta::hours(1), "{ticks} ticks");

    // Ten trigger runs, one per window, each with exactly one pipeline run that carries its
    // window and the trigger run's identity.
    let rows = client
        .query(
            "SELECT tr.trigger_run_id, tr.scheduled_time, tr.window_end, tr.attempt, \
             tr.triggered_pipelines, tr.properties, r.run_id, r.status, r.trigger_info, r.invoked_by \
             FROM sluice.trigger_runs tr \
             LEFT JOIN sluice.runs r ON r.run_id::text = tr.triggered_pipelines->>$1 \
             ORDER BY tr.scheduled_time",
            &[&PIPELINE],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 10);
    for (i, row) in rows.iter().enumerate() {
        let id: Uuid = row.get(0);
        let window_start: DateTime<Utc> = row.get(1);
        let window_end: Option<DateTime<Utc>> = row.get(2);
        let attempt: i32 = row.get(3);
        let pipelines: Value = row.get(4);
        let properties: Value = row.get(5);
        let run_id: Option<Uuid> = row.get(6);
        let status: Option<String> = row.get(7);
        let info: Option<Value> = row.get(8);
        let invoked_by: Option<Value> = row.get(9);
        let (ws, we) = (
            start + TimeDelta::hours(i as i64),
            start + TimeDelta::hours(i as i64 + 1),
        );
        assert_eq!((window_start, window_end), (ws, Some(we)), "window {i}");
        assert_eq!(attempt, 1, "window {i} ran once");
        assert_eq!(
            pipelines.as_object().map(|m| m.len()),
            Some(1),
            "window {i}: {pipelines}"
        );
        assert!(run_id.is_some(), "window {i}'s run exists: {pipelines}");
        assert_eq!(status.as_deref(), Some("Succeeded"), "window {i}");
        let window = json!({"windowStartTime": iso(ws), "windowEndTime": iso(we)});
        assert_eq!(properties, window, "window {i}'s properties");
        let info = info.unwrap_or_default();
        assert_eq!(info["outputs"], window, "window {i}'s trigger_info: {info}");
        assert_eq!(info["name"], TRIGGER);
        assert_eq!(info["type"], "TumblingWindowTrigger");
        assert_eq!(info["scheduledTime"], iso(ws));
        assert_eq!(info["runId"], id.to_string());
        let invoked_by = invoked_by.unwrap_or_default();
        assert_eq!(invoked_by["id"], id.to_string(), "{invoked_by}");
        assert_eq!(invoked_by["invokedByType"], "TumblingWindowTrigger");
    }
    assert_eq!(
        fx.ctl
            .client()
            .await
            .query_one("SELECT count(*) FROM sluice.runs", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        10,
        "one pipeline run per window, no more"
    );

    // The sink holds exactly the rows inside the windows, each once.
    assert_eq!(db.count("dst").await, inside);
    assert_eq!(db.difference("expected", "dst", "id, ts, v").await, 0);
    assert_eq!(
        db.query_i64(
            "SELECT count(*) FROM (SELECT id FROM {s}.dst GROUP BY id HAVING count(*) <> 1) d"
        )
        .await,
        0
    );
}
