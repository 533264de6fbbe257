//! The Copy activity: its source, sink and column mapping, resolved into a [`CopyPlan`].

use std::time::Duration;

use serde_json::Value;

use super::dataset::{self, Dataset};
use super::error::ModelError;
use super::load::Factory;
use super::params::{substitute, Scope};
use super::props::Props;
use super::timespan::parse_timespan;
use crate::model::files::{FileFormat, FileRead, FileWrite};
use crate::model::pg_endpoint::PgEndpoint;
use crate::types::ident::TableName;

/// Source type names for PostgreSQL, all treated alike.
pub const POSTGRES_SOURCES: [&str; 3] = [
    "AzurePostgreSqlSource",
    "PostgreSqlSource",
    "PostgreSqlV2Source",
];
/// Sink type names for PostgreSQL (ADF's docs spell the first both ways).
pub const POSTGRES_SINKS: [&str; 3] = [
    "AzurePostgreSqlSink",
    "AzurePostgreSQLSink",
    "PostgreSqlV2Sink",
];

/// Rows per write batch when the sink does not say: `writeBatchSize`'s default in ADF's
/// current connector documentation (the seed document said 10,000). A batch also ends at
/// `MAX_BATCH_BYTES` (the PostgreSQL sink's, 16 MiB) of data, so the
/// default bounds memory by size rather than by row count.
pub const DEFAULT_BATCH_ROWS: usize = 1_000_000;

/// What a PostgreSQL source reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceQuery {
    Query(String),
    Table(TableName),
}

/// `partitionOption` of a PostgreSQL source: how the read is split into partitions that are
/// read in parallel (all in one exported snapshot, so the copy stays consistent).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PgPartitioning {
    /// `None`: one query, one connection.
    #[default]
    None,
    /// `DynamicRange`: ranges of an integer, date or time column. The bounds set the stride,
    /// not a filter: the first range also takes everything below, the last everything above
    /// and NULLs.
    DynamicRange {
        /// `partitionColumnName`; the table's primary key when omitted.
        column: Option<String>,
        /// `partitionLowerBound` / `partitionUpperBound` as text (cast by the server to the
        /// column's type); the column's minimum / maximum when omitted.
        lower: Option<String>,
        upper: Option<String>,
    },
    /// `PhysicalPartitionsOfTable`: one read per partition of a partitioned table.
    Physical {
        /// `partitionNames`; every leaf partition of `table` when omitted.
        names: Option<Vec<String>>,
        /// The dataset's table (also when a `query` with `?AdfTabularPartitionName` is read).
        table: Option<TableName>,
    },
}

/// The hook a source query marks where each range's condition goes.
pub const RANGE_HOOK: &str = "?AdfDynamicRangePartitionCondition";
/// The hook a source query marks where each partition's (quoted) name goes.
pub const PARTITION_NAME_HOOK: &str = "?AdfTabularPartitionName";
/// Upper limit of `parallelCopies`.
pub const MAX_PARALLEL_COPIES: i64 = 256;

/// How the PostgreSQL sink writes.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteMethod {
    /// Binary `COPY ... FROM STDIN`, one COPY per batch.
    CopyCommand,
    /// Multi-row `INSERT`, as many rows per statement as fit in 65,535 bind parameters.
    BulkInsert,
    /// Staging table and `INSERT ... ON CONFLICT (keys) DO UPDATE`; keys default to the
    /// primary key.
    Upsert { keys: Option<Vec<String>> },
}

/// PostgreSQL sink settings.
#[derive(Debug, Clone)]
pub struct PgSinkSettings {
    pub table: TableName,
    pub pre_copy_script: Option<String>,
    pub write_batch_size: usize,
    pub write_batch_timeout: Duration,
    pub write_method: WriteMethod,
}

/// Built once per activity run, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SourcePlan {
    Postgres {
        dataset: String,
        endpoint: PgEndpoint,
        query: SourceQuery,
        query_timeout: Duration,
        /// `partitionOption` and `partitionSettings`.
        partitioning: PgPartitioning,
        /// The copy activity's `parallelCopies`: how many partitions are read at once (and
        /// how many ranges `DynamicRange` makes). `None` when not set (a Lookup, or omitted).
        parallel_copies: Option<u32>,
    },
    /// `DelimitedTextSource`, `JsonSource`, `ParquetSource`.
    File { dataset: String, read: FileRead },
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SinkPlan {
    Postgres {
        dataset: String,
        endpoint: PgEndpoint,
        settings: PgSinkSettings,
    },
    /// `DelimitedTextSink`, `JsonSink`, `ParquetSink`.
    File { dataset: String, write: FileWrite },
}

