//! Entra ID credentials for the storage client: a service principal's client secret or the
//! managed identity, handed to `object_store`'s Azure builder (which requests and renews the
//! tokens). The environment is read as Azure's SDKs and Sluice's Key Vault client read it
//! (`AZURE_AUTHORITY_HOST`, `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), so one token endpoint
//! serves both: the plan itself stays free of environment lookups.

use object_store::azure::MicrosoftAzureBuilder;

use crate::model::files::azure_auth::{AzureCloud, ServicePrincipal};

/// Signs `b` in as the service principal: its `azureCloudType`'s authority, else
/// `AZURE_AUTHORITY_HOST`, else the public cloud's.
pub fn service_principal(b: MicrosoftAzureBuilder, sp: &ServicePrincipal) -> MicrosoftAzureBuilder {
    let authority = match sp.cloud {
        Some(cloud) => cloud.authority_host().to_string(),
        None => env("AZURE_AUTHORITY_HOST")
            .unwrap_or_else(|| AzureCloud::Public.authority_host().to_string()),
    };
    b.with_client_secret_authorization(&sp.client_id, sp.secret.expose(), &sp.tenant)
        .with_authority_host(authority.trim_end_matches('/'))
}

/// Signs `b` in as the managed identity: the App Service / Container Apps endpoint when
/// `IDENTITY_ENDPOINT` is set (the client sends `IDENTITY_HEADER` with it), else the VM's
/// instance metadata service. `AZURE_CLIENT_ID` picks a user-assigned identity, as for the
/// Key Vault client, unless `AZURE_CLIENT_SECRET` says it names an application instead.
pub fn managed_identity(mut b: MicrosoftAzureBuilder) -> MicrosoftAzureBuilder {
    if let Some(endpoint) = env("IDENTITY_ENDPOINT") {
        b = b.with_msi_endpoint(endpoint);
    }
    match (env("AZURE_CLIENT_ID"), env("AZURE_CLIENT_SECRET")) {
        (Some(client_id), None) => b.with_client_id(client_id),
        _ => b,
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
