//! `queryPipelineRuns` and `queryActivityruns`: ADF's `RunFilterParameters` (a
//! `lastUpdatedAfter`/`lastUpdatedBefore` window, `filters` of operand/operator/values,
//! `orderBy`, `continuationToken`) turned into SQL over a fixed set of columns, every value a
//! parameter. The continuation token is the offset of the next page, as decimal text.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::runs::{
    activity_from_row, run_from_row, ActivityRunRow, RunRow, ACTIVITY_COLUMNS, RUN_COLUMNS,
};
use super::{Control, ControlError, Page};

/// The page size when the request names none (ADF's).
pub const DEFAULT_QUERY_PAGE: usize = 100;

/// A parsed `RunFilterParameters`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunQuery {
    pub last_updated_after: DateTime<Utc>,
    pub last_updated_before: DateTime<Utc>,
    pub filters: Vec<RunFilter>,
    /// Operand and whether descending.
    pub order_by: Vec<(String, bool)>,
    /// Rows to skip (from `continuationToken`).
    pub offset: u64,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunFilter {
    pub operand: String,
    /// `Equals`/`In` (true) or `NotEquals`/`NotIn` (false).
    pub include: bool,
    pub values: Vec<String>,
}

fn invalid(message: impl Into<String>) -> ControlError {
    ControlError::Invalid(message.into())
}

/// An ADF timestamp: RFC 3339, or without a zone (UTC).
pub fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ControlError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(invalid(format!(
        "{field}: {text:?} is not an ISO 8601 date and time"
    )))
}

impl RunQuery {
    /// Parses a request body; anything wrong is [`ControlError::Invalid`] naming the field.
    pub fn from_adf_json(body: &Value) -> Result<RunQuery, ControlError> {
        let time = |field: &str| -> Result<DateTime<Utc>, ControlError> {
            let text = body.get(field).and_then(Value::as_str).ok_or_else(|| {
                invalid(format!("{field} is required (an ISO 8601 date and time)"))
            })?;
            parse_time(field, text)
        };
        let last_updated_after = time("lastUpdatedAfter")?;
        let last_updated_before = time("lastUpdatedBefore")?;
        let mut filters = Vec::new();
        for f in body
            .get("filters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let operand = f
                .get("operand")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("filters[].operand is required"))?;
            let operator = f
                .get("operator")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("filters[].operator is required"))?;
            let include = match operator.to_ascii_lowercase().as_str() {
                "equals" | "in" => true,
                "notequals" | "notin" => false,
                _ => {
                    return Err(invalid(format!(
                        "filters[].operator {operator:?}: use Equals, NotEquals, In or NotIn"
                    )))
                }
            };
            let values: Vec<String> = f
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("filters[].values is required (an array of strings)"))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect();
            if values.is_empty() {
                return Err(invalid("filters[].values must not be empty"));
            }
            filters.push(RunFilter {
                operand: operand.to_string(),
                include,
                values,
            });
        }
        let mut order_by = Vec::new();
        for o in body
            .get("orderBy")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = o
                .get("orderBy")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("orderBy[].orderBy is required"))?;
            let desc = match o.get("order").and_then(Value::as_str).unwrap_or("ASC") {
                d if d.eq_ignore_ascii_case("asc") => false,
                d if d.eq_ignore_ascii_case("desc") => true,
                d => return Err(invalid(format!("orderBy[].order {d:?}: use ASC or DESC"))),
            };
            order_by.push((field.to_string(), desc));
        }
        let offset = match body.get("continuationToken") {
            None | Some(Value::Null) => 0,
            Some(Value::String(t)) => t
                .parse::<u64>()
                .map_err(|_| invalid("continuationToken is not valid"))?,
            Some(_) => return Err(invalid("continuationToken is not valid")),
        };
        Ok(RunQuery {
            last_updated_after,
            last_updated_before,
            filters,
            order_by,
            offset,
            limit: DEFAULT_QUERY_PAGE,
        })
    }
}

