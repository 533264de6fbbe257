//! The checks `validate` makes across a pipeline's definitions, without running anything:
//! what its expressions refer to (`activity('X')` upstream of the activity that reads it,
//! `variables('v')` and `pipeline().parameters.p` declared), the variables SetVariable and
//! AppendVariable write (declared; an Array for AppendVariable), its parameters' default values
//! (of their declared type), and the pipelines ExecutePipeline starts (defined, given only the
//! parameters they declare and every one they need). A run would fail on each of these only
//! when it reaches the activity; `validate` reports all of them at once.
//!
//! Pure: the factory is already loaded.

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::ModelError;
use super::load::{Definition, Factory};
use super::pipeline::{self as pipelines, Activity, ActivityKind, Pipeline};
use crate::expr::{references, RefKind};

/// Every cross-reference problem of pipeline `p` (defined by `def`), one message each.
pub fn check_pipeline(factory: &Factory, def: &Definition, p: &Pipeline) -> Vec<String> {
    let mut errors = Vec::new();
    let at = format!("pipeline '{}' ({})", def.name, def.file.display());
    for param in &p.parameters {
        if let Err((field, reason)) = check_parameter(&param.ty, param.default.as_ref()) {
            let key = format!("parameters.{}.{field}", param.name);
            errors.push(ModelError::invalid(&at, &key, reason).to_string());
        }
    }
    let mut all = BTreeSet::new();
    names(&p.activities, &mut all);
    let walk = Walk {
        factory,
        def,
        pipeline: p,
        all: &all,
    };
    walk.list(&p.activities, &BTreeSet::new(), &mut errors);
    errors
}

/// The name of every activity of `list`, nested ones included.
fn names(list: &[Activity], out: &mut BTreeSet<String>) {
    for a in list {
        out.insert(a.name.clone());
        for inner in a.nested.values() {
            names(inner, out);
        }
    }
}

