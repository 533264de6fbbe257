//! ADF's expression language: `@expr` values that keep their type, `@{...}` interpolation into
//! strings, `@@` escapes, `{"value": "...", "type": "Expression"}` wrappers, member access with
//! `.`, `?.`, `[...]` and `?[...]`, and the function library (string, collection, logical,
//! conversion, math and date functions).
//!
//! Entry points:
//! * [`evaluate_value`] resolves every expression inside a JSON value (an activity's
//!   `typeProperties`, a dataset reference's `parameters`, ...);
//! * [`evaluate_str`] resolves one JSON string; [`evaluate_expression`] one bare expression
//!   (the text after `@`, e.g. an IfCondition's `expression.value` without its `@`);
//! * [`parse`], [`parse_template`] and [`validate`] check syntax without evaluating.
//!
//! The values an expression can see come from a [`Context`]: [`Scope`] is a ready-made one,
//! [`Overlay`] adds `item()` / `dataset()` / `linkedService()` on top of another context
//! without copying it (one per ForEach iteration or per dataset reference).
//!
//! Errors name the caller's location (`at`, e.g. `activity 'Copy1' property
//! 'typeProperties.source.query'`), the 1-based character position in the string and the
//! reason.
//!
//! Layer: above `types` only; everything that evaluates ADF JSON uses it.

mod datetime;
pub mod datetime_parse;
mod eval;
mod functions;
mod lexer;
mod parser;
mod refs;
pub mod timezone;
mod value;

use std::collections::HashMap;

use serde_json::{Map, Value};

/// The clock types of [`Context::now`], re-exported for callers without their own chrono.
pub use chrono::{DateTime, Utc};
pub use parser::{Expr, ExprKind};
pub use refs::{references, RefKind, Reference};
pub use value::to_text;

/// An expression that could not be parsed or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}expression error at position {position} of \"{expression}\": {reason}", at_prefix(.at))]
pub struct ExprError {
    /// Where the expression is: activity and property, as the caller named them. May be empty.
    pub at: String,
    /// The whole JSON string the expression was written in.
    pub expression: String,
    /// 1-based character position in `expression`.
    pub position: usize,
    pub reason: String,
}

fn at_prefix(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!("{at}: ")
    }
}

impl ExprError {
    fn new(at: &str, source: &str, byte_pos: usize, reason: String) -> Self {
        let byte_pos = byte_pos.min(source.len());
        let position = source
            .char_indices()
            .take_while(|(i, _)| *i < byte_pos)
            .count()
            + 1;
        ExprError {
            at: at.to_string(),
            expression: source.to_string(),
            position,
            reason,
        }
    }

    /// The same error with `at` set (parse functions leave it empty).
    pub fn at(mut self, at: &str) -> Self {
        self.at = at.to_string();
        self
    }
}

/// An error inside the parser, before it knows the source text and location.
#[derive(Debug, Clone)]
pub(crate) struct ParseError {
    pub pos: usize,
    pub msg: String,
}

impl ParseError {
    pub(crate) fn new(pos: usize, msg: impl Into<String>) -> Self {
        ParseError {
            pos,
            msg: msg.into(),
        }
    }
}

