//! Evaluation of a parsed expression against a [`Context`].
//!
//! Values read from the context are borrowed until a function needs them, so
//! `activity('Lookup').output.value[3].name` does not copy the whole Lookup output.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::functions::{self, Args};
use super::parser::{Expr, ExprKind};
use super::value::{brief, check_result_size, type_name};
use super::Context;

#[derive(Debug, Clone)]
pub(crate) struct EvalError {
    pub pos: usize,
    pub msg: String,
}

fn err<T>(pos: usize, msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError {
        pos,
        msg: msg.into(),
    })
}

pub(crate) fn evaluate(e: &Expr, ctx: &dyn Context) -> Result<Value, EvalError> {
    eval(e, ctx).map(Cow::into_owned)
}

fn eval<'c>(e: &Expr, ctx: &'c dyn Context) -> Result<Cow<'c, Value>, EvalError> {
    match &e.kind {
        ExprKind::Null => Ok(Cow::Owned(Value::Null)),
        ExprKind::Bool(b) => Ok(Cow::Owned(Value::Bool(*b))),
        ExprKind::Int(i) => Ok(Cow::Owned(Value::from(*i))),
        ExprKind::Float(f) => Ok(Cow::Owned(
            serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        )),
        ExprKind::Str(s) => Ok(Cow::Owned(Value::String(s.clone()))),
        ExprKind::Member {
            base,
            name,
            optional,
        } => {
            let b = eval(base, ctx)?;
            member(b, name, *optional, e.pos)
        }
        ExprKind::Index {
            base,
            index,
            optional,
        } => {
            let b = eval(base, ctx)?;
            let i = eval(index, ctx)?;
            match i.as_ref() {
                Value::String(k) => member(b, k, *optional, index.pos),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => element(b, i, *optional, index.pos),
                    None => err(
                        index.pos,
                        format!("an array index must be a whole number, not {n}"),
                    ),
                },
                Value::Null if *optional => Ok(Cow::Owned(Value::Null)),
                other => err(
                    index.pos,
                    format!(
                        "an index must be a string (property name) or an integer (array position), not {} {}",
                        article(type_name(other)),
                        brief(other)
                    ),
                ),
            }
        }
        ExprKind::Call { name, args } => call(name, args, e.pos, ctx),
    }
}

fn article(t: &str) -> String {
    match t.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

/// Finds a property: the exact name first, then ignoring case as ADF does.
pub(crate) fn lookup<'m>(
    map: &'m Map<String, Value>,
    name: &str,
) -> Option<(&'m String, &'m Value)> {
    map.get_key_value(name)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
}

fn member<'c>(
    base: Cow<'c, Value>,
    name: &str,
    optional: bool,
    pos: usize,
) -> Result<Cow<'c, Value>, EvalError> {
    let found = match base.as_ref() {
        Value::Object(m) => match lookup(m, name) {
            Some((k, _)) => Some(k.clone()),
            None if optional => return Ok(Cow::Owned(Value::Null)),
            None => {
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                return err(
                    pos,
                    format!(
                        "property '{name}' doesn't exist, available properties are '{}'",
                        keys.join(", ")
                    ),
                );
            }
        },
        Value::Null if optional => return Ok(Cow::Owned(Value::Null)),
        other => {
            return err(
                pos,
                format!(
                    "cannot read property '{name}' of {} {}{}",
                    article(type_name(other)),
                    brief(other),
                    if other.is_null() {
                        " (use '?.' to allow null)"
                    } else {
                        ""
                    }
                ),
            )
        }
    };
    let key = found.unwrap_or_default();
    Ok(match base {
        Cow::Borrowed(Value::Object(m)) => Cow::Borrowed(m.get(&key).unwrap_or(&Value::Null)),
        Cow::Owned(Value::Object(mut m)) => Cow::Owned(m.remove(&key).unwrap_or(Value::Null)),
        _ => Cow::Owned(Value::Null),
    })
}

fn element<'c>(
    base: Cow<'c, Value>,
    i: i64,
    optional: bool,
    pos: usize,
) -> Result<Cow<'c, Value>, EvalError> {
    match base.as_ref() {
        Value::Array(items) => {
            if i < 0 || i as u64 >= items.len() as u64 {
                if optional {
                    return Ok(Cow::Owned(Value::Null));
                }
                return err(
                    pos,
                    format!(
                        "array index {i} is out of range: the array has {} item{}",
                        items.len(),
                        if items.len() == 1 { "" } else { "s" }
                    ),
                );
            }
        }
        Value::Null if optional => return Ok(Cow::Owned(Value::Null)),
        other => {
            return err(
                pos,
                format!(
                    "cannot take item [{i}] of {} {}",
                    article(type_name(other)),
                    brief(other)
                ),
            )
        }
    }
    let i = i as usize;
    Ok(match base {
        Cow::Borrowed(Value::Array(items)) => Cow::Borrowed(&items[i]),
        Cow::Owned(Value::Array(mut items)) => Cow::Owned(items.swap_remove(i)),
        _ => Cow::Owned(Value::Null),
    })
}

