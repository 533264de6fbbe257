//! A local Azure Key Vault for tests: HTTPS (certificate from [`crate::certs`]) serving the Get
//! Secret call and the two token endpoints Sluice signs in with, shaped as Microsoft documents
//! them:
//!
//! - `POST /{tenant}/oauth2/v2.0/token` (Entra ID client credentials: `grant_type`,
//!   `client_id`, `client_secret`, `scope=https://vault.azure.net/.default` or
//!   `https://storage.azure.com/.default`); a wrong secret gets
//!   `401 {"error": "invalid_client", "error_description": "AADSTS7000215: ..."}`.
//! - `GET /msi/token?resource=https://vault.azure.net&api-version=2019-08-01` (or
//!   `resource=https://storage.azure.com`) with `X-IDENTITY-HEADER` (App Service managed
//!   identity).
//!
//! Tokens are JWT-shaped (unsigned) with the claims Azurite's `--oauth basic` checks (`aud`
//! the resource, `iss` `https://sts.windows.net/<tenant>/`, `iat`/`nbf`/`exp`), so the same
//! token endpoint signs Sluice in to Key Vault and to Azurite's blob service; the vault accepts
//! only tokens issued for the vault.
//! - `GET /secrets/{name}[/{version}]?api-version=7.4` with `Authorization: Bearer <token>`:
//!   `200 {"value", "id", "attributes": {"enabled": true, ...}}`; `401 Unauthorized` without a
//!   token this server issued; `404 SecretNotFound`; `403 Forbidden` (`AccessDenied`) for
//!   secrets the identity may not read; `403 Forbidden` (`SecretDisabled`, "Operation get is not
//!   allowed on a disabled secret.") for a disabled version.
//!
//! It runs on its own thread and runtime, so a test may block on the `sluice` process while
//! the vault answers it. Every request is counted so tests can check "fetched once".

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use rustls::pki_types::pem::PemObject as _;
use serde_json::{json, Value};

/// Tenant, client id and client secret the vault accepts.
pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";
pub const IDENTITY_HEADER: &str = "identity-header-3f9c2a71";

/// One version of a secret.
#[derive(Clone)]
struct Version {
    id: String,
    value: String,
    enabled: bool,
}

#[derive(Default)]
struct Vault {
    url: String,
    client_secret: String,
    /// Versions in creation order; the last is the current one.
    secrets: BTreeMap<String, Vec<Version>>,
    denied: BTreeSet<String>,
    tokens: Vec<String>,
    /// The resource (audience) of each token in `tokens`.
    audiences: Vec<String>,
    /// The `client_id` (user-assigned identity) of each managed identity token request.
    msi_client_ids: Vec<Option<String>>,
    /// `GET /secrets/...` paths, in order.
    gets: Vec<String>,
    token_requests: usize,
}

