//! A reader over one JSON object that remembers which properties were used, so that every
//! property Sluice does not implement is reported in a warning instead of silently ignored, and
//! every bad value is reported with the object and property path.
//!
//! Warnings are worded for the user who exported the factory from ADF: properties that change
//! nothing for Sluice (ADF's bookkeeping, integration runtimes, defaults written out) are not
//! reported at all; a property ADF has but Sluice does not implement is reported as such; and a
//! name ADF does not have, close to one it does, is reported as an unknown property with the
//! name it probably meant (see [`super::warnings`] for the wording and grouping).

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::secrets::{Secret, SecretBook};
use crate::ModelError;

/// Properties of one JSON object, read by name. `path` names the object for messages, such as
/// `pipeline 'P' activity 'Copy1' typeProperties.sink`.
pub struct Props<'a> {
    pub path: String,
    map: &'a Map<String, Value>,
    used: RefCell<BTreeSet<String>>,
    /// Every name read, present or not: the names this object understands, for suggestions.
    asked: RefCell<BTreeSet<String>>,
    /// The properties of this object that may hold a secret (set by the linked service
    /// parsers), named when a secret is given to another property.
    secret_keys: RefCell<Vec<&'static str>>,
}

impl<'a> Props<'a> {
    pub fn new(path: impl Into<String>, map: &'a Map<String, Value>) -> Self {
        Props {
            path: path.into(),
            map,
            used: RefCell::new(BTreeSet::new()),
            asked: RefCell::new(BTreeSet::new()),
            secret_keys: RefCell::new(Vec::new()),
        }
    }

    /// Reads `value` as an object; anything else is an error naming `path`.
    pub fn of(path: impl Into<String>, value: &'a Value) -> Result<Self, ModelError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Props::new(path, map)),
            other => Err(ModelError::invalid(
                &path,
                "",
                format!("expected a JSON object, found {}", kind(other)),
            )),
        }
    }

    /// The raw value of a property, marking it used. Keys match exactly first, then
    /// case-insensitively (ADF tolerates both `partitionOption` and `PartitionOption`).
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.asked.borrow_mut().insert(key.to_string());
        let (k, v) = self
            .map
            .get_key_value(key)
            .or_else(|| self.map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))?;
        self.used.borrow_mut().insert(k.clone());
        (!v.is_null()).then_some(v)
    }

    /// Marks a property as understood without reading it (e.g. `description`).
    pub fn accept(&self, key: &str) {
        let _ = self.get(key);
    }

    /// An error about property `key`. When `key` is missing (it is required, or another
    /// property needs it) and a property spelt nearly like it is present, the error says so:
    /// the typo is the likely cause.
    pub fn err(&self, key: &str, reason: impl Into<String>) -> ModelError {
        let mut reason = reason.into();
        // A name differing only in case is what this reader reads (see [`Props::get`]).
        let present = self.map.keys().any(|k| k.eq_ignore_ascii_case(key));
        if !key.is_empty() && !present {
            let typo = self.map.keys().find(|k| super::warnings::is_typo(k, key));
            if let Some(k) = typo {
                reason.push_str(&format!("; unknown property '{k}' (did you mean '{key}'?)"));
            }
        }
        ModelError::invalid(&self.path, key, reason)
    }

    /// Declares which properties of this object may hold a secret (a SecureString or an Azure
    /// Key Vault reference), so a secret given to any other property is explained.
    pub fn secret_properties(&self, keys: &[&'static str]) {
        *self.secret_keys.borrow_mut() = keys.to_vec();
    }

    /// "`key` expected `what`, found ..." — or, when the value is a secret object in a
    /// property that cannot hold one, which properties can.
    fn mismatch(&self, key: &str, what: &str, found: &Value) -> ModelError {
        let secret = match found.get("type").and_then(Value::as_str) {
            Some("AzureKeyVaultSecret") => Some("an Azure Key Vault reference"),
            Some("SecureString") => Some("a SecureString"),
            _ => None,
        };
        let Some(secret) = secret.filter(|_| found.is_object()) else {
            return self.err(key, format!("expected {what}, found {}", kind(found)));
        };
        let keys = self.secret_keys.borrow();
        let which = if keys.is_empty() {
            "no property of this object can hold a secret".to_string()
        } else {
            format!("properties that can: {}", keys.join(", "))
        };
        self.err(
            key,
            format!("this property cannot be {secret} (expected {what}); {which}"),
        )
    }

    pub fn str(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.mismatch(key, "a string", other)),
        }
    }

    pub fn req_str(&self, key: &str) -> Result<&'a str, ModelError> {
        self.str(key)?.ok_or_else(|| self.err(key, "is required"))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other @ Value::Object(_)) => Err(self.mismatch(key, "true or false", other)),
            Some(other) => Err(self.err(
                key,
                format!("expected true or false, found {}", short(other)),
            )),
        }
    }

    /// An integer given as a JSON number or a numeric string (ADF accepts both).
    pub fn int(&self, key: &str) -> Result<Option<i64>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("expected an integer, found {n}"))),
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.err(key, format!("expected an integer, found {s:?}"))),
            Some(other) => Err(self.mismatch(key, "an integer", other)),
        }
    }

    /// An integer within `[min, max]`.
    pub fn int_in(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>, ModelError> {
        match self.int(key)? {
            Some(v) if v < min || v > max => {
                Err(self.err(key, format!("must be between {min} and {max}, found {v}")))
            }
            v => Ok(v),
        }
    }

    /// A secret: a plain string, `{"type":"SecureString","value":...}`, or an Azure Key Vault
    /// reference `{"type":"AzureKeyVaultSecret","store":{...},"secretName":...,
    /// "secretVersion":...}` whose value the run's [`SecretBook`] fetched at run start (in
    /// `validate`, a [`Secret::deferred`] stand-in after the reference's shape is checked).
    /// Plain values are registered with `book`'s redactor (the run's).
    pub fn secret(&self, key: &str, book: &SecretBook) -> Result<Option<Secret>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(book.literal(s.clone()))),
            Some(Value::Object(obj)) => {
                let ty = obj.get("type").and_then(Value::as_str).unwrap_or("");
                match ty {
                    "SecureString" => match obj.get("value") {
                        Some(Value::String(s)) => Ok(Some(book.literal(s.clone()))),
                        _ => Err(self.err(key, "a SecureString needs a string `value`")),
                    },
                    "AzureKeyVaultSecret" => {
                        let parsed = crate::secrets::book::parse_reference(obj)
                            .map_err(|reason| self.err(key, reason))?;
                        book.secret_for(&parsed, &format!("{}.{key}", self.path))
                            .map(Some)
                            .map_err(|reason| self.err(key, reason))
                    }
                    other => Err(self.err(
                        key,
                        format!("expected a string, a SecureString or an AzureKeyVaultSecret object, found an object of type {other:?}"),
                    )),
                }
            }
            Some(other) => Err(self.err(
                key,
                format!("expected a string or SecureString, found {}", kind(other)),
            )),
        }
    }

    /// A nested object's properties.
    pub fn object(&self, key: &str) -> Result<Option<Props<'a>>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Props::of(format!("{}.{key}", self.path), v).map(Some),
        }
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ModelError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(self.err(key, format!("expected an array, found {}", kind(other)))),
        }
    }

    /// Every key of the object (marks nothing as used).
    pub fn keys(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Paths (`object.key`) of the properties present but never read.
    pub fn unused_keys(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.map
            .keys()
            .filter(|k| !used.contains(*k))
            .map(|k| format!("{}.{k}", self.path))
            .collect()
    }

    /// Warnings for the properties present but never read, except those that change nothing
    /// for Sluice: "not implemented by Sluice" for a property ADF has, "unknown property" with
    /// the nearest name for what looks like a typo.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        let asked = self.asked.borrow();
        self.map
            .iter()
            .filter(|(k, v)| !used.contains(*k) && !super::warnings::changes_nothing(k, v))
            .map(|(k, _)| super::warnings::unused_property(&self.path, k, &asked))
            .collect()
    }
}

