//! The `AzureBlobFS` linked service (Azure Data Lake Storage Gen2), read from ADF JSON without
//! connecting. An ADLS Gen2 account also serves the Blob API, which is what Sluice's storage
//! client speaks, so the linked service resolves to a [`BlobAccount`] on the account's blob
//! endpoint (`https://<account>.dfs.core.windows.net` becomes `...blob.core.windows.net`; any
//! other `url`, such as Azurite's, is used as given).
//!
//! Authentication as "Copy data to and from Azure Data Lake Storage Gen2" documents it:
//! `accountKey`, `sasUri` (+ `sasToken`), a service principal (`servicePrincipalId`,
//! `servicePrincipalKey` or `servicePrincipalCredential`, `tenant`, `azureCloudType`), or the
//! system-assigned managed identity (no credentials).

use super::azure_auth::{blob_endpoint, entra_auth};
use super::blob_account::{sas_uri_account, BlobAccount, BlobAuth, StorageService};
use crate::model::props::Props;
use crate::secrets::SecretBook;
use crate::ModelError;

/// The linked service type.
pub const ADLS_TYPE: &str = "AzureBlobFS";

/// Reads an `AzureBlobFS` linked service's `typeProperties`.
pub fn from_props(
    tp: &Props<'_>,
    linked_service: &str,
    book: &SecretBook,
) -> Result<BlobAccount, ModelError> {
    let url = tp.str("url")?.map(str::trim).filter(|u| !u.is_empty());
    let sas_token = tp.secret("sasToken", book)?;
    if let Some(uri) = tp.secret("sasUri", book)? {
        return sas_uri_account(tp, &uri, sas_token, linked_service, book).map(data_lake);
    }
    let url = url.ok_or_else(|| {
        tp.err(
            "url",
            "is required (https://<account>.dfs.core.windows.net), unless sasUri is given",
        )
    })?;
    let (endpoint, account) = blob_endpoint(url).map_err(|reason| tp.err("url", reason))?;
    let auth = if let Some(key) = tp.secret("accountKey", book)? {
        if key.is_deferred() {
            BlobAuth::Deferred
        } else if key.expose().trim().is_empty() {
            return Err(tp.err("accountKey", "is empty"));
        } else {
            BlobAuth::AccountKey(key)
        }
    } else if sas_token.is_some() {
        return Err(tp.err(
            "sasToken",
            "needs sasUri (the account URL the token is for)",
        ));
    } else {
        entra_auth(tp, book, ADLS_TYPE)?
    };
    Ok(BlobAccount {
        linked_service: linked_service.to_string(),
        account,
        endpoint,
        auth,
        service: StorageService::DataLake,
    })
}

fn data_lake(mut account: BlobAccount) -> BlobAccount {
    account.service = StorageService::DataLake;
    account
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(tp: serde_json::Value) -> Result<BlobAccount, ModelError> {
        let p = Props::of("linked service 'Lake' typeProperties", &tp)?;
        from_props(&p, "Lake", &SecretBook::default())
    }

    #[test]
    fn account_key_on_the_dfs_endpoint_uses_the_blob_endpoint() {
        let a = parse(json!({"url": "https://acme.dfs.core.windows.net",
            "accountKey": {"type": "SecureString", "value": "a2V5a2V5"}}))
        .unwrap();
        assert_eq!(a.account, "acme");
        assert_eq!(a.endpoint, "https://acme.blob.core.windows.net");
        assert_eq!(a.service, StorageService::DataLake);
        assert!(matches!(&a.auth, BlobAuth::AccountKey(k) if k.expose() == "a2V5a2V5"));
        assert!(!format!("{a:?}").contains("a2V5a2V5"));
    }

    #[test]
    fn emulator_url_sas_and_identities() {
        let a = parse(json!({"url": "http://127.0.0.1:10000/devstoreaccount1",
            "accountKey": "a2V5"}))
        .unwrap();
        assert_eq!(a.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(a.account, "devstoreaccount1");
        let a = parse(json!({"sasUri": {"type": "SecureString",
            "value": "https://acme.dfs.core.windows.net/?sv=2022-11-02&sig=c2ln"}}))
        .unwrap();
        assert_eq!(a.endpoint, "https://acme.blob.core.windows.net");
        assert!(matches!(&a.auth, BlobAuth::Sas(s) if s.expose() == "sv=2022-11-02&sig=c2ln"));
        let a = parse(json!({"sasUri": "https://acme.dfs.core.windows.net/", "sasToken": {"type": "SecureString", "value": "?sv=1&sig=x"}}))
            .unwrap();
        assert!(matches!(&a.auth, BlobAuth::Sas(s) if s.expose() == "sv=1&sig=x"));
        let a = parse(
            json!({"url": "https://acme.dfs.core.windows.net", "servicePrincipalId": "app",
            "servicePrincipalKey": {"type": "SecureString", "value": "k"}, "tenant": "t"}),
        )
        .unwrap();
        assert!(matches!(&a.auth, BlobAuth::ServicePrincipal(sp) if sp.client_id == "app"));
        let a = parse(json!({"url": "https://acme.dfs.core.windows.net"})).unwrap();
        assert!(matches!(a.auth, BlobAuth::ManagedIdentity));
    }

    #[test]
    fn bad_definitions_name_the_property() {
        let cases = [
            (json!({}), "'url'"),
            (json!({"url": "not a url", "accountKey": "k"}), "'url'"),
            (
                json!({"url": "https://contoso.com", "accountKey": "k"}),
                "names no storage account",
            ),
            (
                json!({"url": "https://a.dfs.core.windows.net", "accountKey": ""}),
                "'accountKey'",
            ),
            (
                json!({"url": "https://a.dfs.core.windows.net", "sasToken": "sv=1"}),
                "'sasToken'",
            ),
            (
                json!({"sasUri": "https://a.dfs.core.windows.net/"}),
                "no SAS token",
            ),
            (
                json!({"url": "https://a.dfs.core.windows.net", "servicePrincipalId": "x"}),
                "'tenant'",
            ),
        ];
        for (tp, needle) in cases {
            let e = parse(tp.clone()).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("'Lake'"), "{tp}: {e}");
        }
    }
}
