//! The Web activity's request: sends a checked [`WebPlan`] with reqwest (rustls), follows
//! ADF's asynchronous pattern (a `202 Accepted` with a `Location` header is polled with GET
//! until it answers otherwise, unless `turnOffAsync`), caps the response at ADF's 4 MB and
//! shapes the output as ADF does: a JSON object response is the output itself, anything else
//! is under `Response`, and the response headers are under `ADFWebActivityResponseHeaders`.
//!
//! Followed: "Web activity in Azure Data Factory and Azure Synapse Analytics"
//! (learn.microsoft.com, data-factory/control-flow-web-activity), "Asynchronous
//! Request-Reply pattern" linked from it for the 202 + `Location` polling.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::{Map, Value};

use crate::model::web::{WebAuth, WebMethod, WebPlan};

/// ADF's largest response payload.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How long to wait between polls of a 202's `Location` when the server gives no
/// `Retry-After`, and the most a `Retry-After` may make it wait.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// How much of an error response's body a failure message quotes.
const ERROR_BODY_CHARS: usize = 2000;

/// Why a Web activity failed. Messages name the endpoint; the caller masks them with the
/// run's redactor (a URL may carry a key or a signature).
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    #[error("error calling the endpoint '{url}': {reason}")]
    Request { url: String, reason: String },
    #[error("error calling the endpoint '{url}': no response within the httpRequestTimeout of {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error(
        "error calling the endpoint '{url}': response status code: {status}. More details: {body}"
    )]
    Status {
        url: String,
        status: String,
        body: String,
    },
    #[error("error calling the endpoint '{url}': the response is larger than ADF's 4 MB limit for a Web activity's output")]
    TooLarge { url: String },
    #[error("error calling the endpoint '{url}': {reason}")]
    Async { url: String, reason: String },
}

/// One answer: status, headers and the whole body (at most [`MAX_RESPONSE_BYTES`]).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Sends the request (and polls a 202 when asked) and returns ADF's output.
pub async fn run_web(plan: &WebPlan) -> Result<Value, WebError> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(plan.disable_cert_validation)
        .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WebError::Client(chain(&e)))?;
    let headers = request_headers(plan)?;
    let method = match plan.method {
        WebMethod::Get => reqwest::Method::GET,
        WebMethod::Post => reqwest::Method::POST,
        WebMethod::Put => reqwest::Method::PUT,
        WebMethod::Delete => reqwest::Method::DELETE,
    };
    let mut request = client.request(method, &plan.url).headers(headers.clone());
    if let Some(body) = &plan.body {
        request = request.body(body.clone());
    }
    let mut url = plan.url.clone();
    let mut answer = send(request, plan, &url).await?;
    let started = Instant::now();
    let mut polls = 0u64;
    while answer.status == StatusCode::ACCEPTED && !plan.turn_off_async {
        let Some(location) = answer.headers.get(LOCATION) else {
            break;
        };
        let next = location
            .to_str()
            .ok()
            .and_then(|l| url::Url::parse(&url).ok()?.join(l).ok())
            .ok_or_else(|| WebError::Async {
                url: url.clone(),
                reason: "the 202 response's Location header is not a URL".into(),
            })?;
        tokio::time::sleep(poll_interval(&answer.headers)).await;
        polls += 1;
        url = next.to_string();
        tracing::info!(
            polls,
            seconds = started.elapsed().as_secs(),
            "web activity: polling the 202 Location"
        );
        // The activity's headers and credentials go only to the origin they were written for;
        // a status URL elsewhere is polled without them.
        let same_origin = url::Url::parse(&plan.url).is_ok_and(|u| u.origin() == next.origin());
        let poll = if same_origin {
            client.get(next).headers(headers.clone())
        } else {
            client.get(next)
        };
        answer = send(poll, plan, &url).await?;
    }
    if !answer.status.is_success() {
        let text = String::from_utf8_lossy(&answer.body);
        let body: String = text.chars().take(ERROR_BODY_CHARS).collect();
        return Err(WebError::Status {
            url,
            // `500 Internal Server Error`: the code and its reason phrase.
            status: format!("'{}'", answer.status),
            body: if body.is_empty() {
                "(no response body)".into()
            } else {
                body
            },
        });
    }
    Ok(output(&answer))
}

