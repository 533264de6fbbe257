//! Definitions (validated, sealed at rest, masked, paged, etags, deletes) and runs (created,
//! read, queried, cancelled; no worker here, so they stay Queued).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice_e2e::pg_url;
use uuid::Uuid;

use super::server::Service;
use super::{arm_error, pipeline, seed, API};

#[tokio::test]
async fn definitions_are_validated_sealed_at_rest_masked_and_paged() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("defs", 10_000).await;
    let fp = seed(&s, &t, "factory-2").await;

    // Masked on GET and in lists, sealed in the control database.
    let (st, body) = s
        .json(Method::GET, &t, &format!("{fp}/LINKEDSERVICES/pg"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["name"], "Pg");
    assert_eq!(
        body["properties"]["typeProperties"]["connectionString"]["value"],
        "**********"
    );
    assert_eq!(
        body["type"],
        "Microsoft.DataFactory/factories/linkedservices"
    );
    let (_, list) = s
        .json(Method::GET, &t, &format!("{fp}/linkedservices"), None)
        .await;
    assert!(!list.to_string().contains("Very-Secret"), "{list}");
    let stored = raw_definitions(&s).await;
    assert!(stored.contains("sluice:sealed:v1:"), "{stored}");
    assert!(
        !stored.contains("Very-Secret"),
        "the secret is stored in clear: {stored}"
    );
    // PUT back what GET showed: the masked secret keeps its stored (sealed) value, and the
    // definition still validates (a connection string of asterisks would not).
    let (st, again) = s
        .json(
            Method::PUT,
            &t,
            &format!("{fp}/linkedservices/Pg"),
            Some(json!({"properties": body["properties"].clone()})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(
        raw_definitions(&s).await,
        stored,
        "the sealed value is kept as it was"
    );

    // If-Match: a stale etag is a 409, the current one is accepted.
    let (_, current) = s
        .json(Method::GET, &t, &format!("{fp}/pipelines/Copy"), None)
        .await;
    let etag = current["etag"].as_str().unwrap().to_string();
    let stale = s
        .http
        .put(format!("{}{fp}/pipelines/Copy?{API}", s.base))
        .bearer_auth(&t.token)
        .header("if-match", format!("\"{}\"", Uuid::new_v4()))
        .json(&pipeline("Sink"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let fresh = s
        .http
        .put(format!("{}{fp}/pipelines/Copy?{API}", s.base))
        .bearer_auth(&t.token)
        .header("if-match", format!("\"{etag}\""))
        .json(&pipeline("Sink"))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    // If-None-Match: * creates only.
    let create_only = s
        .http
        .put(format!("{}{fp}/pipelines/Copy?{API}", s.base))
        .bearer_auth(&t.token)
        .header("if-none-match", "*")
        .json(&pipeline("Sink"))
        .send()
        .await
        .unwrap();
    assert_eq!(create_only.status(), StatusCode::CONFLICT);

    // Paging: pages of 3 (the test server's size) with nextLink until all 7 are listed.
    for i in 0..5 {
        let ds = json!({"properties": {"type": "AzurePostgreSqlTable",
            "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
            "typeProperties": {"schema": "s", "table": format!("t{i}")}}});
        let (st, _) = s
            .json(
                Method::PUT,
                &t,
                &format!("{fp}/datasets/Extra{i}"),
                Some(ds),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
    }
    let mut names = Vec::new();
    let mut next = Some(format!("{}{fp}/datasets?{API}", s.base));
    let mut pages = 0;
    while let Some(url) = next {
        let page: Value = s
            .http
            .get(url)
            .bearer_auth(&t.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        for v in page["value"].as_array().unwrap() {
            names.push(v["name"].as_str().unwrap().to_string());
        }
        next = page["nextLink"].as_str().map(str::to_string);
    }
    names.sort();
    assert_eq!(names.len(), 7, "{names:?}");
    names.dedup();
    assert_eq!((names.len(), pages), (7, 3));

    // Deleting: 200, then 204, then a 404 on GET.
    let (st, _) = s
        .json(Method::DELETE, &t, &format!("{fp}/datasets/Extra0"), None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .json(Method::DELETE, &t, &format!("{fp}/datasets/Extra0"), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, body) = s
        .json(Method::GET, &t, &format!("{fp}/datasets/Extra0"), None)
        .await;
    arm_error(st, &body, StatusCode::NOT_FOUND, "ResourceNotFound");

    // A dataset a pipeline reads cannot be deleted; the answer names the pipeline.
    let (st, body) = s
        .json(Method::DELETE, &t, &format!("{fp}/datasets/Sink"), None)
        .await;
    let message = arm_error(
        st,
        &body,
        StatusCode::BAD_REQUEST,
        "ReferencedByOtherResources",
    );
    assert!(
        message.contains("Copy") && message.contains("Sink"),
        "{message}"
    );
    let (st, _) = s
        .json(Method::GET, &t, &format!("{fp}/datasets/Sink"), None)
        .await;
    assert_eq!(st, StatusCode::OK);

    // A linked service refused by validation: the answer never shows its secret.
    let ls = json!({"properties": {"type": "AzurePostgreSql", "typeProperties": {
        "connectionString": {"type": "SecureString", "value": "Server=;Port=notaport;PWD=Leak-Me-77"}}}});
    let (st, body) = s
        .json(
            Method::PUT,
            &t,
            &format!("{fp}/linkedservices/Broken"),
            Some(ls),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert!(!body.to_string().contains("Leak-Me-77"), "{body}");
    s.stop().await;
}

async fn raw_definitions(s: &Service) -> String {
    let url = format!("{}/{}", pg_url().rsplit_once('/').unwrap().0, s.db);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT body::text FROM sluice.definitions ORDER BY kind, name",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn runs_are_created_read_queried_and_cancelled() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("runs", 10_000).await;
    let fp = seed(&s, &t, "factory-3").await;
    let (st, created) = s
        .json(
            Method::POST,
            &t,
            &format!("{fp}/pipelines/copy/createRun"),
            Some(json!({"label": "hello", "n": 7})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    let (st, run) = s
        .json(
            Method::GET,
            &t,
            &format!("{fp}/pipelineruns/{run_id}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{run}");
    assert_eq!(run["status"], "Queued");
    assert_eq!(run["pipelineName"], "Copy");
    assert_eq!(run["runId"], run_id.as_str());
    assert_eq!(run["parameters"]["label"], "hello");
    assert_eq!(run["parameters"]["n"], "7");
    assert_eq!(run["invokedBy"]["invokedByType"], "Manual");

    let window = json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2100-01-01T00:00:00Z",
        "filters": [{"operand": "PipelineName", "operator": "Equals", "values": ["Copy"]}]});
    let (st, found) = s
        .json(
            Method::POST,
            &t,
            &format!("{fp}/queryPipelineRuns"),
            Some(window.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{found}");
    assert_eq!(found["value"].as_array().unwrap().len(), 1, "{found}");
    let window = json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z",
        "lastUpdatedBefore": "2100-01-01T00:00:00Z"});
    let (st, acts) = s
        .json(
            Method::POST,
            &t,
            &format!("{fp}/pipelineruns/{run_id}/queryActivityruns"),
            Some(window),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{acts}");
    assert_eq!(acts["value"], json!([]));

    let (st, _) = s
        .json(
            Method::POST,
            &t,
            &format!("{fp}/pipelineruns/{run_id}/cancel?isRecursive=true"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, run) = s
        .json(
            Method::GET,
            &t,
            &format!("{fp}/pipelineruns/{run_id}"),
            None,
        )
        .await;
    assert_eq!(
        run["status"], "Cancelled",
        "a queued run is cancelled at once: {run}"
    );
    // /metrics reads the runs by tenant and status, and the queue's depth.
    let (st, _, metrics) = s
        .send(Method::GET, None, "/metrics?x=api-version", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("sluice_runs{")
                && l.contains("tenant=\"runs\"")
                && l.contains("status=\"Cancelled\"")
        })
        .unwrap_or_else(|| panic!("no Cancelled runs of tenant runs in /metrics:\n{metrics}"));
    assert!(line.ends_with(" 1"), "{line}");
    assert!(metrics.contains("sluice_queue_depth"), "{metrics}");
    let (st, body) = s
        .json(
            Method::GET,
            &t,
            &format!("{fp}/pipelineruns/{}", Uuid::new_v4()),
            None,
        )
        .await;
    arm_error(st, &body, StatusCode::NOT_FOUND, "ResourceNotFound");
    s.stop().await;
}

/// A SecureString parameter's value never comes back from the API: run answers (GET and
/// queryPipelineRuns) show `**********`, and a rerun that passes the mask back runs with the
/// original value.
#[tokio::test]
async fn secure_string_parameters_are_masked_in_run_answers() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("masker", 10_000).await;
    let fp = super::factory_path(&t, "rg", "Masked");
    let (st, body) = s
        .json(Method::PUT, &t, &fp, Some(json!({"location": "local"})))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let pipe = json!({"properties": {
        "parameters": {"pw": {"type": "SecureString"}, "who": {"type": "String"}},
        "activities": [{"name": "Nap", "type": "Wait", "typeProperties": {"waitTimeInSeconds": 1}}]}});
    let (st, body) = s
        .json(Method::PUT, &t, &format!("{fp}/pipelines/P"), Some(pipe))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let secret = "hunter2-secure-param";
    let (st, created) = s
        .json(
            Method::POST,
            &t,
            &format!("{fp}/pipelines/P/createRun"),
            Some(json!({"pw": secret, "who": "me"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let run = created["runId"].as_str().unwrap().to_string();
    let (_, got) = s
        .json(Method::GET, &t, &format!("{fp}/pipelineruns/{run}"), None)
        .await;
    assert_eq!(got["parameters"]["pw"], "**********", "{got}");
    assert_eq!(got["parameters"]["who"], "me", "{got}");
    let window = json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z",
                        "lastUpdatedBefore": "2100-01-01T00:00:00Z"});
    let (_, page) = s
        .json(
            Method::POST,
            &t,
            &format!("{fp}/queryPipelineRuns"),
            Some(window),
        )
        .await;
    assert_eq!(page["value"][0]["parameters"]["pw"], "**********", "{page}");
    assert!(!page.to_string().contains(secret) && !got.to_string().contains(secret));
    // A rerun passing the parameters back as shown runs with the original secret.
    let (st, rerun) = s
        .json(
            Method::POST,
            &t,
            &format!("{fp}/pipelines/P/createRun?referencePipelineRunId={run}"),
            Some(got["parameters"].clone()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{rerun}");
    let (_, subs) = s
        .json(
            Method::GET,
            &t,
            "/subscriptions?api-version=2020-01-01",
            None,
        )
        .await;
    let tenant: Uuid = subs["value"][0]["tenantId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let stored = s
        .control
        .get_run(tenant, rerun["runId"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.parameters["pw"], secret);
    assert_eq!(stored.parameters["who"], "me");
    s.stop().await;
}
