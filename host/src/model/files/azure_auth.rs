//! Microsoft Entra ID sign-in for the Azure Storage linked services (`AzureBlobStorage` with
//! `serviceEndpoint`, `AzureBlobFS`): a service principal with a key, or the system-assigned
//! managed identity, read from ADF JSON without connecting; and the storage endpoint an ADF
//! `url` / `serviceEndpoint` names. Shared by both linked services so they read the same
//! properties the same way.
//!
//! Shapes: "Copy data to and from Azure Data Lake Storage Gen2" and "Azure Blob Storage
//! connector" (learn.microsoft.com, Data Factory), service principal and managed identity
//! authentication sections.

use super::blob_account::BlobAuth;
use crate::model::props::Props;
use crate::secrets::SecretBook;
use crate::ModelError;

/// `azureCloudType`: which Entra ID authority signs the service principal in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzureCloud {
    Public,
    China,
    UsGovernment,
    Germany,
}

impl AzureCloud {
    /// The Entra ID authority host of the cloud (as Azure's SDKs name them).
    pub fn authority_host(self) -> &'static str {
        match self {
            AzureCloud::Public => "https://login.microsoftonline.com",
            AzureCloud::China => "https://login.chinacloudapi.cn",
            AzureCloud::UsGovernment => "https://login.microsoftonline.us",
            AzureCloud::Germany => "https://login.microsoftonline.de",
        }
    }
}

/// A service principal signing in with a client secret.
#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// `servicePrincipalId`: the application's client id.
    pub client_id: String,
    /// `servicePrincipalKey` (or `servicePrincipalCredential`).
    pub secret: crate::secrets::Secret,
    /// `tenant`: the directory's id or domain.
    pub tenant: String,
    /// `azureCloudType`; when absent the store uses `AZURE_AUTHORITY_HOST` (as Azure's SDKs
    /// do), else the public cloud: ADF's default is "the data factory region's cloud".
    pub cloud: Option<AzureCloud>,
}

/// The Entra ID credentials of a linked service that has neither a key nor a SAS: a service
/// principal when `servicePrincipalId` is set, else the system-assigned managed identity.
/// `what` names the linked service type for messages.
pub fn entra_auth(tp: &Props<'_>, book: &SecretBook, what: &str) -> Result<BlobAuth, ModelError> {
    if tp.get("credential").is_some() {
        return Err(tp.err(
            "credential",
            format!("user-assigned managed identities (credential references) are not supported for {what}; remove credential to use the system-assigned managed identity, or use a service principal"),
        ));
    }
    let cloud = match tp.str("azureCloudType")?.map(str::trim) {
        None | Some("") => None,
        Some("AzurePublic") => Some(AzureCloud::Public),
        Some("AzureChina") => Some(AzureCloud::China),
        Some("AzureUsGovernment") => Some(AzureCloud::UsGovernment),
        Some("AzureGermany") => Some(AzureCloud::Germany),
        Some(other) => {
            return Err(tp.err(
                "azureCloudType",
                format!("{other:?} is not a cloud type; use AzurePublic, AzureChina, AzureUsGovernment or AzureGermany"),
            ))
        }
    };
    let id = tp
        .str("servicePrincipalId")?
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let Some(client_id) = id else {
        for key in [
            "servicePrincipalKey",
            "servicePrincipalCredential",
            "tenant",
        ] {
            if tp.get(key).is_some() {
                return Err(tp.err(
                    "servicePrincipalId",
                    format!("is required with {key} (service principal authentication)"),
                ));
            }
        }
        return Ok(BlobAuth::ManagedIdentity);
    };
    match tp.str("servicePrincipalCredentialType")?.map(str::trim) {
        None | Some("") | Some("ServicePrincipalKey") => {}
        Some("ServicePrincipalCert") => {
            return Err(tp.err(
                "servicePrincipalCredentialType",
                "ServicePrincipalCert is not supported; use ServicePrincipalKey with servicePrincipalKey",
            ))
        }
        Some(other) => {
            return Err(tp.err(
                "servicePrincipalCredentialType",
                format!("{other:?} is not supported; use ServicePrincipalKey"),
            ))
        }
    }
    let tenant = tp
        .str("tenant")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            tp.err(
                "tenant",
                "is required with servicePrincipalId (the directory's id or domain)",
            )
        })?
        .to_string();
    let secret = match tp.secret("servicePrincipalKey", book)? {
        Some(s) => s,
        None => tp
            .secret("servicePrincipalCredential", book)?
            .ok_or_else(|| {
                tp.err(
                    "servicePrincipalKey",
                    "is required with servicePrincipalId (or servicePrincipalCredential)",
                )
            })?,
    };
    if secret.is_deferred() {
        return Ok(BlobAuth::Deferred);
    }
    if secret.expose().is_empty() {
        return Err(tp.err("servicePrincipalKey", "is empty"));
    }
    Ok(BlobAuth::ServicePrincipal(ServicePrincipal {
        client_id: client_id.to_string(),
        secret,
        tenant,
        cloud,
    }))
}

