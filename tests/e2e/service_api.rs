//! The service's HTTP API (issue 14) against a real control database and a real TLS server
//! (in-process, a test CA made by rcgen): every "bad input" case answers one ARM-shaped error
//! and the server keeps answering; a second tenant's token reaches nothing of the first
//! tenant's factories, definitions, secrets, runs or plugins; definitions are validated on PUT
//! and SecureStrings are sealed at rest and masked on GET; runs are created, read, queried and
//! cancelled (no worker here: they stay Queued); and Microsoft's own Python SDK
//! (`azure-mgmt-datafactory`, in target/sdk-venv) manages factories and definitions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sluice::service::api::{bind_api, ApiConfig};
use sluice::service::control::{Control, MasterKey, NewTenant};
use sluice_e2e::{certs, connect_local, local_connection_string, pg_url};
use tokio::sync::oneshot;
use uuid::Uuid;

const API: &str = "api-version=2018-06-01";
const SECRET: &str = "Server=127.0.0.1;Port=5432;Database=test;UID=postgres;PWD=Very-Secret-42";

/// A control database of its own, an API server on it, and its test CA.
struct Service {
    base: String,
    ca: PathBuf,
    http: reqwest::Client,
    control: Control,
    db: String,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// A tenant's subscription and token.
struct Tenant {
    sub: Uuid,
    token: String,
}

impl Service {
    async fn start(plugin_limit: usize) -> Service {
        // The server's log on the test's output (RUST_LOG=sluice=debug for more).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "sluice=warn".into()),
            )
            .with_test_writer()
            .try_init();
        let db = format!("sluice_api_{}", &Uuid::new_v4().simple().to_string()[..12]);
        connect_local()
            .await
            .batch_execute(&format!("CREATE DATABASE \"{db}\""))
            .await
            .unwrap();
        let url = format!("{}/{db}", pg_url().rsplit_once('/').unwrap().0);
        let control = Control::connect(&url).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = certs::generate().unwrap().write_to(dir.path()).unwrap();
        let key = MasterKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
        let mut config = ApiConfig::new("127.0.0.1:0".parse().unwrap(), key);
        config.tls_cert = Some(files.server_cert.clone());
        config.tls_key = Some(files.server_key.clone());
        config.plugin_limit = plugin_limit;
        config.page_size = 3;
        let bound = bind_api(config, control.clone()).await.unwrap();
        let port = bound.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(bound.serve(async {
            let _ = stopped.await;
        }));
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&files.ca).unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Service {
            base: format!("https://127.0.0.1:{port}"),
            ca: files.ca,
            http,
            control,
            db,
            stop: Some(stop),
            _dir: dir,
        }
    }

    async fn tenant(&self, name: &str, rps: u32) -> Tenant {
        let created = self
            .control
            .create_tenant(NewTenant {
                name: name.into(),
                requests_per_second: Some(rps),
                ..NewTenant::default()
            })
            .await
            .unwrap();
        Tenant {
            sub: created.tenant.subscription_id,
            token: created.token,
        }
    }

    /// Sends a request; `path` is below the host, the api-version is added when `api`.
    async fn send(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = if path.contains("api-version") || path.starts_with("/healthz") {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}{sep}{API}", self.base)
        };
        let mut req = self.http.request(method, url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    }

    async fn json(
        &self,
        method: Method,
        t: &Tenant,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        let (status, _, text) = self.send(method, Some(&t.token), path, body).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn healthy(&self) {
        let (status, _, body) = self.send(Method::GET, None, "/healthz", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let admin = connect_local().await;
        let _ = admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.db
            ))
            .await;
    }
}

fn factory_path(t: &Tenant, rg: &str, f: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.DataFactory/factories/{f}",
        t.sub
    )
}

/// Asserts one ARM error with `code`, and returns its message.
fn arm_error(status: StatusCode, body: &Value, want: StatusCode, code: &str) -> String {
    assert_eq!(status, want, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!message.is_empty(), "{body}");
    message
}

