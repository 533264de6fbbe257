//! Azure Key Vault secret references (`{"type": "AzureKeyVaultSecret", "store": {...},
//! "secretName": ..., "secretVersion": ...}`): where they are found, fetched and looked up.
//!
//! Reading definitions is synchronous and pure ([`crate::model`]), but a Key Vault secret needs
//! I/O. So a run works in two steps:
//!
//! 1. **Collect.** `sluice run` resolves every activity leniently before anything runs (the
//!    existing up-front check), and also the pipelines its ExecutePipeline activities start.
//!    While [`collect`] is active, [`secret_for`] answers every reference it has not seen with a
//!    [`Secret::deferred`] stand-in and remembers the reference (store, store parameters, name,
//!    version) and which property asked for it.
//! 2. **Fetch.** [`fetch_all`] checks each store (it must be an `AzureKeyVault` linked service
//!    with an `https://` `baseUrl`; a bad store fails the run before it starts), signs in once
//!    and fetches each distinct (vault, name, version) once. Values are registered for redaction
//!    (a connection string's `Password=`/`AccountKey=` parts on their own too). A fetch that fails
//!    (404, 403, a disabled secret, an unreachable vault) is recorded, not raised: like ADF, the
//!    activity that uses the linked service fails, with one error naming the linked service
//!    property, the vault, the secret and the reason.
//!
//! While activities run, [`secret_for`] only looks references up. A reference that could not be
//! known at run start (its name built from an activity output or `item()`) is an error that
//! says so. `validate` collects without fetching: it checks each reference's shape and store
//! and notes that the value is fetched at run time.
//!
//! The table is process-wide, like the redactor (one process runs one pipeline run); the
//! collecting flag is per thread, so it only affects the synchronous resolution it wraps.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::{Map, Value};

use super::keyvault::KeyVaultClient;
use super::Secret;
use crate::model::linked_service::LinkedService;
use crate::model::load::Factory;
use crate::model::params::Scope;

/// One Key Vault secret as a linked service refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretRef {
    /// The `AzureKeyVault` linked service's name (`store.referenceName`).
    pub store: String,
    /// `store.parameters` as JSON text (empty when none are given).
    pub store_parameters: String,
    pub name: String,
    pub version: Option<String>,
}

impl SecretRef {
    /// `secret 'name' (version v)`, for messages.
    pub fn describe(&self) -> String {
        match &self.version {
            Some(v) => format!("secret '{}' version {v}", self.name),
            None => format!("secret '{}'", self.name),
        }
    }
}

/// A reference read from JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Ref(SecretRef),
    /// `secretName`, `secretVersion` or the store is an expression `validate` could not
    /// evaluate (it needs values only a run has).
    Unevaluated,
}

/// Checks the shape of an `AzureKeyVaultSecret` object; the reason names the property.
pub fn parse_reference(obj: &Map<String, Value>) -> Result<Parsed, String> {
    let unevaluated = |v: &Value| match v {
        Value::String(s) => s.contains('@'),
        Value::Object(o) => o.get("type").and_then(Value::as_str) == Some("Expression"),
        _ => false,
    };
    let store = obj.get("store").ok_or(
        "store is required: {\"referenceName\": \"<an AzureKeyVault linked service>\", \"type\": \"LinkedServiceReference\"}",
    )?;
    let store = store
        .as_object()
        .ok_or("store must be a LinkedServiceReference object")?;
    if let Some(ty) = store.get("type").and_then(Value::as_str) {
        if ty != "LinkedServiceReference" {
            return Err(format!(
                "store.type must be \"LinkedServiceReference\", found {ty:?}"
            ));
        }
    }
    let store_name = match store.get("referenceName") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(v) if unevaluated(v) => return Ok(Parsed::Unevaluated),
        _ => {
            return Err(
                "store.referenceName is required: the name of an AzureKeyVault linked service"
                    .into(),
            )
        }
    };
    let store_parameters = match store.get("parameters") {
        None | Some(Value::Null) => String::new(),
        Some(p) if p.as_object().is_some() => p.to_string(),
        Some(_) => return Err("store.parameters must be an object".into()),
    };
    let name = match obj.get("secretName") {
        Some(v) if unevaluated(v) => return Ok(Parsed::Unevaluated),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err("secretName must be a string".into()),
        None => return Err("secretName is required".into()),
    };
    // Key Vault's rule for object names.
    if name.is_empty()
        || name.len() > 127
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(format!(
            "secretName {name:?} is not a Key Vault secret name (1-127 letters, digits and dashes)"
        ));
    }
    let version = match obj.get("secretVersion") {
        None | Some(Value::Null) => None,
        Some(v) if unevaluated(v) => return Ok(Parsed::Unevaluated),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            let v = s.trim();
            if !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "secretVersion {v:?} is not a Key Vault version id (letters and digits)"
                ));
            }
            Some(v.to_string())
        }
        Some(_) => return Err("secretVersion must be a string".into()),
    };
    Ok(Parsed::Ref(SecretRef {
        store: store_name,
        store_parameters,
        name,
        version,
    }))
}