/// The blob endpoint (without a trailing `/`) and account of an account URL:
/// `https://<account>.dfs.<suffix>` becomes `https://<account>.blob.<suffix>` (ADLS Gen2
/// accounts serve the Blob API too, which is what the client speaks); `<account>.blob.<suffix>`
/// is kept; any other URL (Azurite, a custom endpoint) is used as given, path-style:
/// `http://127.0.0.1:10000/<account>`.
pub fn blob_endpoint(url: &str) -> Result<(String, String), String> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "must be an http(s) URL, found '{}:'",
            parsed.scheme()
        ));
    }
    let host = parsed.host_str().unwrap_or_default().to_string();
    let scheme = parsed.scheme();
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut labels = host.splitn(3, '.');
    if let (Some(account), Some(service), Some(suffix)) =
        (labels.next(), labels.next(), labels.next())
    {
        if matches!(service, "dfs" | "blob") && !account.is_empty() {
            return Ok((
                format!("{scheme}://{account}.blob.{suffix}{port}"),
                account.to_string(),
            ));
        }
    }
    let account = parsed
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            format!("'{url}' names no storage account (expected https://<account>.dfs.core.windows.net or https://<account>.blob.core.windows.net)")
        })?
        .to_string();
    Ok((format!("{scheme}://{host}{port}/{account}"), account))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn auth(tp: serde_json::Value) -> Result<BlobAuth, ModelError> {
        let p = Props::of("linked service 'L' typeProperties", &tp)?;
        entra_auth(&p, &SecretBook::default(), "AzureBlobFS")
    }

    #[test]
    fn endpoints_map_dfs_to_blob_and_keep_emulators() {
        assert_eq!(
            blob_endpoint("https://acme.dfs.core.windows.net/").unwrap(),
            (
                "https://acme.blob.core.windows.net".to_string(),
                "acme".to_string()
            )
        );
        assert_eq!(
            blob_endpoint("https://acme.blob.core.chinacloudapi.cn").unwrap(),
            (
                "https://acme.blob.core.chinacloudapi.cn".to_string(),
                "acme".to_string()
            )
        );
        assert_eq!(
            blob_endpoint("https://127.0.0.1:10443/devstoreaccount1/").unwrap(),
            (
                "https://127.0.0.1:10443/devstoreaccount1".to_string(),
                "devstoreaccount1".to_string()
            )
        );
        let e = blob_endpoint("https://storage.contoso.com").unwrap_err();
        assert!(e.contains("names no storage account"), "{e}");
        let e = blob_endpoint("ftp://acme.dfs.core.windows.net").unwrap_err();
        assert!(e.contains("http(s)"), "{e}");
    }

    #[test]
    fn service_principal_and_managed_identity() {
        let a = auth(json!({"servicePrincipalId": "app", "tenant": "t1",
            "servicePrincipalKey": {"type": "SecureString", "value": "s3cr3t-key"},
            "azureCloudType": "AzureChina"}))
        .unwrap();
        match &a {
            BlobAuth::ServicePrincipal(sp) => {
                assert_eq!(sp.client_id, "app");
                assert_eq!(sp.tenant, "t1");
                assert_eq!(sp.secret.expose(), "s3cr3t-key");
                assert_eq!(
                    sp.cloud.map(AzureCloud::authority_host),
                    Some("https://login.chinacloudapi.cn")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{a:?}").contains("s3cr3t-key"));
        let a = auth(json!({"servicePrincipalId": "app", "tenant": "t1",
            "servicePrincipalCredentialType": "ServicePrincipalKey",
            "servicePrincipalCredential": {"type": "SecureString", "value": "k2"}}))
        .unwrap();
        assert!(
            matches!(a, BlobAuth::ServicePrincipal(sp) if sp.secret.expose() == "k2" && sp.cloud.is_none())
        );
        assert!(matches!(
            auth(json!({})).unwrap(),
            BlobAuth::ManagedIdentity
        ));
    }

    #[test]
    fn bad_service_principals_name_the_property() {
        let cases = [
            (
                json!({"servicePrincipalId": "app", "servicePrincipalKey": "k"}),
                "tenant",
            ),
            (
                json!({"servicePrincipalId": "app", "tenant": "t"}),
                "servicePrincipalKey",
            ),
            (
                json!({"servicePrincipalKey": "k", "tenant": "t"}),
                "servicePrincipalId",
            ),
            (
                json!({"servicePrincipalId": "a", "tenant": "t", "servicePrincipalCredentialType": "ServicePrincipalCert", "servicePrincipalCredential": "c"}),
                "ServicePrincipalCert",
            ),
            (json!({"azureCloudType": "Mars"}), "azureCloudType"),
            (
                json!({"credential": {"referenceName": "uami", "type": "CredentialReference"}}),
                "credential",
            ),
        ];
        for (tp, needle) in cases {
            let e = auth(tp.clone()).unwrap_err().to_string();
            assert!(
                e.contains(needle) && e.contains("linked service 'L'"),
                "{tp}: {e}"
            );
        }
    }
}