pub use super::translator::{ColumnRef, Mapping, TypeConversion};

/// A fully resolved Copy activity.
#[derive(Debug, Clone)]
pub struct CopyPlan {
    pub source: SourcePlan,
    pub sink: SinkPlan,
    /// Explicit mappings; `None` maps by column name.
    pub mappings: Option<Vec<Mapping>>,
    /// The translator's `typeConversionSettings`, when `typeConversion` is true.
    pub type_conversion: Option<TypeConversion>,
    /// Sluice extension: wasm plugins run in order right after the source (`source.transforms`).
    pub transforms: Vec<PluginUse>,
    /// Sluice extension: a wasm plugin that runs last and produces the sink's columns
    /// (`sink.rowMapper`).
    pub row_mapper: Option<PluginUse>,
    /// `enableSkipIncompatibleRow`: rows a source cannot parse, a plugin rejects or the sink
    /// refuses (conversion errors, constraint violations) are skipped and counted instead of
    /// failing the activity.
    pub skip_incompatible_rows: bool,
    /// `logSettings` (or legacy `redirectIncompatibleRowSettings`): where skipped rows are logged.
    pub session_log: Option<super::fault_tolerance::SessionLogPlan>,
    /// `validateDataConsistency` as written.
    pub validate_data_consistency: Option<bool>,
}

/// A plugin attached to a Copy activity: `{"plugin": "name[@version]", "config": {...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginUse {
    /// The reference as written (`mask-pii`, `orders-to-v2@1.2.0`, with an optional pin).
    pub reference: String,
    /// The plugin's configuration, handed to it as JSON.
    pub config: Value,
    /// Where it was declared, in full (`pipeline 'P' activity 'Copy' typeProperties.source
    /// .transforms[0]`), for definition errors.
    pub at: String,
    /// The property within the activity (`source.transforms[0]`), for run-time errors, which
    /// already name the activity.
    pub property: String,
}

fn plugin_use(p: &Props<'_>) -> Result<PluginUse, ModelError> {
    let reference = p.req_str("plugin")?.trim();
    if reference.is_empty() {
        return Err(p.err(
            "plugin",
            "must name a plugin, e.g. \"mask-pii\" or \"orders-to-v2@1.2.0\"",
        ));
    }
    // The syntax is checked here, so `validate` catches it; finding the file is for run time.
    if let Err(e) = crate::model::plugin_ref::PluginRef::parse(reference) {
        return Err(p.err("plugin", e.to_string()));
    }
    let config = match p.get("config") {
        None => Value::Object(serde_json::Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(other) => {
            return Err(p.err(
                "config",
                format!("must be a JSON object, found {}", super::props::kind(other)),
            ))
        }
    };
    let unused = p.unused_keys();
    if !unused.is_empty() {
        return Err(p.err(
            "",
            format!(
                "unknown properties {} (a plugin takes only plugin and config)",
                unused.join(", ")
            ),
        ));
    }
    let property = p
        .path
        .rsplit_once("typeProperties.")
        .map_or(p.path.as_str(), |(_, rest)| rest)
        .to_string();
    Ok(PluginUse {
        reference: reference.to_string(),
        config,
        at: p.path.clone(),
        property,
    })
}

impl SourcePlan {
    pub fn type_label(&self) -> &'static str {
        match self {
            SourcePlan::Postgres { .. } => "AzurePostgreSql",
            SourcePlan::File { read, .. } => read.dataset.format.type_label(),
        }
    }
}

impl SinkPlan {
    pub fn type_label(&self) -> &'static str {
        match self {
            SinkPlan::Postgres { .. } => "AzurePostgreSql",
            SinkPlan::File { write, .. } => write.dataset.format.type_label(),
        }
    }
}

