//! Azure Blob Storage: the `AzureBlobStorage` and `AzureBlobFS` linked services (an account key,
//! a SAS, a service principal or the managed identity) and the `object_store` client built
//! from them.
//!
//! Secrets (the account key, the SAS token) are read with `Props::secret`, so they may be
//! `SecureString`s or Key Vault references, and are registered for redaction. Errors from the
//! client are rephrased with the object's name and stripped of URL query strings, where a SAS
//! signature would otherwise appear.

use std::sync::Arc;
use std::time::Duration;

use object_store::azure::MicrosoftAzureBuilder;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

pub use crate::model::files::blob_account::{
    parse_connection_string, BlobAccount, BlobAuth, StorageService,
};
use crate::stores::error::io_kind;
use crate::stores::{StoreError, StoreErrorKind};

impl BlobAccount {
    /// A client for one container. Building it does not connect.
    pub fn store(&self, container: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
        let mut b = MicrosoftAzureBuilder::new()
            .with_account(&self.account)
            .with_container_name(container)
            .with_endpoint(self.endpoint.clone())
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(2),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(30),
            })
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(self.endpoint.starts_with("http:"))
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(600)),
            );
        match &self.auth {
            BlobAuth::AccountKey(k) => b = b.with_access_key(k.expose()),
            BlobAuth::Sas(s) => {
                let pairs: Vec<(String, String)> =
                    url::form_urlencoded::parse(s.expose().as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                b = b.with_sas_authorization(pairs);
            }
            BlobAuth::ServicePrincipal(sp) => b = super::azure_auth::service_principal(b, sp),
            BlobAuth::ManagedIdentity => b = super::azure_auth::managed_identity(b),
            BlobAuth::Deferred => {
                return Err(StoreError::new(format!(
                    "linked service '{}': its Key Vault secret was not fetched",
                    self.linked_service
                )))
            }
        }
        let store = b.build().map_err(|e| {
            StoreError::with_kind(
                StoreErrorKind::Definition,
                format!(
                    "linked service '{}': cannot set up the Azure Blob Storage client: {}",
                    self.linked_service,
                    clean(&e.to_string())
                ),
            )
        })?;
        Ok(Arc::new(store))
    }
}

/// An `object_store` error as one line for the user: what failed on which object, without URL
/// query strings (SAS signatures) and with the secrets masked.
pub fn describe(e: &object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => "not found".to_string(),
        other => {
            let mut text = clean(&other.to_string());
            let mut source = std::error::Error::source(other);
            let mut depth = 0;
            while let Some(s) = source {
                let t = clean(&s.to_string());
                if !text.contains(&t) {
                    text.push_str(": ");
                    text.push_str(&t);
                }
                source = s.source();
                depth += 1;
                if depth > 6 {
                    break;
                }
            }
            text
        }
    }
}

/// What kind of failure an `object_store` error is: a missing blob or container, refused
/// credentials (HTTP 401, 403), a connection failure or timeout (after the client's own
/// retries), a bad path; else other.
pub fn kind_of(e: &object_store::Error) -> StoreErrorKind {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => StoreErrorKind::NotFound,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => StoreErrorKind::AccessDenied,
        E::InvalidPath { .. } | E::UnknownConfigurationKey { .. } => StoreErrorKind::Definition,
        other => transport_kind(other),
    }
}

