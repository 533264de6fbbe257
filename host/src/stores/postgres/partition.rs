//! Partitioned reads (`partitionOption` `DynamicRange` / `PhysicalPartitionsOfTable`): planning
//! the partitions on the coordinator connection, inside the snapshot every reader shares.
//!
//! Values never go into SQL text. Bounds are cast by the server from bound text parameters;
//! each range's limits reach its `COPY` (which takes no bind parameters) through
//! transaction-local settings set with `set_config($1, $2, true)` and read back with
//! `current_setting(...)` inside a scalar subquery (an InitPlan, evaluated once per scan, which
//! the planner still uses for index scans and partition pruning). Column and partition names are
//! quoted identifiers.

use std::sync::Mutex;
use std::time::Duration;

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::model::copy::{PgPartitioning, SourceQuery, PARTITION_NAME_HOOK, RANGE_HOOK};
use crate::stores::{StoreError, StoreErrorKind};
use crate::types::ident::{quote_ident, TableName};

/// Partitions read at once (and ranges made) when `parallelCopies` is not set.
pub const DEFAULT_PARALLEL_COPIES: u32 = 4;

/// The settings a range's condition reads its limits from.
const LOWER_SETTING: &str = "sluice.partition_lower";
const UPPER_SETTING: &str = "sluice.partition_upper";

/// One partition to read: a SELECT with the shape of the described query.
#[derive(Debug, Clone)]
pub struct Part {
    /// For stats and errors: the range or partition name.
    pub label: String,
    pub sql: String,
    /// Transaction-local settings (name, value) the SELECT reads its limits from.
    pub settings: Vec<(&'static str, String)>,
}

/// The planned partitioned read.
#[derive(Debug, Clone)]
pub struct PartitionPlan {
    /// `DynamicRange` or `PhysicalPartitionsOfTable`.
    pub option: &'static str,
    /// The SELECT that gives the read's columns.
    pub describe_sql: String,
    pub parts: Vec<Part>,
    /// Readers that run at once (at least 1).
    pub degree: usize,
}

/// What a partitioned read did, filled while it runs (the copy output reports it).
#[derive(Debug, Default)]
pub struct ReadReport {
    pub option: &'static str,
    /// Readers that ran at once.
    pub parallel_copies: u32,
    pub partitions: usize,
    pub done: Mutex<Vec<PartStat>>,
}

/// One partition's read.
#[derive(Debug, Clone)]
pub struct PartStat {
    pub label: String,
    pub rows: u64,
    pub bytes: u64,
    pub duration: Duration,
}

impl ReadReport {
    pub fn record(&self, stat: PartStat) {
        match self.done.lock() {
            Ok(mut v) => v.push(stat),
            Err(poisoned) => poisoned.into_inner().push(stat),
        }
    }

    pub fn stats(&self) -> Vec<PartStat> {
        match self.done.lock() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The column types `DynamicRange` can split, with how the server turns a value into a count
/// of units (integers, days, microseconds) and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Int,
    Date,
    Timestamp,
    Timestamptz,
    Time,
}

impl RangeKind {
    fn of(ty: &Type) -> Option<RangeKind> {
        Some(match *ty {
            Type::INT2 | Type::INT4 | Type::INT8 => RangeKind::Int,
            Type::DATE => RangeKind::Date,
            Type::TIMESTAMP => RangeKind::Timestamp,
            Type::TIMESTAMPTZ => RangeKind::Timestamptz,
            Type::TIME => RangeKind::Time,
            _ => return None,
        })
    }

    /// The type limits are cast to (integers compare with int8 across widths).
    fn cast(self) -> &'static str {
        match self {
            RangeKind::Int => "int8",
            RangeKind::Date => "date",
            RangeKind::Timestamp => "timestamp",
            RangeKind::Timestamptz => "timestamptz",
            RangeKind::Time => "time",
        }
    }

    /// SQL giving the units (int8) of the value of expression `x`.
    fn units(self, x: &str) -> String {
        match self {
            RangeKind::Int => format!("({x})::int8"),
            RangeKind::Date => format!("(({x}) - DATE '2000-01-01')::int8"),
            RangeKind::Timestamp | RangeKind::Timestamptz | RangeKind::Time => {
                format!("(extract(epoch FROM ({x})) * 1000000)::int8")
            }
        }
    }

