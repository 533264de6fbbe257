//! Azure Key Vault secret references (`{"type": "AzureKeyVaultSecret", "store": {...},
//! "secretName": ..., "secretVersion": ...}`) of one run: where they are found, fetched and
//! looked up.
//!
//! Planning is synchronous and pure, but a Key Vault secret needs I/O. So a run works in two
//! steps, both through its [`SecretBook`]:
//!
//! 1. **Collect.** The run is planned with [`SecretBook::collecting`]: every reference it has
//!    not fetched yet is answered with a [`Secret::deferred`] stand-in and remembered (store,
//!    store parameters, name, version) with the property that asked for it.
//! 2. **Fetch.** [`SecretBook::fetch`] signs in once and fetches each distinct (vault, name,
//!    version) once; the planner has checked that each store is an `AzureKeyVault` linked
//!    service with an `https://` `baseUrl`. Values are registered with the run's [`Redactor`]
//!    (a connection string's `Password=`/`AccountKey=` parts on their own too). A fetch that
//!    fails (404, 403, a disabled secret, an unreachable vault) is recorded, not raised: like
//!    ADF, the activity that uses the linked service fails, with one error naming the linked
//!    service property, the vault, the secret and the reason.
//!
//! While activities run, [`SecretBook::secret_for`] only looks references up. A reference that
//! could not be known at run start (its name built from an activity output or `item()`) is an
//! error that says so. `validate` collects without fetching.
//!
//! A book belongs to one run (one tenant): nothing here is process-wide.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use super::keyvault::KeyVaultClient;
use super::{Redactor, Secret};

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

/// One run's secrets: its redactor and its Key Vault references and values. Clones share them;
/// [`SecretBook::collecting`] is a view of the same book that defers unknown references.
#[derive(Clone)]
pub struct SecretBook {
    redactor: Redactor,
    table: Arc<Mutex<Table>>,
    collecting: bool,
}

impl std::fmt::Debug for SecretBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBook { .. }")
    }
}

impl Default for SecretBook {
    fn default() -> Self {
        SecretBook::new(Redactor::new())
    }
}

impl SecretBook {
    /// An empty book whose values are registered with `redactor`.
    pub fn new(redactor: Redactor) -> Self {
        SecretBook {
            redactor,
            table: Arc::default(),
            collecting: false,
        }
    }

    /// The same book, answering references it has not fetched with a [`Secret::deferred`]
    /// stand-in and remembering them (see the module docs).
    pub fn collecting(&self) -> SecretBook {
        SecretBook {
            collecting: true,
            ..self.clone()
        }
    }

    /// The run's redactor.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// A secret read from a definition (a plain string or a `SecureString`), registered with
    /// the run's redactor, connection-string parts included.
    pub fn literal(&self, value: impl Into<String>) -> Secret {
        let s = Secret::new(value);
        self.redactor.register_connection_string(s.expose());
        s
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The secret a reference stands for (`at` names the property, for the collected list).
    pub fn secret_for(&self, parsed: &Parsed, at: &str) -> Result<Secret, String> {
        let r =
            match parsed {
                Parsed::Unevaluated if self.collecting => return Ok(Secret::deferred()),
                Parsed::Unevaluated => return Err(
                    "the Azure Key Vault reference holds an expression that could not be evaluated"
                        .into(),
                ),
                Parsed::Ref(r) => r,
            };
        let mut t = self.table();
        if let Some(result) = t.fetched.get(r) {
            return result.clone();
        }
        if self.collecting {
            t.wanted.entry(r.clone()).or_insert_with(|| at.to_string());
            return Ok(Secret::deferred());
        }
        Err(format!(
            "Azure Key Vault {} of linked service '{}' was not fetched: Sluice fetches Key Vault secrets when a run starts, from the references it can resolve then, and this one depends on values known only while the pipeline runs (an activity output or item())",
            r.describe(),
            r.store
        ))
    }

    /// Every reference collected and not fetched yet, with the property that asked for it.
    pub fn wanted(&self) -> Vec<(SecretRef, String)> {
        let t = self.table();
        t.wanted
            .iter()
            .filter(|(r, _)| !t.fetched.contains_key(*r))
            .map(|(r, at)| (r.clone(), at.clone()))
            .collect()
    }

    /// Fetches each reference from the vault at its address (`(reference, vault base URL)`,
    /// checked by the planner). Fetch failures are recorded for the properties that use them.
    pub async fn fetch(&self, stores: Vec<(SecretRef, String)>) {
        if stores.is_empty() {
            return;
        }
        let client = KeyVaultClient::from_env(&self.redactor);
        let mut by_vault: HashMap<(String, String, Option<String>), Result<Secret, String>> =
            HashMap::new();
        for (r, base_url) in stores {
            let key = (base_url.clone(), r.name.clone(), r.version.clone());
            let result = match by_vault.get(&key) {
                Some(done) => done.clone(),
                None => {
                    let result = match &client {
                        Ok(c) => c.get_secret(&base_url, &r.name, r.version.as_deref()).await,
                        Err(e) => Err(e.clone()),
                    };
                    let result = result.map_err(|reason| {
                        self.redactor.redact(&format!(
                            "Azure Key Vault {base_url} (linked service '{}'), {}: {reason}",
                            r.store,
                            r.describe()
                        ))
                    });
                    match &result {
                        Ok(secret) => {
                            self.redactor.register_connection_string(secret.expose());
                            tracing::info!(
                                "fetched {} from Azure Key Vault {base_url}",
                                r.describe()
                            );
                        }
                        Err(e) => tracing::warn!("{e}"),
                    }
                    by_vault.insert(key, result.clone());
                    result
                }
            };
            self.table().fetched.insert(r, result);
        }
    }
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
        let book = SecretBook::default();
        assert!(book
            .collecting()
            .secret_for(&parsed, "ls 'x' password")
            .unwrap()
            .is_deferred());
        assert!(book
            .wanted()
            .iter()
            .any(|(w, at)| *w == r && at == "ls 'x' password"));
        let e = book.secret_for(&parsed, "ls").unwrap_err();
        assert!(e.contains("was not fetched"), "{e}");
        book.table()
            .fetched
            .insert(r.clone(), Ok(Secret::new("unit-secret-value")));
        assert_eq!(
            book.secret_for(&parsed, "ls").unwrap().expose(),
            "unit-secret-value"
        );
        assert!(book.wanted().is_empty());
        // Another run's book knows nothing of this one's.
        let other = SecretBook::default();
        assert!(other.secret_for(&parsed, "ls").is_err());
    }
}