/// Whether a parameter's type is known and its `default` fits it; an error names the field
/// (`type` or `defaultValue`) and the reason.
fn check_parameter(ty: &str, default: Option<&Value>) -> Result<(), (&'static str, String)> {
    let fits: fn(&Value) -> bool = match ty.to_ascii_lowercase().as_str() {
        "string" | "securestring" => Value::is_string,
        "int" => |v| v.is_i64() || v.is_u64(),
        "float" => Value::is_number,
        "bool" => Value::is_boolean,
        "array" => Value::is_array,
        "object" => Value::is_object,
        _ => {
            return Err((
                "type",
                format!(
                    "unknown parameter type {ty:?} (one of String, SecureString, Int, Float, \
                     Bool, Array, Object)"
                ),
            ))
        }
    };
    match default {
        Some(v) if !v.is_null() && !fits(v) => Err((
            "defaultValue",
            format!(
                "{} is {}, not of the declared type {ty}",
                short(v),
                super::props::kind(v)
            ),
        )),
        _ => Ok(()),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// One pipeline being checked.
struct Walk<'a> {
    factory: &'a Factory,
    def: &'a Definition,
    pipeline: &'a Pipeline,
    /// Every activity of the pipeline, nested ones included.
    all: &'a BTreeSet<String>,
}

impl Walk<'_> {
    /// Checks one list of activities; `outer` holds the activities that have run before the
    /// list starts (those upstream of the enclosing control activities).
    fn list(&self, list: &[Activity], outer: &BTreeSet<String>, errors: &mut Vec<String>) {
        for a in list {
            let mut before = outer.clone();
            upstream(list, a, &mut before);
            // A control activity's own properties (an Until's `expression`) may read the
            // activities it contains.
            let mut readable = before.clone();
            for inner in a.nested.values() {
                names(inner, &mut readable);
            }
            self.activity(a, &readable, errors);
            for inner in a.nested.values() {
                self.list(inner, &before, errors);
            }
        }
    }

    fn activity(&self, a: &Activity, readable: &BTreeSet<String>, errors: &mut Vec<String>) {
        for (key, value) in scanned(a) {
            for r in references(value, &key) {
                if let Some(reason) = self.reference(r.kind, &r.name, readable) {
                    errors.push(ModelError::invalid(&a.at, &r.at, reason).to_string());
                }
            }
        }
        match a.kind {
            ActivityKind::SetVariable | ActivityKind::AppendVariable => {
                self.variable_write(a, errors)
            }
            ActivityKind::ExecutePipeline => self.execute_pipeline(a, errors),
            _ => {}
        }
    }

    /// Why a reference cannot be resolved when the activity runs, if it cannot.
    fn reference(&self, kind: RefKind, name: &str, readable: &BTreeSet<String>) -> Option<String> {
        match kind {
            RefKind::Activity if !self.all.contains(name) => Some(format!(
                "activity('{name}'): the pipeline has no activity '{name}'{}",
                listed("its activities", self.all.iter())
            )),
            RefKind::Activity if !readable.contains(name) => Some(format!(
                "activity('{name}'): '{name}' does not run before this activity (make it \
                 upstream through dependsOn, here or on an enclosing activity)"
            )),
            RefKind::Variable if !self.pipeline.variables.contains_key(name) => Some(format!(
                "variables('{name}'): the variable is not declared{}",
                known(self.pipeline.variables.keys())
            )),
            RefKind::Parameter
                if !self
                    .pipeline
                    .parameters
                    .iter()
                    .any(|p| p.name.eq_ignore_ascii_case(name)) =>
            {
                Some(format!(
                    "pipeline().parameters.{name}: the parameter is not declared{}",
                    known(self.pipeline.parameters.iter().map(|p| &p.name))
                ))
            }
            _ => None,
        }
    }

    /// SetVariable and AppendVariable write a declared variable; AppendVariable an Array one.
    fn variable_write(&self, a: &Activity, errors: &mut Vec<String>) {
        let tp = &a.raw["typeProperties"];
        if tp["setSystemVariable"].as_bool() == Some(true) {
            return;
        }
        // A name computed by an expression is checked when the activity runs.
        let Some(name) = tp["variableName"].as_str().filter(|n| !n.contains('@')) else {
            return;
        };
        let property = "typeProperties.variableName";
        if !self.pipeline.variables.contains_key(name) {
            errors.push(
                ModelError::invalid(
                    &a.at,
                    property,
                    format!(
                        "variable '{name}' is not declared in the pipeline's variables{}",
                        known(self.pipeline.variables.keys())
                    ),
                )
                .to_string(),
            );
            return;
        }
        let ty = self.def.properties["variables"][name]["type"]
            .as_str()
            .unwrap_or("String");
        if a.kind == ActivityKind::AppendVariable && !ty.eq_ignore_ascii_case("Array") {
            errors.push(
                ModelError::invalid(
                    &a.at,
                    property,
                    format!("AppendVariable needs an Array variable; '{name}' is declared {ty}"),
                )
                .to_string(),
            );
        }
    }

    /// The pipeline an ExecutePipeline starts exists, declares every parameter given, and is
    /// given every parameter it has no default for.
    fn execute_pipeline(&self, a: &Activity, errors: &mut Vec<String>) {
        let tp = &a.raw["typeProperties"];
        let Some(child) = tp["pipeline"]["referenceName"].as_str() else {
            errors.push(
                ModelError::invalid(
                    &a.at,
                    "typeProperties.pipeline.referenceName",
                    "is required",
                )
                .to_string(),
            );
            return;
        };
        if !self.factory.pipelines.contains_key(child) {
            errors.push(
                ModelError::Dangling {
                    from: format!("{} typeProperties.pipeline", a.at),
                    kind: "pipeline",
                    name: child.to_string(),
                    known: self.factory.pipelines.keys().cloned().collect(),
                }
                .to_string(),
            );
            return;
        }
        // A child that does not parse is reported under its own name.
        let Ok(p) = pipelines::load(self.factory, child, &mut Vec::new()) else {
            return;
        };
        let given = tp["parameters"].as_object();
        for key in given.into_iter().flat_map(|m| m.keys()) {
            if !p.parameters.iter().any(|d| &d.name == key) {
                errors.push(
                    ModelError::invalid(
                        &a.at,
                        &format!("typeProperties.parameters.{key}"),
                        format!(
                            "pipeline '{child}' declares no parameter '{key}'{}",
                            known(p.parameters.iter().map(|d| &d.name))
                        ),
                    )
                    .to_string(),
                );
            }
        }
        for d in p.parameters.iter().filter(|d| d.default.is_none()) {
            if !given.is_some_and(|m| m.contains_key(&d.name)) {
                errors.push(
                    ModelError::invalid(
                        &a.at,
                        "typeProperties.parameters",
                        format!(
                            "pipeline '{child}' needs parameter '{}' (it has no default value)",
                            d.name
                        ),
                    )
                    .to_string(),
                );
            }
        }
    }
}

/// The names of the activities of `list` that `a` depends on, directly or through others.
fn upstream(list: &[Activity], a: &Activity, out: &mut BTreeSet<String>) {
    for d in &a.depends_on {
        if out.insert(d.activity.clone()) {
            if let Some(b) = list.iter().find(|b| b.name == d.activity) {
                upstream(list, b, out);
            }
        }
    }
}

/// The parts of an activity whose expressions are evaluated for it, by property path: its
/// `typeProperties` (but not the nested activity lists, checked as activities), dataset and
/// linked service references.
fn scanned(a: &Activity) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    if let Some(Value::Object(tp)) = a.raw.get("typeProperties") {
        for (key, value) in tp {
            let nested =
                a.nested.contains_key(key) || (a.kind == ActivityKind::Switch && key == "cases");
            if !nested {
                out.push((format!("typeProperties.{key}"), value));
            }
        }
    }
    for key in ["inputs", "outputs", "linkedServiceName"] {
        if let Some(v) = a.raw.get(key) {
            out.push((key.to_string(), v));
        }
    }
    out
}

/// ` (declared: a, b)`, or ` (none declared)`.
fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    listed("declared", names)
}

/// ` (label: a, b)`, or ` (none label)`.
fn listed<'a>(label: &str, names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        format!(" (none {label})")
    } else {
        format!(" ({label}: {})", names.join(", "))
    }
}