/// A running fake vault; stopped when dropped.
pub struct FakeKeyVault {
    /// `https://127.0.0.1:<port>`: the vault's `baseUrl` and the `AZURE_AUTHORITY_HOST`.
    pub url: String,
    /// The CA that signed the server certificate (give it to sluice as `SSL_CERT_FILE`).
    pub ca_file: PathBuf,
    /// The client secret the token endpoint accepts.
    pub client_secret: String,
    vault: Arc<Mutex<Vault>>,
    handle: axum_server::Handle,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl FakeKeyVault {
    /// Starts a vault with no secrets.
    pub fn start() -> anyhow::Result<FakeKeyVault> {
        let pki = crate::certs::generate()?;
        let dir = tempfile::tempdir()?;
        let files = pki.write_to(dir.path())?;
        let certs =
            rustls::pki_types::CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes())?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];

        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
        let client_secret = format!("client-secret-{}", uuid::Uuid::new_v4().simple());
        let vault = Arc::new(Mutex::new(Vault {
            url: url.clone(),
            client_secret: client_secret.clone(),
            ..Vault::default()
        }));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/msi/token", get(msi_token))
            .route("/secrets/{name}", get(get_current))
            .route("/secrets/{name}/{version}", get(get_version))
            .with_state(vault.clone());
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)),
        )
        .handle(handle.clone());
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            else {
                return;
            };
            let _ = rt.block_on(server.serve(app.into_make_service()));
        });
        Ok(FakeKeyVault {
            url,
            ca_file: files.ca,
            client_secret,
            vault,
            handle,
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// Adds a new current version of `name`; returns its version id.
    pub fn set(&self, name: &str, value: &str) -> String {
        self.add(name, value, true)
    }

    /// Adds a new version of `name`, enabled or not; returns its version id.
    pub fn add(&self, name: &str, value: &str, enabled: bool) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.lock()
            .secrets
            .entry(name.to_string())
            .or_default()
            .push(Version {
                id: id.clone(),
                value: value.to_string(),
                enabled,
            });
        id
    }

    /// The identity may not read `name` (403 AccessDenied).
    pub fn deny(&self, name: &str) {
        self.lock().denied.insert(name.to_string());
    }

    /// `GET /secrets/...` paths requested so far.
    pub fn gets(&self) -> Vec<String> {
        self.lock().gets.clone()
    }

    /// Token requests so far (client credentials and managed identity).
    pub fn token_requests(&self) -> usize {
        self.lock().token_requests
    }

    /// The `client_id` query parameter of each managed identity token request, in order.
    pub fn msi_client_ids(&self) -> Vec<Option<String>> {
        self.lock().msi_client_ids.clone()
    }

    /// The resource of each token issued so far, in order (`https://vault.azure.net`,
    /// `https://storage.azure.com`).
    pub fn token_audiences(&self) -> Vec<String> {
        self.lock().audiences.clone()
    }

    /// Every access token issued so far (secrets too: none may appear in sluice's output).
    pub fn tokens(&self) -> Vec<String> {
        self.lock().tokens.clone()
    }

    /// Environment for a sluice process signing in with client credentials here.
    pub fn client_env(&self) -> Vec<(String, String)> {
        vec![
            ("AZURE_TENANT_ID".into(), TENANT.into()),
            ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AZURE_CLIENT_SECRET".into(), self.client_secret.clone()),
            ("AZURE_AUTHORITY_HOST".into(), self.url.clone()),
            ("SSL_CERT_FILE".into(), self.ca_file.display().to_string()),
        ]
    }

    /// Environment for a sluice process signing in with the App Service managed identity.
    pub fn managed_identity_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "IDENTITY_ENDPOINT".into(),
                format!("{}/msi/token", self.url),
            ),
            ("IDENTITY_HEADER".into(), IDENTITY_HEADER.into()),
            ("SSL_CERT_FILE".into(), self.ca_file.display().to_string()),
        ]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vault> {
        self.vault.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeKeyVault {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Shared = State<Arc<Mutex<Vault>>>;

fn lock(vault: &Arc<Mutex<Vault>>) -> std::sync::MutexGuard<'_, Vault> {
    vault.lock().unwrap_or_else(|e| e.into_inner())
}

const VAULT: &str = "https://vault.azure.net";
const STORAGE: &str = "https://storage.azure.com";

/// An unsigned JWT for `audience`, valid for an hour.
fn issue(v: &mut Vault, audience: &str) -> String {
    use base64::Engine as _;
    let b64 = |value: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
    };
    let now = chrono::Utc::now().timestamp();
    let token = format!(
        "{}.{}.{}",
        b64(json!({"typ": "JWT", "alg": "RS256"})),
        b64(
            json!({"aud": audience, "iss": format!("https://sts.windows.net/{TENANT}/"),
            "iat": now - 60, "nbf": now - 60, "exp": now + 3600, "appid": CLIENT_ID,
            "tid": TENANT, "uti": uuid::Uuid::new_v4().simple().to_string()})
        ),
        "ZmFrZS1zaWduYXR1cmU"
    );
    v.tokens.push(token.clone());
    v.audiences.push(audience.to_string());
    token
}