/// Resolves a Copy activity's JSON (`activity` is the whole activity object).
pub fn resolve(
    factory: &Factory,
    activity: &Value,
    at: &str,
    scope: &Scope,
    warnings: &mut Vec<String>,
) -> Result<CopyPlan, ModelError> {
    let act = Props::of(at.to_string(), activity)?;
    let input = single_reference(&act, "inputs")?;
    let output = single_reference(&act, "outputs")?;
    let tp_value = substitute(act.get("typeProperties").unwrap_or(&Value::Null), scope, at)?;
    let tp = Props::of(format!("{at} typeProperties"), &tp_value)?;
    let source_ds = dataset::resolve(factory, input, &format!("{at} inputs"), scope, warnings)?;
    let sink_ds = dataset::resolve(factory, output, &format!("{at} outputs"), scope, warnings)?;

    let source_p = tp
        .object("source")?
        .ok_or_else(|| tp.err("source", "is required"))?;
    let sink_p = tp
        .object("sink")?
        .ok_or_else(|| tp.err("sink", "is required"))?;
    let mut source = source_plan(source_ds, &source_p)?;
    let parallel = tp.int_in("parallelCopies", 1, MAX_PARALLEL_COPIES)?;
    if let SourcePlan::Postgres {
        parallel_copies, ..
    } = &mut source
    {
        *parallel_copies = parallel.map(|n| n as u32);
    }
    let mut sink = sink_plan(sink_ds, &sink_p)?;
    // ADF names a file written from a whole table (no query) after the table.
    if let (
        SinkPlan::File { write, .. },
        SourcePlan::Postgres {
            query: SourceQuery::Table(t),
            ..
        },
    ) = (&mut sink, &source)
    {
        let plain = !t.table.contains(['/', '\\']) && !t.table.chars().all(|c| c == '.');
        if plain && !t.table.is_empty() {
            write.table_stem = Some(t.table.clone());
        }
    }
    let sink_by_ordinal = matches!(&sink, SinkPlan::File { write, .. }
        if matches!(&write.dataset.format, FileFormat::DelimitedText(f) if !f.first_row_as_header));
    let translator = match tp.object("translator")? {
        Some(t) => super::translator::resolve(&t, sink_by_ordinal, warnings)?,
        None => Default::default(),
    };
    if translator.conversion.is_some() && matches!(sink, SinkPlan::File { .. }) {
        warnings.push(format!(
            "{at} typeProperties.translator.typeConversionSettings: ignored, as Sluice applies type conversion only into PostgreSQL sinks' typed columns"
        ));
    }
    let activity_name = activity
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Copy");
    let faults = super::fault_tolerance::resolve(factory, &tp, activity_name, scope, warnings)?;
    let mut transforms = Vec::new();
    for (i, t) in source_p
        .array("transforms")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        transforms.push(plugin_use(&Props::of(
            format!("{}.transforms[{i}]", source_p.path),
            t,
        )?)?);
    }
    let row_mapper = match sink_p.object("rowMapper")? {
        Some(m) => Some(plugin_use(&m)?),
        None => None,
    };
    warnings.extend(source_p.unused());
    warnings.extend(sink_p.unused());
    warnings.extend(tp.unused());
    Ok(CopyPlan {
        source,
        sink,
        transforms,
        row_mapper,
        skip_incompatible_rows: faults.skip_incompatible_rows,
        session_log: faults.session_log,
        validate_data_consistency: faults.validate_data_consistency,
        mappings: translator.mappings,
        type_conversion: translator.conversion,
    })
}

fn single_reference<'a>(act: &Props<'a>, key: &str) -> Result<&'a Value, ModelError> {
    match act.array(key)?.map(Vec::as_slice) {
        Some([one]) => Ok(one),
        Some([]) | None => Err(act.err(
            key,
            "a Copy activity needs exactly one dataset reference here",
        )),
        Some(_) => Err(act.err(
            key,
            "a Copy activity takes exactly one dataset reference here",
        )),
    }
}

fn timespan(p: &Props<'_>, key: &str, default: Duration) -> Result<Duration, ModelError> {
    match p.str(key)? {
        Some(s) => parse_timespan(s).map_err(|e| p.err(key, e)),
        None => Ok(default),
    }
}