    /// SQL giving the value of the units in int8 expression `u`.
    fn value_of_units(self, u: &str) -> String {
        let micros = |start: &str| {
            format!(
                "{start} + ({u} / 1000000) * INTERVAL '1 second' + ({u} % 1000000) * INTERVAL '1 microsecond'"
            )
        };
        match self {
            RangeKind::Int => u.to_string(),
            RangeKind::Date => format!("DATE '2000-01-01' + ({u})::int4"),
            RangeKind::Timestamp => micros("TIMESTAMP 'epoch'"),
            RangeKind::Timestamptz => micros("TIMESTAMPTZ 'epoch'"),
            RangeKind::Time => micros("TIME '00:00'"),
        }
    }

    /// Whether infinite values exist (left out when finding the minimum and maximum).
    fn has_infinity(self) -> bool {
        matches!(
            self,
            RangeKind::Date | RangeKind::Timestamp | RangeKind::Timestamptz
        )
    }
}

/// ADF's error for a partition column of another type (AzurePostgreSqlNpgsqlDataTypeNotSupported).
pub fn unsupported_type_message(column: &str, ty: &str) -> String {
    format!(
        "The data type of the chosen Partition Column, '{column}', is '{ty}' and this data type is not supported for partitioning. \
         Pick a partition column with int, bigint, smallint, serial, bigserial, smallserial, timestamp with or without time zone, \
         time without time zone or date data type."
    )
}

/// ADF's error when no partition column is given or found (AzurePostgreSqlNpgsqlPartitionColumnNameNotProvided).
pub const NO_COLUMN_MESSAGE: &str = "Partition column name must be specified.";

/// Plans the partitions on `client`, which is inside the shared snapshot.
pub async fn plan(
    client: &Client,
    query: &SourceQuery,
    partitioning: &PgPartitioning,
    parallel_copies: Option<u32>,
    dataset: &str,
) -> Result<PartitionPlan, StoreError> {
    let wanted = parallel_copies.unwrap_or(DEFAULT_PARALLEL_COPIES).max(1) as usize;
    let fail = |e: StoreError| e.context(format_args!("dataset '{dataset}'"));
    let (option, describe_sql, parts) = match partitioning {
        PgPartitioning::None => {
            return Err(fail(StoreError::new(
                "internal error: planning partitions of an unpartitioned read",
            )))
        }
        PgPartitioning::DynamicRange {
            column,
            lower,
            upper,
        } => {
            let (describe_sql, parts) = dynamic_range(
                client,
                query,
                column.as_deref(),
                lower.as_deref(),
                upper.as_deref(),
                wanted,
            )
            .await
            .map_err(fail)?;
            ("DynamicRange", describe_sql, parts)
        }
        PgPartitioning::Physical { names, table } => {
            let (describe_sql, parts) = physical(client, query, names.as_deref(), table.as_ref())
                .await
                .map_err(fail)?;
            ("PhysicalPartitionsOfTable", describe_sql, parts)
        }
    };
    let degree = wanted.min(parts.len()).max(1);
    Ok(PartitionPlan {
        option,
        describe_sql,
        parts,
        degree,
    })
}

fn base_query(query: &SourceQuery) -> String {
    match query {
        SourceQuery::Query(q) => q.trim().trim_end_matches(';').trim().to_string(),
        SourceQuery::Table(t) => format!("SELECT * FROM {}", t.quoted()),
    }
}

/// The first column of the table's primary key.
async fn primary_key(client: &Client, table: &TableName) -> Result<Option<String>, StoreError> {
    let rows = client
        .query(
            "SELECT a.attname::text FROM pg_index i \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary",
            &[&table.quoted()],
        )
        .await
        .map_err(|e| {
            StoreError::postgres(format_args!("cannot find the primary key of {table}"), &e)
        })?;
    Ok(rows.first().map(|r| r.get(0)))
}

async fn dynamic_range(
    client: &Client,
    query: &SourceQuery,
    column: Option<&str>,
    lower: Option<&str>,
    upper: Option<&str>,
    wanted: usize,
) -> Result<(String, Vec<Part>), StoreError> {
    let base = base_query(query);
    let hook = matches!(query, SourceQuery::Query(q) if q.contains(RANGE_HOOK));
    let column = match (column, query) {
        (Some(c), _) => c.to_string(),
        (None, SourceQuery::Table(t)) => primary_key(client, t).await?.ok_or_else(|| {
            definition(format!("{NO_COLUMN_MESSAGE} Table {t} has no primary key: set partitionSettings.partitionColumnName"))
        })?,
        (None, SourceQuery::Query(_)) => return Err(definition(NO_COLUMN_MESSAGE)),
    };
    let col = quote_ident(&column);
    let with_condition = |cond: &str| -> String {
        if hook {
            base.replace(RANGE_HOOK, &format!("({cond})"))
        } else {
            match query {
                SourceQuery::Table(t) => format!("SELECT * FROM {} WHERE {cond}", t.quoted()),
                SourceQuery::Query(_) => format!("SELECT * FROM ({base}) AS q WHERE {cond}"),
            }
        }
    };
    let describe_sql = with_condition("TRUE");

    // The column's type, as the server infers a parameter compared with it.
    let probe = client
        .prepare(&with_condition(&format!("{col} >= $1")))
        .await
        .map_err(|e| {
            StoreError::postgres(
                format_args!("partitionColumnName '{column}' cannot be used"),
                &e,
            )
        })?;
    let ty = probe.params().first().cloned().ok_or_else(|| {
        definition(format!(
            "partitionColumnName '{column}': the server inferred no type"
        ))
    })?;
    let kind = RangeKind::of(&ty)
        .ok_or_else(|| definition(unsupported_type_message(&column, ty.name())))?;

    let mut lo = match lower {
        Some(v) => Some(to_units(client, kind, v, "partitionLowerBound").await?),
        None => None,
    };
    let mut hi = match upper {
        Some(v) => Some(to_units(client, kind, v, "partitionUpperBound").await?),
        None => None,
    };
    if let (Some(l), Some(h)) = (lo, hi) {
        if l > h {
            return Err(definition(format!(
                "partitionLowerBound ({}) is greater than partitionUpperBound ({})",
                lower.unwrap_or_default(),
                upper.unwrap_or_default()
            )));
        }
    }
    if lo.is_none() || hi.is_none() {
        let finite = if kind.has_infinity() {
            format!(" WHERE isfinite(q.{col})")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {}, {} FROM ({describe_sql}) AS q{finite}",
            kind.units(&format!("min(q.{col})")),
            kind.units(&format!("max(q.{col})"))
        );
        let row = client.query_one(sql.as_str(), &[]).await.map_err(|e| {
            StoreError::postgres(
                format_args!("cannot find the minimum and maximum of partition column '{column}' (set partitionLowerBound and partitionUpperBound)"),
                &e,
            )
        })?;
        lo = lo.or(row.get::<_, Option<i64>>(0));
        hi = hi.or(row.get::<_, Option<i64>>(1));
    }
    let (lo, hi) = match (lo, hi) {
        (Some(l), Some(h)) => (l, h.max(l)),
        // No bounds and no values: one partition reads everything (NULLs, or nothing).
        _ => {
            return Ok((
                describe_sql.clone(),
                vec![Part {
                    label: format!("{column}: all rows"),
                    sql: describe_sql,
                    settings: Vec::new(),
                }],
            ))
        }
    };
    let cuts = cut_points(lo, hi, wanted);
    // The server turns the cut units into values of the column's type, sorted and distinct,
    // so the ranges below cover every value exactly once whatever the rounding.
    let sql = format!(
        "SELECT t FROM (SELECT DISTINCT v, v::text AS t FROM (SELECT {} AS v FROM unnest($1::int8[]) AS u) s) d ORDER BY v",
        kind.value_of_units("u")
    );
    let cuts: Vec<String> = client
        .query(sql.as_str(), &[&cuts])
        .await
        .map_err(|e| StoreError::postgres("cannot compute the partition ranges", &e))?
        .iter()
        .map(|r| r.get(0))
        .collect();

    // A scalar subquery is an InitPlan: evaluated once per scan, not once per row as a bare
    // `current_setting()` in a filter would be; index scans and partition pruning still apply.
    let limit = |setting: &str| {
        format!(
            "(SELECT CAST(current_setting('{setting}') AS {}))",
            kind.cast()
        )
    };
    let (lower_limit, upper_limit) = (limit(LOWER_SETTING), limit(UPPER_SETTING));
    let mut parts = Vec::with_capacity(cuts.len() + 1);
    if cuts.is_empty() {
        parts.push(Part {
            label: format!("{column}: all rows"),
            sql: describe_sql.clone(),
            settings: Vec::new(),
        });
    }
    for (i, cut) in cuts.iter().enumerate() {
        if i == 0 {
            parts.push(Part {
                label: format!("{column} < {cut}"),
                sql: with_condition(&format!("{col} < {upper_limit}")),
                settings: vec![(UPPER_SETTING, cut.clone())],
            });
        } else {
            let prev = &cuts[i - 1];
            parts.push(Part {
                label: format!("{prev} <= {column} < {cut}"),
                sql: with_condition(&format!("{col} >= {lower_limit} AND {col} < {upper_limit}")),
                settings: vec![(LOWER_SETTING, prev.clone()), (UPPER_SETTING, cut.clone())],
            });
        }
        if i + 1 == cuts.len() {
            parts.push(Part {
                label: format!("{column} >= {cut} or NULL"),
                sql: with_condition(&format!("{col} >= {lower_limit} OR {col} IS NULL")),
                settings: vec![(LOWER_SETTING, cut.clone())],
            });
        }
    }
    Ok((describe_sql, parts))
}

/// A bound's units, cast by the server from the bound text to the column's type.
async fn to_units(
    client: &Client,
    kind: RangeKind,
    value: &str,
    key: &str,
) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT {}",
        kind.units(&format!("$1::text::{}", kind.cast()))
    );
    let row = client
        .query_one(sql.as_str(), &[&value])
        .await
        .map_err(|e| {
            StoreError::postgres(
                format_args!("{key} {value:?} is not a valid {}", kind.cast()),
                &e,
            )
        })?;
    row.try_get::<_, Option<i64>>(0)
        .ok()
        .flatten()
        .ok_or_else(|| definition(format!("{key} {value:?} is not a valid {}", kind.cast())))
}