/// The request's headers: the activity's, Basic authentication, and `application/json` for a
/// JSON body unless the activity set a `Content-Type`.
fn request_headers(plan: &WebPlan) -> Result<HeaderMap, WebError> {
    let bad = |reason: String| WebError::Request {
        url: plan.url.clone(),
        reason,
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &plan.headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad(format!("header {name:?} is not a valid header name")))?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            bad(format!(
                "the value of header {name:?} is not valid in a header"
            ))
        })?;
        headers.append(n, v);
    }
    if plan.body_is_json && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let WebAuth::Basic { username, password } = &plan.auth {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()));
        let mut v = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| bad("the Basic credentials are not valid in a header".into()))?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    Ok(headers)
}

/// Sends one request and reads its whole answer within the plan's `httpRequestTimeout`.
async fn send(
    request: reqwest::RequestBuilder,
    plan: &WebPlan,
    url: &str,
) -> Result<Answer, WebError> {
    let read = async {
        let mut response = request.send().await.map_err(|e| WebError::Request {
            url: url.to_string(),
            reason: chain(&e.without_url()),
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return Err(WebError::TooLarge {
                url: url.to_string(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| WebError::Request {
            url: url.to_string(),
            reason: format!("reading the response: {}", chain(&e.without_url())),
        })? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(WebError::TooLarge {
                    url: url.to_string(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(plan.timeout, read)
        .await
        .map_err(|_| WebError::Timeout {
            url: url.to_string(),
            seconds: plan.timeout.as_secs(),
        })?
}

/// A 202's `Retry-After` in seconds (capped), or the default interval.
fn poll_interval(headers: &HeaderMap) -> Duration {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_POLL_INTERVAL, |s| {
            Duration::from_secs(s).min(MAX_POLL_INTERVAL)
        })
}

/// ADF's output: a JSON object body with `ADFWebActivityResponseHeaders` added; any other body
/// (an array, a string, text, nothing) as text under `Response`.
fn output(answer: &Answer) -> Value {
    let mut out = match serde_json::from_slice::<Value>(&answer.body) {
        Ok(Value::Object(map)) => map,
        _ => {
            let mut map = Map::new();
            map.insert(
                "Response".into(),
                Value::String(String::from_utf8_lossy(&answer.body).into_owned()),
            );
            map
        }
    };
    let mut headers = Map::new();
    for name in answer.headers.keys() {
        let values: Vec<&str> = answer
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(title_case(name.as_str()), Value::String(values.join(", ")));
    }
    out.insert(
        "ADFWebActivityResponseHeaders".into(),
        Value::Object(headers),
    );
    Value::Object(out)
}

/// `content-type` as `Content-Type`, as ADF shows header names.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// An error with its causes (reqwest's own message is often just "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(body: &str) -> Answer {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.append("x-many", HeaderValue::from_static("a"));
        headers.append("x-many", HeaderValue::from_static("b"));
        Answer {
            status: StatusCode::OK,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn objects_are_the_output_and_other_bodies_go_under_response() {
        let out = output(&answer(r#"{"a": 1}"#));
        assert_eq!(out["a"], 1);
        assert_eq!(
            out["ADFWebActivityResponseHeaders"],
            json!({"Content-Type": "application/json", "X-Many": "a, b"})
        );
        assert_eq!(output(&answer("[1,2]"))["Response"], "[1,2]");
        assert_eq!(output(&answer(""))["Response"], "");
        assert_eq!(output(&answer("plain"))["Response"], "plain");
    }
}
