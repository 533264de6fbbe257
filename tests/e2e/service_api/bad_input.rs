//! Every "bad input" case of issue 14 answers one ARM-shaped error, and the server keeps
//! answering `/healthz` after each; tokens, rates, readiness and request metrics.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice::service::api::{bind_api, ApiConfig};
use uuid::Uuid;

use super::server::Service;
use super::{arm_error, pipeline, seed};

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
        ("unknown operation", Method::GET, format!("{fp}/dataflows/T"), None,
            StatusCode::NOT_FOUND, "InvalidResourceType", "dataflows"),
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
async fn plain_http_serves_without_a_certificate_and_stops_on_shutdown() {
    let (control, db) = super::server::control_db().await;
    let config = ApiConfig::new("127.0.0.1:0".parse().unwrap(), super::server::test_key());
    let bound = bind_api(config, control).await.unwrap();
    let port = bound.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let ok = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(ok.text().await.unwrap(), "ok");
    let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops on shutdown")
        .unwrap()
        .unwrap();
    assert!(
        http.get(format!("{url}/healthz")).send().await.is_err(),
        "no longer listening"
    );
    super::server::drop_db(&db).await;
}