/// How an operand reads in SQL.
#[derive(Clone, Copy)]
pub(super) enum Column {
    /// Compared lower-cased.
    Text(&'static str),
    Time(&'static str),
    Id(&'static str),
    /// `LatestOnly`: values `true`/`false`.
    Latest,
}

const PIPELINE_OPERANDS: &[(&str, Column)] = &[
    ("PipelineName", Column::Text("r.pipeline_name")),
    ("Status", Column::Text("r.status")),
    ("RunStart", Column::Time("r.run_start")),
    ("RunEnd", Column::Time("r.run_end")),
    ("RunGroupId", Column::Id("r.run_group_id")),
    ("RunId", Column::Id("r.run_id")),
    ("LatestOnly", Column::Latest),
];

const ACTIVITY_OPERANDS: &[(&str, Column)] = &[
    ("ActivityName", Column::Text("a.activity_name")),
    ("ActivityType", Column::Text("a.activity_type")),
    ("ActivityRunStart", Column::Time("a.activity_run_start")),
    ("ActivityRunEnd", Column::Time("a.activity_run_end")),
    ("Status", Column::Text("a.status")),
];

const PIPELINE_ORDER: &[(&str, &str)] = &[
    ("RunStart", "r.run_start"),
    ("RunEnd", "r.run_end"),
    ("PipelineName", "lower(r.pipeline_name)"),
    ("Status", "r.status"),
];

const ACTIVITY_ORDER: &[(&str, &str)] = &[
    ("ActivityName", "lower(a.activity_name)"),
    ("ActivityRunStart", "a.activity_run_start"),
    ("ActivityRunEnd", "a.activity_run_end"),
    ("Status", "a.status"),
];

pub(super) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

fn lookup<T: Copy>(table: &[(&str, T)], name: &str, what: &str) -> Result<T, ControlError> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            invalid(format!(
                "{what} {name:?} is not supported here; use one of {}",
                names.join(", ")
            ))
        })
}