async fn token(
    State(vault): Shared,
    Path(tenant): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut v = lock(&vault);
    v.token_requests += 1;
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if tenant != TENANT {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request",
            "error_description": format!("AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."),
            "error_codes": [90002]}))).into_response();
    }
    let audience = match field("scope") {
        "https://vault.azure.net/.default" => VAULT,
        "https://storage.azure.com/.default" => STORAGE,
        _ => "",
    };
    if field("grant_type") != "client_credentials" || audience.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request",
            "error_description": "AADSTS900144: The request body must contain the following parameter: 'grant_type' or 'scope'."}))).into_response();
    }
    if field("client_id") != CLIENT_ID || field("client_secret") != v.client_secret {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client",
            "error_description": format!("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", field("client_id")),
            "error_codes": [7000215]}))).into_response();
    }
    let token = issue(&mut v, audience);
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}))
        .into_response()
}

async fn msi_token(
    State(vault): Shared,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut v = lock(&vault);
    v.token_requests += 1;
    v.msi_client_ids.push(q.get("client_id").cloned());
    let header = headers
        .get("x-identity-header")
        .and_then(|h| h.to_str().ok());
    if header != Some(IDENTITY_HEADER) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"statusCode": 401, "message": "Unauthorized request"})),
        )
            .into_response();
    }
    let audience = match q.get("resource").map(String::as_str) {
        Some(VAULT) => VAULT,
        Some(STORAGE) => STORAGE,
        _ => "",
    };
    if audience.is_empty() || q.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"statusCode": 400, "message": "resource and api-version are required"})),
        )
            .into_response();
    }
    let token = issue(&mut v, audience);
    let expires_on = (chrono::Utc::now().timestamp() + 3600).to_string();
    Json(json!({"access_token": token, "expires_on": expires_on, "resource": audience, "token_type": "Bearer", "client_id": CLIENT_ID}))
        .into_response()
}

async fn get_current(
    state: Shared,
    headers: HeaderMap,
    Path(name): Path<String>,
    query: Query<BTreeMap<String, String>>,
) -> Response {
    get_secret(state, headers, name, None, query)
}

async fn get_version(
    state: Shared,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
    query: Query<BTreeMap<String, String>>,
) -> Response {
    get_secret(state, headers, name, Some(version), query)
}

fn kv_error(status: StatusCode, code: &str, message: &str, inner: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(inner) = inner {
        error["innererror"] = json!({"code": inner});
    }
    (status, Json(json!({ "error": error }))).into_response()
}

fn get_secret(
    State(vault): Shared,
    headers: HeaderMap,
    name: String,
    version: Option<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut v = lock(&vault);
    v.gets.push(match &version {
        Some(ver) => format!("/secrets/{name}/{ver}"),
        None => format!("/secrets/{name}"),
    });
    if q.get("api-version").map(String::as_str) != Some("7.4") {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The request URI contains an invalid parameter: api-version 7.4 expected.",
            None,
        );
    }
    let bearer = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let for_vault = |t: &str| {
        v.tokens
            .iter()
            .zip(&v.audiences)
            .any(|(issued, aud)| issued == t && aud == VAULT)
    };
    if !bearer.is_some_and(for_vault) {
        return kv_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
            None,
        );
    }
    if v.denied.contains(&name) {
        return kv_error(StatusCode::FORBIDDEN, "Forbidden",
            &format!("The user, group or application 'appid={CLIENT_ID};oid=0;iss=https://sts.windows.net/{TENANT}/' does not have secrets get permission on key vault 'fake-vault;location=local'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"),
            Some("AccessDenied"));
    }
    let versions = v.secrets.get(&name).cloned().unwrap_or_default();
    let found = match &version {
        Some(id) => versions.iter().find(|x| &x.id == id),
        None => versions.last(),
    };
    let Some(found) = found else {
        return kv_error(StatusCode::NOT_FOUND, "SecretNotFound",
            &format!("A secret with (name/id) {name}{} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
                version.as_deref().map(|x| format!("/{x}")).unwrap_or_default()),
            None);
    };
    if !found.enabled {
        return kv_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            Some("SecretDisabled"),
        );
    }
    let body: Value = json!({
        "value": found.value,
        "id": format!("{}/secrets/{name}/{}", v.url, found.id),
        "attributes": {"enabled": true, "created": 1700000000, "updated": 1700000000, "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
        "tags": {}
    });
    Json(body).into_response()
}
