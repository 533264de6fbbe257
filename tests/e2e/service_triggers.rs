//! Proves the trigger scheduler against a real control database, two "servers" (two
//! `Scheduler`s on two connection pools) driven by test clocks, never sleeping for a schedule:
//! - a schedule trigger over 210 simulated minutes, both servers ticking every step (some steps
//!   concurrently): exactly one trigger run and one pipeline run per instant; stopping the
//!   trigger (its state row) stops it on both;
//! - 100 tumbling windows, some failing and retried within `retryPolicy.count`, one failing
//!   past it and rerun, and a second trigger depending on the first and on itself: each window
//!   ends with exactly one successful run, `maxConcurrency` and dependencies hold at every step;
//! - a restart after a gap replays no schedule instants but backfills the tumbling windows.
//!
//! Pipeline runs are not executed here: the test plays the workers by setting their status.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};
use sluice::service::control::Kind;
use sluice::service::scheduler::{Clock, ManualClock, Scheduler, TickReport};
use sluice_e2e::service::Fixture;
use uuid::Uuid;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn fixture(name: &str) -> Fixture {
    let fx = Fixture::new(name, &[]).await;
    fx.put(
        Kind::Pipelines,
        "p",
        json!({"parameters": {"at": {"type": "String"}},
               "activities": [{"name": "Wait", "type": "Wait",
                               "typeProperties": {"waitTimeInSeconds": 1}}]}),
    )
    .await;
    fx
}