/// The source of a Copy or Lookup activity: what `p` (the `source` object) reads from `ds`.
pub(crate) fn source_plan(ds: Dataset, p: &Props<'_>) -> Result<SourcePlan, ModelError> {
    let ty = p.req_str("type")?;
    match ds {
        Dataset::PgTable {
            name,
            endpoint,
            table,
        } => {
            if !POSTGRES_SOURCES.contains(&ty) {
                return Err(p.err(
                    "type",
                    format!(
                        "{ty:?} cannot read dataset '{name}' (a PostgreSQL table); use {}",
                        POSTGRES_SOURCES[0]
                    ),
                ));
            }
            let query_timeout = timespan(p, "queryTimeout", Duration::from_secs(2 * 3600))?;
            let query = match (p.str("query")?, &table) {
                (Some(q), _) if !q.trim().is_empty() => SourceQuery::Query(q.to_string()),
                (_, Some(t)) => SourceQuery::Table(t.clone()),
                _ => {
                    return Err(p.err(
                        "query",
                        format!("is required when dataset '{name}' names no table"),
                    ))
                }
            };
            let partitioning = partitioning(p, &query, table)?;
            Ok(SourcePlan::Postgres {
                dataset: name,
                endpoint,
                query,
                query_timeout,
                partitioning,
                parallel_copies: None,
            })
        }
        Dataset::File { name, file } => {
            let read = FileRead::from_props(file, p, &name)?;
            Ok(SourcePlan::File {
                dataset: name,
                read,
            })
        }
    }
}

