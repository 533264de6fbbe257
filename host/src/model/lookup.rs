//! The Lookup activity: `{"source": {...}, "dataset": {DatasetReference}, "firstRowOnly": true}`.

use serde_json::Value;

use super::copy::{source_plan, SourcePlan};
use super::dataset;
use super::error::ModelError;
use super::load::Factory;
use super::params::Scope;
use super::props::Props;

/// ADF returns at most this many rows (the first ones).
pub const MAX_ROWS: usize = 5000;
/// ADF fails a Lookup whose output is larger than this.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// A resolved Lookup activity.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    pub source: SourcePlan,
    /// `firstRowOnly` (default true): output `{"firstRow": {...}}` instead of
    /// `{"count": N, "value": [...]}`.
    pub first_row_only: bool,
}

/// Resolves a Lookup activity's JSON (`activity` is the whole activity object).
pub fn resolve(
    factory: &Factory,
    activity: &Value,
    at: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<LookupPlan, ModelError> {
    let tp_value = dataset::activity_type_properties(activity, at, scope)?;
    let tp = Props::of(format!("{at} typeProperties"), &tp_value)?;
    let ds = dataset::referenced(factory, &tp, at, scope, warnings, "the dataset to read")?;
    let source_p = tp
        .object("source")?
        .ok_or_else(|| tp.err("source", "is required"))?;
    let source = source_plan(ds, &source_p)?;
    let first_row_only = tp.bool("firstRowOnly")?.unwrap_or(true);
    warnings.extend(source_p.unused());
    warnings.extend(tp.unused());
    Ok(LookupPlan {
        source,
        first_row_only,
    })
}
