//! `AzureKeyVault` linked services and the planner's check of the Key Vault references a run
//! collected: each store must be an `AzureKeyVault` linked service with an `https://`
//! `baseUrl`, so a bad store fails the run before anything runs or is fetched.

use serde_json::Value;

use super::linked_service::LinkedService;
use super::load::Factory;
use super::params::Scope;
use super::props::Props;
use crate::secrets::{SecretBook, SecretRef};
use crate::ModelError;

/// `typeProperties.baseUrl` of an `AzureKeyVault` linked service, without a trailing `/`.
/// Only `https://` vaults are accepted: a Key Vault is never served over plain HTTP, and a secret
/// must not travel in clear text.
pub fn base_url_from(props: &Props<'_>) -> Result<String, ModelError> {
    let url = props.req_str("baseUrl")?.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err(props.err("baseUrl", "must not be empty"));
    }
    // An expression `validate` could not evaluate is checked when the pipeline runs.
    if !url.starts_with('@') && !url.to_ascii_lowercase().starts_with("https://") {
        return Err(props.err(
            "baseUrl",
            "must be the vault's https:// address, such as https://myvault.vault.azure.net",
        ));
    }
    Ok(url.to_string())
}

/// The vault address of each wanted reference's store, or errors naming the property, the store
/// and the reason (`lenient` in `validate`, where a parameterised store may stay unevaluated).
pub fn vault_addresses(
    factory: &Factory,
    wanted: &[(SecretRef, String)],
    book: &SecretBook,
    lenient: bool,
) -> (Vec<(SecretRef, String)>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    // The factory's global parameters too: a vault's `baseUrl` may read one.
    let scope = Scope {
        lenient,
        secrets: book.collecting(),
        ..Scope::with_globals(serde_json::Map::new(), &factory.global_parameters)
    };
    for (r, at) in wanted {
        let params: Option<Value> = if r.store_parameters.is_empty() {
            None
        } else {
            serde_json::from_str(&r.store_parameters).ok()
        };
        let from = format!("{at} (Azure Key Vault {})", r.describe());
        // The type first, so a store that is some other linked service is reported as such
        // (parsing it could fail for its own reasons).
        let ty = factory
            .linked_services
            .get(&r.store)
            .and_then(|def| def.properties.get("type"))
            .and_then(Value::as_str);
        if ty.is_some_and(|t| t != "AzureKeyVault") {
            errors.push(format!(
                "{from}: store '{}' must be an AzureKeyVault linked service",
                r.store
            ));
            continue;
        }
        let mut warnings = Vec::new();
        match super::dataset::linked(
            factory,
            &r.store,
            params.as_ref(),
            &from,
            &scope,
            &mut warnings,
        ) {
            Ok(LinkedService::KeyVault { base_url }) => ok.push((r.clone(), base_url)),
            Ok(_) => errors.push(format!(
                "{from}: store '{}' must be an AzureKeyVault linked service",
                r.store
            )),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (ok, errors)
}
