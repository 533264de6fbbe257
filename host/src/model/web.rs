//! The Web activity (ADF's `WebActivity`): its `typeProperties` become a typed [`WebPlan`]
//! by pure code, so `validate` checks them and the request itself
//! (`pipeline::web`) only sends what was checked.
//!
//! Shape followed: "Web activity in Azure Data Factory and Azure Synapse Analytics"
//! (learn.microsoft.com, data-factory/control-flow-web-activity) and the `WebActivity` ARM
//! model: `url`, `method` (GET, POST, PUT, DELETE), `headers` (an object, or the newer list of
//! `{"name", "value"}`), `body` (required for POST and PUT), `authentication`,
//! `httpRequestTimeout` (a timespan, default 00:01:00, at most 10 minutes),
//! `disableCertValidation`, `turnOffAsync`, `datasets` and `linkedServices`.

use std::time::Duration;

use serde_json::Value;

use super::error::ModelError;
use super::params::{substitute, Scope};
use super::props::{kind, Props};
use super::timespan::{format_timespan, parse_timespan};
use crate::secrets::Secret;

/// ADF's default `httpRequestTimeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// ADF's largest `httpRequestTimeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The HTTP methods the Web activity sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebMethod {
    Get,
    Post,
    Put,
    Delete,
}

impl WebMethod {
    pub fn name(self) -> &'static str {
        match self {
            WebMethod::Get => "GET",
            WebMethod::Post => "POST",
            WebMethod::Put => "PUT",
            WebMethod::Delete => "DELETE",
        }
    }
}

/// How the request signs in.
#[derive(Debug, Clone)]
pub enum WebAuth {
    None,
    /// HTTP Basic: `username` and `password` (a SecureString or Key Vault reference).
    Basic {
        username: String,
        password: Secret,
    },
}

/// A Web activity ready to send.
#[derive(Debug, Clone)]
pub struct WebPlan {
    pub url: String,
    pub method: WebMethod,
    /// In the order written.
    pub headers: Vec<(String, String)>,
    /// The payload as sent: a string as written, JSON serialized.
    pub body: Option<String>,
    /// The body was JSON (not a string): sent as `application/json` unless a header says
    /// otherwise.
    pub body_is_json: bool,
    pub auth: WebAuth,
    /// Each request's bound (`httpRequestTimeout`).
    pub timeout: Duration,
    pub disable_cert_validation: bool,
    /// Do not follow a 202's `Location` (`turnOffAsync`).
    pub turn_off_async: bool,
}

/// Resolves a Web activity's JSON with the values in `scope`. `at` names the activity.
pub fn resolve(
    activity: &Value,
    at: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<WebPlan, ModelError> {
    let act = Props::of(at.to_string(), activity)?;
    let raw = act
        .get("typeProperties")
        .ok_or_else(|| act.err("typeProperties", "is required"))?;
    let tp_value = substitute(raw, scope, at)?;
    let tp = Props::of(format!("{at} typeProperties"), &tp_value)?;
    let lenient = scope.lenient;

    let url = tp.req_str("url")?.to_string();
    if !(lenient && url.contains('@')) {
        check_url(&url).map_err(|reason| tp.err("url", reason))?;
    }
    let method = match tp.req_str("method")?.to_ascii_uppercase().as_str() {
        "GET" => WebMethod::Get,
        "POST" => WebMethod::Post,
        "PUT" => WebMethod::Put,
        "DELETE" => WebMethod::Delete,
        other => {
            return Err(tp.err(
                "method",
                format!("{other:?} is not one of GET, POST, PUT, DELETE"),
            ))
        }
    };
    let headers = headers(&tp)?;
    let (body, body_is_json) = match tp.get("body") {
        None => (None, false),
        Some(Value::String(s)) => (Some(s.clone()), false),
        Some(other) => (Some(other.to_string()), true),
    };
    let body = match (method, body) {
        (WebMethod::Post | WebMethod::Put, None) => {
            return Err(tp.err(
                "body",
                format!("is required for the {} method", method.name()),
            ))
        }
        (WebMethod::Get, Some(_)) => {
            warnings.push(format!(
                "{}.body: not sent (ADF allows no body with GET)",
                tp.path
            ));
            None
        }
        (_, body) => body,
    };
    let timeout = match tp.str("httpRequestTimeout")? {
        None => DEFAULT_TIMEOUT,
        Some(s) if lenient && s.contains('@') => DEFAULT_TIMEOUT,
        Some(s) => {
            let t = parse_timespan(s).map_err(|e| tp.err("httpRequestTimeout", e))?;
            if t.is_zero() || t > MAX_TIMEOUT {
                return Err(tp.err(
                    "httpRequestTimeout",
                    format!(
                        "{s} is out of range: it must be more than zero and at most {}",
                        format_timespan(MAX_TIMEOUT)
                    ),
                ));
            }
            t
        }
    };
    let auth = authentication(&tp, scope)?;
    let disable_cert_validation = tp.bool("disableCertValidation")?.unwrap_or(false);
    let turn_off_async = tp.bool("turnOffAsync")?.unwrap_or(false);
    for key in ["datasets", "linkedServices"] {
        if let Some(v) = tp.get(key) {
            if v.as_array().is_some_and(|a| !a.is_empty()) {
                warnings.push(format!(
                    "{}.{key}: not passed to the endpoint (Sluice does not send definitions in the body)",
                    tp.path
                ));
            }
        }
    }
    tp.accept("connectVia");
    warnings.extend(tp.unused());
    register_secrets(&url, &headers, scope);
    Ok(WebPlan {
        url,
        method,
        headers,
        body,
        body_is_json,
        auth,
        timeout,
        disable_cert_validation,
        turn_off_async,
    })
}

/// An absolute `http` or `https` URL.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("is not a valid URL: {e}"))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host().is_some() => Ok(()),
        "http" | "https" => Err("has no host".into()),
        other => Err(format!("scheme {other:?} is not supported (http or https)")),
    }
}

