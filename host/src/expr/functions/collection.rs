//! Collection functions: strings, arrays and (for some) objects.

use serde_json::{Map, Value};

use super::{d, Args, Def, FnError, MANY};
use crate::expr::eval::lookup;
use crate::expr::value::{join_bounded, loose_eq, to_text};
use crate::expr::Context;

pub(crate) const DEFS: &[Def] = &[
    d("contains", 2, 2, contains),
    d("createArray", 0, MANY, create_array),
    d("empty", 1, 1, empty),
    d("first", 1, 1, first),
    d("intersection", 1, MANY, intersection),
    d("join", 2, 2, join),
    d("last", 1, 1, last),
    d("length", 1, 1, length),
    d("reverse", 1, 1, reverse),
    d("skip", 2, 2, skip),
    d("take", 2, 2, take),
    d("union", 1, MANY, union),
];

type R = Result<Value, FnError>;

const COLLECTION: &str = "a string, an array or an object";

/// A substring of a string (case-sensitive), an item of an array, a key of an object.
fn contains(a: &mut Args, _: &dyn Context) -> R {
    let found = match a.get(0) {
        Value::String(s) => s.contains(a.str(1)?),
        Value::Array(items) => items.iter().any(|x| loose_eq(x, a.get(1))),
        Value::Object(m) => lookup(m, a.str(1)?).is_some(),
        Value::Null => false,
        _ => return Err(a.type_error(0, COLLECTION)),
    };
    Ok(Value::Bool(found))
}

fn create_array(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Array(a.take_all()))
}

fn empty(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(match a.get(0) {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(v) => v.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => return Err(a.type_error(0, COLLECTION)),
    }))
}

fn first(a: &mut Args, _: &dyn Context) -> R {
    match a.get(0) {
        Value::String(s) => Ok(s
            .chars()
            .next()
            .map_or(Value::Null, |c| c.to_string().into())),
        Value::Array(v) => Ok(v.first().cloned().unwrap_or(Value::Null)),
        Value::Null => Ok(Value::Null),
        _ => Err(a.type_error(0, "a string or an array")),
    }
}

fn last(a: &mut Args, _: &dyn Context) -> R {
    match a.get(0) {
        Value::String(s) => Ok(s
            .chars()
            .next_back()
            .map_or(Value::Null, |c| c.to_string().into())),
        Value::Array(v) => Ok(v.last().cloned().unwrap_or(Value::Null)),
        Value::Null => Ok(Value::Null),
        _ => Err(a.type_error(0, "a string or an array")),
    }
}

fn length(a: &mut Args, _: &dyn Context) -> R {
    let n = match a.get(0) {
        Value::String(s) => s.chars().count(),
        Value::Array(v) => v.len(),
        Value::Object(m) => m.len(),
        _ => return Err(a.type_error(0, COLLECTION)),
    };
    Ok(Value::from(n as u64))
}

fn reverse(a: &mut Args, _: &dyn Context) -> R {
    match a.get(0) {
        Value::String(s) => Ok(Value::String(s.chars().rev().collect())),
        Value::Array(v) => Ok(Value::Array(v.iter().rev().cloned().collect())),
        _ => Err(a.type_error(0, "a string or an array")),
    }
}

fn count(a: &Args) -> Result<usize, FnError> {
    Ok(a.int(1)?.max(0) as usize)
}

fn skip(a: &mut Args, _: &dyn Context) -> R {
    let n = count(a)?;
    match a.get(0) {
        Value::Array(v) => Ok(Value::Array(v.iter().skip(n).cloned().collect())),
        Value::String(s) => Ok(Value::String(s.chars().skip(n).collect())),
        _ => Err(a.type_error(0, "an array or a string")),
    }
}

fn take(a: &mut Args, _: &dyn Context) -> R {
    let n = count(a)?;
    match a.get(0) {
        Value::Array(v) => Ok(Value::Array(v.iter().take(n).cloned().collect())),
        Value::String(s) => Ok(Value::String(s.chars().take(n).collect())),
        _ => Err(a.type_error(0, "an array or a string")),
    }
}