/// The JSON kind of a value, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 40 {
        format!(
            "{}...",
            &s[..s.char_indices().nth(40).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_secret_where_none_can_go_names_the_properties_that_can() {
        let v = json!({
            "port": {"type": "AzureKeyVaultSecret", "store": {"referenceName": "kv"}, "secretName": "p"},
            "ssl": {"type": "SecureString", "value": "true"},
            "host": {"type": "Other"}
        });
        let p = Props::of("linked service 'L'.typeProperties", &v).unwrap();
        p.secret_properties(&["connectionString", "password"]);
        assert_eq!(
            p.int("port").unwrap_err().to_string(),
            "linked service 'L'.typeProperties: property 'port': this property cannot be an \
             Azure Key Vault reference (expected an integer); properties that can: \
             connectionString, password"
        );
        assert_eq!(
            p.bool("ssl").unwrap_err().to_string(),
            "linked service 'L'.typeProperties: property 'ssl': this property cannot be a \
             SecureString (expected true or false); properties that can: connectionString, password"
        );
        // Any other object is just the wrong kind of value.
        assert_eq!(
            p.str("host").unwrap_err().to_string(),
            "linked service 'L'.typeProperties: property 'host': expected a string, found an object"
        );
        let q = Props::of("dataset 'D'", &v).unwrap();
        assert!(q
            .str("port")
            .unwrap_err()
            .to_string()
            .ends_with("no property of this object can hold a secret"));
    }

    #[test]
    fn unused_properties_become_worded_warnings() {
        let v = json!({"source": {}, "enableStaging": true, "annotations": [], "sourc": 1,
                       "dataIntegrationUnits": 8});
        let p = Props::of("activity 'C' typeProperties", &v).unwrap();
        p.accept("source");
        let _ = p.get("sink");
        assert_eq!(
            p.unused(),
            vec![
                "activity 'C' typeProperties: property 'enableStaging' is not implemented by Sluice; ignored",
                "activity 'C' typeProperties: unknown property 'sourc' (did you mean 'source'?); ignored",
            ]
        );
        assert_eq!(
            p.unused_keys(),
            vec![
                "activity 'C' typeProperties.enableStaging",
                "activity 'C' typeProperties.annotations",
                "activity 'C' typeProperties.sourc",
                "activity 'C' typeProperties.dataIntegrationUnits",
            ]
        );
    }
}
