//! Planning: the one step both `validate` and `run` take. A factory and a pipeline name become a
//! [`RunPlan`] (the pipeline with its activities parsed into [`ActivityKind`]s, its parameter
//! values and warnings) by pure code: every activity's definition (datasets, linked services,
//! properties, plugin references) is resolved once, leniently, so a bad definition fails before
//! anything runs, and the Key Vault references the run can reach are collected in its
//! [`SecretBook`] for fetching. Values only a run has (activity outputs, `item()`) are checked
//! when the activity starts, as ADF evaluates them.
//!
//! [`validate_factory`] plans every pipeline of a factory this way and reports every problem,
//! not just the first; it also checks what a run would find wrong only on reaching it (the
//! variables, parameters, activities and child pipelines expressions and activities name, see
//! [`super::references`]) and collects the plugins Copy activities use, for the caller that
//! knows the plugin folders.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::copy::PluginUse;
use super::error::ModelError;
use super::load::{Factory, Kind};
use super::params::Scope;
use super::pipeline::{self as pipelines, Activity, ActivityKind, Pipeline};
use crate::secrets::{SecretBook, SecretRef};

/// A pipeline ready to run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub pipeline: Pipeline,
    /// Parameter values: declared defaults overridden by the given ones, typed as declared.
    pub parameters: Map<String, Value>,
    /// Properties Sluice reads but does not implement, and other notices.
    pub warnings: Vec<String>,
}

/// Which pipeline to run: `wanted`, or the factory's only pipeline.
pub fn choose_pipeline(factory: &Factory, wanted: Option<&str>) -> Result<String, ModelError> {
    let root = factory.root.display();
    match wanted {
        Some(name) => Ok(factory
            .get(Kind::Pipeline, name, "--pipeline")?
            .name
            .clone()),
        None => {
            let names: Vec<&str> = factory.pipelines.keys().map(String::as_str).collect();
            match names.as_slice() {
                [one] => Ok((*one).to_string()),
                [] => Err(ModelError::Other(format!("{root}: no pipeline defined"))),
                many => Err(ModelError::Other(format!(
                    "{root}: several pipelines ({}); choose one with --pipeline NAME",
                    many.join(", ")
                ))),
            }
        }
    }
}

/// Plans pipeline `name` with the given `NAME=VALUE` parameters. Key Vault references the run
/// can reach (its activities and the pipelines its ExecutePipeline activities start) are
/// collected in `book`; fetch them with [`vault_addresses_of`] and [`SecretBook::fetch`].
pub fn plan_run(
    factory: &Factory,
    name: &str,
    given: &[(String, String)],
    book: &SecretBook,
) -> Result<RunPlan, ModelError> {
    let mut warnings = factory.notices.clone();
    let pipeline = pipelines::load(factory, name, &mut warnings)?;
    let parameters = pipeline.parameter_values(given, false)?;
    let scope = planning_scope(factory, parameters.clone(), book);
    check_activities(factory, &pipeline.activities, &scope, &mut warnings)?;
    collect_children(factory, &pipeline.activities, book, &mut BTreeSet::new());
    Ok(RunPlan {
        pipeline,
        parameters,
        warnings,
    })
}

/// The vault address of every Key Vault reference collected in `book` and not fetched yet; an
/// error lists every reference whose store is not a usable `AzureKeyVault` linked service.
pub fn vault_addresses_of(
    factory: &Factory,
    book: &SecretBook,
) -> Result<Vec<(SecretRef, String)>, ModelError> {
    let wanted = book.wanted();
    let (ok, errors) = super::key_vault::vault_addresses(factory, &wanted, book, false);
    if errors.is_empty() {
        Ok(ok)
    } else {
        Err(ModelError::Other(errors.join("\n")))
    }
}

/// Resolves, leniently and ignoring errors (the child run reports them), the pipelines that
/// ExecutePipeline activities start, so their Key Vault references are collected too.
fn collect_children(
    factory: &Factory,
    activities: &[Activity],
    book: &SecretBook,
    seen: &mut BTreeSet<String>,
) {
    for a in activities {
        let child = a.raw["typeProperties"]["pipeline"]["referenceName"].as_str();
        if let Some(name) = child.filter(|_| a.kind == ActivityKind::ExecutePipeline) {
            if seen.insert(name.to_string()) {
                if let Ok(p) = pipelines::load(factory, name, &mut Vec::new()) {
                    if let Ok(params) = p.parameter_values(&[], true) {
                        let scope = planning_scope(factory, params, book);
                        let _ = check_activities(factory, &p.activities, &scope, &mut Vec::new());
                    }
                    collect_children(factory, &p.activities, book, seen);
                }
            }
        }
        for inner in a.nested.values() {
            collect_children(factory, inner, book, seen);
        }
    }
}

