//! What a JSON value's expressions refer to by literal name: `activity('X')`, `variables('v')`
//! and `pipeline().parameters.p` (or `['p']`). `validate` checks these against the pipeline
//! without running anything, so a misspelt name is caught before the run that would fail on it.

use serde_json::Value;

use super::parser::{Expr, ExprKind};
use super::{expression_object, is_secure_string, join_path, parse_template};

/// What a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Activity,
    Variable,
    Parameter,
}

/// One literal reference found in a value, with the property path it was found at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: RefKind,
    pub name: String,
    /// The property within the value (`value`, `source.query`), joined to the caller's `at`.
    pub at: String,
}

/// Every literal reference in `v`'s expressions, in order; strings that do not parse are
/// skipped (their syntax is reported by [`super::validate`]).
pub fn references(v: &Value, at: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    collect(v, at, &mut out);
    out
}

fn collect(v: &Value, at: &str, out: &mut Vec<Reference>) {
    match v {
        Value::String(s) if s.contains('@') => {
            if let Ok(t) = parse_template(s) {
                for e in t.expressions() {
                    visit(e, at, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, &format!("{at}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            if let Some(s) = expression_object(v) {
                collect(&Value::String(s.to_string()), at, out);
            } else if !is_secure_string(v) {
                for (k, item) in map {
                    collect(item, &join_path(at, k), out);
                }
            }
        }
        _ => {}
    }
}

/// The literal string an expression is, if it is one.
fn literal(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Str(s) => Some(s),
        _ => None,
    }
}

/// True for `pipeline().parameters`.
fn is_parameters(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Member { base, name, .. } => {
            name.eq_ignore_ascii_case("parameters")
                && matches!(&base.kind, ExprKind::Call { name, args }
                    if args.is_empty() && name.eq_ignore_ascii_case("pipeline"))
        }
        _ => false,
    }
}

fn visit(e: &Expr, at: &str, out: &mut Vec<Reference>) {
    let mut push = |kind, name: &str| {
        out.push(Reference {
            kind,
            name: name.to_string(),
            at: at.to_string(),
        })
    };
    match &e.kind {
        ExprKind::Call { name, args } => {
            let first = args.first().and_then(literal);
            if let Some(n) = first {
                if name.eq_ignore_ascii_case("activity") {
                    push(RefKind::Activity, n);
                } else if name.eq_ignore_ascii_case("variables") {
                    push(RefKind::Variable, n);
                }
            }
            for a in args {
                visit(a, at, out);
            }
        }
        ExprKind::Member { base, name, .. } => {
            if is_parameters(base) {
                push(RefKind::Parameter, name);
            }
            visit(base, at, out);
        }
        ExprKind::Index { base, index, .. } => {
            if let Some(n) = literal(index).filter(|_| is_parameters(base)) {
                push(RefKind::Parameter, n);
            }
            visit(base, at, out);
            visit(index, at, out);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_activities_variables_and_parameters_with_their_paths() {
        let v = json!({
            "value": "@concat(variables('v'), pipeline().parameters.p, pipeline().parameters['q'])",
            "inner": {"x": ["@{activity('A').output.count}"]},
            "broken": "@add(1,",
            "secret": {"type": "SecureString", "value": "@variables('hidden')"}
        });
        let found: Vec<(RefKind, String, String)> = references(&v, "tp")
            .into_iter()
            .map(|r| (r.kind, r.name, r.at))
            .collect();
        assert_eq!(
            found,
            vec![
                (RefKind::Variable, "v".into(), "tp.value".into()),
                (RefKind::Parameter, "p".into(), "tp.value".into()),
                (RefKind::Parameter, "q".into(), "tp.value".into()),
                (RefKind::Activity, "A".into(), "tp.inner.x[0]".into()),
            ]
        );
    }
}
