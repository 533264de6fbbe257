//! The Web activity against real local HTTP and HTTPS servers started here: a JSON response as
//! the output (non-objects under `Response`) with `ADFWebActivityResponseHeaders`, a POST's
//! body and headers as the server received them, Basic authentication checked by the server,
//! a 500 failing the activity with the status named, `httpRequestTimeout`, ADF's 202 +
//! `Location` polling, the 4 MB cap, `disableCertValidation`, and secrets kept out of output.
//!
//! Shapes from "Web activity in Azure Data Factory and Azure Synapse Analytics"
//! (learn.microsoft.com, data-factory/control-flow-web-activity).

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use rustls::pki_types::pem::PemObject as _;
use serde_json::{json, Value};
use sluice_e2e::*;

/// A server on its own thread and runtime (the test thread blocks on `sluice`), stopped when
/// dropped.
struct Server {
    url: String,
    handle: axum_server::Handle,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn spawn(listener: TcpListener, tls: Option<rustls::ServerConfig>, app: Router) -> Server {
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    let scheme = if tls.is_some() { "https" } else { "http" };
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = app.into_make_service();
            let _ = match tls {
                Some(config) => {
                    axum_server::from_tcp_rustls(
                        listener,
                        axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
                    )
                    .handle(h)
                    .serve(app)
                    .await
                }
                None => axum_server::from_tcp(listener).handle(h).serve(app).await,
            };
        });
    });
    Server {
        url: format!("{scheme}://127.0.0.1:{port}"),
        handle,
    }
}

/// The endpoints the tests call.
fn app() -> Router {
    let polls = Arc::new(AtomicUsize::new(0));
    let status_polls = polls.clone();
    Router::new()
        .route(
            "/json",
            get(|| async {
                (
                    [("X-Custom", "yes")],
                    Json(json!({"items": [1, 2], "name": "orders"})),
                )
            }),
        )
        .route("/array", get(|| async { Json(json!([1, 2, 3])) }))
        .route(
            "/echo",
            post(|headers: HeaderMap, body: String| async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                Json(json!({"received": body, "contentType": h("content-type"),
                            "xTest": h("x-test"), "authorization": h("authorization")}))
            }),
        )
        .route(
            "/basic",
            get(|headers: HeaderMap| async move {
                // "u:s3cr3t-pw" in base64, as RFC 7617 encodes Basic credentials.
                let ok = headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some("Basic dTpzM2NyM3QtcHc=");
                if ok {
                    (StatusCode::OK, Json(json!({"user": "u"}))).into_response()
                } else {
                    (StatusCode::UNAUTHORIZED, "credentials refused").into_response()
                }
            }),
        )
        .route(
            "/fail",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom: database down") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                "late"
            }),
        )
        .route(
            "/start",
            post(move || {
                let polls = polls.clone();
                async move {
                    polls.store(0, Ordering::SeqCst);
                    (
                        StatusCode::ACCEPTED,
                        [("Location", "/status/42"), ("Retry-After", "0")],
                        "",
                    )
                }
            }),
        )
        .route(
            "/status/42",
            get(move || {
                let polls = status_polls.clone();
                async move {
                    let n = polls.fetch_add(1, Ordering::SeqCst) + 1;
                    if n < 3 {
                        (
                            StatusCode::ACCEPTED,
                            [("Location", "/status/42"), ("Retry-After", "0")],
                            Json(json!({"state": "running"})),
                        )
                            .into_response()
                    } else {
                        Json(json!({"state": "done", "polls": n})).into_response()
                    }
                }
            }),
        )
        .route("/big", get(|| async { "x".repeat(5 * 1024 * 1024) }))
}

fn http_server() -> Server {
    spawn(TcpListener::bind("127.0.0.1:0").unwrap(), None, app())
}

/// A factory with pipeline `P` of one Web activity `W` with `type_properties`, and a
/// SetVariable `V` after it reading `expr` (its value shows what later activities see).
fn web_factory(type_properties: Value, expr: &str) -> TestFactory {
    let f = TestFactory::new();
    f.put(
        "pipeline",
        "P",
        json!({"variables": {"v": {"type": "String"}}, "activities": [
            {"name": "W", "type": "WebActivity", "typeProperties": type_properties},
            {"name": "V", "type": "SetVariable", "dependsOn": [{"activity": "W", "dependencyConditions": ["Succeeded"]}],
             "typeProperties": {"variableName": "v", "value": expr}}]}),
    );
    f
}