/// The scope definitions are planned in: the pipeline's parameter values, expressions that
/// need a run's values left as written, the factory's global parameters, and Key Vault
/// references collected in `book`.
fn planning_scope(factory: &Factory, pipeline: Map<String, Value>, book: &SecretBook) -> Scope {
    Scope {
        lenient: true,
        secrets: book.collecting(),
        ..Scope::with_globals(pipeline, &factory.global_parameters)
    }
}

/// Resolves every activity of a list, nested lists included; the first error stops.
fn check_activities(
    factory: &Factory,
    activities: &[Activity],
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<(), ModelError> {
    for a in activities {
        check_activity(factory, a, scope, warnings, &mut Vec::new())?;
        for inner in a.nested.values() {
            check_activities(factory, inner, scope, warnings)?;
        }
    }
    Ok(())
}

/// What [`check_every_activity`] gathers for `validate`.
struct Found<'a> {
    warnings: &'a mut Vec<String>,
    errors: &'a mut Vec<String>,
    plugins: &'a mut Vec<PluginUse>,
}

/// Like [`check_activities`], but every activity is checked and every error kept (`validate`),
/// and the plugins Copy activities use are collected.
fn check_every_activity(
    factory: &Factory,
    activities: &[Activity],
    scope: &Scope,
    found: &mut Found<'_>,
) {
    for a in activities {
        if let Err(e) = check_activity(factory, a, scope, found.warnings, found.plugins) {
            found.errors.extend(e.messages());
        }
        for inner in a.nested.values() {
            check_every_activity(factory, inner, scope, found);
        }
    }
}

/// Resolves one activity's definition (references, properties) without running it; the
/// plugins a Copy activity uses are added to `plugins`.
fn check_activity(
    factory: &Factory,
    a: &Activity,
    scope: &Scope,
    warnings: &mut Vec<String>,
    plugins: &mut Vec<PluginUse>,
) -> Result<(), ModelError> {
    match a.kind {
        ActivityKind::Copy => {
            let plan = super::copy::resolve(factory, &a.raw, &a.at, scope, warnings)?;
            plugins.extend(plan.transforms);
            plugins.extend(plan.row_mapper);
            Ok(())
        }
        ActivityKind::Lookup => {
            super::lookup::resolve(factory, &a.raw, &a.at, scope, warnings).map(drop)
        }
        ActivityKind::Script => {
            super::script::resolve(factory, &a.raw, &a.at, scope, warnings).map(drop)
        }
        ActivityKind::GetMetadata => {
            super::get_metadata::resolve(factory, &a.raw, &a.at, scope, warnings).map(drop)
        }
        ActivityKind::Delete => {
            super::delete::resolve(factory, &a.raw, &a.at, scope, warnings).map(drop)
        }
        ActivityKind::WebActivity => super::web::resolve(&a.raw, &a.at, scope, warnings).map(drop),
        // Control activities evaluate their properties when they start; their expressions'
        // syntax (and nesting depth) is checked now, and their property names. Nested lists
        // are checked as activities.
        _ => {
            super::control::check_properties(a, warnings)?;
            let Some(Value::Object(props)) = a.raw.get("typeProperties") else {
                return Ok(());
            };
            let mut errors = Vec::new();
            for (key, value) in props {
                // A Switch's `cases` hold its nested lists (checked as activities).
                if a.nested.contains_key(key) || (a.kind == ActivityKind::Switch && key == "cases")
                {
                    continue;
                }
                if let Err(e) =
                    crate::expr::validate(value, &format!("{} typeProperties.{key}", a.at))
                {
                    errors.push(ModelError::Other(e.to_string()));
                }
            }
            match errors.is_empty() {
                true => Ok(()),
                false => Err(ModelError::several(errors)),
            }
        }
    }
}

/// What `validate` found in a factory.
#[derive(Debug, Default)]
pub struct Validation {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Key Vault references, fetched only when a pipeline runs.
    pub notes: Vec<String>,
    /// The plugins Copy activities use, for a caller that knows the plugin folders to check
    /// that each is there (`engine::validate_with_plugins`).
    pub plugins: Vec<PluginUse>,
}