/// `headers`: `{"Name": "value"}`, or ADF's newer list `[{"name": ..., "value": ...}]`.
/// Values that are not strings are sent as their JSON text.
fn headers(tp: &Props<'_>) -> Result<Vec<(String, String)>, ModelError> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    match tp.get("headers") {
        None => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                out.push((k.clone(), text(v)));
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let p = Props::of(format!("{}.headers[{i}]", tp.path), item)?;
                let name = p.req_str("name")?.to_string();
                let value = p.get("value").map(text).unwrap_or_default();
                out.push((name, value));
            }
        }
        Some(other) => {
            return Err(tp.err(
                "headers",
                format!(
                    "expected an object of header values or a list of {{\"name\", \"value\"}}, found {}",
                    kind(other)
                ),
            ))
        }
    }
    for (name, _) in &out {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
        {
            return Err(tp.err("headers", format!("{name:?} is not a valid header name")));
        }
    }
    Ok(out)
}

/// `authentication`: none, or Basic; the other types ADF has need Azure identities Sluice
/// does not have.
fn authentication(tp: &Props<'_>, scope: &Scope) -> Result<WebAuth, ModelError> {
    let Some(auth) = tp.object("authentication")? else {
        return Ok(WebAuth::None);
    };
    let ty = auth.str("type")?.unwrap_or("None");
    match ty.to_ascii_lowercase().as_str() {
        "" | "none" | "anonymous" => Ok(WebAuth::None),
        "basic" => {
            let username = auth.req_str("username")?.to_string();
            let password = auth
                .secret("password", &scope.secrets)?
                .ok_or_else(|| auth.err("password", "is required for Basic authentication"))?;
            Ok(WebAuth::Basic { username, password })
        }
        _ => Err(auth.err(
            "type",
            format!("{ty:?} is not supported (supported: None, Basic); MSI, ServicePrincipal, UserAssignedManagedIdentity and ClientCertificate need Azure identities Sluice does not have"),
        )),
    }
}

/// Header names whose values are credentials.
fn secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || ["key", "token", "secret", "password", "signature", "auth"]
            .iter()
            .any(|w| n.contains(w))
}

/// Query parameters whose values are credentials (SAS signatures, function keys, tokens).
fn secret_query(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "sig"
        || n == "code"
        || ["key", "token", "secret", "password", "signature"]
            .iter()
            .any(|w| n.contains(w))
}

/// Registers the credentials a request carries in its URL (a password, a SAS signature, a
/// key) and headers (`Authorization`, `x-api-key`, ...) with the run's redactor, so they never
/// show in errors or output.
fn register_secrets(url: &str, headers: &[(String, String)], scope: &Scope) {
    let redactor = scope.secrets.redactor();
    for (name, value) in headers {
        if secret_header(name) && !value.is_empty() {
            redactor.register(value);
            // `Bearer xyz`: the token alone too, in case it is echoed.
            if let Some((_, token)) = value.split_once(' ') {
                redactor.register(token.trim());
            }
        }
    }
    if let Ok(parsed) = url::Url::parse(url) {
        if let Some(p) = parsed.password() {
            redactor.register(p);
        }
        for (name, value) in parsed.query_pairs() {
            if secret_query(&name) && !value.is_empty() {
                redactor.register(&value);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(tp: Value) -> Result<WebPlan, String> {
        let activity = json!({"name": "W", "type": "WebActivity", "typeProperties": tp});
        resolve(
            &activity,
            "pipeline 'P' activity 'W'",
            &Scope::default(),
            &mut Vec::new(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_documented_properties() {
        let p = plan(
            json!({"url": "https://example.com/x?sig=abc", "method": "post",
            "headers": [{"name": "X-A", "value": "1"}], "body": {"k": [1]},
            "httpRequestTimeout": "00:00:30", "turnOffAsync": true,
            "authentication": {"type": "Basic", "username": "u",
                "password": {"type": "SecureString", "value": "pw"}}}),
        )
        .unwrap();
        assert_eq!(p.method, WebMethod::Post);
        assert_eq!(p.headers, vec![("X-A".to_string(), "1".to_string())]);
        assert_eq!(p.body.as_deref(), Some(r#"{"k":[1]}"#));
        assert!(p.body_is_json && p.turn_off_async && !p.disable_cert_validation);
        assert_eq!(p.timeout, Duration::from_secs(30));
        assert!(matches!(p.auth, WebAuth::Basic { ref username, .. } if username == "u"));
    }

    #[test]
    fn bad_properties_are_named() {
        let e = plan(json!({"url": "https://e.com", "method": "POST"})).unwrap_err();
        assert!(e.contains("'body'") && e.contains("POST"), "{e}");
        let e = plan(json!({"url": "ftp://e.com", "method": "GET"})).unwrap_err();
        assert!(e.contains("'url'") && e.contains("ftp"), "{e}");
        let e = plan(json!({"url": "https://e.com", "method": "PATCH"})).unwrap_err();
        assert!(e.contains("'method'"), "{e}");
        let e = plan(json!({"url": "https://e.com", "method": "GET",
            "httpRequestTimeout": "00:11:00"}))
        .unwrap_err();
        assert!(
            e.contains("httpRequestTimeout") && e.contains("at most"),
            "{e}"
        );
        let e = plan(json!({"url": "https://e.com", "method": "GET",
            "authentication": {"type": "MSI", "resource": "r"}}))
        .unwrap_err();
        assert!(
            e.contains("authentication") && e.contains("'type'") && e.contains("not supported"),
            "{e}"
        );
    }
}
