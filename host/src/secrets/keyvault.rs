//! A small Azure Key Vault client: the Get Secret call of the REST API and the two ways Azure's
//! SDKs sign in without a user, as they read them from the environment.
//!
//! - Get Secret: `GET {baseUrl}/secrets/{name}[/{version}]?api-version=7.4` with a bearer token
//!   for the resource `https://vault.azure.net`.
//! - Client credentials (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`):
//!   `POST {AZURE_AUTHORITY_HOST}/{tenant}/oauth2/v2.0/token` with
//!   `scope=https://vault.azure.net/.default`; the authority defaults to
//!   `https://login.microsoftonline.com`.
//! - Managed identity: App Service / Functions / Container Apps style when `IDENTITY_ENDPOINT`
//!   and `IDENTITY_HEADER` are set, otherwise the VM instance metadata service (IMDS). A
//!   user-assigned identity is chosen with `AZURE_CLIENT_ID`.
//!
//! The client secret, the identity header and the access token are [`Secret`]s (registered for
//! redaction as soon as they are read). The token is requested once per run. Errors say what
//! went wrong and what to check, and never contain a secret value: bodies of successful answers
//! are never quoted, and error bodies are reduced to Key Vault's `code` and `message`.
//!
//! Certificates are checked against the system roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` are
//! honoured, which is how the tests trust their local vault); there is deliberately no way to
//! turn checking off.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::OnceCell;

use super::{Redactor, Secret};

/// The Key Vault REST API version Sluice speaks.
pub const API_VERSION: &str = "7.4";
/// The resource (v1 token endpoints) and scope (v2) of Key Vault tokens.
const RESOURCE: &str = "https://vault.azure.net";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// How Sluice signs in to Azure to read secrets.
enum Credential {
    ClientSecret {
        authority: String,
        tenant: String,
        client_id: String,
        secret: Secret,
    },
    AppService {
        endpoint: String,
        header: Secret,
        client_id: Option<String>,
    },
    Imds {
        client_id: Option<String>,
    },
}

impl Credential {
    /// Reads the environment as Azure's SDKs do (`EnvironmentCredential`, then
    /// `ManagedIdentityCredential`).
    fn from_env(redactor: &Redactor) -> Result<Credential, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let client_id = var("AZURE_CLIENT_ID");
        if let Some(secret) = var("AZURE_CLIENT_SECRET") {
            let secret = redactor.secret(secret);
            let (Some(tenant), Some(client_id)) = (var("AZURE_TENANT_ID"), client_id) else {
                return Err("AZURE_CLIENT_SECRET is set, but AZURE_TENANT_ID and AZURE_CLIENT_ID must be set with it".into());
            };
            let authority = var("AZURE_AUTHORITY_HOST")
                .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string())
                .trim_end_matches('/')
                .to_string();
            return Ok(Credential::ClientSecret {
                authority,
                tenant,
                client_id,
                secret,
            });
        }
        if let (Some(endpoint), Some(header)) = (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
            return Ok(Credential::AppService {
                endpoint,
                header: redactor.secret(header),
                client_id,
            });
        }
        Ok(Credential::Imds { client_id })
    }

    /// Who Sluice is signed in as, for messages.
    fn describe(&self) -> String {
        match self {
            Credential::ClientSecret { client_id, .. } => {
                format!("the application with client id {client_id} (AZURE_CLIENT_ID)")
            }
            Credential::AppService { .. } | Credential::Imds { .. } => {
                "this machine's managed identity".to_string()
            }
        }
    }
}

/// Reads secrets from Key Vault; one per run, so the token is requested once.
pub struct KeyVaultClient {
    http: reqwest::Client,
    /// The run's redactor: the token and every value read are registered with it.
    redactor: Redactor,
    credential: Credential,
    token: OnceCell<Result<Secret, String>>,
}

impl KeyVaultClient {
    /// A client signed in with the credentials the environment provides.
    pub fn from_env(redactor: &Redactor) -> Result<KeyVaultClient, String> {
        let credential = Credential::from_env(redactor)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up HTTPS: {}", chain(&e)))?;
        Ok(KeyVaultClient {
            http,
            redactor: redactor.clone(),
            credential,
            token: OnceCell::new(),
        })
    }

    /// The value of secret `name` (its current version, or `version`) in the vault at
    /// `base_url`, registered for redaction.
    pub async fn get_secret(
        &self,
        base_url: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Secret, String> {
        let token = self
            .token
            .get_or_init(|| self.request_token())
            .await
            .clone()?;
        let url = match version {
            Some(v) => format!("{base_url}/secrets/{name}/{v}"),
            None => format!("{base_url}/secrets/{name}"),
        };
        let response = self
            .http
            .get(&url)
            .query(&[("api-version", API_VERSION)])
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| format!("cannot reach the vault: {}", chain(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("the vault's answer broke off: {}", chain(&e)))?;
        if status.is_success() {
            return secret_from_body(&body);
        }
        let (code, message, inner) = vault_error(&body);
        let said = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}, {code}: {message}")
        };
        Err(match status.as_u16() {
            404 => format!("the secret does not exist in this vault ({said})"),
            403 if inner == "SecretDisabled"
                || code == "ForbiddenByPolicy"
                || message.to_ascii_lowercase().contains("disabled") =>
            {
                format!("the secret is disabled; enable it or reference an enabled version ({said})")
            }
            403 => format!(
                "access denied: {} lacks the `get` permission on this vault's secrets (grant it in the vault's access policies or the role \"Key Vault Secrets User\") ({said})",
                self.credential.describe()
            ),
            401 => format!(
                "the vault refused Sluice's access token; the identity must belong to the vault's tenant ({said})"
            ),
            _ => format!("the vault answered {said}"),
        })
    }

