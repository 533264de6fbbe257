//! Reading a plugin's JSON config with errors that name the key, so a pipeline author can fix
//! the pipeline from the message alone.

use serde_json::Value as Json;

use crate::value::Column;

/// `object`, `string`, `number`... for error messages.
pub fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// The value of `key`, or `None` when absent or `null`.
pub fn get<'a>(cfg: &'a Json, key: &str) -> Option<&'a Json> {
    cfg.get(key).filter(|v| !v.is_null())
}

/// A required string.
pub fn required_str<'a>(cfg: &'a Json, key: &str) -> Result<&'a str, String> {
    optional_str(cfg, key)?.ok_or_else(|| format!("config key \"{key}\" is required (a string)"))
}

/// An optional string.
pub fn optional_str<'a>(cfg: &'a Json, key: &str) -> Result<Option<&'a str>, String> {
    match get(cfg, key) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "config key \"{key}\" must be a string, got {}",
            json_kind(other)
        )),
    }
}

/// A required list of strings, e.g. `"columns": ["email", "phone"]`.
pub fn str_list(cfg: &Json, key: &str) -> Result<Vec<String>, String> {
    match get(cfg, key) {
        None => Err(format!(
            "config key \"{key}\" is required (a list of strings)"
        )),
        Some(v) => str_list_value(v, key),
    }
}

/// An optional list of strings; absent means empty.
pub fn optional_str_list(cfg: &Json, key: &str) -> Result<Vec<String>, String> {
    match get(cfg, key) {
        None => Ok(Vec::new()),
        Some(v) => str_list_value(v, key),
    }
}

fn str_list_value(v: &Json, key: &str) -> Result<Vec<String>, String> {
    let Json::Array(items) = v else {
        return Err(format!(
            "config key \"{key}\" must be a list of strings, got {}",
            json_kind(v)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Json::String(s) => Ok(s.clone()),
            other => Err(format!(
                "config key \"{key}\"[{i}] must be a string, got {}",
                json_kind(other)
            )),
        })
        .collect()
}

/// An optional boolean with its default.
pub fn bool_or(cfg: &Json, key: &str, default: bool) -> Result<bool, String> {
    match get(cfg, key) {
        None => Ok(default),
        Some(Json::Bool(b)) => Ok(*b),
        Some(other) => Err(format!(
            "config key \"{key}\" must be true or false, got {}",
            json_kind(other)
        )),
    }
}

/// An optional object of strings, e.g. `"rename": {"old": "new"}`; absent means empty.
pub fn str_map(cfg: &Json, key: &str) -> Result<Vec<(String, String)>, String> {
    match get(cfg, key) {
        None => Ok(Vec::new()),
        Some(Json::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Json::String(s) => Ok((k.clone(), s.clone())),
                other => Err(format!(
                    "config key \"{key}\".\"{k}\" must be a string, got {}",
                    json_kind(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "config key \"{key}\" must be an object, got {}",
            json_kind(other)
        )),
    }
}

/// Fails on a key not in `allowed`, so a misspelt option is an error rather than ignored.
pub fn check_keys(cfg: &Json, allowed: &[&str]) -> Result<(), String> {
    if let Json::Object(m) = cfg {
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(format!(
                    "unknown config key \"{k}\" (expected one of: {})",
                    allowed.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// Position of input column `name`, which came from config key `key`.
pub fn column_index(input: &[Column], name: &str, key: &str) -> Result<usize, String> {
    input.iter().position(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = input.iter().map(|c| c.name.as_str()).collect();
        format!(
            "config key \"{key}\": column \"{name}\" is not in the input (columns: {})",
            names.join(", ")
        )
    })
}
