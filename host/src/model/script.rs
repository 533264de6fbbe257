//! The Script activity on a PostgreSQL linked service: `{"linkedServiceName": {...},
//! "typeProperties": {"scripts": [{"type": "Query"|"NonQuery", "text": "...",
//! "parameters": [{"name", "type", "value", "direction"}]}], "scriptBlockExecutionTimeout"}}`.
//!
//! Parameters are bound, never spliced into the SQL: write them as `$1`, `$2`, ... in the text,
//! numbered in the order the `parameters` list gives (PostgreSQL's own placeholder syntax).
//! A block without parameters may hold several statements (`TRUNCATE t; INSERT ...;
//! SELECT ...`): they are split here ([`split::split_statements`]) and run in one transaction.

mod split;

use std::time::Duration;

use serde_json::Value;

use super::dataset;
use super::error::ModelError;
use super::linked_service::LinkedService;
use super::load::Factory;
use super::params::{substitute, Scope};
use super::props::Props;
use super::timespan::parse_timespan;
use crate::model::pg_endpoint::PgEndpoint;

/// What one script block returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// Returns rows (`resultSets`).
    Query,
    /// Returns the number of rows affected (`recordsAffected`).
    NonQuery,
}

/// One entry of `scripts`.
#[derive(Debug, Clone)]
pub struct ScriptBlock {
    pub kind: ScriptKind,
    pub text: String,
    /// `text`'s statements in order: one for a block with parameters, which the extended
    /// protocol binds in a single statement.
    pub statements: Vec<String>,
    /// Input parameter values in `$n` order; `None` is SQL NULL. Sent in text form, so
    /// PostgreSQL parses each as the type its placeholder needs.
    pub parameters: Vec<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct ScriptPlan {
    pub endpoint: PgEndpoint,
    pub scripts: Vec<ScriptBlock>,
    /// `scriptBlockExecutionTimeout` (default 02:00:00), enforced on the server.
    pub timeout: Duration,
}

/// Resolves a Script activity's JSON.
pub fn resolve(
    factory: &Factory,
    activity: &Value,
    at: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<ScriptPlan, ModelError> {
    let act = Props::of(at.to_string(), activity)?;
    let ls = act.object("linkedServiceName")?.ok_or_else(|| {
        act.err(
            "linkedServiceName",
            "is required: the PostgreSQL server to run on",
        )
    })?;
    let ls_name = ls.req_str("referenceName")?;
    ls.accept("type");
    let given = match ls.get("parameters") {
        Some(p) => Some(substitute(p, scope, at)?),
        None => None,
    };
    let endpoint = match dataset::linked(factory, ls_name, given.as_ref(), at, scope, warnings)? {
        LinkedService::Postgres(ep) => ep,
        _ => {
            return Err(act.err(
                "linkedServiceName",
                format!("'{ls_name}' is not a PostgreSQL linked service"),
            ))
        }
    };
    let tp_value = substitute(act.get("typeProperties").unwrap_or(&Value::Null), scope, at)?;
    let tp = Props::of(format!("{at} typeProperties"), &tp_value)?;
    let timeout = match tp.str("scriptBlockExecutionTimeout")? {
        Some(s) => parse_timespan(s).map_err(|e| tp.err("scriptBlockExecutionTimeout", e))?,
        None => Duration::from_secs(2 * 3600),
    };
    tp.accept("logSettings");
    let items = tp
        .array("scripts")?
        .ok_or_else(|| tp.err("scripts", "is required"))?;
    let mut scripts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = Props::of(format!("{}.scripts[{i}]", tp.path), item)?;
        let kind = match p.req_str("type")? {
            k if k.eq_ignore_ascii_case("Query") => ScriptKind::Query,
            k if k.eq_ignore_ascii_case("NonQuery") => ScriptKind::NonQuery,
            other => return Err(p.err("type", format!("{other:?} is not Query or NonQuery"))),
        };
        let text = p.req_str("text")?.to_string();
        let mut parameters = Vec::new();
        for (j, param) in p.array("parameters")?.into_iter().flatten().enumerate() {
            let pp = Props::of(format!("{}.parameters[{j}]", p.path), param)?;
            pp.accept("name");
            pp.accept("type");
            pp.accept("size");
            if let Some(d) = pp.str("direction")? {
                if !d.eq_ignore_ascii_case("Input") {
                    return Err(pp.err(
                        "direction",
                        format!("{d:?}: only Input parameters are supported on PostgreSQL"),
                    ));
                }
            }
            parameters.push(match pp.get("value") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            });
        }
        let statements = split::split_statements(&text);
        if statements.is_empty() {
            return Err(p.err("text", "holds no SQL statement"));
        }
        if !parameters.is_empty() && statements.len() > 1 {
            return Err(p.err(
                "text",
                format!(
                    "a block with parameters must hold one statement (PostgreSQL binds \
                     parameters to a single statement); this one holds {}: split it into \
                     several script blocks",
                    statements.len()
                ),
            ));
        }
        warnings.extend(p.unused());
        scripts.push(ScriptBlock {
            kind,
            text,
            statements,
            parameters,
        });
    }
    warnings.extend(tp.unused());
    Ok(ScriptPlan {
        endpoint,
        scripts,
        timeout,
    })
}
