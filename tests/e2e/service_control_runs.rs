//! Proves the runs' side of the control database: a run is queued with its graphile job in
//! one transaction and queried with ADF's filters and continuation tokens; cancelling works
//! by status; no tenant gets more run slots than its limit under eight concurrent claimers
//! (checked live and in `slot_history`); and expired leases fail their runs, and their
//! activity runs, naming the lost worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sluice::service::control::{
    ActivityRunRow, ControlError, NewRun, RunQuery, RunStatus, SlotClaim,
};
use sluice_e2e::STEP_TIMEOUT;
use uuid::Uuid;

use super::{new_run, tenant_with_pipeline, window, ControlDb};

#[tokio::test]
async fn runs_are_queued_with_their_job_queried_with_filters_and_cancelled() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let t = tenant_with_pipeline(&control, "t", 2).await;
    let other = tenant_with_pipeline(&control, "other", 2).await;
    let missing = control
        .create_run(NewRun {
            pipeline_name: "nope".into(),
            ..new_run(t, json!({}))
        })
        .await;
    assert!(
        matches!(missing, Err(ControlError::NotFound(_))),
        "{missing:?}"
    );
    let first = control
        .create_run(new_run(t, json!({"n": 5, "s": "x"})))
        .await
        .unwrap();
    assert_eq!(first.status, RunStatus::Queued);
    assert_eq!(first.pipeline_name, "Copy");
    let client = db.client().await;
    let payloads: Vec<Value> = client
        .query(
            "SELECT j.payload FROM graphile_worker._private_jobs j \
             JOIN graphile_worker._private_tasks t ON t.id = j.task_id \
             WHERE t.identifier = 'sluice_run'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(payloads, vec![json!({"runId": first.run_id.to_string()})]);
    let adf = first.to_adf_json();
    assert_eq!(adf["status"], "Queued");
    assert_eq!(adf["parameters"], json!({"n": "5", "s": "x"}));
    assert_eq!(adf["invokedBy"]["invokedByType"], "Manual");
    assert_eq!(adf["isLatest"], true);
    assert_eq!(adf["annotations"], json!(["nightly"]));
    assert!(adf["runStart"].is_null() && adf["durationInMs"].is_null());

    let second = control.create_run(new_run(t, json!({}))).await.unwrap();
    control.create_run(new_run(other, json!({}))).await.unwrap();
    assert!(
        control
            .get_run(other, first.run_id)
            .await
            .unwrap()
            .is_none(),
        "another tenant sees the run"
    );

    assert_eq!(control.queue_depth().await.unwrap(), 3);
    let counts = control.run_counts().await.unwrap();
    let queued: Vec<(String, u64)> = counts
        .iter()
        .filter(|c| c.status == RunStatus::Queued)
        .map(|c| (c.tenant.clone(), c.count))
        .collect();
    assert_eq!(queued, vec![("other".to_string(), 1), ("t".to_string(), 2)]);
    let cancelled = control
        .request_cancel(t, second.run_id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(cancelled.run_end.is_some());
    let claim = control
        .claim_slot(second.run_id, "w", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(claim, SlotClaim::NotRunnable(RunStatus::Cancelled));
    assert!(control
        .request_cancel(other, first.run_id, false)
        .await
        .unwrap()
        .is_none());

    let mut q = window();
    q["filters"] = json!([{"operand": "Status", "operator": "Equals", "values": ["queued"]}]);
    let page = control
        .query_runs(t, "rg", "f", &RunQuery::from_adf_json(&q).unwrap())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        vec![first.run_id]
    );
    q["filters"] =
        json!([{"operand": "RunId", "operator": "NotIn", "values": [first.run_id.to_string()]}]);
    let page = control
        .query_runs(t, "rg", "f", &RunQuery::from_adf_json(&q).unwrap())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        vec![second.run_id]
    );

    let rerun = control
        .create_run(NewRun {
            is_recovery: true,
            reference_run_id: Some(first.run_id),
            ..new_run(t, json!({}))
        })
        .await
        .unwrap();
    assert_eq!(rerun.run_group_id, first.run_group_id);
    assert!(
        !control
            .get_run(t, first.run_id)
            .await
            .unwrap()
            .unwrap()
            .is_latest
    );
    let mut q = window();
    q["filters"] = json!([{"operand": "LatestOnly", "operator": "Equals", "values": ["true"]}]);
    q["orderBy"] = json!([{"orderBy": "Status", "order": "ASC"}]);
    let mut query = RunQuery::from_adf_json(&q).unwrap();
    query.limit = 1;
    let page = control.query_runs(t, "rg", "f", &query).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].status, RunStatus::Cancelled);
    q["continuationToken"] = json!(page.next.clone().expect("a second page"));
    let mut query = RunQuery::from_adf_json(&q).unwrap();
    query.limit = 1;
    let page2 = control.query_runs(t, "rg", "f", &query).await.unwrap();
    assert_eq!(page2.items[0].run_id, rerun.run_id);
    assert!(page2.next.is_none());
    let page_json = page2.to_adf_json(|r| r.to_adf_json());
    assert!(page_json["continuationToken"].is_null());
    assert_eq!(
        page_json["value"][0]["runId"],
        json!(rerun.run_id.to_string())
    );
}