/// What expressions can refer to. Every lookup returns `None` when the thing is not available
/// here (no ForEach around, no such activity...), which the evaluator reports as an error.
pub trait Context {
    /// The `pipeline()` object: `{"DataFactory", "Pipeline", "RunId", "TriggerType",
    /// "TriggerId", "TriggerName", "TriggerTime", "GroupId", "parameters": {...},
    /// "globalParameters": {...}}`. [`pipeline_object`] builds one.
    fn pipeline(&self) -> Option<&Value>;
    /// `activity('name')`: the activity's record, an object with at least `"output"`.
    fn activity(&self, name: &str) -> Option<&Value>;
    /// `item()`: the current ForEach item.
    fn item(&self) -> Option<&Value>;
    /// `variables('name')`.
    fn variable(&self, name: &str) -> Option<&Value>;
    /// `dataset()`: the dataset's parameter values, an object.
    fn dataset(&self) -> Option<&Value>;
    /// `linkedService()`: the linked service's parameter values, an object.
    fn linked_service(&self) -> Option<&Value>;
    /// `trigger()`: the trigger's record (a run gives a manual one its manual trigger's);
    /// `None` where no run is going (planning, `validate`), which makes `trigger()` an error.
    fn trigger(&self) -> Option<&Value> {
        None
    }
    /// The time `utcNow()`, `getFutureTime()` and `getPastTime()` start from.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Builds the `pipeline()` object ADF exposes for a manual run.
pub fn pipeline_object(
    pipeline_name: &str,
    run_id: &str,
    parameters: Map<String, Value>,
    trigger_time: DateTime<Utc>,
) -> Value {
    let mut m = Map::new();
    m.insert("DataFactory".into(), Value::from("sluice"));
    m.insert("Pipeline".into(), Value::from(pipeline_name));
    m.insert("RunId".into(), Value::from(run_id));
    m.insert("TriggerType".into(), Value::from("Manual"));
    m.insert("TriggerId".into(), Value::from(run_id));
    m.insert("TriggerName".into(), Value::from("Manual"));
    m.insert(
        "TriggerTime".into(),
        Value::from(datetime::Stamp::utc(trigger_time.naive_utc()).format_default()),
    );
    m.insert("GroupId".into(), Value::from(run_id));
    m.insert("parameters".into(), Value::Object(parameters));
    m.insert("globalParameters".into(), Value::Object(Map::new()));
    Value::Object(m)
}

/// A self-contained [`Context`]: the pipeline object, activity records, variables and the
/// optional item / dataset / linked service values, plus an optional fixed clock for tests.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The `pipeline()` object (see [`pipeline_object`]); `Null` makes `pipeline()` an error.
    pub pipeline: Value,
    /// Activity records by name: `{"output": ...}` (see [`Scope::set_activity_output`]).
    pub activities: HashMap<String, Value>,
    pub variables: HashMap<String, Value>,
    pub item: Option<Value>,
    pub dataset: Option<Value>,
    pub linked_service: Option<Value>,
    pub trigger: Option<Value>,
    /// A fixed `utcNow()`; `None` reads the clock.
    pub now: Option<DateTime<Utc>>,
}

impl Scope {
    /// A scope for a manual run of `pipeline_name` with these parameter values.
    pub fn new(pipeline_name: &str, run_id: &str, parameters: Map<String, Value>) -> Self {
        Scope {
            pipeline: pipeline_object(pipeline_name, run_id, parameters, Utc::now()),
            ..Scope::default()
        }
    }

    /// Fixes the clock (and leaves `TriggerTime` as it was).
    pub fn with_now(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    /// Records what `activity('name').output` returns.
    pub fn set_activity_output(&mut self, name: &str, output: Value) {
        let mut m = Map::new();
        m.insert("output".into(), output);
        self.activities.insert(name.to_string(), Value::Object(m));
    }

    pub fn set_variable(&mut self, name: &str, value: Value) {
        self.variables.insert(name.to_string(), value);
    }
}

impl Context for Scope {
    fn pipeline(&self) -> Option<&Value> {
        (!self.pipeline.is_null()).then_some(&self.pipeline)
    }
    fn activity(&self, name: &str) -> Option<&Value> {
        self.activities.get(name)
    }
    fn item(&self) -> Option<&Value> {
        self.item.as_ref()
    }
    fn variable(&self, name: &str) -> Option<&Value> {
        self.variables.get(name)
    }
    fn dataset(&self) -> Option<&Value> {
        self.dataset.as_ref()
    }
    fn linked_service(&self) -> Option<&Value> {
        self.linked_service.as_ref()
    }
    fn trigger(&self) -> Option<&Value> {
        self.trigger.as_ref()
    }
    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

/// Another context with `item()`, `dataset()` and/or `linkedService()` replaced; everything
/// else comes from `parent`. Cheap to make: one per ForEach iteration or dataset reference.
pub struct Overlay<'a> {
    pub parent: &'a dyn Context,
    pub item: Option<&'a Value>,
    pub dataset: Option<&'a Value>,
    pub linked_service: Option<&'a Value>,
}

impl<'a> Overlay<'a> {
    pub fn new(parent: &'a dyn Context) -> Self {
        Overlay {
            parent,
            item: None,
            dataset: None,
            linked_service: None,
        }
    }
    pub fn with_item(mut self, item: &'a Value) -> Self {
        self.item = Some(item);
        self
    }
    pub fn with_dataset(mut self, parameters: &'a Value) -> Self {
        self.dataset = Some(parameters);
        self
    }
    pub fn with_linked_service(mut self, parameters: &'a Value) -> Self {
        self.linked_service = Some(parameters);
        self
    }
}

impl Context for Overlay<'_> {
    fn pipeline(&self) -> Option<&Value> {
        self.parent.pipeline()
    }
    fn activity(&self, name: &str) -> Option<&Value> {
        self.parent.activity(name)
    }
    fn item(&self) -> Option<&Value> {
        self.item.or_else(|| self.parent.item())
    }
    fn variable(&self, name: &str) -> Option<&Value> {
        self.parent.variable(name)
    }
    fn dataset(&self) -> Option<&Value> {
        self.dataset.or_else(|| self.parent.dataset())
    }
    fn linked_service(&self) -> Option<&Value> {
        self.linked_service.or_else(|| self.parent.linked_service())
    }
    fn trigger(&self) -> Option<&Value> {
        self.parent.trigger()
    }
    fn now(&self) -> DateTime<Utc> {
        self.parent.now()
    }
}