/// The WHERE conditions of `q`'s filters (appended to `params`) and its ORDER BY list.
pub(super) fn filter_sql(
    q: &RunQuery,
    operands: &[(&str, Column)],
    order: &[(&str, &str)],
    latest: &str,
    params: &mut Params,
) -> Result<(String, String), ControlError> {
    let mut conditions = String::new();
    for f in &q.filters {
        let column = lookup(operands, &f.operand, "filter operand")?;
        let (expr, nullable) = match column {
            Column::Text(c) => {
                let values: Vec<String> = f.values.iter().map(|v| v.to_lowercase()).collect();
                params.push(Box::new(values));
                (format!("lower({c})"), false)
            }
            Column::Time(c) => {
                let values = f
                    .values
                    .iter()
                    .map(|v| parse_time(&f.operand, v))
                    .collect::<Result<Vec<_>, _>>()?;
                params.push(Box::new(values));
                (c.to_string(), true)
            }
            Column::Id(c) => {
                let values = f
                    .values
                    .iter()
                    .map(|v| {
                        Uuid::parse_str(v)
                            .map_err(|_| invalid(format!("{}: {v:?} is not a run id", f.operand)))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                params.push(Box::new(values));
                (c.to_string(), false)
            }
            Column::Latest => {
                let values = f
                    .values
                    .iter()
                    .map(|v| match v.to_ascii_lowercase().as_str() {
                        "true" => Ok(true),
                        "false" => Ok(false),
                        _ => Err(invalid(format!("LatestOnly: {v:?} is not true or false"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                params.push(Box::new(values));
                (latest.to_string(), false)
            }
        };
        let n = params.len();
        let condition = match (f.include, nullable) {
            (true, _) => format!("{expr} = ANY(${n})"),
            (false, false) => format!("{expr} <> ALL(${n})"),
            (false, true) => format!("({expr} IS NULL OR {expr} <> ALL(${n}))"),
        };
        conditions.push_str(" AND ");
        conditions.push_str(&condition);
    }
    let mut order_sql = Vec::new();
    for (name, desc) in &q.order_by {
        let column = lookup(order, name, "orderBy")?;
        order_sql.push(format!("{column} {}", if *desc { "DESC" } else { "ASC" }));
    }
    Ok((conditions, order_sql.join(", ")))
}

/// The first five parameters of a run query of one factory and the conditions reading them:
/// the tenant, the factory (by resource group and name, case-insensitive) and the
/// `lastUpdatedAfter`/`lastUpdatedBefore` window on `{alias}.last_updated`. `f` is the
/// factories table joined on the runs' `factory_id`.
pub(super) fn factory_window(
    tenant: Uuid,
    rg: &str,
    factory: &str,
    q: &RunQuery,
    alias: &str,
) -> (Params, String) {
    let params: Params = vec![
        Box::new(tenant),
        Box::new(rg.to_string()),
        Box::new(factory.to_string()),
        Box::new(q.last_updated_after),
        Box::new(q.last_updated_before),
    ];
    let sql = format!(
        "f.tenant_id = $1 AND lower(f.resource_group) = lower($2) AND lower(f.name) = lower($3) \
         AND {alias}.last_updated >= $4 AND {alias}.last_updated <= $5"
    );
    (params, sql)
}

pub(super) fn limits(q: &RunQuery, params: &mut Params) -> String {
    let limit = q.limit.clamp(1, super::paging::MAX_PAGE);
    params.push(Box::new(i64::try_from(limit + 1).unwrap_or(1001)));
    params.push(Box::new(i64::try_from(q.offset).unwrap_or(i64::MAX)));
    format!("LIMIT ${} OFFSET ${}", params.len() - 1, params.len())
}

pub(super) fn paged<T>(mut rows: Vec<T>, q: &RunQuery) -> Page<T> {
    let limit = q.limit.clamp(1, super::paging::MAX_PAGE);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more.then(|| (q.offset + limit as u64).to_string());
    Page { items: rows, next }
}

pub(super) fn refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl Control {
    /// The runs of the tenant's factory that `q` selects; `next` is the continuation token.
    pub async fn query_runs(
        &self,
        tenant: Uuid,
        rg: &str,
        factory: &str,
        q: &RunQuery,
    ) -> Result<Page<RunRow>, ControlError> {
        let (mut params, window) = factory_window(tenant, rg, factory, q, "r");
        let latest =
            "NOT EXISTS (SELECT 1 FROM sluice.runs l WHERE l.run_group_id = r.run_group_id \
                      AND l.queued_at > r.queued_at)";
        let (conditions, order) =
            filter_sql(q, PIPELINE_OPERANDS, PIPELINE_ORDER, latest, &mut params)?;
        let order = if order.is_empty() {
            "r.run_start DESC NULLS FIRST".to_string()
        } else {
            order
        };
        let limit = limits(q, &mut params);
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM sluice.runs r JOIN sluice.factories f ON f.id = r.factory_id \
             WHERE {window}{conditions} \
             ORDER BY {order}, r.queued_at, r.run_id {limit}"
        );
        let client = self.pool.get().await?;
        let rows = client.query(&sql, &refs(&params)).await?;
        Ok(paged(rows.iter().map(run_from_row).collect(), q))
    }

    /// The activity runs of the tenant's run `run_id` that `q` selects (in the order they
    /// started unless `q` orders them).
    pub async fn query_activity_runs(
        &self,
        tenant: Uuid,
        run_id: Uuid,
        q: &RunQuery,
    ) -> Result<Page<ActivityRunRow>, ControlError> {
        let mut params: Params = vec![
            Box::new(tenant),
            Box::new(run_id),
            Box::new(q.last_updated_after),
            Box::new(q.last_updated_before),
        ];
        let (conditions, order) =
            filter_sql(q, ACTIVITY_OPERANDS, ACTIVITY_ORDER, "true", &mut params)?;
        let order = if order.is_empty() {
            "a.seq".to_string()
        } else {
            format!("{order}, a.seq")
        };
        let limit = limits(q, &mut params);
        let sql = format!(
            "SELECT {ACTIVITY_COLUMNS} FROM sluice.activity_runs a JOIN sluice.runs r ON r.run_id = a.run_id \
             WHERE r.tenant_id = $1 AND a.run_id = $2 \
             AND a.last_updated >= $3 AND a.last_updated <= $4{conditions} \
             ORDER BY {order} {limit}"
        );
        let client = self.pool.get().await?;
        let rows = client.query(&sql, &refs(&params)).await?;
        Ok(paged(rows.iter().map(activity_from_row).collect(), q))
    }
}

impl<T> Page<T> {
    /// ADF's query response: `{"value": [...], "continuationToken": ...}`.
    pub fn to_adf_json(&self, item: impl Fn(&T) -> Value) -> Value {
        json!({
            "value": self.items.iter().map(item).collect::<Vec<_>>(),
            "continuationToken": self.next,
        })
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
