//! Conversion functions: between the native types, and the base64 / data URI / URI component
//! encodings. "Binary" results are strings of `0`s and `1`s, as ADF's documentation shows them.

use serde_json::{Map, Value};

use super::{d, num_value, Args, Def, FnError};
use crate::expr::value::{to_text, Num};
use crate::expr::Context;

pub(crate) const DEFS: &[Def] = &[
    d("array", 1, 1, array),
    d("base64", 1, 1, base64),
    d("base64ToBinary", 1, 1, base64_to_binary),
    d("base64ToString", 1, 1, base64_to_string),
    d("binary", 1, 1, binary),
    d("bool", 1, 1, bool_),
    d("dataUri", 1, 1, data_uri),
    d("dataUriToBinary", 1, 1, data_uri_to_binary),
    d("dataUriToString", 1, 1, data_uri_to_string),
    d("decimal", 1, 1, decimal),
    d("decodeBase64", 1, 1, base64_to_string),
    d("decodeDataUri", 1, 1, data_uri_to_binary),
    d("decodeUriComponent", 1, 1, uri_component_to_string),
    d("encodeUriComponent", 1, 1, uri_component),
    d("float", 1, 1, float),
    d("int", 1, 1, int),
    d("isFloat", 1, 1, is_float),
    d("isInt", 1, 1, is_int),
    d("json", 1, 1, json),
    d("string", 1, 1, string),
    d("uriComponent", 1, 1, uri_component),
    d("uriComponentToBinary", 1, 1, uri_component_to_binary),
    d("uriComponentToString", 1, 1, uri_component_to_string),
    d("xml", 1, 1, unsupported),
    d("xpath", 2, 2, unsupported),
];

type R = Result<Value, FnError>;

fn array(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Array(vec![a.take(0)]))
}

/// The text of a string argument; other scalars as `string()` prints them.
fn text(a: &Args, i: usize) -> Result<String, FnError> {
    match a.get(i) {
        Value::String(s) => Ok(s.clone()),
        Value::Array(_) | Value::Object(_) => Err(a.type_error(i, "a string")),
        other => Ok(to_text(other)),
    }
}

fn base64(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(b64_encode(text(a, 0)?.as_bytes())))
}

fn decode_b64_arg(a: &Args) -> Result<Vec<u8>, FnError> {
    let s = a.str(0)?;
    b64_decode(s).ok_or_else(|| a.fail_at(0, format!("'{s}' is not valid base64")))
}

fn utf8(a: &Args, bytes: Vec<u8>) -> R {
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| a.fail("the decoded bytes are not UTF-8 text"))
}

fn base64_to_binary(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(bits(&decode_b64_arg(a)?)))
}

fn base64_to_string(a: &mut Args, _: &dyn Context) -> R {
    let bytes = decode_b64_arg(a)?;
    utf8(a, bytes)
}

fn binary(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(bits(text(a, 0)?.as_bytes())))
}

fn bool_(a: &mut Args, _: &dyn Context) -> R {
    match a.get(0) {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::Number(n) => Ok(Value::Bool(Num::from_number(n).as_f64() != 0.0)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(a.fail_at(
                0,
                format!("'{s}' is not a valid boolean: use 'true' or 'false'"),
            )),
        },
        _ => Err(a.type_error(0, "a boolean, a number or a string")),
    }
}

fn data_uri(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(format!(
        "data:text/plain;charset=utf-8;base64,{}",
        b64_encode(text(a, 0)?.as_bytes())
    )))
}

fn decode_data_uri(a: &Args) -> Result<Vec<u8>, FnError> {
    let s = a.str(0)?;
    let bad = || {
        a.fail_at(
            0,
            format!("'{s}' is not a data URI (data:[type][;base64],data)"),
        )
    };
    let rest = s.strip_prefix("data:").ok_or_else(bad)?;
    let (header, data) = rest.split_once(',').ok_or_else(bad)?;
    if header
        .split(';')
        .any(|p| p.trim().eq_ignore_ascii_case("base64"))
    {
        b64_decode(data).ok_or_else(bad)
    } else {
        Ok(percent_decode(data))
    }
}

fn data_uri_to_binary(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(bits(&decode_data_uri(a)?)))
}

fn data_uri_to_string(a: &mut Args, _: &dyn Context) -> R {
    let bytes = decode_data_uri(a)?;
    utf8(a, bytes)
}

fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim().replace(',', "");
    if t.is_empty() || t.eq_ignore_ascii_case("nan") || t.to_ascii_lowercase().contains("inf") {
        return None;
    }
    t.parse::<f64>().ok()
}

fn float(a: &mut Args, _: &dyn Context) -> R {
    let f = match a.get(0) {
        Value::Number(n) => Num::from_number(n).as_f64(),
        Value::String(s) => parse_float(s)
            .ok_or_else(|| a.fail_at(0, format!("'{s}' is not a valid floating point number")))?,
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => return Err(a.type_error(0, "a number or a string")),
    };
    num_value(a, Num::Float(f))
}

