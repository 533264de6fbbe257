//! The function library, one module per family as ADF's documentation groups them. The system
//! functions (`pipeline`, `activity`, `item`, `variables`, `dataset`, `linkedService`,
//! `trigger`) and the lazy ones (`if`, `and`, `or`, `coalesce`) live in `eval.rs`.

mod collection;
mod conversion;
mod date;
mod logical;
mod math;
mod string;

use serde_json::Value;

use super::value::{brief, type_name, Num};
use super::Context;

/// A function's failure; `arg` points the error at one argument's position.
#[derive(Debug, Clone)]
pub(crate) struct FnError {
    pub arg: Option<usize>,
    pub msg: String,
}

pub(crate) type Func = fn(&mut Args, &dyn Context) -> Result<Value, FnError>;

/// One library function: its name as ADF spells it, its argument counts and its body.
pub(crate) struct Def {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
    pub f: Func,
}

pub(crate) const MANY: usize = usize::MAX;

/// A table entry: name, fewest and most arguments, body.
pub(crate) const fn d(name: &'static str, min: usize, max: usize, f: Func) -> Def {
    Def { name, min, max, f }
}

const FAMILIES: &[&[Def]] = &[
    string::DEFS,
    collection::DEFS,
    logical::DEFS,
    conversion::DEFS,
    math::DEFS,
    date::DEFS,
];

/// The names `eval.rs` handles itself.
const BUILT_IN: &[&str] = &[
    "pipeline",
    "activity",
    "item",
    "variables",
    "dataset",
    "linkedService",
    "trigger",
    "if",
    "and",
    "or",
    "coalesce",
];

/// Finds a function by its lower-case name.
pub(crate) fn find(lower: &str) -> Option<&'static Def> {
    FAMILIES
        .iter()
        .flat_map(|f| f.iter())
        .find(|d| d.name.eq_ignore_ascii_case(lower))
}

pub(crate) fn names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = BUILT_IN.to_vec();
    v.extend(FAMILIES.iter().flat_map(|f| f.iter()).map(|d| d.name));
    v
}

/// The evaluated arguments of one call, with typed accessors whose errors name the argument.
pub(crate) struct Args {
    name: &'static str,
    vals: Vec<Value>,
}

fn ordinal(i: usize) -> String {
    match i {
        0 => "first".into(),
        1 => "second".into(),
        2 => "third".into(),
        3 => "fourth".into(),
        n => format!("argument {}", n + 1),
    }
}

fn with_article(t: &str) -> String {
    match t.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

impl Args {
    pub(crate) fn new(name: &'static str, vals: Vec<Value>) -> Self {
        Args { name, vals }
    }

    pub(crate) fn all(&self) -> &[Value] {
        &self.vals
    }

    pub(crate) fn get(&self, i: usize) -> &Value {
        self.vals.get(i).unwrap_or(&Value::Null)
    }

    pub(crate) fn take(&mut self, i: usize) -> Value {
        self.vals.get_mut(i).map(Value::take).unwrap_or(Value::Null)
    }

    pub(crate) fn take_all(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.vals)
    }

    /// An error about the call as a whole.
    pub(crate) fn fail(&self, msg: impl std::fmt::Display) -> FnError {
        FnError {
            arg: None,
            msg: format!("{}(): {msg}", self.name),
        }
    }

    /// An error about argument `i`.
    pub(crate) fn fail_at(&self, i: usize, msg: impl std::fmt::Display) -> FnError {
        FnError {
            arg: Some(i),
            msg: format!("{}(): {msg}", self.name),
        }
    }

    /// The argument is of the wrong type; `want` is e.g. "a string".
    pub(crate) fn type_error(&self, i: usize, want: &str) -> FnError {
        let v = self.get(i);
        self.fail_at(
            i,
            format!(
                "the {} argument must be {want}, but it is {} {}",
                ordinal(i),
                with_article(type_name(v)),
                brief(v)
            ),
        )
    }

    pub(crate) fn str(&self, i: usize) -> Result<&str, FnError> {
        self.get(i)
            .as_str()
            .ok_or_else(|| self.type_error(i, "a string"))
    }

    /// An optional string argument (absent or null is `None`).
    pub(crate) fn opt_str(&self, i: usize) -> Result<Option<&str>, FnError> {
        match self.get(i) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(self.type_error(i, "a string")),
        }
    }

    pub(crate) fn num(&self, i: usize) -> Result<Num, FnError> {
        Num::of(self.get(i)).ok_or_else(|| self.type_error(i, "a number"))
    }

    /// An integer; a float with no fractional part is accepted.
    pub(crate) fn int(&self, i: usize) -> Result<i64, FnError> {
        match Num::of(self.get(i)) {
            Some(Num::Int(n)) => Ok(n),
            Some(Num::Float(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
            _ => Err(self.type_error(i, "an integer")),
        }
    }

    pub(crate) fn array(&self, i: usize) -> Result<&Vec<Value>, FnError> {
        self.get(i)
            .as_array()
            .ok_or_else(|| self.type_error(i, "an array"))
    }
}

/// Wraps a number result; NaN and infinity are errors.
pub(crate) fn num_value(a: &Args, n: Num) -> Result<Value, FnError> {
    n.to_value()
        .ok_or_else(|| a.fail("the result is not a finite number"))
}

#[cfg(test)]
pub(crate) mod testing {
    use chrono::TimeZone;
    use serde_json::Value;

    use crate::expr::{evaluate_expression, Scope};

    /// Evaluates a bare expression with a clock fixed at 2018-04-15T13:00:00Z.
    pub(crate) fn ev(expr: &str) -> Value {
        try_ev(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    pub(crate) fn try_ev(expr: &str) -> Result<Value, String> {
        let scope = Scope::default().with_now(
            chrono::Utc
                .with_ymd_and_hms(2018, 4, 15, 13, 0, 0)
                .single()
                .unwrap(),
        );
        evaluate_expression(expr, &scope, "test").map_err(|e| e.to_string())
    }
}