/// A parsed JSON string: a literal, one whole expression (`@...`, keeps its type) or an
/// interpolated string (`...@{...}...`, always a string).
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    kind: TemplateKind,
}

#[derive(Debug, Clone, PartialEq)]
enum TemplateKind {
    Literal(String),
    Whole(Expr),
    Interpolated(Vec<Segment>),
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Expr(Expr),
}

impl Template {
    /// True when evaluating can give something other than the string as written.
    pub fn has_expressions(&self) -> bool {
        !matches!(self.kind, TemplateKind::Literal(ref s) if *s == self.source)
    }

    /// The expressions in it, in order.
    pub fn expressions(&self) -> Vec<&Expr> {
        match &self.kind {
            TemplateKind::Literal(_) => vec![],
            TemplateKind::Whole(e) => vec![e],
            TemplateKind::Interpolated(segs) => segs
                .iter()
                .filter_map(|s| match s {
                    Segment::Expr(e) => Some(e),
                    Segment::Text(_) => None,
                })
                .collect(),
        }
    }

    /// Evaluates it; `at` names the location for errors.
    pub fn evaluate(&self, ctx: &dyn Context, at: &str) -> Result<Value, ExprError> {
        let fail = |e: eval::EvalError| ExprError::new(at, &self.source, e.pos, e.msg);
        match &self.kind {
            TemplateKind::Literal(s) => Ok(Value::String(s.clone())),
            TemplateKind::Whole(e) => eval::evaluate(e, ctx).map_err(fail),
            TemplateKind::Interpolated(segs) => {
                let mut out = String::new();
                for s in segs {
                    match s {
                        Segment::Text(t) => out.push_str(t),
                        Segment::Expr(e) => match eval::evaluate(e, ctx).map_err(fail)? {
                            Value::String(v) => out.push_str(&v),
                            other => out.push_str(&to_text(&other)),
                        },
                    }
                }
                Ok(Value::String(out))
            }
        }
    }
}

/// Parses a bare expression, the text after `@` (e.g. `concat('a', pipeline().RunId)`).
pub fn parse(expression: &str) -> Result<Expr, ExprError> {
    parser::parse_range(expression, 0, expression.len())
        .map_err(|e| ExprError::new("", expression, e.pos, e.msg))
}

/// Parses a JSON string value: `"@expr"`, `"text @{expr} text"`, `"@@literal"` or plain text.
pub fn parse_template(s: &str) -> Result<Template, ExprError> {
    let fail = |e: ParseError| ExprError::new("", s, e.pos, e.msg);
    let kind = if let Some(rest) = s.strip_prefix("@@") {
        // `@@` at the start escapes the `@`; the rest can still interpolate.
        let mut segs = vec![Segment::Text("@".into())];
        segs.extend(interpolate(s, s.len() - rest.len()).map_err(fail)?);
        simplify(segs)
    } else if s.starts_with('@') && !s.starts_with("@{") {
        TemplateKind::Whole(parser::parse_range(s, 1, s.len()).map_err(fail)?)
    } else {
        simplify(interpolate(s, 0).map_err(fail)?)
    };
    Ok(Template {
        source: s.to_string(),
        kind,
    })
}

fn simplify(segs: Vec<Segment>) -> TemplateKind {
    if segs.iter().all(|s| matches!(s, Segment::Text(_))) {
        let text = segs
            .into_iter()
            .map(|s| match s {
                Segment::Text(t) => t,
                Segment::Expr(_) => String::new(),
            })
            .collect();
        TemplateKind::Literal(text)
    } else {
        TemplateKind::Interpolated(segs)
    }
}