/// A factory with a PostgreSQL linked service (SecureString), two table datasets and a copy
/// pipeline with one String parameter.
async fn seed(s: &Service, t: &Tenant, f: &str) -> String {
    let fp = factory_path(t, "rg", f);
    let (st, _) = s
        .json(Method::PUT, t, &fp, Some(json!({"location": "local"})))
        .await;
    assert_eq!(st, StatusCode::OK);
    let ls = json!({"properties": {"type": "AzurePostgreSql", "typeProperties": {
        "connectionString": {"type": "SecureString", "value": SECRET}}}});
    let (st, body) = s
        .json(Method::PUT, t, &format!("{fp}/linkedservices/Pg"), Some(ls))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    for name in ["Source", "Sink"] {
        let ds = json!({"properties": {"type": "AzurePostgreSqlTable",
            "linkedServiceName": {"referenceName": "Pg", "type": "LinkedServiceReference"},
            "typeProperties": {"schema": "s", "table": name.to_lowercase()}}});
        let (st, body) = s
            .json(Method::PUT, t, &format!("{fp}/datasets/{name}"), Some(ds))
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    let (st, body) = s
        .json(
            Method::PUT,
            t,
            &format!("{fp}/pipelines/Copy"),
            Some(pipeline("Sink")),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    fp
}

fn pipeline(sink: &str) -> Value {
    json!({"properties": {
        "parameters": {"label": {"type": "String", "defaultValue": "x"}, "n": {"type": "Int", "defaultValue": 1}},
        "activities": [{"name": "CopyRows", "type": "Copy",
            "inputs": [{"referenceName": "Source", "type": "DatasetReference"}],
            "outputs": [{"referenceName": sink, "type": "DatasetReference"}],
            "typeProperties": {"source": {"type": "AzurePostgreSqlSource"}, "sink": {"type": "AzurePostgreSqlSink"}}}]}})
}

/// What, method, path, body, and the status, ARM code and message part it must answer.
type Case = (
    &'static str,
    Method,
    String,
    Option<Vec<u8>>,
    StatusCode,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn bad_input_gets_one_arm_error_each_and_the_server_keeps_answering() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("bad-input", 10_000).await;
    let fp = seed(&s, &t, "factory-1").await;
    let tok = Some(t.token.as_str());

    let cases: Vec<Case> = vec![
        ("malformed JSON", Method::PUT, fp.clone(), Some(b"{\n  \"location\": \"x\",\n  oops\n}".to_vec()),
            StatusCode::BAD_REQUEST, "InvalidRequestContent", "line 3 column"),
        ("unknown api-version", Method::GET, format!("{fp}?api-version=2017-09-01-preview"), None,
            StatusCode::BAD_REQUEST, "InvalidApiVersionParameter", "2018-06-01"),
        ("no api-version", Method::GET, format!("{fp}?x=api-version"), None,
            StatusCode::BAD_REQUEST, "MissingApiVersionParameter", "2018-06-01"),
        ("body over the cap", Method::PUT, format!("{fp}/pipelines/Big"), Some(vec![b' '; 5 << 20]),
            StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "4194304"),
        ("plugin over its cap", Method::PUT, format!("{fp}/plugins/up/versions/1.0.0"), Some(vec![0; 2 << 20]),
            StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", "1048576"),
        ("deeply nested JSON", Method::PUT, format!("{fp}/pipelines/Deep"),
            Some(format!("{{\"properties\": {}{}}}", "[".repeat(200), "]".repeat(200)).into_bytes()),
            StatusCode::BAD_REQUEST, "InvalidRequestContent", "64"),
        ("bad subscription UUID", Method::GET,
            "/subscriptions/not-a-uuid/resourceGroups/rg/providers/Microsoft.DataFactory/factories/factory-1".into(), None,
            StatusCode::BAD_REQUEST, "InvalidSubscriptionId", "not-a-uuid"),
        ("bad run id", Method::GET, format!("{fp}/pipelineruns/not-a-run"), None,
            StatusCode::BAD_REQUEST, "InvalidRunId", "not-a-run"),
        ("not a plugin", Method::PUT, format!("{fp}/plugins/up/versions/1.0.0"), Some(b"hello".to_vec()),
            StatusCode::BAD_REQUEST, "InvalidPlugin", "WebAssembly"),
        ("dangling reference", Method::PUT, format!("{fp}/pipelines/Broken"),
            Some(serde_json::to_vec(&pipeline("Nowhere")).unwrap()),
            StatusCode::BAD_REQUEST, "InvalidDefinition", "Nowhere"),
        ("no properties", Method::PUT, format!("{fp}/datasets/Empty"), Some(b"{}".to_vec()),
            StatusCode::BAD_REQUEST, "BadRequest", "properties"),
        ("unknown operation", Method::GET, format!("{fp}/triggers/T"), None,
            StatusCode::NOT_FOUND, "InvalidResourceType", "triggers"),
        ("unknown pipeline run", Method::POST, format!("{fp}/pipelines/Nope/createRun"), None,
            StatusCode::NOT_FOUND, "ResourceNotFound", "Nope"),
        ("undeclared parameter", Method::POST, format!("{fp}/pipelines/Copy/createRun"), Some(b"{\"nope\": 1}".to_vec()),
            StatusCode::BAD_REQUEST, "InvalidParameters", "nope"),
        ("mistyped parameter", Method::POST, format!("{fp}/pipelines/Copy/createRun"), Some(b"{\"n\": \"many\"}".to_vec()),
            StatusCode::BAD_REQUEST, "InvalidParameters", "n"),
        ("unknown start activity", Method::POST, format!("{fp}/pipelines/Copy/createRun?startActivityName=Nap"), None,
            StatusCode::BAD_REQUEST, "InvalidParameters", "Nap"),
        ("recovery without a reference", Method::POST, format!("{fp}/pipelines/Copy/createRun?isRecovery=true"), None,
            StatusCode::BAD_REQUEST, "InvalidParameters", "referencePipelineRunId"),
        ("unknown reference run", Method::POST,
            format!("{fp}/pipelines/Copy/createRun?isRecovery=true&referencePipelineRunId={}", Uuid::nil()), None,
            StatusCode::NOT_FOUND, "ResourceNotFound", "00000000"),
        ("tags not an object", Method::PUT, fp.clone(), Some(b"{\"location\": \"x\", \"tags\": 3}".to_vec()),
            StatusCode::BAD_REQUEST, "BadRequest", "tags"),
        ("bad factory name", Method::PUT, fp.replace("factory-1", "a_b"), Some(b"{}".to_vec()),
            StatusCode::BAD_REQUEST, "InvalidResourceName", "a_b"),
        ("bad boolean", Method::POST, format!("{fp}/pipelineruns/{}/cancel?isRecursive=maybe", Uuid::nil()), None,
            StatusCode::BAD_REQUEST, "BadRequest", "isRecursive"),
        ("wrong method", Method::PATCH, format!("{fp}/pipelines/Copy"), None,
            StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "PATCH"),
    ];
    for (what, method, path, body, status, code, needle) in cases {
        let (st, _, text) = s.send(method, tok, &path, body).await;
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        let message = arm_error(st, &v, status, code);
        assert!(message.contains(needle), "{what}: {message}");
        assert_eq!(
            v.as_object().map(|o| o.len()),
            Some(1),
            "{what}: only `error`: {v}"
        );
        s.healthy().await;
    }

    // No token, a forged token: 401 with a Bearer challenge.
    for token in [None, Some("forged-token")] {
        let (st, headers, text) = s.send(Method::GET, token, &fp, None).await;
        let v: Value = serde_json::from_str(&text).unwrap();
        let code = if token.is_some() {
            "InvalidAuthenticationToken"
        } else {
            "AuthenticationFailed"
        };
        arm_error(st, &v, StatusCode::UNAUTHORIZED, code);
        assert!(headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }

    // A tenant over its rate: 429 with Retry-After, the other tenant unaffected.
    let slow = s.tenant("slow", 2).await;
    let path = format!(
        "/subscriptions/{}/providers/Microsoft.DataFactory/factories",
        slow.sub
    );
    let mut limited = None;
    for _ in 0..10 {
        let (st, headers, text) = s.send(Method::GET, Some(&slow.token), &path, None).await;
        if st == StatusCode::TOO_MANY_REQUESTS {
            limited = Some((headers, text));
            break;
        }
    }
    let (headers, text) = limited.expect("a tenant at 2 requests/s is limited within 10 requests");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    arm_error(
        StatusCode::TOO_MANY_REQUESTS,
        &serde_json::from_str(&text).unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
    );
    let (st, _) = s.json(Method::GET, &t, &fp, None).await;
    assert_eq!(st, StatusCode::OK);

    // /readyz answers while the control database does; /metrics counted the answers.
    let (st, _, _) = s
        .send(Method::GET, None, "/readyz?x=api-version", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _, metrics) = s
        .send(Method::GET, None, "/metrics?x=api-version", None)
        .await;
    assert_eq!(st, StatusCode::OK);
    for needle in [
        "sluice_api_requests_total",
        "status=\"401\"",
        "status=\"413\"",
        "status=\"429\"",
    ] {
        assert!(metrics.contains(needle), "{needle} in /metrics:\n{metrics}");
    }
    s.stop().await;
}

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

#[tokio::test]
async fn another_tenant_reaches_nothing_of_the_first() {
    let s = Service::start(32 << 20).await;
    let a = s.tenant("tenant-a", 10_000).await;
    let b = s.tenant("tenant-b", 10_000).await;
    let fp = seed(&s, &a, "Shared").await;
    let plugin = std::fs::read(plugin_file("identity")).unwrap();
    let (st, _, text) = s
        .send(
            Method::PUT,
            Some(&a.token),
            &format!(
                "{fp}/plugins/identity/versions/{}",
                plugin_version("identity")
            ),
            Some(plugin.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{text}");
    let stored: Value = serde_json::from_str(&text).unwrap();
    let sha = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&plugin));
    let sha: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(stored["properties"]["sha256"], sha.as_str(), "{stored}");
    assert_eq!(stored["properties"]["size"], plugin.len(), "{stored}");
    // A component whose info() names another plugin is refused.
    let (st, _, text) = s
        .send(
            Method::PUT,
            Some(&a.token),
            &format!("{fp}/plugins/other/versions/{}", plugin_version("identity")),
            Some(plugin),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{text}");
    assert!(
        text.contains("InvalidPlugin") && text.contains("identity@"),
        "{text}"
    );
    let (st, created) = s
        .json(
            Method::POST,
            &a,
            &format!("{fp}/pipelines/Copy/createRun"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{created}");
    let run_id = created["runId"].as_str().unwrap().to_string();
    let (_, a_factory) = s.json(Method::GET, &a, &fp, None).await;
    let a_etag = a_factory["eTag"].as_str().unwrap().to_string();

    // Every endpoint, with B's token on A's subscription, and on B's own subscription with
    // A's names: never 2xx, never A's data.
    let version = plugin_version("identity");
    // (B's own subscription may hold a factory of the same name: there, B's PUT and DELETE
    // of the factory itself are B's business and not tried.)
    let below = |root: &str, own: bool| -> Vec<(Method, String, Option<Value>)> {
        let mut v = vec![(Method::GET, root.to_string(), None)];
        if !own {
            v.push((
                Method::PUT,
                root.to_string(),
                Some(json!({"location": "x"})),
            ));
            v.push((Method::DELETE, root.to_string(), None));
        }
        v.extend([
            (Method::GET, format!("{root}/linkedservices"), None),
            (Method::GET, format!("{root}/linkedservices/Pg"), None),
            (
                Method::PUT,
                format!("{root}/datasets/Source"),
                Some(json!({"properties": {}})),
            ),
            (Method::DELETE, format!("{root}/pipelines/Copy"), None),
            (Method::GET, format!("{root}/pipelines"), None),
            (Method::GET, format!("{root}/datasets/Sink"), None),
            (
                Method::POST,
                format!("{root}/pipelines/Copy/createRun"),
                None,
            ),
            (Method::GET, format!("{root}/pipelineruns/{run_id}"), None),
            (
                Method::POST,
                format!("{root}/pipelineruns/{run_id}/cancel"),
                None,
            ),
            (
                Method::POST,
                format!("{root}/queryPipelineRuns"),
                Some(
                    json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2100-01-01T00:00:00Z"}),
                ),
            ),
            (
                Method::POST,
                format!("{root}/pipelineruns/{run_id}/queryActivityruns"),
                Some(
                    json!({"lastUpdatedAfter": "2000-01-01T00:00:00Z", "lastUpdatedBefore": "2100-01-01T00:00:00Z"}),
                ),
            ),
            (Method::GET, format!("{root}/plugins"), None),
            (
                Method::GET,
                format!("{root}/plugins/identity/versions/{version}"),
                None,
            ),
            (
                Method::DELETE,
                format!("{root}/plugins/identity/versions/{version}"),
                None,
            ),
        ]);
        v
    };
    let b_names = factory_path(&b, "rg", "Shared");
    let mut tried = 0;
    for (root, own) in [(fp.clone(), false), (b_names, true)] {
        for (method, path, body) in below(&root, own) {
            let body = body.map(|v| serde_json::to_vec(&v).unwrap());
            let (st, _, text) = s.send(method.clone(), Some(&b.token), &path, body).await;
            assert!(!st.is_success(), "{method} {path} answered {st}: {text}");
            assert_eq!(st, StatusCode::NOT_FOUND, "{method} {path}: {text}");
            for secret in ["Very-Secret", &a_etag, "sluice:sealed"] {
                assert!(
                    !text.contains(secret),
                    "{method} {path} revealed {secret}: {text}"
                );
            }
            tried += 1;
        }
    }
    assert_eq!(tried, 32);
    let (_, listed) = s
        .json(
            Method::GET,
            &b,
            &format!(
                "/subscriptions/{}/providers/Microsoft.DataFactory/factories",
                b.sub
            ),
            None,
        )
        .await;
    assert_eq!(listed["value"], json!([]), "B lists none of A's factories");
    // A's run, factory and plugin are untouched.
    let (_, run) = s
        .json(
            Method::GET,
            &a,
            &format!("{fp}/pipelineruns/{run_id}"),
            None,
        )
        .await;
    assert_eq!(run["status"], "Queued");
    let (st, _) = s
        .json(
            Method::GET,
            &a,
            &format!("{fp}/plugins/identity/versions/{version}"),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, body) = s.json(Method::GET, &a, &fp, None).await;
    assert_eq!(
        (st, body["eTag"].as_str()),
        (StatusCode::OK, Some(a_etag.as_str()))
    );

    // A rotated token stops working once the token cache forgets it; the new one works.
    let rotated = s.control.rotate_token("tenant-b").await.unwrap();
    tokio::time::sleep(sluice::service::api::auth::TOKEN_CACHE_TTL + Duration::from_millis(200))
        .await;
    let own = format!(
        "/subscriptions/{}/providers/Microsoft.DataFactory/factories",
        b.sub
    );
    let (st, _, text) = s.send(Method::GET, Some(&b.token), &own, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{text}");
    let (st, _, text) = s.send(Method::GET, Some(&rotated.token), &own, None).await;
    assert_eq!(st, StatusCode::OK, "{text}");
    s.stop().await;
}

/// A guest plugin built by the harness.
fn plugin_file(name: &str) -> PathBuf {
    let dir = sluice_e2e::plugins_dir();
    std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(name) && f.ends_with(".wasm"))
        })
        .unwrap_or_else(|| panic!("no {name} plugin in {}", dir.display()))
}

fn plugin_version(name: &str) -> String {
    sluice::plugins::inspect(&plugin_file(name))
        .unwrap()
        .version
}

#[tokio::test]
async fn microsofts_python_sdk_manages_factories_and_definitions() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("sdk", 10_000).await;
    run_sdk_script(&s, &t, "sdk_crud").await;
    s.stop().await;
}

#[tokio::test]
async fn microsofts_python_sdk_parses_every_run_answer() {
    let s = Service::start(1 << 20).await;
    let t = s.tenant("sdk-runs", 10_000).await;
    run_sdk_script(&s, &t, "sdk_queued_runs").await;
    s.stop().await;
}

/// Runs tests/service/`script`.py with the venv's python against the server as tenant `t`;
/// it must end with "`script`: all passed".
async fn run_sdk_script(s: &Service, t: &Tenant, script: &str) {
    let out = tokio::process::Command::new(sdk_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("service/{script}.py")))
        .env("SLUICE_API_URL", &s.base)
        .env("SLUICE_CA", &s.ca)
        .env("SLUICE_TOKEN", &t.token)
        .env("SLUICE_SUBSCRIPTION", t.sub.to_string())
        .env("SLUICE_PG_CONNECTION", local_connection_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script}.py failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("{script}: all passed")),
        "{stdout}"
    );
}

/// The venv's python (tests/service/setup-venv makes it); fails loudly when it is missing.
pub fn sdk_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sdk-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/service/setup-venv (tests/run does) to install Microsoft's \
         azure-mgmt-datafactory SDK into target/sdk-venv",
        python.display()
    );
    python
}
