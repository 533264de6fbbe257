//! Request bodies: read under a size cap (413 past it), nesting depth checked by a byte scan
//! before serde builds anything (a deeply nested body cannot exhaust the stack or memory), then
//! parsed with the line and column of the first error in the answer.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use serde_json::Value;

use super::errors::ApiError;

/// The deepest JSON nesting a body may have.
pub const MAX_DEPTH: usize = 64;

/// Reads the whole body, refusing more than `limit` bytes (by `Content-Length` when given,
/// else while reading).
pub async fn read_capped(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // A length-limit error is the only kind `to_bytes` reports for a well-behaved
        // client; a connection that breaks mid-body cannot read the answer anyway.
        tracing::debug!(error = %e, "request body not read");
        ApiError::TooLarge { limit }
    })
}

/// Parses a JSON body; an empty body is `None`.
pub fn parse_json(bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    check_depth(bytes)?;
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::MalformedJson {
            reason: strip_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        })
}

/// A JSON object body (`{}` when empty).
pub fn parse_object(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    match parse_json(bytes)? {
        None => Ok(serde_json::Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(ApiError::bad_request(
            "the request body must be a JSON object",
        )),
    }
}

/// Counts brackets outside strings; fails past [`MAX_DEPTH`]. Malformed input is left to the
/// parser (which names the line and column).
fn check_depth(bytes: &[u8]) -> Result<(), ApiError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ApiError::TooDeep(MAX_DEPTH));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// serde_json appends " at line L column C"; the error carries both separately.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings_only() {
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(matches!(
            parse_json(deep.as_bytes()),
            Err(ApiError::TooDeep(64))
        ));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse_json(ok.as_bytes()).is_ok());
        let in_string = format!("{{\"a\": \"{}\\\"\"}}", "[".repeat(100));
        assert!(parse_json(in_string.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        match parse_json(b"{\n  \"a\": 1,\n  oops\n}") {
            Err(ApiError::MalformedJson { line, column, .. }) => {
                assert_eq!(line, 3);
                assert!(column >= 3);
            }
            other => panic!("expected malformed JSON, got {other:?}"),
        }
        assert!(matches!(parse_json(b"  "), Ok(None)));
        assert!(parse_object(b"[1]").is_err());
    }
}