/// Splits `s[from..]` into text and `@{...}` expressions; `@@{` stands for a literal `@{`.
fn interpolate(s: &str, from: usize) -> Result<Vec<Segment>, ParseError> {
    let bytes = s.as_bytes();
    let mut segs = Vec::new();
    let mut text = String::new();
    let mut seg_start = from;
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == b'@' && s[i..].starts_with("@@{") {
            text.push_str(&s[seg_start..i]);
            text.push_str("@{");
            i += 3;
            seg_start = i;
        } else if bytes[i] == b'@' && s[i..].starts_with("@{") {
            text.push_str(&s[seg_start..i]);
            if !text.is_empty() {
                segs.push(Segment::Text(std::mem::take(&mut text)));
            }
            let body = i + 2;
            let end = closing_brace(s, body)
                .ok_or_else(|| ParseError::new(i, "'@{' has no closing '}'"))?;
            segs.push(Segment::Expr(parser::parse_range(s, body, end)?));
            i = end + 1;
            seg_start = i;
        } else {
            i += 1;
        }
    }
    text.push_str(&s[seg_start..]);
    if !text.is_empty() {
        segs.push(Segment::Text(text));
    }
    Ok(segs)
}

/// The `}` closing an interpolation whose body starts at `from`, skipping string literals.
fn closing_brace(s: &str, from: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut in_str = false;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_str = !in_str, // a doubled '' toggles twice
            b'}' if !in_str => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Is this value an `{"value": ..., "type": "Expression"}` wrapper? Returns its string.
pub fn expression_object(v: &Value) -> Option<&str> {
    let m = v.as_object()?;
    let ty = m.get("type")?.as_str()?;
    if !ty.eq_ignore_ascii_case("Expression") {
        return None;
    }
    m.get("value")?.as_str()
}

/// Is this a `{"type": "SecureString", "value": ...}` secret? Its text is never evaluated.
fn is_secure_string(v: &Value) -> bool {
    v.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("SecureString"))
}

/// Evaluates one JSON string (see [`parse_template`]).
pub fn evaluate_str(s: &str, ctx: &dyn Context, at: &str) -> Result<Value, ExprError> {
    if !s.contains('@') {
        return Ok(Value::String(s.to_string()));
    }
    parse_template(s).map_err(|e| e.at(at))?.evaluate(ctx, at)
}

/// Evaluates a bare expression (no leading `@`).
pub fn evaluate_expression(
    expression: &str,
    ctx: &dyn Context,
    at: &str,
) -> Result<Value, ExprError> {
    let e = parse(expression).map_err(|e| e.at(at))?;
    eval::evaluate(&e, ctx).map_err(|e| ExprError::new(at, expression, e.pos, e.msg))
}

/// Resolves every expression inside `v`: strings, `{"type": "Expression"}` wrappers, and
/// recursively the items of arrays and the values of objects (keys are left alone;
/// `{"type": "SecureString"}` secrets are copied as they are). Errors name
/// the nested property after `at`, as in `at.source.query` or `at.items[2]`.
pub fn evaluate_value(v: &Value, ctx: &dyn Context, at: &str) -> Result<Value, ExprError> {
    Ok(match v {
        Value::String(s) => evaluate_str(s, ctx, at)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| evaluate_value(item, ctx, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            if let Some(s) = expression_object(v) {
                return evaluate_str(s, ctx, at);
            }
            if is_secure_string(v) {
                return Ok(v.clone());
            }
            let mut out = Map::new();
            for (k, item) in map {
                out.insert(k.clone(), evaluate_value(item, ctx, &join_path(at, k))?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn join_path(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// Parses every expression inside `v` without evaluating, so definitions can be checked when
/// they are loaded.
pub fn validate(v: &Value, at: &str) -> Result<(), ExprError> {
    match v {
        Value::String(s) if s.contains('@') => parse_template(s).map(|_| ()).map_err(|e| e.at(at)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| validate(item, &format!("{at}[{i}]"))),
        Value::Object(map) => {
            if let Some(s) = expression_object(v) {
                return validate(&Value::String(s.to_string()), at);
            }
            if is_secure_string(v) {
                return Ok(());
            }
            map.iter()
                .try_for_each(|(k, item)| validate(item, &join_path(at, k)))
        }
        _ => Ok(()),
    }
}

/// The names of the activities `v`'s expressions read with `activity('name')` (literal names
/// only), for checking that they are upstream. Unparseable strings are skipped.
pub fn referenced_activities(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_activities(v, &mut out);
    out
}

fn collect_activities(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.contains('@') => {
            if let Ok(t) = parse_template(s) {
                for e in t.expressions() {
                    e.visit_calls(&mut |name, args| {
                        if name.eq_ignore_ascii_case("activity") {
                            if let Some(Expr {
                                kind: ExprKind::Str(a),
                                ..
                            }) = args.first()
                            {
                                if !out.contains(a) {
                                    out.push(a.clone());
                                }
                            }
                        }
                    });
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_activities(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_activities(i, out)),
        _ => {}
    }
}

/// The names of every function the library knows, as ADF spells them.
pub fn function_names() -> Vec<&'static str> {
    functions::names()
}

#[cfg(test)]
mod tests;