#[derive(Default)]
struct Table {
    /// Fetched values, or why the fetch failed.
    fetched: HashMap<SecretRef, Result<Secret, String>>,
    /// References seen while collecting, with the first property that asked for each.
    wanted: BTreeMap<SecretRef, String>,
}

fn table() -> MutexGuard<'static, Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

thread_local! {
    /// Per thread: resolving definitions is synchronous, so the guard covers exactly the
    /// resolution it wraps, and activities resolving concurrently on other threads never see a
    /// stand-in.
    static COLLECTING: Cell<bool> = const { Cell::new(false) };
}

/// While the returned guard lives, unknown references met on this thread are remembered and
/// answered with a [`Secret::deferred`] stand-in instead of an error.
pub fn collect() -> Collecting {
    COLLECTING.with(|c| c.set(true));
    Collecting(std::marker::PhantomData)
}

/// See [`collect`].
/// Not `Send`: it must end on the thread that started it.
pub struct Collecting(std::marker::PhantomData<*const ()>);

impl Drop for Collecting {
    fn drop(&mut self) {
        COLLECTING.with(|c| c.set(false));
    }
}

/// The secret a reference stands for (`at` names the property, for the collected list).
pub fn secret_for(parsed: &Parsed, at: &str) -> Result<Secret, String> {
    let collecting = COLLECTING.with(Cell::get);
    let r = match parsed {
        Parsed::Unevaluated if collecting => return Ok(Secret::deferred()),
        Parsed::Unevaluated => {
            return Err(
                "the Azure Key Vault reference holds an expression that could not be evaluated"
                    .into(),
            )
        }
        Parsed::Ref(r) => r,
    };
    let mut t = table();
    if let Some(result) = t.fetched.get(r) {
        return result.clone();
    }
    if collecting {
        t.wanted.entry(r.clone()).or_insert_with(|| at.to_string());
        return Ok(Secret::deferred());
    }
    Err(format!(
        "Azure Key Vault {} of linked service '{}' was not fetched: Sluice fetches Key Vault secrets when a run starts, from the references it can resolve then, and this one depends on values known only while the pipeline runs (an activity output or item())",
        r.describe(),
        r.store
    ))
}

/// Every reference collected so far, with the property that asked for it.
pub fn wanted() -> Vec<(SecretRef, String)> {
    table()
        .wanted
        .iter()
        .map(|(r, at)| (r.clone(), at.clone()))
        .collect()
}

/// The vault address of each wanted reference's store, or an error naming the property, the
/// store and the reason (`lenient` in `validate`, where a parameterised store may stay
/// unevaluated).
pub fn check_stores(
    factory: &Factory,
    wanted: &[(SecretRef, String)],
    lenient: bool,
) -> (Vec<(SecretRef, String, String)>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let scope = Scope {
        lenient,
        ..Scope::default()
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
        match crate::model::dataset::linked(
            factory,
            &r.store,
            params.as_ref(),
            &from,
            &scope,
            &mut warnings,
        ) {
            Ok(LinkedService::KeyVault { base_url }) => {
                ok.push((r.clone(), at.clone(), base_url));
            }
            Ok(_) => errors.push(format!(
                "{from}: store '{}' must be an AzureKeyVault linked service",
                r.store
            )),
            Err(e) => errors.push(super::redact(&e.to_string())),
        }
    }
    (ok, errors)
}

