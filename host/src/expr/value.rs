//! How expression values behave: numbers, ADF's string conversion, equality and type names.

use serde_json::{Number, Value};

/// The largest string an expression may make, in bytes. ADF caps an activity's payload at
/// 896 KB; this is far above it, and keeps a string doubled in a loop (or `replace` or `join`
/// multiplying one) from growing until an allocation aborts the process.
pub const MAX_STRING_BYTES: usize = 16 << 20;

/// The most items an array made by an expression may hold (ADF's ForEach takes 100,000).
pub const MAX_ARRAY_ITEMS: usize = 1_000_000;

/// Refuses a string of `bytes` bytes before it is made, if it would pass [`MAX_STRING_BYTES`].
pub(crate) fn check_string_size(bytes: usize) -> Result<(), String> {
    if bytes > MAX_STRING_BYTES {
        return Err(format!(
            "the result would be a string of {bytes} bytes, more than an expression may make ({MAX_STRING_BYTES} bytes)"
        ));
    }
    Ok(())
}

/// `parts` joined with `delimiter`, refused before it is allocated when it would pass
/// [`MAX_STRING_BYTES`] (`concat`, `join`).
pub(crate) fn join_bounded(parts: &[String], delimiter: &str) -> Result<String, String> {
    let delimiters = delimiter
        .len()
        .saturating_mul(parts.len().saturating_sub(1));
    let size = parts
        .iter()
        .map(String::len)
        .fold(delimiters, usize::saturating_add);
    check_string_size(size)?;
    Ok(parts.join(delimiter))
}

/// Refuses a function's result that passes the size limits on strings and arrays.
pub(crate) fn check_result_size(v: &Value) -> Result<(), String> {
    match v {
        Value::String(s) => check_string_size(s.len()),
        Value::Array(items) if items.len() > MAX_ARRAY_ITEMS => Err(format!(
            "the result would be an array of {} items, more than an expression may make ({MAX_ARRAY_ITEMS} items)",
            items.len()
        )),
        _ => Ok(()),
    }
}

/// A number as the expression language sees it: integers stay integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub(crate) fn of(v: &Value) -> Option<Num> {
        match v {
            Value::Number(n) => Some(Num::from_number(n)),
            _ => None,
        }
    }

    pub(crate) fn from_number(n: &Number) -> Num {
        match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// The JSON value; `None` for NaN or infinity, which JSON cannot hold.
    pub(crate) fn to_value(self) -> Option<Value> {
        match self {
            Num::Int(i) => Some(Value::from(i)),
            Num::Float(f) => Number::from_f64(f).map(Value::Number),
        }
    }
}

/// The name ADF uses for a value's type in messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Value::Number(_) => "Float",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "Object",
    }
}

/// A short rendering of a value for messages.
pub(crate) fn brief(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    };
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// ADF's conversion of a value to text, as `string()` and `@{...}` interpolation do it:
/// strings as they are, null as empty, booleans as `True`/`False`, numbers as .NET prints them,
/// arrays and objects as compact JSON.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match Num::from_number(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => format_float(f),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Formats a double the way .NET's `double.ToString()` does: the shortest text that reads back
/// to the same value, with exponent notation from 1E+15 up and below 1E-05.
pub(crate) fn format_float(f: f64) -> String {
    if f == 0.0 {
        return "0".into();
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "∞".into()
        } else {
            "-∞".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..15).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}E{sign}{:02}", mantissa.to_uppercase(), exp.abs())
    } else {
        format!("{f}")
    }
}

/// ADF's `equals`: numbers by value (1 equals 1.0), booleans equal to 1 and 0, strings exactly,
/// arrays and objects item by item.
pub(crate) fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (Num::from_number(x), Num::from_number(y)) {
            (Num::Int(i), Num::Int(j)) => i == j,
            (x, y) => x.as_f64() == y.as_f64(),
        },
        (Value::Bool(x), Value::Number(n)) | (Value::Number(n), Value::Bool(x)) => {
            Num::from_number(n).as_f64() == if *x { 1.0 } else { 0.0 }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| loose_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_eq(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_dotnet() {
        assert_eq!(format_float(3.0), "3");
        assert_eq!(format_float(2.5), "2.5");
        assert_eq!(format_float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_float(1e15), "1E+15");
        assert_eq!(format_float(123456789012345.0), "123456789012345");
        assert_eq!(format_float(0.0001), "0.0001");
        assert_eq!(format_float(0.00001), "1E-05");
        assert_eq!(format_float(-1.5e-7), "-1.5E-07");
    }

    #[test]
    fn text_and_equality() {
        assert_eq!(to_text(&json!(true)), "True");
        assert_eq!(to_text(&json!(null)), "");
        assert_eq!(to_text(&json!({"a": [1, "x"]})), r#"{"a":[1,"x"]}"#);
        assert!(loose_eq(&json!(1), &json!(1.0)));
        assert!(loose_eq(&json!(true), &json!(1)));
        assert!(!loose_eq(&json!("a"), &json!("A")));
        assert!(loose_eq(&json!({"a": [1]}), &json!({"a": [1.0]})));
    }
}