#[tokio::test]
async fn no_tenant_gets_more_slots_than_its_limit_under_eight_claimers() {
    const LIMIT: usize = 3;
    const RUNS: usize = 24;
    let db = ControlDb::new().await;
    let control = db.control().await;
    let t = tenant_with_pipeline(&control, "busy", LIMIT as u32).await;
    let mut ids = Vec::new();
    for _ in 0..RUNS {
        ids.push(
            control
                .create_run(new_run(t, json!({})))
                .await
                .unwrap()
                .run_id,
        );
    }
    let queue = Arc::new(Mutex::new(ids.clone()));
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let fulls = Arc::new(AtomicUsize::new(0));
    let claimers: Vec<_> = (0..8)
        .map(|w| {
            let (control, queue, holding, most, fulls) = (
                control.clone(),
                queue.clone(),
                holding.clone(),
                most.clone(),
                fulls.clone(),
            );
            tokio::spawn(async move {
                let worker = format!("worker-{w}");
                loop {
                    let Some(run_id) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    match control
                        .claim_slot(run_id, &worker, Duration::from_secs(60))
                        .await
                        .unwrap()
                    {
                        SlotClaim::Acquired { slot } => {
                            assert!((slot as usize) < LIMIT);
                            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            let activity = ActivityRunRow {
                                activity_run_id: Uuid::new_v4(),
                                run_id,
                                pipeline_name: String::new(),
                                activity_name: "Copy1".into(),
                                activity_type: "Copy".into(),
                                linked_service_name: None,
                                status: "InProgress".into(),
                                activity_run_start: chrono::Utc::now(),
                                activity_run_end: None,
                                duration_ms: None,
                                input: json!({}),
                                output: json!({}),
                                error: json!({}),
                                retry_attempt: None,
                            };
                            control.activity_started(&activity).await.unwrap();
                            tokio::time::sleep(Duration::from_millis(15)).await;
                            assert!(!control
                                .renew_lease(run_id, &worker, Duration::from_secs(60))
                                .await
                                .unwrap());
                            let done = ActivityRunRow {
                                status: "Succeeded".into(),
                                activity_run_end: Some(chrono::Utc::now()),
                                output: json!({"rowsCopied": 1}),
                                ..activity
                            };
                            control.activity_finished(&done).await.unwrap();
                            holding.fetch_sub(1, Ordering::SeqCst);
                            control
                                .finish_run(run_id, &worker, RunStatus::Succeeded, "")
                                .await
                                .unwrap();
                        }
                        SlotClaim::Full => {
                            fulls.fetch_add(1, Ordering::SeqCst);
                            queue.lock().unwrap().insert(0, run_id);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        SlotClaim::NotRunnable(s) => panic!("run {run_id} is {s}"),
                    }
                }
            })
        })
        .collect();
    for c in claimers {
        tokio::time::timeout(STEP_TIMEOUT, c)
            .await
            .expect("claimers hung")
            .unwrap();
    }
    assert!(
        most.load(Ordering::SeqCst) <= LIMIT,
        "held {} slots at once",
        most.load(Ordering::SeqCst)
    );
    assert!(
        fulls.load(Ordering::SeqCst) > 0,
        "eight claimers never found the {LIMIT} slots full"
    );
    for id in &ids {
        let run = control.get_run(t, *id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        let activities = control
            .query_activity_runs(t, *id, &RunQuery::from_adf_json(&window()).unwrap())
            .await
            .unwrap();
        assert_eq!(activities.items.len(), 1);
        let adf = activities.items[0].to_adf_json();
        assert_eq!(
            (adf["status"].as_str(), adf["pipelineName"].as_str()),
            (Some("Succeeded"), Some("Copy"))
        );
        assert_eq!(adf["output"]["rowsCopied"], 1);
    }
    // The record: at no acquisition did more than LIMIT history entries overlap.
    let client = db.client().await;
    let worst: i64 = client
        .query_one(
            "SELECT coalesce(max(n), 0) FROM (SELECT (SELECT count(*) FROM sluice.slot_history o \
             WHERE o.tenant_id = h.tenant_id AND o.acquired_at <= h.acquired_at \
             AND (o.released_at IS NULL OR o.released_at > h.acquired_at)) AS n \
             FROM sluice.slot_history h) x",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        worst as usize <= LIMIT,
        "slot_history shows {worst} runs at once"
    );
    let entries: i64 = client
        .query_one(
            "SELECT count(*) FROM sluice.slot_history WHERE released_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(entries as usize, RUNS);
}

#[tokio::test]
async fn expired_leases_fail_their_runs_naming_the_lost_worker() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let t = tenant_with_pipeline(&control, "t", 1).await;
    let lost = control
        .create_run(new_run(t, json!({})))
        .await
        .unwrap()
        .run_id;
    let next = control
        .create_run(new_run(t, json!({})))
        .await
        .unwrap()
        .run_id;
    let short = Duration::from_millis(1500);
    assert_eq!(
        control.claim_slot(lost, "w-dead", short).await.unwrap(),
        SlotClaim::Acquired { slot: 0 }
    );
    assert_eq!(
        control.claim_slot(next, "w-live", short).await.unwrap(),
        SlotClaim::Full
    );
    let activity = ActivityRunRow {
        activity_run_id: Uuid::new_v4(),
        run_id: lost,
        pipeline_name: String::new(),
        activity_name: "CopyRows".into(),
        activity_type: "Copy".into(),
        linked_service_name: Some("pg".into()),
        status: "InProgress".into(),
        activity_run_start: chrono::Utc::now(),
        activity_run_end: None,
        duration_ms: None,
        input: json!({}),
        output: json!({}),
        error: json!({}),
        retry_attempt: None,
    };
    control.activity_started(&activity).await.unwrap();
    assert!(
        control.reap_expired_leases().await.unwrap().is_empty(),
        "reaped a live lease"
    );
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(control.reap_expired_leases().await.unwrap(), vec![lost]);
    let run = control.get_run(t, lost).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.message.starts_with(
            "The worker 'w-dead' that ran this pipeline run stopped (its lease expired at "
        ),
        "{}",
        run.message
    );
    let activities = control
        .query_activity_runs(t, lost, &RunQuery::from_adf_json(&window()).unwrap())
        .await
        .unwrap();
    let failed = activities.items[0].to_adf_json();
    assert_eq!(control.activity_runs(lost).await.unwrap(), activities.items);
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["error"]["target"], "CopyRows");
    assert!(failed["error"]["message"]
        .as_str()
        .unwrap()
        .contains("w-dead"));
    let late = control.renew_lease(lost, "w-dead", short).await;
    assert!(
        matches!(late, Err(ControlError::LeaseLost { .. })),
        "{late:?}"
    );
    let late = control
        .finish_run(lost, "w-dead", RunStatus::Succeeded, "")
        .await;
    assert!(
        matches!(late, Err(ControlError::LeaseLost { .. })),
        "{late:?}"
    );

    // The freed slot goes to the next run; when its lease lapses, a claim takes the slot
    // over and fails the lapsed run in the same transaction.
    assert_eq!(
        control.claim_slot(next, "w-live", short).await.unwrap(),
        SlotClaim::Acquired { slot: 0 }
    );
    let third = control
        .create_run(new_run(t, json!({})))
        .await
        .unwrap()
        .run_id;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        control
            .claim_slot(third, "w-new", Duration::from_secs(60))
            .await
            .unwrap(),
        SlotClaim::Acquired { slot: 0 }
    );
    let taken_over = control.get_run(t, next).await.unwrap().unwrap();
    assert_eq!(taken_over.status, RunStatus::Failed);
    assert!(
        taken_over.message.contains("'w-live'"),
        "{}",
        taken_over.message
    );
    control
        .finish_run(third, "w-new", RunStatus::Succeeded, "")
        .await
        .unwrap();
    let open: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM sluice.slot_history WHERE released_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
}

