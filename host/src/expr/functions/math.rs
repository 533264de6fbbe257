//! Math functions. Integer arithmetic stays integer (`div` of two integers truncates, as in
//! ADF); any float operand makes a float.

use serde_json::Value;

use super::{d, num_value, Args, Def, FnError, MANY};
use crate::expr::value::Num;
use crate::expr::Context;

pub(crate) const DEFS: &[Def] = &[
    d("add", 2, 2, add),
    d("div", 2, 2, div),
    d("max", 1, MANY, max),
    d("min", 1, MANY, min),
    d("mod", 2, 2, mod_),
    d("mul", 2, 2, mul),
    d("rand", 2, 2, rand),
    d("range", 2, 2, range),
    d("sub", 2, 2, sub),
];

type R = Result<Value, FnError>;

fn arith(a: &Args, int: fn(i64, i64) -> Option<i64>, float: fn(f64, f64) -> f64) -> R {
    let (x, y) = (a.num(0)?, a.num(1)?);
    let n = match (x, y) {
        (Num::Int(i), Num::Int(j)) => match int(i, j) {
            Some(r) => Num::Int(r),
            None => return Err(a.fail("the result does not fit in a 64-bit integer")),
        },
        (x, y) => Num::Float(float(x.as_f64(), y.as_f64())),
    };
    num_value(a, n)
}

fn add(a: &mut Args, _: &dyn Context) -> R {
    arith(a, i64::checked_add, |x, y| x + y)
}

fn sub(a: &mut Args, _: &dyn Context) -> R {
    arith(a, i64::checked_sub, |x, y| x - y)
}

fn mul(a: &mut Args, _: &dyn Context) -> R {
    arith(a, i64::checked_mul, |x, y| x * y)
}

fn nonzero_divisor(a: &Args) -> Result<(), FnError> {
    if a.num(1)?.as_f64() == 0.0 {
        return Err(a.fail_at(1, "cannot divide by zero"));
    }
    a.num(0).map(|_| ())
}

fn div(a: &mut Args, _: &dyn Context) -> R {
    nonzero_divisor(a)?;
    arith(a, i64::checked_div, |x, y| x / y)
}

fn mod_(a: &mut Args, _: &dyn Context) -> R {
    nonzero_divisor(a)?;
    arith(a, i64::checked_rem, |x, y| x % y)
}

/// The numbers of `min`/`max`: the arguments, or the items of a single array argument.
fn numbers(a: &Args) -> Result<Vec<(Num, Value)>, FnError> {
    let (vals, from_array) = match a.all() {
        [Value::Array(items)] => (items.as_slice(), true),
        all => (all, false),
    };
    if vals.is_empty() {
        return Err(a.fail_at(0, "the array is empty"));
    }
    vals.iter()
        .enumerate()
        .map(|(i, v)| match Num::of(v) {
            Some(n) => Ok((n, v.clone())),
            None if from_array => {
                Err(a.fail_at(0, format!("item {i} of the array is not a number")))
            }
            None => Err(a.type_error(i, "a number")),
        })
        .collect()
}

fn pick(a: &Args, want_greater: bool) -> R {
    let mut best: Option<(Num, Value)> = None;
    for (n, v) in numbers(a)? {
        let better = match &best {
            None => true,
            Some((b, _)) => {
                let (x, y) = (n.as_f64(), b.as_f64());
                if want_greater {
                    x > y
                } else {
                    x < y
                }
            }
        };
        if better {
            best = Some((n, v));
        }
    }
    Ok(best.map_or(Value::Null, |(_, v)| v))
}

fn max(a: &mut Args, _: &dyn Context) -> R {
    pick(a, true)
}

fn min(a: &mut Args, _: &dyn Context) -> R {
    pick(a, false)
}

/// A random integer in `[min, max)`.
fn rand(a: &mut Args, _: &dyn Context) -> R {
    let (lo, hi) = (a.int(0)?, a.int(1)?);
    if hi <= lo {
        return Err(a.fail_at(
            1,
            format!("the maximum {hi} must be greater than the minimum {lo}"),
        ));
    }
    let span = (i128::from(hi) - i128::from(lo)) as u128;
    let r = uuid::Uuid::new_v4().as_u128() % span;
    Ok(Value::from((i128::from(lo) + r as i128) as i64))
}

/// `count` consecutive integers from `start`.
fn range(a: &mut Args, _: &dyn Context) -> R {
    let (start, count) = (a.int(0)?, a.int(1)?);
    if !(0..=100_000).contains(&count) {
        return Err(a.fail_at(1, format!("the count {count} must be between 0 and 100000")));
    }
    if start.checked_add(count).is_none() {
        return Err(a.fail("the range does not fit in 64-bit integers"));
    }
    Ok(Value::Array(
        (start..start + count).map(Value::from).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ev, try_ev};
    use serde_json::json;

    #[test]
    fn math_functions() {
        assert_eq!(ev("add(1, 2)"), json!(3));
        assert_eq!(ev("add(1, 2.0)"), json!(3.0));
        assert_eq!(ev("div(-7, 2)"), json!(-3));
        assert_eq!(ev("div(7.0, 2)"), json!(3.5));
        assert_eq!(ev("mod(-7, 2)"), json!(-1));
        assert_eq!(ev("mod(7.5, 2)"), json!(1.5));
        assert_eq!(ev("mul(3, -2)"), json!(-6));
        assert_eq!(ev("max(1, 2.5, 2)"), json!(2.5));
        assert_eq!(ev("min(createArray(3, -1, 2))"), json!(-1));
        assert_eq!(ev("range(-2, 3)"), json!([-2, -1, 0]));
        assert_eq!(ev("range(5, 0)"), json!([]));
        let r = ev("rand(10, 12)").as_i64().unwrap();
        assert!((10..12).contains(&r));
        assert!(try_ev("div(1, 0)")
            .unwrap_err()
            .contains("cannot divide by zero"));
        assert!(try_ev("add(9223372036854775807, 1)")
            .unwrap_err()
            .contains("64-bit"));
        assert!(try_ev("add('1', 2)")
            .unwrap_err()
            .contains("must be a number"));
        assert!(try_ev("max(createArray())").is_err());
    }
}
