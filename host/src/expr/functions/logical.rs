//! Logical and comparison functions (`if`, `and`, `or` are in `eval.rs`: they do not evaluate
//! every argument).

use std::cmp::Ordering;

use serde_json::Value;

use super::{d, Args, Def, FnError};
use crate::expr::value::{loose_eq, Num};
use crate::expr::Context;

pub(crate) const DEFS: &[Def] = &[
    d("equals", 2, 2, equals),
    d("greater", 2, 2, greater),
    d("greaterOrEquals", 2, 2, greater_or_equals),
    d("less", 2, 2, less),
    d("lessOrEquals", 2, 2, less_or_equals),
    d("not", 1, 1, not),
];

type R = Result<Value, FnError>;

fn equals(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(loose_eq(a.get(0), a.get(1))))
}

/// Numbers compare by value, strings ordinally (case-sensitive); nothing else compares.
fn compare(a: &Args) -> Result<Ordering, FnError> {
    match (a.get(0), a.get(1)) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (x, y) => match (Num::of(x), Num::of(y)) {
            (Some(Num::Int(i)), Some(Num::Int(j))) => Ok(i.cmp(&j)),
            (Some(i), Some(j)) => i
                .as_f64()
                .partial_cmp(&j.as_f64())
                .ok_or_else(|| a.fail("the numbers cannot be compared")),
            (Some(_), None) => Err(a.type_error(1, "a number like the first")),
            (None, _) if x.is_string() => Err(a.type_error(1, "a string like the first")),
            (None, _) => Err(a.type_error(0, "a number or a string")),
        },
    }
}

fn greater(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(compare(a)? == Ordering::Greater))
}

fn greater_or_equals(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(compare(a)? != Ordering::Less))
}

fn less(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(compare(a)? == Ordering::Less))
}

fn less_or_equals(a: &mut Args, _: &dyn Context) -> R {
    Ok(Value::Bool(compare(a)? != Ordering::Greater))
}

fn not(a: &mut Args, _: &dyn Context) -> R {
    match a.get(0) {
        Value::Bool(b) => Ok(Value::Bool(!b)),
        _ => Err(a.type_error(0, "a boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ev, try_ev};
    use serde_json::json;

    #[test]
    fn logical_functions() {
        assert_eq!(ev("equals('a', 'A')"), json!(false));
        assert_eq!(
            ev("equals(json('[1, 2]'), createArray(1, 2.0))"),
            json!(true)
        );
        assert_eq!(ev("equals(null, null)"), json!(true));
        assert_eq!(ev("greater(2.5, 2)"), json!(true));
        assert_eq!(ev("less('B', 'a')"), json!(true));
        assert_eq!(ev("lessOrEquals(3, 3.0)"), json!(true));
        assert_eq!(ev("if(true, 1, div(1, 0))"), json!(1));
        assert_eq!(ev("and(true, true, false)"), json!(false));
        assert_eq!(ev("or(false, true, variables('missing'))"), json!(true));
        assert_eq!(
            ev("coalesce(null, null, 'x', variables('missing'))"),
            json!("x")
        );
        assert!(try_ev("greater('a', 1)")
            .unwrap_err()
            .contains("a string like the first"));
        assert!(try_ev("if('true', 1, 2)")
            .unwrap_err()
            .contains("expects a boolean"));
        assert!(try_ev("not(1)").is_err());
    }
}