fn join(a: &mut Args, _: &dyn Context) -> R {
    let items = a.array(0)?;
    let d = a.str(1)?;
    let parts: Vec<String> = items.iter().map(to_text).collect();
    Ok(Value::String(
        join_bounded(&parts, d).map_err(|m| a.fail(m))?,
    ))
}

/// Checks that every argument is an array, or every one an object.
fn all_arrays(a: &Args) -> Result<bool, FnError> {
    let arrays = a.get(0).is_array();
    for (i, v) in a.all().iter().enumerate() {
        match v {
            Value::Array(_) if arrays => {}
            Value::Object(_) if !arrays => {}
            _ => {
                return Err(a.type_error(
                    i,
                    if arrays {
                        "an array like the first"
                    } else {
                        "an object like the first"
                    },
                ))
            }
        }
    }
    Ok(arrays)
}

fn push_unique(out: &mut Vec<Value>, v: &Value) {
    if !out.iter().any(|x| loose_eq(x, v)) {
        out.push(v.clone());
    }
}

fn intersection(a: &mut Args, _: &dyn Context) -> R {
    let vals = a.all();
    if all_arrays(a)? {
        let mut out = Vec::new();
        if let Some(Value::Array(firsts)) = vals.first() {
            for v in firsts {
                let everywhere = vals[1..].iter().all(|c| {
                    c.as_array()
                        .is_some_and(|items| items.iter().any(|x| loose_eq(x, v)))
                });
                if everywhere {
                    push_unique(&mut out, v);
                }
            }
        }
        return Ok(Value::Array(out));
    }
    let mut out = Map::new();
    if let Some(Value::Object(firsts)) = vals.first() {
        for (k, v) in firsts {
            let everywhere = vals[1..].iter().all(|c| {
                c.as_object()
                    .and_then(|m| m.get(k))
                    .is_some_and(|x| loose_eq(x, v))
            });
            if everywhere {
                let last = vals
                    .iter()
                    .rev()
                    .find_map(|c| c.as_object().and_then(|m| m.get(k)))
                    .unwrap_or(v);
                out.insert(k.clone(), last.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn union(a: &mut Args, _: &dyn Context) -> R {
    if all_arrays(a)? {
        let mut out = Vec::new();
        for c in a.all() {
            for v in c.as_array().into_iter().flatten() {
                push_unique(&mut out, v);
            }
        }
        return Ok(Value::Array(out));
    }
    let mut out = Map::new();
    for c in a.all() {
        for (k, v) in c.as_object().into_iter().flatten() {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ev, try_ev};
    use serde_json::json;

    #[test]
    fn collection_functions() {
        assert_eq!(ev("contains(createArray('a', 1), 1.0)"), json!(true));
        assert_eq!(ev("contains(json('{\"K\": 1}'), 'k')"), json!(true));
        assert_eq!(ev("contains('Hello', 'h')"), json!(false));
        assert_eq!(ev("empty(null)"), json!(true));
        assert_eq!(ev("empty(json('{}'))"), json!(true));
        assert_eq!(ev("first(createArray())"), json!(null));
        assert_eq!(ev("last('')"), json!(null));
        assert_eq!(ev("length(json('{\"a\": 1, \"b\": 2}'))"), json!(2));
        assert_eq!(
            ev("join(createArray(1, 'a', true, null), '|')"),
            json!("1|a|True|")
        );
        assert_eq!(ev("skip('abcdef', 4)"), json!("ef"));
        assert_eq!(ev("take(createArray(1, 2), 5)"), json!([1, 2]));
        assert_eq!(ev("reverse(createArray(1, 2, 3))"), json!([3, 2, 1]));
        assert_eq!(
            ev("union(json('{\"a\": 1, \"b\": 2}'), json('{\"b\": 3}'))"),
            json!({"a": 1, "b": 3})
        );
        assert_eq!(
            ev("intersection(json('{\"a\": 1, \"b\": 2}'), json('{\"b\": 2, \"c\": 3}'))"),
            json!({"b": 2})
        );
        assert!(try_ev("union(createArray(1), json('{}'))")
            .unwrap_err()
            .contains("the second argument must be an array like the first"));
        assert!(try_ev("length(5)").is_err());
    }
}