#[test]
fn get_json_is_the_output_with_the_response_headers() {
    let s = http_server();
    let f = web_factory(
        json!({"url": format!("{}/json", s.url), "method": "GET"}),
        "@{activity('W').output.name}-@{activity('W').output.items[1]}",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    let w = &activity(&out, "W")["output"];
    assert_eq!(w["items"], json!([1, 2]), "{w}");
    assert_eq!(w["ADFWebActivityResponseHeaders"]["X-Custom"], "yes", "{w}");
    assert_eq!(
        w["ADFWebActivityResponseHeaders"]["Content-Type"], "application/json",
        "{w}"
    );
    assert_eq!(activity(&out, "V")["output"]["value"], "orders-2");

    // A JSON array is not an object: it comes as text under `Response`.
    let f = web_factory(
        json!({"url": format!("{}/array", s.url), "method": "GET"}),
        "@{length(json(activity('W').output.Response))}",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(activity(&out, "W")["output"]["Response"], "[1,2,3]");
    assert_eq!(activity(&out, "V")["output"]["value"], "3");
}

#[test]
fn post_sends_the_body_and_headers_in_both_header_forms() {
    let s = http_server();
    let f = web_factory(
        json!({"url": format!("{}/echo", s.url), "method": "POST",
               "headers": {"X-Test": "@{pipeline().Pipeline}", "Authorization": "Bearer tok-xyz-987"},
               "body": {"rows": 3, "run": "@pipeline().Pipeline"}}),
        "@activity('W').output.xTest",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    let w = &activity(&out, "W")["output"];
    let received: Value = serde_json::from_str(w["received"].as_str().unwrap()).unwrap();
    assert_eq!(received, json!({"rows": 3, "run": "P"}));
    assert_eq!(w["contentType"], "application/json", "{w}");
    assert_eq!(activity(&out, "V")["output"]["value"], "P");
    // The server got the token; the run's output shows it masked.
    assert_eq!(w["authorization"], "**********", "{w}");
    assert!(!run.all().contains("tok-xyz-987"), "{}", run.all());

    // The newer list form of headers; a string body is sent as written.
    let f = web_factory(
        json!({"url": format!("{}/echo", s.url), "method": "POST",
               "headers": [{"name": "X-Test", "value": "listed"}, {"name": "Content-Type", "value": "text/plain"}],
               "body": "plain text"}),
        "@activity('W').output.received",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let w = activity(&run.json(), "W")["output"].clone();
    assert_eq!(
        (&w["received"], &w["xTest"], &w["contentType"]),
        (&json!("plain text"), &json!("listed"), &json!("text/plain")),
        "{w}"
    );

    // POST without a body is refused before anything is sent.
    let f = web_factory(
        json!({"url": format!("{}/echo", s.url), "method": "POST"}),
        "x",
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("activity 'W'") && run.stderr.contains("'body'"),
        "{}",
        run.stderr
    );
}

#[test]
fn basic_authentication_is_checked_by_the_server_and_its_password_never_shows() {
    let s = http_server();
    let auth = |pw: &str| {
        json!({"url": format!("{}/basic", s.url), "method": "GET",
               "authentication": {"type": "Basic", "username": "u",
                                  "password": {"type": "SecureString", "value": pw}}})
    };
    let run = run_factory(&web_factory(auth("s3cr3t-pw"), "ok"), &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity(&run.json(), "W")["output"]["user"], "u");
    assert!(!run.all().contains("s3cr3t-pw"), "{}", run.all());

    let run = run_factory(&web_factory(auth("wrong-pw-123"), "ok"), &[]);
    let e = assert_one_clean_error(&run, &["401", "credentials refused"]);
    assert!(!run.all().contains("wrong-pw-123"), "{}", run.all());
    assert!(!e.contains("wrong-pw-123"));

    // Identities Sluice does not have are refused by name.
    let f = web_factory(
        json!({"url": format!("{}/basic", s.url), "method": "GET",
               "authentication": {"type": "MSI", "resource": "https://management.azure.com/"}}),
        "x",
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("authentication") && run.stderr.contains("\"MSI\" is not supported"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_basic_password_can_come_from_key_vault() {
    let s = http_server();
    let vault = keyvault::FakeKeyVault::start().unwrap();
    vault.set("web-pw", "s3cr3t-pw");
    let f = web_factory(
        json!({"url": format!("{}/basic", s.url), "method": "GET",
               "authentication": {"type": "Basic", "username": "u",
                   "password": {"type": "AzureKeyVaultSecret", "secretName": "web-pw",
                                "store": {"referenceName": "kv", "type": "LinkedServiceReference"}}}}),
        "ok",
    );
    f.put(
        "linkedService",
        "kv",
        json!({"type": "AzureKeyVault", "typeProperties": {"baseUrl": vault.url}}),
    );
    let env = vault.client_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = sluice_env(
        &["run", f.path().to_str().unwrap(), "--output", "json"],
        &env,
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity(&run.json(), "W")["output"]["user"], "u");
    assert_eq!(vault.gets().len(), 1, "{:?}", vault.gets());
    assert!(!run.all().contains("s3cr3t-pw"), "{}", run.all());
}

#[test]
fn a_server_error_fails_the_activity_naming_the_status_without_the_key() {
    let s = http_server();
    let f = web_factory(
        json!({"url": format!("{}/fail?code=fn-key-9f8e7d", s.url), "method": "GET"}),
        "x",
    );
    let run = run_factory(&f, &[]);
    let e = assert_one_clean_error(&run, &["500", "boom: database down", "activity 'W'"]);
    assert_eq!(run.json()["activities"][0]["error"]["errorCode"], "2108");
    assert!(!run.all().contains("fn-key-9f8e7d"), "{e}");
    // The dependent activity did not run.
    assert_eq!(activity(&run.json(), "V")["status"], "Skipped");
}

#[test]
fn the_request_timeout_and_the_size_cap_are_enforced() {
    let s = http_server();
    sluice_bin();
    let t = std::time::Instant::now();
    let f = web_factory(
        json!({"url": format!("{}/slow", s.url), "method": "GET", "httpRequestTimeout": "00:00:02"}),
        "x",
    );
    let run = run_factory(&f, &[]);
    assert_one_clean_error(&run, &["httpRequestTimeout", "2 s"]);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());

    let f = web_factory(
        json!({"url": format!("{}/big", s.url), "method": "GET"}),
        "x",
    );
    let run = run_factory(&f, &[]);
    assert_one_clean_error(&run, &["4 MB"]);

    let f = web_factory(
        json!({"url": format!("{}/slow", s.url), "method": "GET", "httpRequestTimeout": "00:10:01"}),
        "x",
    );
    let run = sluice(&["validate", f.path().to_str().unwrap()]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("httpRequestTimeout"), "{}", run.stderr);
}

#[test]
fn a_202_is_polled_at_its_location_unless_async_is_turned_off() {
    let s = http_server();
    let f = web_factory(
        json!({"url": format!("{}/start", s.url), "method": "POST", "body": "{}"}),
        "@activity('W').output.state",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let out = run.json();
    assert_eq!(
        activity(&out, "W")["output"]["polls"],
        3,
        "{}",
        activity(&out, "W")
    );
    assert_eq!(activity(&out, "V")["output"]["value"], "done");

    let f = web_factory(
        json!({"url": format!("{}/start", s.url), "method": "POST", "body": "{}", "turnOffAsync": true}),
        "x",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let w = activity(&run.json(), "W")["output"].clone();
    assert_eq!(w["Response"], "", "{w}");
    assert_eq!(w["ADFWebActivityResponseHeaders"]["Location"], "/status/42");
}

#[test]
fn disable_cert_validation_reaches_a_server_with_an_untrusted_certificate() {
    let pki = certs::generate().unwrap();
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key =
        rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let s = spawn(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        Some(config),
        app(),
    );
    assert!(s.url.starts_with("https://"));

    // The test CA is not trusted by sluice: the certificate check fails...
    let f = web_factory(
        json!({"url": format!("{}/json", s.url), "method": "GET"}),
        "x",
    );
    let run = run_factory(&f, &[]);
    assert_one_clean_error(&run, &["error calling the endpoint"]);

    // ...unless it is turned off.
    let f = web_factory(
        json!({"url": format!("{}/json", s.url), "method": "GET", "disableCertValidation": true}),
        "@activity('W').output.name",
    );
    let run = run_factory(&f, &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(activity(&run.json(), "V")["output"]["value"], "orders");
}
