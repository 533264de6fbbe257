//! The test server: a control database of its own, the API on it over TLS (a fresh test CA),
//! tenants, and requests with a client that trusts the CA.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sluice::service::api::{bind_api, ApiConfig};
use sluice::service::control::{Control, MasterKey, NewTenant};
use sluice_e2e::{certs, connect_local, pg_url};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::API;

/// A control database of its own, an API server on it, and its test CA.
pub struct Service {
    pub base: String,
    pub ca: PathBuf,
    pub http: reqwest::Client,
    pub control: Control,
    pub db: String,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// A tenant's subscription and token.
pub struct Tenant {
    pub sub: Uuid,
    pub token: String,
}

impl Service {
    pub async fn start(plugin_limit: usize) -> Service {
        // The server's log on the test's output (RUST_LOG=sluice=debug for more).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "sluice=warn".into()),
            )
            .with_test_writer()
            .try_init();
        let (control, db) = control_db().await;
        let dir = tempfile::tempdir().unwrap();
        let files = certs::generate().unwrap().write_to(dir.path()).unwrap();
        let mut config = ApiConfig::new("127.0.0.1:0".parse().unwrap(), test_key());
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

    pub async fn tenant(&self, name: &str, rps: u32) -> Tenant {
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
    pub async fn send(
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

    pub async fn json(
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

    pub async fn healthy(&self) {
        let (status, _, body) = self.send(Method::GET, None, "/healthz", None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop_db(&self.db).await;
    }
}

/// A fresh control database (migrated) and its name.
pub async fn control_db() -> (Control, String) {
    let db = format!("sluice_api_{}", &Uuid::new_v4().simple().to_string()[..12]);
    connect_local()
        .await
        .batch_execute(&format!("CREATE DATABASE \"{db}\""))
        .await
        .unwrap();
    let url = format!("{}/{db}", pg_url().rsplit_once('/').unwrap().0);
    (Control::connect(&url).await.unwrap(), db)
}

pub async fn drop_db(db: &str) {
    let _ = connect_local()
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
        .await;
}

/// A fixed master key for the tests (32 bytes, base64).
pub fn test_key() -> MasterKey {
    MasterKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap()
}
