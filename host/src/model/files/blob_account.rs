//! The `AzureBlobStorage` linked service: account, endpoint and credentials (a connection
//! string with an account key or SAS, `sasUri`, `accountKey`, `sasToken`, Azurite's
//! `UseDevelopmentStorage=true`, or `serviceEndpoint` with a service principal or the managed
//! identity), read from ADF JSON without connecting. `AzureBlobFS` (ADLS Gen2, [`super::adls`])
//! resolves to the same account type. The `object_store` client is built from it by the blob
//! store.

use super::azure_auth::{blob_endpoint, entra_auth, ServicePrincipal};
use crate::model::props::Props;
use crate::secrets::{Redactor, Secret, SecretBook};
use crate::ModelError;

/// Azurite's well-known development account (`UseDevelopmentStorage=true`).
const DEV_ACCOUNT: &str = "devstoreaccount1";

const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How requests are authorized.
#[derive(Debug, Clone)]
pub enum BlobAuth {
    /// Shared key (`AccountKey` in the connection string, or `accountKey`).
    AccountKey(Secret),
    /// A SAS token (the query string of `sasUri`, or `sasToken`), without the leading `?`.
    Sas(Secret),
    /// An Entra ID service principal with a client secret (`servicePrincipalId`, ...).
    ServicePrincipal(ServicePrincipal),
    /// The system-assigned managed identity of the machine Sluice runs on.
    ManagedIdentity,
    /// A Key Vault reference not fetched yet (`sluice validate`): enough to check definitions.
    Deferred,
}

/// Which linked service type an account comes from: it decides the dataset location type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageService {
    /// `AzureBlobStorage`: `AzureBlobStorageLocation` with `container`.
    Blob,
    /// `AzureBlobFS` (ADLS Gen2): `AzureBlobFSLocation` with `fileSystem`.
    DataLake,
}

/// A resolved `AzureBlobStorage` linked service.
#[derive(Debug, Clone)]
pub struct BlobAccount {
    /// The linked service's name, for messages.
    pub linked_service: String,
    pub account: String,
    /// The blob service endpoint without a trailing `/`: `https://<account>.blob.core.windows.net`,
    /// or the connection string's `BlobEndpoint` (Azurite: `http://127.0.0.1:10000/devstoreaccount1`).
    pub endpoint: String,
    pub auth: BlobAuth,
    pub service: StorageService,
}

impl BlobAccount {
    /// Reads an `AzureBlobStorage` linked service's `typeProperties`.
    pub fn from_props(
        tp: &Props<'_>,
        linked_service: &str,
        book: &SecretBook,
    ) -> Result<BlobAccount, ModelError> {
        tp.accept("accountKind");
        if let Some(at) = tp.str("authenticationType")? {
            if !matches!(
                at,
                "AccountKey" | "SasUri" | "Anonymous" | "ServicePrincipal" | "Msi" | ""
            ) {
                return Err(tp.err(
                    "authenticationType",
                    format!("{at:?} is not supported; use AccountKey (connectionString), SasUri, ServicePrincipal or Msi (serviceEndpoint)"),
                ));
            }
        }
        let account_key = tp.secret("accountKey", book)?;
        let sas_token = tp.secret("sasToken", book)?;
        if let Some(cs) = tp.secret("connectionString", book)? {
            if cs.is_deferred() {
                return Ok(deferred(linked_service));
            }
            let mut acct = parse_connection_string(cs.expose(), book.redactor())
                .map_err(|reason| tp.err("connectionString", reason))?;
            acct.linked_service = linked_service.to_string();
            match account_key {
                Some(k) if k.is_deferred() => acct.auth = BlobAuth::Deferred,
                Some(k) => acct.auth = BlobAuth::AccountKey(k),
                None => {}
            }
            if let Some(t) = sas_token {
                acct.auth = sas_auth(t, book.redactor());
            }
            if matches!(&acct.auth, BlobAuth::Sas(s) if s.expose().is_empty()) {
                return Err(tp.err(
                    "connectionString",
                    "has neither AccountKey nor SharedAccessSignature (and no accountKey or sasToken is given)",
                ));
            }
            return Ok(acct);
        }
        if let Some(uri) = tp.secret("sasUri", book)? {
            return sas_uri_account(tp, &uri, sas_token, linked_service, book);
        }
        if let Some(url) = tp.str("serviceEndpoint")? {
            let (endpoint, account) =
                blob_endpoint(url).map_err(|reason| tp.err("serviceEndpoint", reason))?;
            let auth = entra_auth(tp, book, "AzureBlobStorage")?;
            return Ok(BlobAccount {
                linked_service: linked_service.to_string(),
                account,
                endpoint,
                auth,
                service: StorageService::Blob,
            });
        }
        Err(tp.err(
            "connectionString",
            "is required (or sasUri, or serviceEndpoint with a service principal or managed identity): an AzureBlobStorage linked service needs to know the account",
        ))
    }
}

/// The account a `sasUri` names, authorized by its query or by a separate `sasToken` (Blob
/// Storage and ADLS Gen2 read it alike; the caller sets the service).
pub(super) fn sas_uri_account(
    tp: &Props<'_>,
    uri: &Secret,
    sas_token: Option<Secret>,
    linked_service: &str,
    book: &SecretBook,
) -> Result<BlobAccount, ModelError> {
    if uri.is_deferred() {
        return Ok(deferred(linked_service));
    }
    let (endpoint, account, query) =
        parse_sas_uri(uri.expose(), book.redactor()).map_err(|reason| tp.err("sasUri", reason))?;
    let auth = match sas_token {
        Some(t) => sas_auth(t, book.redactor()),
        None if query.is_empty() => {
            return Err(tp.err(
                "sasUri",
                "has no SAS token (the part after '?'); add it or set sasToken",
            ))
        }
        None => BlobAuth::Sas(book.redactor().secret(query)),
    };
    Ok(BlobAccount {
        linked_service: linked_service.to_string(),
        account,
        endpoint,
        auth,
        service: StorageService::Blob,
    })
}

