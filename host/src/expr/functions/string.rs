//! String functions. Positions and lengths count characters.

use serde_json::Value;

use super::{d, Args, Def, FnError, MANY};
use crate::expr::value::{check_string_size, join_bounded, to_text};
use crate::expr::Context;

pub(crate) const DEFS: &[Def] = &[
    d("concat", 1, MANY, concat),
    d("endsWith", 2, 2, ends_with),
    d("guid", 0, 1, guid),
    d("indexOf", 2, 2, index_of),
    d("lastIndexOf", 2, 2, last_index_of),
    d("nthIndexOf", 3, 3, nth_index_of),
    d("replace", 3, 3, replace),
    d("slice", 2, 3, slice),
    d("split", 2, 2, split),
    d("startsWith", 2, 2, starts_with),
    d("substring", 2, 3, substring),
    d("toLower", 1, 1, to_lower),
    d("toUpper", 1, 1, to_upper),
    d("trim", 1, 1, trim),
];

type R = Result<Value, FnError>;

/// Strings are joined (other scalars as `string()` prints them, null as nothing); when every
/// argument is an array, the arrays are joined.
fn concat(a: &mut Args, _: &dyn Context) -> R {
    if a.all().iter().all(Value::is_array) {
        let mut out = Vec::new();
        for v in a.take_all() {
            if let Value::Array(items) = v {
                out.extend(items);
            }
        }
        return Ok(Value::Array(out));
    }
    let parts: Vec<String> = a.all().iter().map(to_text).collect();
    Ok(Value::String(
        join_bounded(&parts, "").map_err(|m| a.fail(m))?,
    ))
}

/// Lower-cases one character the simple way, so positions stay character positions.
fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn folded(s: &str) -> Vec<char> {
    s.chars().map(fold).collect()
}

/// Every character position where `needle` starts in `hay`.
fn positions(hay: &[char], needle: &[char]) -> Vec<usize> {
    if needle.is_empty() {
        return (0..=hay.len()).collect();
    }
    if needle.len() > hay.len() {
        return vec![];
    }
    (0..=hay.len() - needle.len())
        .filter(|&i| hay[i..i + needle.len()] == *needle)
        .collect()
}

fn ends_with(a: &mut Args, _: &dyn Context) -> R {
    let (t, s) = (folded(a.str(0)?), folded(a.str(1)?));
    Ok(Value::Bool(t.ends_with(&s)))
}

fn starts_with(a: &mut Args, _: &dyn Context) -> R {
    let (t, s) = (folded(a.str(0)?), folded(a.str(1)?));
    Ok(Value::Bool(t.starts_with(&s)))
}

fn guid(a: &mut Args, _: &dyn Context) -> R {
    let u = uuid::Uuid::new_v4();
    let fmt = a.opt_str(0)?.unwrap_or("D");
    let s = match fmt {
        "D" | "d" | "" => u.hyphenated().to_string(),
        "N" | "n" => u.simple().to_string(),
        "B" | "b" => format!("{{{}}}", u.hyphenated()),
        "P" | "p" => format!("({})", u.hyphenated()),
        "X" | "x" => {
            let b = u.as_bytes();
            let hex = |r: &[u8]| r.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let tail: Vec<String> = b[8..].iter().map(|x| format!("0x{x:02x}")).collect();
            format!(
                "{{0x{},0x{},0x{},{{{}}}}}",
                hex(&b[0..4]),
                hex(&b[4..6]),
                hex(&b[6..8]),
                tail.join(",")
            )
        }
        other => {
            return Err(a.fail_at(
                0,
                format!("'{other}' is not a GUID format; use N, D, B, P or X"),
            ))
        }
    };
    Ok(Value::String(s))
}

fn index_of(a: &mut Args, _: &dyn Context) -> R {
    let (t, s) = (folded(a.str(0)?), folded(a.str(1)?));
    Ok(Value::from(
        positions(&t, &s).first().map_or(-1, |&i| i as i64),
    ))
}

fn last_index_of(a: &mut Args, _: &dyn Context) -> R {
    let (t, s) = (folded(a.str(0)?), folded(a.str(1)?));
    if s.is_empty() {
        return Ok(Value::from(t.len().saturating_sub(1) as i64));
    }
    Ok(Value::from(
        positions(&t, &s).last().map_or(-1, |&i| i as i64),
    ))
}

/// The position of the n-th occurrence (from the end when n is negative), or -1.
fn nth_index_of(a: &mut Args, _: &dyn Context) -> R {
    let (t, s) = (folded(a.str(0)?), folded(a.str(1)?));
    let n = a.int(2)?;
    if n == 0 {
        return Err(a.fail_at(2, "the occurrence must not be 0"));
    }
    let all = positions(&t, &s);
    let found = if n > 0 {
        all.get(n as usize - 1)
    } else {
        let k = n.unsigned_abs() as usize;
        all.len().checked_sub(k).and_then(|i| all.get(i))
    };
    Ok(Value::from(found.map_or(-1, |&i| i as i64)))
}