    async fn request_token(&self) -> Result<Secret, String> {
        let (request, source) = match &self.credential {
            Credential::ClientSecret {
                authority,
                tenant,
                client_id,
                secret,
            } => (
                self.http
                    .post(format!("{authority}/{tenant}/oauth2/v2.0/token"))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", secret.expose()),
                        ("scope", "https://vault.azure.net/.default"),
                    ]),
                format!("Microsoft Entra ID at {authority} (tenant {tenant})"),
            ),
            Credential::AppService {
                endpoint,
                header,
                client_id,
            } => {
                let mut query = vec![("resource", RESOURCE), ("api-version", "2019-08-01")];
                if let Some(id) = client_id {
                    query.push(("client_id", id.as_str()));
                }
                (
                    self.http
                        .get(endpoint)
                        .query(&query)
                        .header("X-IDENTITY-HEADER", header.expose()),
                    format!("the managed identity endpoint {endpoint} (IDENTITY_ENDPOINT)"),
                )
            }
            Credential::Imds { client_id } => {
                let mut query = vec![("resource", RESOURCE), ("api-version", "2018-02-01")];
                if let Some(id) = client_id {
                    query.push(("client_id", id.as_str()));
                }
                (
                    self.http
                        .get(IMDS_ENDPOINT)
                        .query(&query)
                        .header("Metadata", "true")
                        .timeout(Duration::from_secs(5)),
                    "the instance metadata service (no AZURE_CLIENT_SECRET or IDENTITY_ENDPOINT is set, so Sluice tried the VM's managed identity)".to_string(),
                )
            }
        };
        let fail = |reason: String| format!("cannot get an access token from {source}: {reason}");
        let response = request.send().await.map_err(|e| fail(chain(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| fail(format!("the answer broke off: {}", chain(&e))))?;
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            // Entra ID: {"error": "invalid_client", "error_description": "AADSTS..."}.
            let error = json["error"]
                .as_str()
                .or_else(|| json["error"]["code"].as_str())
                .unwrap_or("");
            let description = json["error_description"]
                .as_str()
                .or_else(|| json["error"]["message"].as_str())
                .or_else(|| json["message"].as_str())
                .unwrap_or("");
            let first_line = description.lines().next().unwrap_or("");
            return Err(fail(
                self.redactor
                    .redact(&format!("HTTP {status} {error} {first_line}"))
                    .trim()
                    .to_string(),
            ));
        }
        match json["access_token"].as_str() {
            Some(token) if !token.is_empty() => Ok(self.redactor.secret(token)),
            _ => Err(fail(
                "the answer has no access_token (is the endpoint a token endpoint?)".into(),
            )),
        }
    }
}

/// The secret's value from a Get Secret answer; the body is never quoted.
fn secret_from_body(body: &[u8]) -> Result<Secret, String> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| "the vault's answer is not the JSON Key Vault sends".to_string())?;
    if json["attributes"]["enabled"] == Value::Bool(false) {
        return Err("the secret is disabled; enable it or reference an enabled version".into());
    }
    match &json["value"] {
        Value::String(s) => Ok(Secret::new(s.clone())),
        _ => Err("the vault's answer has no string `value`".into()),
    }
}

/// `code`, `message` and `innererror.code` of a Key Vault error answer (the book redacts the
/// message it builds from them).
fn vault_error(body: &[u8]) -> (String, String, String) {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let error = &json["error"];
    (
        text(&error["code"]),
        text(&error["message"]),
        text(&error["innererror"]["code"]),
    )
}

/// An error and its causes on one line ("error sending request: ...: invalid peer
/// certificate: UnknownIssuer").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bodies_are_read_and_never_quoted() {
        let s = secret_from_body(
            br#"{"value":"kv-body-secret-1","id":"x","attributes":{"enabled":true}}"#,
        )
        .unwrap();
        assert_eq!(s.expose(), "kv-body-secret-1");
        let e = secret_from_body(br#"{"value":"kv-body-secret-2","attributes":{"enabled":false}}"#)
            .unwrap_err();
        assert!(
            e.contains("disabled") && !e.contains("kv-body-secret-2"),
            "{e}"
        );
        let e = secret_from_body(b"value=kv-body-secret-3").unwrap_err();
        assert!(!e.contains("kv-body-secret-3"), "{e}");
    }

    #[test]
    fn error_bodies_give_code_and_message() {
        let (code, message, inner) = vault_error(
            br#"{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}"#,
        );
        assert_eq!(code, "Forbidden");
        assert!(message.contains("disabled"));
        assert_eq!(inner, "SecretDisabled");
    }
}