fn arity(name: &str, args: &[Expr], min: usize, max: usize, pos: usize) -> Result<(), EvalError> {
    if args.len() < min || args.len() > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return err(
            pos,
            format!(
                "the function '{name}' takes {want} argument{} but was given {}",
                if want == "1" { "" } else { "s" },
                args.len()
            ),
        );
    }
    Ok(())
}

fn string_arg(name: &str, args: &[Expr], ctx: &dyn Context) -> Result<String, EvalError> {
    match evaluate(&args[0], ctx)? {
        Value::String(s) => Ok(s),
        other => err(
            args[0].pos,
            format!(
                "the function '{name}' expects a string name but was given {} {}",
                article(type_name(&other)),
                brief(&other)
            ),
        ),
    }
}

fn bool_arg(name: &str, arg: &Expr, ctx: &dyn Context) -> Result<bool, EvalError> {
    match evaluate(arg, ctx)? {
        Value::Bool(b) => Ok(b),
        other => err(
            arg.pos,
            format!(
                "the function '{name}' expects a boolean but was given {} {}",
                article(type_name(&other)),
                brief(&other)
            ),
        ),
    }
}

fn call<'c>(
    name: &str,
    args: &[Expr],
    pos: usize,
    ctx: &'c dyn Context,
) -> Result<Cow<'c, Value>, EvalError> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        // System values, borrowed from the context.
        "pipeline" => {
            arity(name, args, 0, 0, pos)?;
            match ctx.pipeline() {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => err(pos, "pipeline() is not available here"),
            }
        }
        "activity" => {
            arity(name, args, 1, 1, pos)?;
            let a = string_arg(name, args, ctx)?;
            match ctx.activity(&a) {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => err(
                    pos,
                    format!("the output of activity '{a}' can't be referenced since it is either not present or has not completed"),
                ),
            }
        }
        "item" => {
            arity(name, args, 0, 0, pos)?;
            match ctx.item() {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => err(pos, "item() can only be used inside a ForEach activity"),
            }
        }
        "variables" => {
            arity(name, args, 1, 1, pos)?;
            let v = string_arg(name, args, ctx)?;
            match ctx.variable(&v) {
                Some(x) => Ok(Cow::Borrowed(x)),
                None => err(
                    pos,
                    format!("the variable '{v}' is not declared in the pipeline"),
                ),
            }
        }
        "dataset" => {
            arity(name, args, 0, 0, pos)?;
            match ctx.dataset() {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => err(pos, "dataset() can only be used in a dataset definition"),
            }
        }
        "linkedservice" => {
            arity(name, args, 0, 0, pos)?;
            match ctx.linked_service() {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => err(
                    pos,
                    "linkedService() can only be used in a linked service definition",
                ),
            }
        }
        "trigger" => {
            arity(name, args, 0, 0, pos)?;
            match ctx.trigger() {
                Some(v) => Ok(Cow::Borrowed(v)),
                None => err(pos, "trigger() is not available: this run has no trigger"),
            }
        }
        // Functions that do not evaluate every argument.
        "if" => {
            arity(name, args, 3, 3, pos)?;
            let branch = if bool_arg(name, &args[0], ctx)? {
                &args[1]
            } else {
                &args[2]
            };
            eval(branch, ctx)
        }
        "and" | "or" => {
            arity(name, args, 1, usize::MAX, pos)?;
            let want = lower == "or";
            for a in args {
                if bool_arg(name, a, ctx)? == want {
                    return Ok(Cow::Owned(Value::Bool(want)));
                }
            }
            Ok(Cow::Owned(Value::Bool(!want)))
        }
        "coalesce" => {
            arity(name, args, 1, usize::MAX, pos)?;
            for a in args {
                let v = eval(a, ctx)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Ok(Cow::Owned(Value::Null))
        }
        _ => {
            let Some(def) = functions::find(&lower) else {
                return err(pos, format!("'{name}' is not a known function"));
            };
            arity(def.name, args, def.min, def.max, pos)?;
            let mut values = Vec::with_capacity(args.len());
            for a in args {
                values.push(evaluate(a, ctx)?);
            }
            let mut a = Args::new(def.name, values);
            let out = (def.f)(&mut a, ctx).map_err(|e| EvalError {
                pos: e.arg.and_then(|i| args.get(i)).map_or(pos, |x| x.pos),
                msg: e.msg,
            })?;
            check_result_size(&out).map_err(|msg| EvalError {
                pos,
                msg: format!("{}(): {msg}", def.name),
            })?;
            Ok(Cow::Owned(out))
        }
    }
}