/// Split points between `wanted` ranges of about equal width over `[lo, hi]`: ADF's stride
/// (bounds 1..80 in 4 give [1,20] [21,40] [41,60] [61,80], cut at 21, 41, 61).
fn cut_points(lo: i64, hi: i64, wanted: usize) -> Vec<i64> {
    let width = i128::from(hi) - i128::from(lo) + 1;
    let n = (wanted as i128).min(width).max(1);
    (1..n)
        .map(|k| (i128::from(lo) + k * width / n) as i64)
        .collect()
}

/// `PhysicalPartitionsOfTable`.
async fn physical(
    client: &Client,
    query: &SourceQuery,
    names: Option<&[String]>,
    table: Option<&TableName>,
) -> Result<(String, Vec<Part>), StoreError> {
    // Every partition below the table, with whether it is a leaf.
    let tree: Vec<(TableName, bool)> = match table {
        Some(t) => client
            .query(
                "SELECT n.nspname::text, c.relname::text, p.isleaf \
                 FROM pg_partition_tree($1::text::regclass) p \
                 JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE p.level > 0 ORDER BY n.nspname, c.relname",
                &[&t.quoted()],
            )
            .await
            .map_err(|e| {
                StoreError::postgres(format_args!("cannot list the partitions of {t}"), &e)
            })?
            .iter()
            .map(|r| {
                (
                    TableName {
                        schema: Some(r.get(0)),
                        table: r.get(1),
                    },
                    r.get(2),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let chosen: Vec<TableName> = match names {
        Some(names) => names
            .iter()
            .map(|name| resolve_partition(name, table, &tree))
            .collect::<Result<_, _>>()?,
        None => {
            let leaves: Vec<TableName> = tree
                .iter()
                .filter(|(_, leaf)| *leaf)
                .map(|(t, _)| t.clone())
                .collect();
            match (leaves.is_empty(), table) {
                // Not a partitioned table (or one without partitions): read the table itself.
                (true, Some(t)) if !is_partitioned(client, t).await? => vec![t.clone()],
                _ => leaves,
            }
        }
    };
    match query {
        SourceQuery::Table(t) => {
            // Partitions may order their columns differently: select the parent's, by name.
            let describe_sql = format!("SELECT * FROM {}", t.quoted());
            let stmt = client.prepare(&describe_sql).await.map_err(|e| {
                StoreError::postgres(format_args!("source table {t} cannot be read"), &e)
            })?;
            let cols = stmt
                .columns()
                .iter()
                .map(|c| quote_ident(c.name()))
                .collect::<Vec<_>>()
                .join(", ");
            let parts = chosen
                .iter()
                .map(|p| Part {
                    label: p.to_string(),
                    sql: format!("SELECT {cols} FROM {}", p.quoted()),
                    settings: Vec::new(),
                })
                .collect();
            Ok((describe_sql, parts))
        }
        SourceQuery::Query(q) => {
            let base = q.trim().trim_end_matches(';').trim();
            let parts: Vec<Part> = chosen
                .iter()
                .map(|p| Part {
                    label: p.to_string(),
                    sql: base.replace(PARTITION_NAME_HOOK, &p.quoted()),
                    settings: Vec::new(),
                })
                .collect();
            let describe_sql = match (parts.first(), table) {
                (Some(p), _) => p.sql.clone(),
                (None, Some(t)) => base.replace(PARTITION_NAME_HOOK, &t.quoted()),
                (None, None) => return Err(definition("no partition to read")),
            };
            // Every partition must give the same columns (a `SELECT *` over partitions whose
            // columns are ordered differently would not).
            let shape = |sql: String| async move {
                client.prepare(&sql).await.map(|s| {
                    s.columns()
                        .iter()
                        .map(|c| (c.name().to_string(), c.type_().clone()))
                        .collect::<Vec<_>>()
                })
            };
            let expected = shape(describe_sql.clone())
                .await
                .map_err(|e| StoreError::postgres("source query cannot be read", &e))?;
            for p in &parts {
                let got = shape(p.sql.clone()).await.map_err(|e| {
                    StoreError::postgres(
                        format_args!("source query on partition {} cannot be read", p.label),
                        &e,
                    )
                })?;
                if got != expected {
                    return Err(definition(format!(
                        "the source query returns different columns for partition {} than for {}; select the columns by name",
                        p.label,
                        parts.first().map_or("the table", |f| f.label.as_str())
                    )));
                }
            }
            Ok((describe_sql, parts))
        }
    }
}

async fn is_partitioned(client: &Client, table: &TableName) -> Result<bool, StoreError> {
    client
        .query_one(
            "SELECT relkind = 'p' FROM pg_class WHERE oid = $1::text::regclass",
            &[&table.quoted()],
        )
        .await
        .map(|r| r.get(0))
        .map_err(|e| StoreError::postgres(format_args!("cannot read table {table}"), &e))
}

/// A `partitionNames` entry: a partition of the table (by name, or `schema.name`), or, when
/// the dataset names no table, any table name.
fn resolve_partition(
    name: &str,
    table: Option<&TableName>,
    tree: &[(TableName, bool)],
) -> Result<TableName, StoreError> {
    let parsed = TableName::parse(name).map_err(|e| definition(format!("partitionNames: {e}")))?;
    let Some(t) = table else {
        return Ok(parsed);
    };
    let found = tree.iter().map(|(p, _)| p).find(|p| {
        p.table == parsed.table
            && parsed
                .schema
                .as_ref()
                .is_none_or(|s| p.schema.as_ref() == Some(s))
    });
    found.cloned().ok_or_else(|| {
        let known: Vec<String> = tree.iter().map(|(p, _)| p.table.clone()).collect();
        StoreError::with_kind(
            StoreErrorKind::NotFound,
            format!(
                "partitionNames: '{name}' is not a partition of table {t} (its partitions: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )
    })
}

/// A problem with the partition settings or the query that the user must fix.
fn definition(msg: impl Into<String>) -> StoreError {
    StoreError::with_kind(StoreErrorKind::Definition, msg)
}

/// Applies a part's settings (transaction-local) before its COPY; values are bound.
pub async fn apply_settings(client: &Client, part: &Part) -> Result<(), tokio_postgres::Error> {
    for (name, value) in &part.settings {
        client
            .query("SELECT set_config($1, $2, true)", &[name, value])
            .await?;
    }
    Ok(())
}

/// `SET TRANSACTION SNAPSHOT` takes no parameters: the id (which the server produced) is
/// checked to be a snapshot id and written as a quoted literal.
pub fn set_snapshot_sql(snapshot: &str) -> Result<String, String> {
    if snapshot.is_empty() || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(format!(
            "the server returned an unexpected snapshot id {snapshot:?}"
        ));
    }
    Ok(format!(
        "SET TRANSACTION SNAPSHOT '{}'",
        snapshot.replace('\'', "''")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points_follow_adf_stride() {
        assert_eq!(cut_points(1, 80, 4), vec![21, 41, 61]);
        assert_eq!(cut_points(1, 2, 4), vec![2]);
        assert_eq!(cut_points(5, 5, 4), Vec::<i64>::new());
        assert_eq!(cut_points(0, 9, 1), Vec::<i64>::new());
        assert_eq!(cut_points(i64::MIN, i64::MAX, 2), vec![0]);
    }

    #[test]
    fn snapshot_ids_are_checked() {
        assert_eq!(
            set_snapshot_sql("00000003-0000001B-1").as_deref(),
            Ok("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'")
        );
        assert!(set_snapshot_sql("1'; DROP TABLE x; --").is_err());
        assert!(set_snapshot_sql("").is_err());
    }
}