/// The kind of the HTTP or I/O failure among the causes of `e`, if any. (The client's own
/// `HttpError` is transparent in the chain: its cause, the `reqwest` error, is what shows.)
fn transport_kind(e: &(dyn std::error::Error + 'static)) -> StoreErrorKind {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut source = e.source();
    let mut depth = 0;
    while let Some(s) = source {
        if let Some(http) = s.downcast_ref::<HttpError>() {
            return match http.kind() {
                HttpErrorKind::Timeout => StoreErrorKind::Timeout,
                HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                    StoreErrorKind::Connection
                }
                _ => StoreErrorKind::Other,
            };
        }
        if let Some(r) = s.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() {
                return StoreErrorKind::Timeout;
            }
            if r.is_connect() || r.is_request() || r.is_body() {
                return StoreErrorKind::Connection;
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_kind(io.kind());
        }
        source = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    StoreErrorKind::Other
}

/// Removes the query string of every URL in `text` and masks registered secrets.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("http") {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        let end = from
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ','))
            .unwrap_or(from.len());
        let (url, after) = from.split_at(end);
        out.push_str(url.split('?').next().unwrap_or(url));
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::model::props::Props;
    use crate::ModelError;
    use serde_json::json;

    fn parse(tp: serde_json::Value) -> Result<BlobAccount, ModelError> {
        let p = Props::of("linked service 'B' typeProperties", &tp)?;
        BlobAccount::from_props(&p, "B", &crate::secrets::SecretBook::default())
    }

    #[test]
    fn connection_string_with_key_and_suffix() {
        let a = parse(json!({"connectionString":
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5a2V5;EndpointSuffix=core.chinacloudapi.cn"}))
        .unwrap();
        assert_eq!(a.account, "acme");
        assert_eq!(a.endpoint, "https://acme.blob.core.chinacloudapi.cn");
        assert!(matches!(&a.auth, BlobAuth::AccountKey(k) if k.expose() == "a2V5a2V5"));
        assert!(!format!("{a:?}").contains("a2V5a2V5"));
    }

    #[test]
    fn blob_endpoint_points_at_an_emulator() {
        let a = parse(json!({"connectionString": {"type": "SecureString", "value":
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10123/devstoreaccount1/;"}}))
        .unwrap();
        assert_eq!(a.endpoint, "http://127.0.0.1:10123/devstoreaccount1");
        let a = parse(json!({"connectionString": "UseDevelopmentStorage=true"})).unwrap();
        assert_eq!(a.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(a.account, "devstoreaccount1");
    }

    #[test]
    fn sas_uri_and_separate_token() {
        let a = parse(json!({"sasUri": "https://acme.blob.core.windows.net/?sv=2022-11-02&sig=c2lnbmF0dXJl%2B"}))
            .unwrap();
        assert_eq!(a.account, "acme");
        assert_eq!(a.endpoint, "https://acme.blob.core.windows.net");
        assert!(matches!(&a.auth, BlobAuth::Sas(s) if s.expose().starts_with("sv=")));
        let a = parse(
            json!({"sasUri": "http://127.0.0.1:9/devstoreaccount1", "sasToken": "?sv=1&sig=abc"}),
        )
        .unwrap();
        assert_eq!(a.endpoint, "http://127.0.0.1:9/devstoreaccount1");
        assert!(matches!(&a.auth, BlobAuth::Sas(s) if s.expose() == "sv=1&sig=abc"));
    }

    #[test]
    fn bad_definitions_name_the_property() {
        let e = parse(json!({})).unwrap_err().to_string();
        assert!(
            e.contains("connectionString") && e.contains("required"),
            "{e}"
        );
        let e = parse(json!({"connectionString": "AccountName=a;Bogus=1"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown key 'bogus'"), "{e}");
        let e = parse(json!({"connectionString": "AccountName=a"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither AccountKey"), "{e}");
        let e = parse(json!({"sasUri": "https://acme.blob.core.windows.net/c"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no SAS token"), "{e}");
    }

    #[test]
    fn service_endpoint_with_entra_id_credentials() {
        let a = parse(json!({"serviceEndpoint": "https://acme.blob.core.windows.net/",
            "accountKind": "StorageV2", "servicePrincipalId": "app", "tenant": "contoso.onmicrosoft.com",
            "servicePrincipalKey": {"type": "SecureString", "value": "sp-key"}}))
        .unwrap();
        assert_eq!(a.endpoint, "https://acme.blob.core.windows.net");
        assert_eq!(a.account, "acme");
        assert!(
            matches!(&a.auth, BlobAuth::ServicePrincipal(sp) if sp.tenant == "contoso.onmicrosoft.com")
        );
        let a = parse(json!({"serviceEndpoint": "https://acme.blob.core.windows.net/"})).unwrap();
        assert!(matches!(a.auth, BlobAuth::ManagedIdentity));
        // Building the clients does not connect (tokens are requested on first use).
        a.store("c").unwrap();
        let e = parse(
            json!({"serviceEndpoint": "https://acme.blob.core.windows.net/",
            "credential": {"referenceName": "uami", "type": "CredentialReference"}}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("property 'credential'"), "{e}");
        let e = parse(json!({"serviceEndpoint": "mailto:x"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("property 'serviceEndpoint'"), "{e}");
    }

    #[test]
    fn object_store_errors_by_kind() {
        use object_store::client::{HttpError, HttpErrorKind};
        let boxed = |e: &str| -> Box<dyn std::error::Error + Send + Sync> { e.into() };
        let not_found = object_store::Error::NotFound {
            path: "c/a.csv".into(),
            source: boxed("404"),
        };
        assert_eq!(kind_of(&not_found), StoreErrorKind::NotFound);
        let denied = object_store::Error::PermissionDenied {
            path: "c/a.csv".into(),
            source: boxed("403"),
        };
        assert_eq!(kind_of(&denied), StoreErrorKind::AccessDenied);
        let unauthenticated = object_store::Error::Unauthenticated {
            path: "c/a.csv".into(),
            source: boxed("401"),
        };
        assert_eq!(kind_of(&unauthenticated), StoreErrorKind::AccessDenied);
        let http = |kind| object_store::Error::Generic {
            store: "MicrosoftAzure",
            source: Box::new(HttpError::new(kind, std::io::Error::other("refused"))),
        };
        assert_eq!(
            kind_of(&http(HttpErrorKind::Connect)),
            StoreErrorKind::Connection
        );
        assert_eq!(
            kind_of(&http(HttpErrorKind::Timeout)),
            StoreErrorKind::Timeout
        );
        assert_eq!(
            kind_of(&object_store::Error::NotImplemented),
            StoreErrorKind::Other
        );
    }

    /// A real client error: nothing listens on the endpoint.
    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let account = parse(json!({"connectionString": format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        )}))
        .unwrap();
        let store = account.store("c").unwrap();
        let e = store
            .head(&object_store::path::Path::from("a.csv"))
            .await
            .unwrap_err();
        let e = StoreError::object_store("c/a.csv: cannot open", &e);
        assert_eq!(e.kind(), StoreErrorKind::Connection, "{e}");
        assert!(e.is_transient());
    }

    #[test]
    fn clean_strips_queries() {
        let t = clean("Error performing GET http://h:1/a/b?restype=container&sig=zzz in 3s");
        assert_eq!(t, "Error performing GET http://h:1/a/b in 3s");
    }
}