/// Stores trigger `name` of factory `f` and marks it Started at `started_at`, as the API's
/// PUT and start do (written directly: the API is built alongside).
async fn put_trigger(fx: &Fixture, name: &str, properties: Value, started_at: DateTime<Utc>) {
    let client = fx.ctl.client().await;
    let factory: Uuid = client
        .query_one(
            "SELECT id FROM sluice.factories WHERE tenant_id = $1",
            &[&fx.tenant.id],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute(
            "INSERT INTO sluice.definitions (factory_id, kind, name, body, etag) \
             VALUES ($1, 'triggers', $2, $3, $4)",
            &[
                &factory,
                &name,
                &json!({"name": name, "properties": properties}),
                &Uuid::new_v4(),
            ],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO sluice.trigger_states (factory_id, trigger_key, runtime_state, started_at) \
             VALUES ($1, lower($2), 'Started', $3)",
            &[&factory, &name, &started_at],
        )
        .await
        .unwrap();
}

async fn set_state(fx: &Fixture, name: &str, state: &str) {
    fx.ctl
        .client()
        .await
        .execute(
            "UPDATE sluice.trigger_states SET runtime_state = $2 WHERE trigger_key = lower($1)",
            &[&name, &state],
        )
        .await
        .unwrap();
}

async fn count(fx: &Fixture, sql: &str) -> i64 {
    fx.ctl
        .client()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

fn add(a: TickReport, b: TickReport) -> TickReport {
    assert_eq!(a.errors, 0, "{a:?}");
    assert_eq!(b.errors, 0, "{b:?}");
    TickReport {
        triggers: a.triggers.max(b.triggers),
        instants_fired: a.instants_fired + b.instants_fired,
        windows_recorded: a.windows_recorded + b.windows_recorded,
        windows_started: a.windows_started + b.windows_started,
        completed: a.completed + b.completed,
        errors: 0,
    }
}

/// Both servers tick at the time of their own clock: together on steps divisible by 3, one
/// after the other (either order) otherwise.
async fn tick_both(
    step: usize,
    servers: &[(Scheduler, ManualClock); 2],
) -> (TickReport, TickReport) {
    let [(a, ca), (b, cb)] = servers;
    match step % 3 {
        0 => {
            let (x, y) = tokio::join!(a.tick(ca.now()), b.tick(cb.now()));
            (x.unwrap(), y.unwrap())
        }
        1 => {
            let x = a.tick(ca.now()).await.unwrap();
            (x, b.tick(cb.now()).await.unwrap())
        }
        _ => {
            let y = b.tick(cb.now()).await.unwrap();
            (a.tick(ca.now()).await.unwrap(), y)
        }
    }
}

async fn two_servers(fx: &Fixture, at: DateTime<Utc>) -> [(Scheduler, ManualClock); 2] {
    [
        (Scheduler::new(fx.ctl.control().await), ManualClock::new(at)),
        (Scheduler::new(fx.ctl.control().await), ManualClock::new(at)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_fire_each_schedule_instant_exactly_once_until_stopped() {
    let fx = fixture("trig-two").await;
    let t0 = t("2027-03-01T00:00:00Z");
    put_trigger(
        &fx,
        "EveryMinute",
        json!({"type": "ScheduleTrigger",
               "pipelines": [{"pipelineReference": {"referenceName": "p", "type": "PipelineReference"},
                              "parameters": {"at": "@trigger().scheduledTime"}}],
               "typeProperties": {"recurrence": {"frequency": "Minute", "interval": 1,
                                                 "startTime": "2027-03-01T00:00:00Z", "timeZone": "UTC"}}}),
        t0,
    )
    .await;
    let servers = two_servers(&fx, t0).await;
    let (mut by_a, mut by_b) = (0, 0);
    const STEPS: usize = 210;
    for step in 0..STEPS {
        // Ticks land on the minute or up to 40 s late, as a loaded server's would.
        let now = t0 + TimeDelta::minutes(step as i64) + TimeDelta::seconds((step % 3) as i64 * 20);
        servers[0].1.set(now);
        servers[1].1.set(now);
        let (a, b) = tick_both(step, &servers).await;
        add(a, b);
        by_a += a.instants_fired;
        by_b += b.instants_fired;
        assert_eq!(
            a.instants_fired + b.instants_fired,
            1,
            "step {step}: {a:?} {b:?}"
        );
    }
    assert_eq!(by_a + by_b, STEPS);
    assert!(by_a > 0 && by_b > 0, "both servers fired: {by_a} {by_b}");
    assert_eq!(
        count(
            &fx,
            "SELECT count(DISTINCT scheduled_time) FROM sluice.trigger_runs"
        )
        .await,
        STEPS as i64
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM sluice.trigger_runs").await,
        STEPS as i64
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM sluice.runs").await,
        STEPS as i64
    );
    // Each trigger run names its one pipeline run, which carries the trigger's identity.
    let client = fx.ctl.client().await;
    let rows = client
        .query(
            "SELECT tr.trigger_run_id, tr.scheduled_time, tr.status, r.invoked_by, r.trigger_info, \
             r.parameters FROM sluice.trigger_runs tr \
             JOIN sluice.runs r ON r.run_id = (tr.triggered_pipelines->>'p')::uuid \
             ORDER BY tr.scheduled_time",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), STEPS);
    for (i, row) in rows.iter().enumerate() {
        let id: Uuid = row.get(0);
        let at: DateTime<Utc> = row.get(1);
        let status: String = row.get(2);
        let invoked_by: Value = row.get(3);
        let info: Value = row.get(4);
        let parameters: Value = row.get(5);
        assert_eq!(at, t0 + TimeDelta::minutes(i as i64));
        assert_eq!(status, "Succeeded");
        assert_eq!(
            invoked_by,
            json!({"name": "EveryMinute", "id": id.to_string(), "invokedByType": "ScheduleTrigger"})
        );
        assert_eq!(info["scheduledTime"], json!(iso(at)));
        assert_eq!(info["runId"], json!(id.to_string()));
        assert_eq!(info["type"], json!("ScheduleTrigger"));
        assert_eq!(parameters, json!({"at": "@trigger().scheduledTime"}));
    }
    // Stopped: neither server fires any more.
    set_state(&fx, "EveryMinute", "Stopped").await;
    for step in STEPS..STEPS + 10 {
        let now = t0 + TimeDelta::minutes(step as i64);
        servers[0].1.set(now);
        servers[1].1.set(now);
        let (a, b) = tick_both(step, &servers).await;
        assert_eq!(add(a, b).instants_fired, 0);
        assert_eq!(add(a, b).triggers, 0);
    }
    assert_eq!(
        count(&fx, "SELECT count(*) FROM sluice.trigger_runs").await,
        STEPS as i64
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM sluice.runs").await,
        STEPS as i64
    );
}

/// How many attempts window `k` of Up fails before one succeeds (window 50 fails all three
/// attempts its retry policy allows, and its rerun succeeds).
fn up_failures(k: i64) -> i32 {
    if k == 50 {
        3
    } else if k % 13 == 6 {
        2
    } else if k % 7 == 3 {
        1
    } else {
        0
    }
}

/// Plays the workers: every Queued run of a trigger ends Succeeded or Failed by
/// [`up_failures`] (Down's always succeed).
async fn finish_queued(fx: &Fixture, t0: DateTime<Utc>) -> usize {
    let client = fx.ctl.client().await;
    let rows = client
        .query(
            "SELECT r.run_id, tr.trigger_name, tr.scheduled_time, tr.attempt FROM sluice.runs r \
             JOIN sluice.trigger_runs tr ON tr.trigger_run_id::text = r.invoked_by->>'id' \
             WHERE r.status = 'Queued'",
            &[],
        )
        .await
        .unwrap();
    for row in &rows {
        let run: Uuid = row.get(0);
        let name: String = row.get(1);
        let start: DateTime<Utc> = row.get(2);
        let attempt: i32 = row.get(3);
        let k = (start - t0).num_minutes() / 15;
        let fail = name == "Up" && attempt <= up_failures(k);
        client
            .execute(
                "UPDATE sluice.runs SET status = $2, message = $3 WHERE run_id = $1",
                &[
                    &run,
                    &if fail { "Failed" } else { "Succeeded" },
                    &if fail { "simulated failure" } else { "" },
                ],
            )
            .await
            .unwrap();
    }
    rows.len()
}

/// Checks `maxConcurrency` (Up 3, Down 2) and Down's dependencies at this moment.
async fn check_invariants(fx: &Fixture, step: usize) {
    let up = count(
        fx,
        "SELECT count(*) FROM sluice.trigger_runs WHERE trigger_name = 'Up' AND status = 'Inprogress'",
    )
    .await;
    let down = count(
        fx,
        "SELECT count(*) FROM sluice.trigger_runs WHERE trigger_name = 'Down' AND status = 'Inprogress'",
    )
    .await;
    assert!(up <= 3 && down <= 2, "step {step}: {up} {down} Inprogress");
    let broken = count(
        fx,
        "SELECT count(*) FROM sluice.trigger_runs d WHERE d.trigger_name = 'Down' \
         AND d.status IN ('Inprogress', 'Succeeded') AND (NOT EXISTS (SELECT 1 FROM \
         sluice.trigger_runs u WHERE u.trigger_name = 'Up' AND u.scheduled_time = d.scheduled_time \
         AND u.status = 'Succeeded') OR (d.scheduled_time > '2027-03-01T00:00:00Z' AND NOT EXISTS \
         (SELECT 1 FROM sluice.trigger_runs p WHERE p.trigger_name = 'Down' \
         AND p.scheduled_time = d.scheduled_time - interval '15 minutes' AND p.status = 'Succeeded')))",
    )
    .await;
    assert_eq!(
        broken, 0,
        "step {step}: a Down window started before its dependencies"
    );
}

/// Steps both servers a minute at a time, playing the workers every other step, until no
/// window is Inprogress or startable and no run is Queued; the steps taken.
async fn settle(
    fx: &Fixture,
    servers: &[(Scheduler, ManualClock); 2],
    t0: DateTime<Utc>,
    first_step: usize,
) -> usize {
    let mut quiet = 0;
    for step in first_step..first_step + 1_000 {
        for (_, clock) in servers {
            clock.advance(TimeDelta::minutes(1));
        }
        let (a, b) = tick_both(step, servers).await;
        let r = add(a, b);
        check_invariants(fx, step).await;
        let finished = if step % 2 == 1 {
            finish_queued(fx, t0).await
        } else {
            0
        };
        let busy = count(
            fx,
            "SELECT count(*) FROM sluice.trigger_runs WHERE status = 'Inprogress'",
        )
        .await;
        quiet = if r.windows_started + r.completed + finished == 0 && busy == 0 {
            quiet + 1
        } else {
            0
        };
        if quiet == 3 {
            return step;
        }
    }
    panic!("the windows did not settle in 1000 steps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumbling_windows_with_retries_and_dependencies_run_once_each() {
    let fx = fixture("trig-windows").await;
    let t0 = t("2027-03-01T00:00:00Z");
    let end = t0 + TimeDelta::minutes(15 * 100);
    let target = json!({"pipelineReference": {"referenceName": "p", "type": "PipelineReference"},
                        "parameters": {"at": "@trigger().outputs.windowStartTime"}});
    put_trigger(
        &fx,
        "Up",
        json!({"type": "TumblingWindowTrigger", "pipeline": target,
               "typeProperties": {"frequency": "Minute", "interval": 15, "startTime": iso(t0),
                                  "endTime": iso(end), "maxConcurrency": 3,
                                  "retryPolicy": {"count": 2, "intervalInSeconds": 90}}}),
        t0,
    )
    .await;
    put_trigger(
        &fx,
        "Down",
        json!({"type": "TumblingWindowTrigger", "pipeline": target,
               "typeProperties": {"frequency": "Minute", "interval": 15, "startTime": iso(t0),
                                  "endTime": iso(end), "maxConcurrency": 2,
                                  "dependsOn": [
                                      {"type": "TumblingWindowTriggerDependencyReference",
                                       "referenceTrigger": {"referenceName": "Up", "type": "TriggerReference"},
                                       "offset": "00:00:00"},
                                      {"type": "SelfDependencyTumblingWindowTriggerReference",
                                       "offset": "-00:15:00", "size": "00:15:00"}]}}),
        t0,
    )
    .await;
    // Every window is in the past: all 200 are backfilled at the first tick.
    let servers = two_servers(&fx, end + TimeDelta::minutes(1)).await;
    let (a, b) = tick_both(0, &servers).await;
    assert_eq!(add(a, b).windows_recorded, 200);
    check_invariants(&fx, 0).await;
    let step = settle(&fx, &servers, t0, 1).await;

    // Up's window 50 failed three times (one attempt and count: 2 retries) and stays Failed;
    // Down waits from window 50 on (it depends on Up's 50, and then on its own previous).
    let client = fx.ctl.client().await;
    let failed = client
        .query(
            "SELECT scheduled_time, attempt, message FROM sluice.trigger_runs WHERE status = 'Failed'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].get::<_, DateTime<Utc>>(0),
        t0 + TimeDelta::minutes(15 * 50)
    );
    assert_eq!(failed[0].get::<_, i32>(1), 3);
    assert!(failed[0].get::<_, String>(2).contains("simulated failure"));
    assert_eq!(
        count(&fx, "SELECT count(*) FROM sluice.trigger_runs WHERE trigger_name = 'Down' AND status = 'Waiting' AND attempt = 0 AND scheduled_time >= '2027-03-01T12:30:00Z'").await,
        50
    );
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM sluice.trigger_runs WHERE status = 'Succeeded'"
        )
        .await,
        99 + 50
    );

    // A rerun of the failed window (Waiting again) lets both triggers finish.
    client
        .execute(
            "UPDATE sluice.trigger_runs SET status = 'Waiting', message = '' WHERE status = 'Failed'",
            &[],
        )
        .await
        .unwrap();
    settle(&fx, &servers, t0, step + 1).await;

    let rows = client
        .query(
            "SELECT tr.trigger_name, tr.scheduled_time, tr.status, tr.attempt, \
             count(r.run_id), count(r.run_id) FILTER (WHERE r.status = 'Succeeded'), \
             (array_agg(r.trigger_info))[1] \
             FROM sluice.trigger_runs tr LEFT JOIN sluice.runs r \
             ON r.invoked_by->>'id' = tr.trigger_run_id::text \
             GROUP BY tr.trigger_run_id ORDER BY tr.trigger_name, tr.scheduled_time",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 200);
    for row in &rows {
        let name: String = row.get(0);
        let start: DateTime<Utc> = row.get(1);
        let status: String = row.get(2);
        let attempt: i32 = row.get(3);
        let runs: i64 = row.get(4);
        let succeeded: i64 = row.get(5);
        let info: Value = row.get(6);
        let k = (start - t0).num_minutes() / 15;
        let what = format!("{name} window {k}");
        assert_eq!(status, "Succeeded", "{what}");
        assert_eq!(succeeded, 1, "{what}: one successful run");
        let expected = if name == "Up" { up_failures(k) + 1 } else { 1 };
        assert_eq!(attempt, expected, "{what}: attempts");
        assert_eq!(runs, i64::from(expected), "{what}: one run per attempt");
        assert_eq!(
            info["outputs"],
            json!({"windowStartTime": iso(start), "windowEndTime": iso(start + TimeDelta::minutes(15))}),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_replays_no_schedule_instants_but_backfills_windows() {
    let fx = fixture("trig-restart").await;
    let t0 = t("2027-03-01T00:00:00Z");
    let target = json!({"pipelineReference": {"referenceName": "p", "type": "PipelineReference"}});
    put_trigger(
        &fx,
        "Minutely",
        json!({"type": "ScheduleTrigger", "pipelines": [target],
               "typeProperties": {"recurrence": {"frequency": "Minute", "interval": 1,
                                                 "startTime": iso(t0)}}}),
        t0,
    )
    .await;
    put_trigger(
        &fx,
        "Quarterly",
        json!({"type": "TumblingWindowTrigger", "pipeline": target,
               "typeProperties": {"frequency": "Minute", "interval": 15, "startTime": iso(t0),
                                  "maxConcurrency": 50}}),
        t0,
    )
    .await;
    let clock = ManualClock::new(t0);
    let before = Scheduler::new(fx.ctl.control().await);
    for _ in 0..=10 {
        let r = before.tick(clock.now()).await.unwrap();
        assert_eq!(r.errors, 0);
        clock.advance(TimeDelta::minutes(1));
    }
    drop(before);
    let schedule_runs = "SELECT count(*) FROM sluice.trigger_runs WHERE trigger_name = 'Minutely'";
    let windows = "SELECT count(*) FROM sluice.trigger_runs WHERE trigger_name = 'Quarterly'";
    assert_eq!(count(&fx, schedule_runs).await, 11);
    assert_eq!(count(&fx, windows).await, 0);

    // Every server was down for almost two hours.
    clock.set(t0 + TimeDelta::hours(2) + TimeDelta::seconds(10));
    let after = Scheduler::new(fx.ctl.control().await);
    let r = after.tick(clock.now()).await.unwrap();
    assert_eq!(r.instants_fired, 1, "{r:?}");
    assert_eq!((r.windows_recorded, r.windows_started), (8, 8), "{r:?}");
    // Ticking again at the same time adds nothing.
    let again = after.tick(clock.now()).await.unwrap();
    assert_eq!(
        (
            again.instants_fired,
            again.windows_recorded,
            again.windows_started
        ),
        (0, 0, 0)
    );
    assert_eq!(count(&fx, schedule_runs).await, 12);
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM sluice.trigger_runs WHERE trigger_name = 'Minutely' \
             AND scheduled_time > '2027-03-01T00:10:00Z' AND scheduled_time < '2027-03-01T02:00:00Z'"
        )
        .await,
        0
    );
    assert_eq!(count(&fx, windows).await, 8);
    assert_eq!(
        count(&fx, "SELECT count(*) FROM sluice.trigger_runs WHERE trigger_name = 'Quarterly' AND status = 'Inprogress'").await,
        8
    );
    assert_eq!(count(&fx, "SELECT count(*) FROM sluice.runs").await, 12 + 8);
}