/// `partitionOption` (or `partitionOptions`) and `partitionSettings` of a PostgreSQL source.
fn partitioning(
    p: &Props<'_>,
    query: &SourceQuery,
    table: Option<TableName>,
) -> Result<PgPartitioning, ModelError> {
    let key = if p.get("partitionOption").is_some() {
        "partitionOption"
    } else {
        "partitionOptions"
    };
    let option = p.str(key)?.map(str::trim);
    let settings = p.object("partitionSettings")?;
    if let Some(s) = &settings {
        let unknown: Vec<String> = s
            .keys()
            .into_iter()
            .filter(|k| {
                ![
                    "partitionColumnName",
                    "partitionLowerBound",
                    "partitionUpperBound",
                    "partitionNames",
                ]
                .iter()
                .any(|known| known.eq_ignore_ascii_case(k))
            })
            .collect();
        if !unknown.is_empty() {
            return Err(s.err(
                "",
                format!(
                    "unknown properties {} (partitionSettings takes partitionColumnName, partitionLowerBound, partitionUpperBound and partitionNames)",
                    unknown.join(", ")
                ),
            ));
        }
    }
    let user_query = match query {
        SourceQuery::Query(q) => Some(q.as_str()),
        SourceQuery::Table(_) => None,
    };
    match option {
        None => Ok(PgPartitioning::None),
        Some(o) if o.eq_ignore_ascii_case("None") => Ok(PgPartitioning::None),
        Some(o) if o.eq_ignore_ascii_case("DynamicRange") => {
            let (mut column, mut lower, mut upper) = (None, None, None);
            if let Some(s) = &settings {
                s.accept("partitionNames");
                column = s
                    .str("partitionColumnName")?
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string);
                lower = bound(s, "partitionLowerBound")?;
                upper = bound(s, "partitionUpperBound")?;
            }
            if column.is_none() && user_query.is_some() {
                return Err(p.err(
                    "partitionSettings",
                    "Partition column name must be specified. A query source has no primary key to partition on: set partitionSettings.partitionColumnName",
                ));
            }
            Ok(PgPartitioning::DynamicRange {
                column,
                lower,
                upper,
            })
        }
        Some(o) if o.eq_ignore_ascii_case("PhysicalPartitionsOfTable") => {
            let mut names = None;
            if let Some(s) = &settings {
                for k in [
                    "partitionColumnName",
                    "partitionLowerBound",
                    "partitionUpperBound",
                ] {
                    s.accept(k);
                }
                if let Some(list) = s.array("partitionNames")? {
                    let list = list
                        .iter()
                        .map(|v| match v.as_str().map(str::trim) {
                            Some(n) if !n.is_empty() => Ok(n.to_string()),
                            _ => Err(s.err(
                                "partitionNames",
                                "must be an array of partition names",
                            )),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if list.is_empty() {
                        return Err(s.err(
                            "partitionNames",
                            "must name at least one partition (or be omitted to read every partition of the table)",
                        ));
                    }
                    names = Some(list);
                }
            }
            if let Some(q) = user_query {
                if !q.contains(PARTITION_NAME_HOOK) {
                    return Err(p.err(
                        "query",
                        format!("must contain {PARTITION_NAME_HOOK} where each partition's name goes when partitionOption is PhysicalPartitionsOfTable (e.g. SELECT * FROM {PARTITION_NAME_HOOK})"),
                    ));
                }
                if names.is_none() && table.is_none() {
                    return Err(p.err(
                        "partitionSettings",
                        "partitionNames is required: the query reads ?AdfTabularPartitionName and the dataset names no table whose partitions could be listed",
                    ));
                }
            }
            Ok(PgPartitioning::Physical { names, table })
        }
        Some(other) => Err(p.err(
            key,
            format!("{other:?} is not a partition option; use None, DynamicRange or PhysicalPartitionsOfTable"),
        )),
    }
}

/// A partition bound: a string or a number, kept as text for the server to cast.
fn bound(s: &Props<'_>, key: &str) -> Result<Option<String>, ModelError> {
    match s.get(key) {
        None => Ok(None),
        Some(Value::String(v)) if v.trim().is_empty() => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(s.err(
            key,
            format!(
                "expected a number or a string, found {}",
                super::props::kind(other)
            ),
        )),
    }
}

fn sink_plan(ds: Dataset, p: &Props<'_>) -> Result<SinkPlan, ModelError> {
    let ty = p.req_str("type")?;
    match ds {
        Dataset::PgTable {
            name,
            endpoint,
            table,
        } => {
            if !POSTGRES_SINKS.contains(&ty) {
                return Err(p.err(
                    "type",
                    format!(
                        "{ty:?} cannot write dataset '{name}' (a PostgreSQL table); use {}",
                        POSTGRES_SINKS[0]
                    ),
                ));
            }
            let table = table.ok_or_else(|| {
                p.err(
                    "type",
                    format!("dataset '{name}' names no table to write to (set schema and table)"),
                )
            })?;
            let write_batch_size = p
                .int_in("writeBatchSize", 1, 100_000_000)?
                .map_or(DEFAULT_BATCH_ROWS, |v| v as usize);
            let write_batch_timeout = timespan(p, "writeBatchTimeout", Duration::from_secs(30))?;
            if write_batch_timeout.is_zero() {
                return Err(p.err("writeBatchTimeout", "must be longer than zero"));
            }
            let write_method = match p.str("writeMethod")? {
                None | Some("CopyCommand") => WriteMethod::CopyCommand,
                Some("BulkInsert") => WriteMethod::BulkInsert,
                Some("Upsert") => {
                    let keys = match p.object("upsertSettings")? {
                        Some(us) => {
                            us.accept("useTempDB");
                            us.accept("interimSchemaName");
                            match us.array("keys")? {
                                Some(keys) => Some(
                                    keys.iter()
                                        .map(|k| {
                                            k.as_str().map(str::to_string).ok_or_else(|| {
                                                us.err("keys", "must be an array of column names")
                                            })
                                        })
                                        .collect::<Result<Vec<_>, _>>()?,
                                ),
                                None => None,
                            }
                        }
                        None => None,
                    };
                    if keys.as_ref().is_some_and(Vec::is_empty) {
                        return Err(p.err("upsertSettings", "keys must name at least one column (or be omitted to use the primary key)"));
                    }
                    WriteMethod::Upsert { keys }
                }
                Some(other) => {
                    return Err(p.err(
                        "writeMethod",
                        format!(
                        "{other:?} is not a write method; use CopyCommand, BulkInsert or Upsert"
                    ),
                    ))
                }
            };
            let pre_copy_script = p
                .str("preCopyScript")?
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string);
            let settings = PgSinkSettings {
                table,
                pre_copy_script,
                write_batch_size,
                write_batch_timeout,
                write_method,
            };
            Ok(SinkPlan::Postgres {
                dataset: name,
                endpoint,
                settings,
            })
        }
        Dataset::File { name, file } => {
            let write = FileWrite::from_props(file, p, &name)?;
            Ok(SinkPlan::File {
                dataset: name,
                write,
            })
        }
    }
}