/// Fetches every collected reference (see the module docs). Fails only when a store is not a
/// usable `AzureKeyVault` linked service; fetch failures are recorded for the properties that
/// use them.
pub async fn fetch_all(factory: &Factory) -> Result<(), String> {
    let wanted: Vec<(SecretRef, String)> = {
        let t = table();
        t.wanted
            .iter()
            .filter(|(r, _)| !t.fetched.contains_key(*r))
            .map(|(r, at)| (r.clone(), at.clone()))
            .collect()
    };
    if wanted.is_empty() {
        return Ok(());
    }
    let (stores, errors) = check_stores(factory, &wanted, false);
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let client = KeyVaultClient::from_env();
    let mut by_vault: HashMap<(String, String, Option<String>), Result<Secret, String>> =
        HashMap::new();
    for (r, _at, base_url) in stores {
        let key = (base_url.clone(), r.name.clone(), r.version.clone());
        let result = match by_vault.get(&key) {
            Some(done) => done.clone(),
            None => {
                let result = match &client {
                    Ok(c) => c.get_secret(&base_url, &r.name, r.version.as_deref()).await,
                    Err(e) => Err(e.clone()),
                };
                let result = result.map_err(|reason| {
                    super::redact(&format!(
                        "Azure Key Vault {base_url} (linked service '{}'), {}: {reason}",
                        r.store,
                        r.describe()
                    ))
                });
                match &result {
                    Ok(secret) => {
                        super::register_connection_string_parts(secret.expose());
                        tracing::info!("fetched {} from Azure Key Vault {base_url}", r.describe());
                    }
                    Err(e) => tracing::warn!("{e}"),
                }
                by_vault.insert(key, result.clone());
                result
            }
        };
        table().fetched.insert(r, result);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Parsed, String> {
        parse_reference(v.as_object().unwrap())
    }

    #[test]
    fn reference_shapes() {
        let store = json!({"referenceName": "kv", "type": "LinkedServiceReference"});
        let Parsed::Ref(r) = parse(json!({"type": "AzureKeyVaultSecret", "store": store, "secretName": "pg-conn", "secretVersion": "abc123"})).unwrap() else {
            panic!("not a reference");
        };
        assert_eq!(
            (r.store.as_str(), r.name.as_str(), r.version.as_deref()),
            ("kv", "pg-conn", Some("abc123"))
        );
        let e = parse(json!({"store": store})).unwrap_err();
        assert!(e.contains("secretName is required"), "{e}");
        let e = parse(json!({"secretName": "x"})).unwrap_err();
        assert!(e.contains("store is required"), "{e}");
        let e = parse(json!({"store": {"type": "LinkedServiceReference"}, "secretName": "x"}))
            .unwrap_err();
        assert!(e.contains("store.referenceName"), "{e}");
        let e = parse(json!({"store": store, "secretName": "has_underscore"})).unwrap_err();
        assert!(e.contains("not a Key Vault secret name"), "{e}");
        assert_eq!(
            parse(json!({"store": store, "secretName": "@linkedService().name"})).unwrap(),
            Parsed::Unevaluated
        );
    }

    #[test]
    fn collecting_defers_and_fetched_values_are_found() {
        let r = SecretRef {
            store: "kv-unit".into(),
            store_parameters: String::new(),
            name: "unit-secret".into(),
            version: None,
        };
        let parsed = Parsed::Ref(r.clone());
        {
            let _c = collect();
            assert!(secret_for(&parsed, "ls 'x' password")
                .unwrap()
                .is_deferred());
        }
        assert!(wanted()
            .iter()
            .any(|(w, at)| *w == r && at == "ls 'x' password"));
        let e = secret_for(&parsed, "ls").unwrap_err();
        assert!(e.contains("was not fetched"), "{e}");
        table()
            .fetched
            .insert(r.clone(), Ok(Secret::new("unit-secret-value")));
        assert_eq!(
            secret_for(&parsed, "ls").unwrap().expose(),
            "unit-secret-value"
        );
    }
}