/// Like `float`, but keeps a whole number an integer.
fn decimal(a: &mut Args, ctx: &dyn Context) -> R {
    if let Value::String(s) = a.get(0) {
        if let Ok(i) = s.trim().parse::<i64>() {
            return Ok(Value::from(i));
        }
    }
    if let Some(Num::Int(i)) = Num::of(a.get(0)) {
        return Ok(Value::from(i));
    }
    float(a, ctx)
}

fn int(a: &mut Args, _: &dyn Context) -> R {
    match a.get(0) {
        Value::Number(n) => match Num::from_number(n) {
            Num::Int(i) => Ok(Value::from(i)),
            Num::Float(f) => {
                let r = f.round_ties_even();
                if r.abs() < 9.2e18 {
                    Ok(Value::from(r as i64))
                } else {
                    Err(a.fail_at(0, format!("{f} is too large for an integer")))
                }
            }
        },
        Value::String(s) => s
            .trim()
            .trim_start_matches('+')
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| a.fail_at(0, format!("'{s}' is not a valid integer"))),
        Value::Bool(b) => Ok(Value::from(i64::from(*b))),
        _ => Err(a.type_error(0, "a number or a string")),
    }
}

fn is_float(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(match a.get(0) {
        Value::Number(_) => true,
        Value::String(s) => parse_float(s).is_some(),
        _ => false,
    }))
}

fn is_int(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(match a.get(0) {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::String(s) => s.trim().trim_start_matches('+').parse::<i64>().is_ok(),
        _ => false,
    }))
}

fn json(a: &mut Args, _: &dyn Context) -> R {
    match a.take(0) {
        Value::String(s) => serde_json::from_str(&s)
            .map_err(|e| a.fail_at(0, format!("the text is not valid JSON ({e})"))),
        Value::Null => Ok(Value::Object(Map::new())),
        other => Ok(other),
    }
}

fn string(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(to_text(a.get(0))))
}

fn uri_component(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(percent_encode(&text(a, 0)?)))
}

fn uri_component_to_binary(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(bits(&percent_decode(a.str(0)?))))
}

fn uri_component_to_string(a: &mut Args, _: &dyn Context) -> R {
    let bytes = percent_decode(a.str(0)?);
    utf8(a, bytes)
}

fn unsupported(a: &mut Args, _: &dyn Context) -> R {
    Err(a.fail("XML functions are not supported by sluice"))
}

/// Each byte as eight binary digits.
fn bits(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:08b}")).collect()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut n = 0;
    let mut padding = false;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padding = true;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if padding {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    Some(out)
}

/// .NET's `Uri.EscapeDataString`: everything but `A-Z a-z 0-9 - _ . ~` as `%XX`.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; anything malformed stays as written.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ev, try_ev};
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_round_trips() {
        for s in ["", "h", "he", "hel", "hell", "hello", "héllo wörld"] {
            let e = b64_encode(s.as_bytes());
            assert_eq!(b64_decode(&e).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(b64_decode("aGVsbG8").unwrap(), b"hello");
        assert!(b64_decode("a*").is_none());
    }

    #[test]
    fn conversions() {
        assert_eq!(ev("int('-42')"), json!(-42));
        assert_eq!(ev("int(2.5)"), json!(2));
        assert_eq!(ev("int(true)"), json!(1));
        assert!(try_ev("int('1.5')")
            .unwrap_err()
            .contains("'1.5' is not a valid integer"));
        assert_eq!(ev("float('1,000.5')"), json!(1000.5));
        assert_eq!(ev("string(float('10'))"), json!("10"));
        assert_eq!(ev("decimal('12')"), json!(12));
        assert_eq!(ev("bool('TRUE')"), json!(true));
        assert!(try_ev("bool('yes')").is_err());
        assert_eq!(
            ev("string(json('{\"a\": [1, 2]}'))"),
            json!("{\"a\":[1,2]}")
        );
        assert_eq!(ev("string(false)"), json!("False"));
        assert_eq!(ev("json('5')"), json!(5));
        assert!(try_ev("json('{')").unwrap_err().contains("not valid JSON"));
        assert_eq!(ev("uriComponent('a b&c/é')"), json!("a%20b%26c%2F%C3%A9"));
        assert_eq!(
            ev("uriComponentToString('a%20b%26c%2F%C3%A9%zz%')"),
            json!("a b&c/é%zz%")
        );
        assert_eq!(ev("dataUriToString('data:,a%20b')"), json!("a b"));
        assert_eq!(ev("isInt('12')"), json!(true));
        assert_eq!(ev("isFloat('1.5e3')"), json!(true));
        assert_eq!(ev("isFloat('abc')"), json!(false));
        assert!(try_ev("xml('<a/>')").unwrap_err().contains("not supported"));
    }
}