/// Checks every linked service, dataset, pipeline and trigger of a factory without connecting
/// anywhere.
/// Messages are masked with `book`'s redactor.
pub fn validate_factory(factory: &Factory, book: &SecretBook) -> Validation {
    let mut errors = Vec::new();
    let mut warnings = factory.notices.clone();
    let mut plugins = Vec::new();
    let collecting = book.collecting();
    let lenient = planning_scope(factory, Map::new(), book);
    // A linked service replaced with `--connection` is not read (as when the pipeline runs).
    let replaced = |name: &String| factory.pg_overrides.contains_key(name);
    for def in factory
        .linked_services
        .values()
        .filter(|d| !replaced(&d.name))
    {
        if let Err(e) =
            super::linked_service::parse(def, &def.properties, &collecting, &mut warnings)
        {
            errors.extend(e.messages());
        }
    }
    for name in factory.datasets.keys() {
        let reference = json!({"referenceName": name, "type": "DatasetReference"});
        if let Err(e) = super::dataset::resolve(
            factory,
            &reference,
            &format!("dataset '{name}'"),
            &lenient,
            &mut Vec::new(),
        ) {
            errors.extend(e.messages());
        }
    }
    for (name, def) in &factory.pipelines {
        match pipelines::load(factory, name, &mut warnings) {
            Ok(p) => {
                match p.parameter_values(&[], true) {
                    Ok(params) => {
                        let scope = planning_scope(factory, params, book);
                        let mut found = Found {
                            warnings: &mut warnings,
                            errors: &mut errors,
                            plugins: &mut plugins,
                        };
                        check_every_activity(factory, &p.activities, &scope, &mut found);
                    }
                    Err(e) => errors.extend(e.messages()),
                }
                errors.extend(super::references::check_pipeline(factory, def, &p));
            }
            Err(e) => errors.extend(e.messages()),
        }
    }
    errors.extend(super::trigger_check::check_triggers(factory, &mut warnings));
    let wanted = book.wanted();
    let notes = wanted
        .iter()
        .map(|(r, at)| {
            format!(
                "{at}: Azure Key Vault {} of linked service '{}' is fetched when the pipeline runs",
                r.describe(),
                r.store
            )
        })
        .collect();
    errors.extend(super::key_vault::vault_addresses(factory, &wanted, book, true).1);
    // A linked service's error comes back from every dataset and activity that uses it: once.
    let mut seen = BTreeSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    let warnings = super::warnings::summarize(&warnings);
    let r = book.redactor();
    Validation {
        errors: errors.iter().map(|e| r.redact(e)).collect(),
        warnings: warnings.iter().map(|w| r.redact(w)).collect(),
        notes,
        plugins,
    }
}

impl Validation {
    /// The last line `validate` prints: `valid (1 linked service, 2 datasets, 1 pipeline)` or
    /// `3 problems found`.
    pub fn summary(&self, factory: &Factory) -> String {
        if self.errors.is_empty() {
            format!(
                "valid ({}, {}, {})",
                count(factory.linked_services.len(), "linked service"),
                count(factory.datasets.len(), "dataset"),
                count(factory.pipelines.len(), "pipeline")
            )
        } else {
            format!("{} found", count(self.errors.len(), "problem"))
        }
    }
}

/// `1 pipeline`, `2 pipelines`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl RunPlan {
    /// A plain-text outline of the plan: the pipeline, its parameter values, each activity
    /// (nested lists indented) with its kind, dependencies and non-default policy, and the
    /// warnings. Stable, for fixture tests and `validate` users who want to see what will run.
    pub fn summary(&self) -> String {
        let mut out = format!("pipeline {}\n", self.pipeline.name);
        if !self.parameters.is_empty() {
            out.push_str(&format!(
                "  parameters: {}\n",
                Value::Object(self.parameters.clone())
            ));
        }
        if !self.pipeline.variables.is_empty() {
            let names: Vec<&str> = self.pipeline.variables.keys().map(String::as_str).collect();
            out.push_str(&format!("  variables: {}\n", names.join(", ")));
        }
        outline(&self.pipeline.activities, 1, &mut out);
        for w in &super::warnings::summarize(&self.warnings) {
            out.push_str(&format!("  warning: {w}\n"));
        }
        out
    }
}

fn outline(activities: &[Activity], depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for a in activities {
        out.push_str(&format!("{pad}- {} ({})", a.name, a.kind.name()));
        if !a.depends_on.is_empty() {
            let deps: Vec<String> = a
                .depends_on
                .iter()
                .map(|d| format!("{} {:?}", d.activity, d.conditions))
                .collect();
            out.push_str(&format!(" after {}", deps.join(", ")));
        }
        if a.policy.retry > 0 {
            out.push_str(&format!(" retry {}", a.policy.retry));
        }
        out.push('\n');
        for (key, inner) in &a.nested {
            out.push_str(&format!("{pad}  {key}:\n"));
            outline(inner, depth + 2, out);
        }
    }
}
