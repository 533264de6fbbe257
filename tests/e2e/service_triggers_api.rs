//! Triggers over ADF's REST API (issue 17) against a real control database and the in-process
//! TLS server: a PUT is parsed by the trigger model (a bad recurrence is a 400 naming the
//! property, a missing pipeline a 400), `runtimeState` follows start and stop, a started
//! trigger can be neither changed nor deleted, a pipeline a trigger starts cannot be deleted,
//! `queryTriggerRuns` filters and orders rows of `sluice.trigger_runs`, a rerun sets a failed
//! window back to Waiting; another tenant reaches none of it; and Microsoft's Python SDK
//! (tests/service/sdk_triggers.py) drives the same operations.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_e2e::pg_url;
use uuid::Uuid;

use crate::service_api::sdk::run_sdk_script;
use crate::service_api::server::{Service, Tenant};

fn factory_path(t: &Tenant, f: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/{f}",
        t.sub
    )
}

/// A factory with pipeline `Work` (one Wait activity).
async fn seed(s: &Service, t: &Tenant, f: &str) -> String {
    let fp = factory_path(t, f);
    let (st, body) = s
        .json(Method::PUT, t, &fp, Some(json!({"location": "local"})))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let pipeline = json!({"properties": {"activities": [
        {"name": "Pause", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}});
    let (st, body) = s
        .json(
            Method::PUT,
            t,
            &format!("{fp}/pipelines/Work"),
            Some(pipeline),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    fp
}

fn schedule(pipeline: &str) -> Value {
    json!({"properties": {"type": "ScheduleTrigger",
        "typeProperties": {"recurrence": {"frequency": "Hour", "interval": 1,
            "startTime": "2027-01-01T00:00:00Z", "timeZone": "UTC"}},
        "pipelines": [{"pipelineReference": {"referenceName": pipeline, "type": "PipelineReference"},
            "parameters": {}}]}})
}

fn tumbling(pipeline: &str) -> Value {
    json!({"properties": {"type": "TumblingWindowTrigger",
        "typeProperties": {"frequency": "Hour", "interval": 1,
            "startTime": "2027-01-01T00:00:00Z", "maxConcurrency": 2},
        "pipeline": {"pipelineReference": {"referenceName": pipeline, "type": "PipelineReference"},
            "parameters": {"windowStart": "@trigger().outputs.windowStartTime"}}}})
}

/// A connection to the service's control database.
async fn control_sql(s: &Service) -> tokio_postgres::Client {
    let url = format!("{}/{}", pg_url().rsplit_once('/').unwrap().0, s.db);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Inserts a trigger run of `trigger` in factory `factory` (as the scheduler would) and
/// returns its id.
async fn insert_run(
    db: &tokio_postgres::Client,
    factory: &str,
    trigger: &str,
    ty: &str,
    scheduled: &str,
    status: &str,
) -> Uuid {
    let id = Uuid::new_v4();
    db.execute(
        "INSERT INTO sluice.trigger_runs (trigger_run_id, tenant_id, factory_id, trigger_name, \
         trigger_type, scheduled_time, window_end, status, attempt, not_before, message, \
         triggered_pipelines, properties) \
         SELECT $1, f.tenant_id, f.id, $3, $4, $5::text::timestamptz, \
         $5::text::timestamptz + interval '1 hour', $6, 3, now(), 'it failed', \
         '{\"Work\": \"00000000-0000-0000-0000-000000000001\"}', \
         jsonb_build_object('windowStartTime', $5::text) \
         FROM sluice.factories f WHERE f.name = $2",
        &[&id, &factory, &trigger, &ty, &scheduled, &status],
    )
    .await
    .unwrap();
    id
}

fn window_query(extra: Value) -> Value {
    let mut q = json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z",
        "lastUpdatedBefore": "2100-01-01T00:00:00Z"});
    if let (Some(q), Some(extra)) = (q.as_object_mut(), extra.as_object()) {
        q.extend(extra.clone());
    }
    q
}

#[tokio::test]
async fn triggers_are_validated_started_stopped_queried_and_rerun() {
    let s = Service::start(1 << 20).await;
    let a = s.tenant("trig-a", 10_000).await;
    let fp = seed(&s, &a, "fac-a").await;
    let db = control_sql(&s).await;

    // A bad recurrence names the property; a missing pipeline is named too.
    let mut bad = schedule("Work");
    bad["properties"]["typeProperties"]["recurrence"]["frequency"] = json!("Fortnight");
    let (st, body) = s
        .json(Method::PUT, &a, &format!("{fp}/triggers/Bad"), Some(bad))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("trigger 'Bad'") && message.contains("frequency"),
        "{body}"
    );
    let (st, body) = s
        .json(
            Method::PUT,
            &a,
            &format!("{fp}/triggers/Bad"),
            Some(schedule("Nowhere")),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Nowhere'"),
        "{body}"
    );
    let mut depends = tumbling("Work");
    depends["properties"]["typeProperties"]["dependsOn"] = json!([{
        "type": "TumblingWindowTriggerDependencyReference",
        "referenceTrigger": {"referenceName": "Ghost", "type": "TriggerReference"}}]);
    let (st, body) = s
        .json(
            Method::PUT,
            &a,
            &format!("{fp}/triggers/Dep"),
            Some(depends),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("Ghost"), "{body}");

    // Created Stopped (a runtimeState in the body is ignored, as in ADF).
    let mut hourly = schedule("Work");
    hourly["properties"]["runtimeState"] = json!("Started");
    let (st, put) = s
        .json(
            Method::PUT,
            &a,
            &format!("{fp}/triggers/Hourly"),
            Some(hourly),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{put}");
    assert_eq!(put["type"], "Microsoft.DataFactory/factories/triggers");
    assert_eq!(put["properties"]["runtimeState"], "Stopped", "{put}");
    assert!(put["id"].as_str().unwrap().ends_with("/triggers/Hourly"));
    let (st, put) = s
        .json(
            Method::PUT,
            &a,
            &format!("{fp}/triggers/Windows"),
            Some(tumbling("Work")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{put}");

    // Started: GET says so, the state row has started_at, and it cannot be changed,
    // deleted, nor its pipeline deleted.
    let (st, _, text) = s
        .send(
            Method::POST,
            Some(&a.token),
            &format!("{fp}/triggers/hourly/start"),
            None,
        )
        .await;
    assert_eq!((st, text.as_str()), (StatusCode::OK, ""));
    let (_, got) = s
        .json(Method::GET, &a, &format!("{fp}/triggers/HOURLY"), None)
        .await;
    assert_eq!(got["name"], "Hourly");
    assert_eq!(got["properties"]["runtimeState"], "Started", "{got}");
    let row = db
        .query_one(
            "SELECT runtime_state, started_at IS NOT NULL FROM sluice.trigger_states \
             WHERE trigger_key = 'hourly'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, bool>(1)),
        ("Started".into(), true)
    );
    let (st, body) = s
        .json(Method::DELETE, &a, &format!("{fp}/triggers/Hourly"), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["code"], "TriggerEnabledCannotUpdate",
        "{body}"
    );
    let (st, body) = s
        .json(
            Method::PUT,
            &a,
            &format!("{fp}/triggers/Hourly"),
            Some(schedule("Work")),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["code"], "TriggerEnabledCannotUpdate",
        "{body}"
    );
    let (st, body) = s
        .json(Method::DELETE, &a, &format!("{fp}/pipelines/Work"), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("trigger 'Hourly'"), "{body}");

    // The list shows both with their states.
    let (st, list) = s
        .json(Method::GET, &a, &format!("{fp}/triggers"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let states: Vec<(String, String)> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["properties"]["runtimeState"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("Hourly".to_string(), "Started".to_string()),
            ("Windows".to_string(), "Stopped".to_string())
        ]
    );

    // queryTriggerRuns: a window query is required; filters by name and status.
    let failed = insert_run(
        &db,
        "fac-a",
        "Windows",
        "TumblingWindowTrigger",
        "2027-01-01T00:00:00Z",
        "Failed",
    )
    .await;
    let running = insert_run(
        &db,
        "fac-a",
        "Windows",
        "TumblingWindowTrigger",
        "2027-01-01T01:00:00Z",
        "Inprogress",
    )
    .await;
    let scheduled = insert_run(
        &db,
        "fac-a",
        "Hourly",
        "ScheduleTrigger",
        "2027-01-01T00:00:00Z",
        "Succeeded",
    )
    .await;
    let (st, body) = s
        .json(
            Method::POST,
            &a,
            &format!("{fp}/queryTriggerRuns"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("lastUpdatedAfter"), "{body}");
    let (st, runs) = s
        .json(
            Method::POST,
            &a,
            &format!("{fp}/queryTriggerRuns"),
            Some(window_query(json!({
                "filters": [{"operand": "TriggerName", "operator": "Equals", "values": ["windows"]}],
                "orderBy": [{"orderBy": "Status", "order": "ASC"}]}))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{runs}");
    let items = runs["value"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{runs}");
    assert_eq!(items[0]["triggerRunId"], failed.to_string());
    assert_eq!(items[0]["status"], "Failed");
    assert_eq!(items[0]["triggerType"], "TumblingWindowTrigger");
    assert_eq!(
        items[0]["triggeredPipelines"]["Work"],
        "00000000-0000-0000-0000-000000000001"
    );
    assert_eq!(
        items[0]["properties"]["windowStartTime"],
        "2027-01-01T00:00:00Z"
    );
    assert_eq!(items[1]["status"], "Inprogress");
    let (_, runs) = s
        .json(
            Method::POST,
            &a,
            &format!("{fp}/queryTriggerRuns"),
            Some(window_query(json!({
                "filters": [{"operand": "Status", "operator": "NotEquals", "values": ["Inprogress"]}]}))),
        )
        .await;
    assert_eq!(runs["value"].as_array().unwrap().len(), 2, "{runs}");

    // Rerun: only a finished tumbling window, of the trigger named in the path.
    let rerun = |trigger: &str, id: Uuid| format!("{fp}/triggers/{trigger}/triggerRuns/{id}/rerun");
    let (st, body) = s
        .json(Method::POST, &a, &rerun("Hourly", scheduled), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    let (st, body) = s
        .json(Method::POST, &a, &rerun("Windows", running), None)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("Inprogress"), "{body}");
    let (st, body) = s
        .json(Method::POST, &a, &rerun("Hourly", failed), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    let (st, body) = s
        .json(Method::POST, &a, &rerun("Windows", failed), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let row = db
        .query_one(
            "SELECT status, attempt, not_before IS NULL, message FROM sluice.trigger_runs \
             WHERE trigger_run_id = $1",
            &[&failed],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Waiting");
    assert_eq!(row.get::<_, i32>(1), 0);
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, String>(3), "");

    // Stopped: deletable (204 the second time).
    let (st, _, _) = s
        .send(
            Method::POST,
            Some(&a.token),
            &format!("{fp}/triggers/Hourly/stop"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = s
        .send(
            Method::DELETE,
            Some(&a.token),
            &format!("{fp}/triggers/Hourly"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, _) = s
        .send(
            Method::DELETE,
            Some(&a.token),
            &format!("{fp}/triggers/Hourly"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s
        .json(Method::GET, &a, &format!("{fp}/triggers/Hourly"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let states: i64 = db
        .query_one(
            "SELECT count(*) FROM sluice.trigger_states WHERE trigger_key = 'hourly'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(states, 0);
    s.stop().await;
}

#[tokio::test]
async fn another_tenant_cannot_see_start_or_delete_a_trigger() {
    let s = Service::start(1 << 20).await;
    let a = s.tenant("trig-owner", 10_000).await;
    let b = s.tenant("trig-other", 10_000).await;
    let fa = seed(&s, &a, "Same").await;
    let (st, body) = s
        .json(
            Method::PUT,
            &a,
            &format!("{fa}/triggers/Windows"),
            Some(tumbling("Work")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let db = control_sql(&s).await;
    let failed = insert_run(
        &db,
        "Same",
        "Windows",
        "TumblingWindowTrigger",
        "2027-01-01T00:00:00Z",
        "Failed",
    )
    .await;

    // B with its own factory of the same name, and B on A's subscription path.
    let fb = seed(&s, &b, "Same").await;
    for base in [&fb, &fa] {
        let sends = [
            (Method::GET, format!("{base}/triggers/Windows")),
            (Method::POST, format!("{base}/triggers/Windows/start")),
            (Method::POST, format!("{base}/triggers/Windows/stop")),
            (
                Method::POST,
                format!("{base}/triggers/Windows/triggerRuns/{failed}/rerun"),
            ),
        ];
        for (method, path) in sends {
            let (st, body) = s.json(method.clone(), &b, &path, None).await;
            assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        }
    }
    // B's own factory: an empty list, no runs; a DELETE finds nothing.
    let (st, list) = s
        .json(Method::GET, &b, &format!("{fb}/triggers"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["value"], json!([]));
    let (st, runs) = s
        .json(
            Method::POST,
            &b,
            &format!("{fb}/queryTriggerRuns"),
            Some(window_query(json!({}))),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{runs}");
    assert_eq!(runs["value"], json!([]));
    let (st, _, _) = s
        .send(
            Method::DELETE,
            Some(&b.token),
            &format!("{fb}/triggers/Windows"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, body) = s
        .json(Method::DELETE, &b, &format!("{fa}/triggers/Windows"), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");

    // A's trigger is untouched: still there, Stopped, its failed run still Failed.
    let (st, got) = s
        .json(Method::GET, &a, &format!("{fa}/triggers/Windows"), None)
        .await;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(got["properties"]["runtimeState"], "Stopped");
    let status: String = db
        .query_one(
            "SELECT status FROM sluice.trigger_runs WHERE trigger_run_id = $1",
            &[&failed],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "Failed");
    s.stop().await;
}

#[tokio::test]
async fn microsofts_python_sdk_manages_triggers() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("sdk-triggers", 10_000).await;
    // The factory and its pipeline, and a failed window a scheduler would have written, are
    // there before the script starts; it creates the triggers itself.
    seed(&s, &t, "sdk-triggers").await;
    let db = control_sql(&s).await;
    insert_run(
        &db,
        "sdk-triggers",
        "Windows",
        "TumblingWindowTrigger",
        "2027-01-01T00:00:00Z",
        "Failed",
    )
    .await;
    run_sdk_script(&s, &t, "sdk_triggers").await;
    s.stop().await;
}

#[tokio::test]
async fn start_records_the_given_instant_and_a_second_start_keeps_it() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("trig-clock", 10_000).await;
    seed(&s, &t, "clock").await;
    let (st, body) = s
        .json(
            Method::PUT,
            &t,
            &format!("{}/triggers/Hourly", factory_path(&t, "clock")),
            Some(schedule("Work")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let tenant = s
        .control
        .get_tenant("trig-clock")
        .await
        .unwrap()
        .unwrap()
        .id;
    let at = |h: u32| {
        chrono::NaiveDate::from_ymd_opt(2027, 3, 1)
            .unwrap()
            .and_hms_opt(h, 0, 0)
            .unwrap()
            .and_utc()
    };
    let c = &s.control;
    let started = c
        .start_trigger(tenant, "rg", "clock", "hourly", at(8))
        .await
        .unwrap();
    assert_eq!(
        (started.runtime_state.as_str(), started.started_at),
        ("Started", Some(at(8)))
    );
    // Already started: the instant schedules count from does not move.
    let again = c
        .start_trigger(tenant, "rg", "clock", "Hourly", at(9))
        .await
        .unwrap();
    assert_eq!(again.started_at, Some(at(8)));
    let stopped = c
        .stop_trigger(tenant, "rg", "clock", "Hourly")
        .await
        .unwrap();
    assert_eq!(stopped.runtime_state, "Stopped");
    // Started again after a stop: from the new instant.
    let restarted = c
        .start_trigger(tenant, "rg", "clock", "Hourly", at(10))
        .await
        .unwrap();
    assert_eq!(restarted.started_at, Some(at(10)));
    let got = c
        .get_trigger(tenant, "rg", "clock", "HOURLY")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.runtime_state.as_str(), got.started_at),
        ("Started", Some(at(10)))
    );
    // Another tenant's id reaches nothing.
    let other = Uuid::new_v4();
    assert!(c
        .start_trigger(other, "rg", "clock", "Hourly", at(11))
        .await
        .is_err());
    assert!(c
        .get_trigger(other, "rg", "clock", "Hourly")
        .await
        .unwrap()
        .is_none());
    s.stop().await;
}