fn replace(a: &mut Args, _: &dyn Context) -> R {
    let (t, old, new) = (a.str(0)?, a.str(1)?, a.str(2)?);
    if old.is_empty() {
        return Err(a.fail_at(1, "the text to replace must not be empty"));
    }
    let grows = new.len().saturating_sub(old.len());
    if grows > 0 {
        let n = t.matches(old).count();
        check_string_size(t.len().saturating_add(n.saturating_mul(grows)))
            .map_err(|m| a.fail(m))?;
    }
    Ok(Value::String(t.replace(old, new)))
}

/// Characters from `start` up to `end` (exclusive); negative positions count from the end.
fn slice(a: &mut Args, _: &dyn Context) -> R {
    let chars: Vec<char> = a.str(0)?.chars().collect();
    let len = chars.len() as i64;
    let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    let start = clamp(a.int(1)?);
    let end = if a.get(2).is_null() {
        len
    } else {
        clamp(a.int(2)?)
    };
    if end <= start {
        return Ok(Value::String(String::new()));
    }
    Ok(Value::String(
        chars[start as usize..end as usize].iter().collect(),
    ))
}

fn split(a: &mut Args, _: &dyn Context) -> R {
    let (t, d) = (a.str(0)?, a.str(1)?);
    if d.is_empty() {
        return Ok(Value::Array(vec![Value::from(t)]));
    }
    Ok(Value::Array(t.split(d).map(Value::from).collect()))
}

fn substring(a: &mut Args, _: &dyn Context) -> R {
    let chars: Vec<char> = a.str(0)?.chars().collect();
    let start = a.int(1)?;
    if start < 0 || start as usize > chars.len() {
        return Err(a.fail_at(
            1,
            format!(
                "the start index {start} must be between 0 and the length of the text ({})",
                chars.len()
            ),
        ));
    }
    let start = start as usize;
    let len = if a.get(2).is_null() {
        chars.len() - start
    } else {
        let l = a.int(2)?;
        if l < 0 || start as u64 + l as u64 > chars.len() as u64 {
            return Err(a.fail_at(
                2,
                format!(
                    "the index {start} and length {l} must refer to a location within the text, which has {} characters",
                    chars.len()
                ),
            ));
        }
        l as usize
    };
    Ok(Value::String(chars[start..start + len].iter().collect()))
}

fn to_lower(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(a.str(0)?.to_lowercase()))
}

fn to_upper(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(a.str(0)?.to_uppercase()))
}

fn trim(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::String(a.str(0)?.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ev, try_ev};
    use serde_json::json;

    #[test]
    fn string_functions() {
        assert_eq!(ev("concat('a', 1, true, null, 2.5)"), json!("a1True2.5"));
        assert_eq!(
            ev("concat(createArray(1), createArray(2, 3))"),
            json!([1, 2, 3])
        );
        assert_eq!(ev("indexOf('Hello World', 'WORLD')"), json!(6));
        assert_eq!(ev("indexOf('héllo', 'l')"), json!(2));
        assert_eq!(ev("indexOf('abc', 'z')"), json!(-1));
        assert_eq!(ev("lastIndexOf('abcabc', 'B')"), json!(4));
        assert_eq!(ev("nthIndexOf('123456789123465789', '1', 2)"), json!(9));
        assert_eq!(ev("nthIndexOf('123456789123465789', '1', -1)"), json!(9));
        assert_eq!(ev("nthIndexOf('abc', 'z', 1)"), json!(-1));
        assert_eq!(ev("slice('Hello World', 2, 5)"), json!("llo"));
        assert_eq!(ev("slice('Hello World', -5)"), json!("World"));
        assert_eq!(ev("substring('hello', 1)"), json!("ello"));
        assert_eq!(ev("substring('hello', 5, 0)"), json!(""));
        assert_eq!(ev("split('a,,b', ',')"), json!(["a", "", "b"]));
        assert_eq!(ev("split('', ',')"), json!([""]));
        assert_eq!(ev("replace('aXbX', 'X', '')"), json!("ab"));
        assert_eq!(ev("startsWith('Hello', 'hE')"), json!(true));
        assert_eq!(ev("length(guid())"), json!(36));
        assert_eq!(ev("length(guid('N'))"), json!(32));
        assert_eq!(ev("length(guid('X'))"), json!(68));
    }

    #[test]
    fn string_errors_point_at_arguments() {
        let e = try_ev("substring('hello', 2, 10)").unwrap_err();
        assert!(e.contains("position 23"), "{e}");
        assert!(e.contains("substring(): the index 2 and length 10"), "{e}");
        let e = try_ev("toUpper(5)").unwrap_err();
        assert!(
            e.contains("the first argument must be a string, but it is an Integer 5"),
            "{e}"
        );
    }
}