/// A claim taking over an expired slot, the reaper, and the lapsed worker renewing and
/// finishing all at once: none deadlocks (each locks the slot before the run), and each run
/// ends with exactly one outcome.
#[tokio::test]
async fn takeover_reaping_and_late_renewals_race_without_deadlocks() {
    let db = ControlDb::new().await;
    let control = db.control().await;
    let t = tenant_with_pipeline(&control, "race", 1).await;
    for round in 0..25 {
        let old = control
            .create_run(new_run(t, json!({})))
            .await
            .unwrap()
            .run_id;
        let new = control
            .create_run(new_run(t, json!({})))
            .await
            .unwrap()
            .run_id;
        let lapse = Duration::from_millis(30);
        assert_eq!(
            control.claim_slot(old, "w-old", lapse).await.unwrap(),
            SlotClaim::Acquired { slot: 0 }
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        let (c1, c2, c3, c4) = (
            control.clone(),
            control.clone(),
            control.clone(),
            control.clone(),
        );
        let claim =
            tokio::spawn(async move { c1.claim_slot(new, "w-new", Duration::from_secs(60)).await });
        let reap = tokio::spawn(async move { c2.reap_expired_leases().await });
        let renew =
            tokio::spawn(
                async move { c3.renew_lease(old, "w-old", Duration::from_secs(60)).await },
            );
        let finish =
            tokio::spawn(
                async move { c4.finish_run(old, "w-old", RunStatus::Succeeded, "").await },
            );
        let claim = claim.await.unwrap();
        for result in [
            claim.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            reap.await.unwrap().map(|_| ()).map_err(|e| e.to_string()),
            renew.await.unwrap().map(|_| ()).map_err(|e| e.to_string()),
            finish.await.unwrap().map_err(|e| e.to_string()),
        ] {
            if let Err(e) = result {
                assert!(!e.contains("deadlock"), "round {round}: {e}");
                assert!(e.contains("no longer holds"), "round {round}: {e}");
            }
        }
        let old_run = control.get_run(t, old).await.unwrap().unwrap();
        assert!(
            matches!(old_run.status, RunStatus::Succeeded | RunStatus::Failed),
            "round {round}: the lapsed run is {}",
            old_run.status
        );
        // The old run is out of the slot whichever way it ended: the new one gets it now if
        // it did not in the race.
        if control.get_run(t, new).await.unwrap().unwrap().status == RunStatus::Queued {
            let again = control
                .claim_slot(new, "w-new", Duration::from_secs(60))
                .await
                .unwrap();
            assert_eq!(again, SlotClaim::Acquired { slot: 0 }, "round {round}");
        }
        control
            .finish_run(new, "w-new", RunStatus::Succeeded, "")
            .await
            .unwrap();
    }
    let open: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM sluice.slot_history WHERE released_at IS NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
}