pub(super) fn deferred(linked_service: &str) -> BlobAccount {
    BlobAccount {
        linked_service: linked_service.to_string(),
        account: String::new(),
        endpoint: String::new(),
        auth: BlobAuth::Deferred,
        service: StorageService::Blob,
    }
}

pub(super) fn sas_auth(token: Secret, redactor: &Redactor) -> BlobAuth {
    if token.is_deferred() {
        return BlobAuth::Deferred;
    }
    let t = token.expose().trim_start_matches('?').to_string();
    register_query_values(&t, redactor);
    BlobAuth::Sas(redactor.secret(t))
}

/// Registers each value of a SAS query (the signature above all) for redaction, in case a
/// message repeats one on its own.
fn register_query_values(query: &str, redactor: &Redactor) {
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "sig" {
            redactor.register(&v);
        }
    }
}

/// `DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=...`, with
/// `BlobEndpoint`, `SharedAccessSignature` and `UseDevelopmentStorage=true` understood.
/// Keys are case-insensitive.
pub fn parse_connection_string(cs: &str, redactor: &Redactor) -> Result<BlobAccount, String> {
    let mut protocol = "https".to_string();
    let (mut account, mut key, mut endpoint, mut suffix, mut sas) = (None, None, None, None, None);
    let mut dev = false;
    for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!(
                "'{}' is not a key=value pair",
                part.chars().take(30).collect::<String>()
            ));
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "defaultendpointsprotocol" => protocol = v.to_ascii_lowercase(),
            "accountname" => account = Some(v.to_string()),
            "accountkey" => key = Some(redactor.secret(v)),
            "blobendpoint" => endpoint = Some(v.trim_end_matches('/').to_string()),
            "endpointsuffix" => suffix = Some(v.to_string()),
            "sharedaccesssignature" => {
                register_query_values(v, redactor);
                sas = Some(redactor.secret(v.trim_start_matches('?')))
            }
            "usedevelopmentstorage" => dev = v.eq_ignore_ascii_case("true"),
            "developmentstorageproxyuri" => {
                endpoint = Some(format!("{}/{DEV_ACCOUNT}", v.trim_end_matches('/')))
            }
            // Endpoints of the other services do not matter for blobs.
            "queueendpoint" | "tableendpoint" | "fileendpoint" => {}
            other => return Err(format!("unknown key '{other}'")),
        }
    }
    if dev {
        return Ok(BlobAccount {
            linked_service: String::new(),
            account: DEV_ACCOUNT.to_string(),
            endpoint: endpoint.unwrap_or_else(|| format!("http://127.0.0.1:10000/{DEV_ACCOUNT}")),
            auth: BlobAuth::AccountKey(Secret::new(DEV_KEY)),
            service: StorageService::Blob,
        });
    }
    if !matches!(protocol.as_str(), "http" | "https") {
        return Err(format!(
            "DefaultEndpointsProtocol must be http or https, found '{protocol}'"
        ));
    }
    let account = match (account, &endpoint) {
        (Some(a), _) if !a.is_empty() => a,
        (_, Some(e)) => account_from_endpoint(e)?,
        _ => return Err("AccountName is required".to_string()),
    };
    let endpoint = endpoint.unwrap_or_else(|| {
        format!(
            "{protocol}://{account}.blob.{}",
            suffix.as_deref().unwrap_or("core.windows.net")
        )
    });
    let auth = match (key, sas) {
        (Some(k), _) => BlobAuth::AccountKey(k),
        (None, Some(s)) => BlobAuth::Sas(s),
        // Filled from `accountKey` / `sasToken` by the caller, or refused there.
        (None, None) => BlobAuth::Sas(Secret::new("")),
    };
    Ok(BlobAccount {
        linked_service: String::new(),
        account,
        endpoint,
        auth,
        service: StorageService::Blob,
    })
}

/// The account of an endpoint: the first label of `<account>.blob.<suffix>`, or the first
/// path segment of an emulator's path-style endpoint (`http://127.0.0.1:10000/<account>`).
fn account_from_endpoint(endpoint: &str) -> Result<String, String> {
    let url = url::Url::parse(endpoint).map_err(|e| format!("'{endpoint}' is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    if host.contains(".blob.") {
        return Ok(host.split('.').next().unwrap_or_default().to_string());
    }
    url.path_segments()
        .and_then(|mut s| s.next())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("cannot tell the account name from '{endpoint}'; set AccountName"))
}

/// `https://<account>.blob.core.windows.net[/<container>]?<sas>` (or `.dfs.`, or an emulator's
/// `http://host:port/<account>[/<container>]?<sas>`) to the blob endpoint, account and SAS query.
pub(super) fn parse_sas_uri(
    uri: &str,
    redactor: &Redactor,
) -> Result<(String, String, String), String> {
    let url = url::Url::parse(uri.trim()).map_err(|e| format!("is not a URL: {e}"))?;
    let query = url.query().unwrap_or_default().to_string();
    register_query_values(&query, redactor);
    let mut bare = url.clone();
    bare.set_query(None);
    let (endpoint, account) = blob_endpoint(bare.as_str())?;
    Ok((endpoint, account, query))
}
