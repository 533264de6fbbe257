//! The reader-side plan: a file's arrow schema mapped to engine columns. A file Sluice wrote
//! gives back its engine types from the PostgreSQL type names in the field metadata; a file
//! from another writer gets the closest engine type for each arrow type, nested structs and maps
//! becoming JSON text.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType as ArrowType, Field, FieldRef, Schema as ArrowSchema};

use super::decode::decode;
use super::{MONEY_SCALE, PG_TYPE_KEY};
use crate::stores::StoreError;
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::value::Value;

/// A reader-side plan: the engine schema for an arrow schema.
#[derive(Debug, Clone)]
pub struct EnginePlan {
    schema: SchemaRef,
}

impl EnginePlan {
    /// Maps a file's arrow schema to engine columns; an arrow type Sluice cannot read is an
    /// error naming the column.
    pub fn new(arrow: &ArrowSchema) -> Result<EnginePlan, StoreError> {
        let mut columns = Vec::with_capacity(arrow.fields().len());
        for field in arrow.fields() {
            let pg = field.metadata().get(PG_TYPE_KEY).map(String::as_str);
            let dt = engine_type(field, pg)
                .map_err(|e| StoreError::new(format!("column '{}': {e}", field.name())))?;
            let type_name = match pg {
                Some(p) if !p.is_empty() => p.to_string(),
                _ => default_type_name(&dt),
            };
            columns.push(Column::new(field.name(), dt, type_name));
        }
        Ok(EnginePlan {
            schema: Arc::new(Schema::new(columns)),
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Converts a record batch of the planned schema into an engine batch.
    pub fn to_batch(&self, rb: &RecordBatch) -> Result<Batch, StoreError> {
        let width = self.schema.len();
        if rb.num_columns() != width {
            return Err(StoreError::new(format!(
                "a row group has {} columns where the file's schema has {width}",
                rb.num_columns()
            )));
        }
        let rows = rb.num_rows();
        let mut values = vec![Value::Null; rows * width];
        for (c, col) in self.schema.columns.iter().enumerate() {
            let decoded = decode(rb.column(c).as_ref(), &col.data_type)
                .map_err(|e| StoreError::new(format!("column '{}': {e}", col.name)))?;
            if decoded.len() != rows {
                return Err(StoreError::new(format!(
                    "column '{}' has {} values in a row group of {rows} rows",
                    col.name,
                    decoded.len()
                )));
            }
            for (r, v) in decoded.into_iter().enumerate() {
                if let Some(slot) = values.get_mut(r * width + c) {
                    *slot = v;
                }
            }
        }
        Ok(Batch::from_values(self.schema.clone(), values))
    }
}

/// The PostgreSQL type name a column of `dt` gets when the file does not say (a file from
/// another writer).
pub(crate) fn default_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Bool => "bool".into(),
        DataType::Int16 => "int2".into(),
        DataType::Int32 => "int4".into(),
        DataType::Int64 => "int8".into(),
        DataType::Float32 => "float4".into(),
        DataType::Float64 => "float8".into(),
        DataType::Numeric => "numeric".into(),
        DataType::Money => "money".into(),
        DataType::Text => "text".into(),
        DataType::Bytes => "bytea".into(),
        DataType::Uuid => "uuid".into(),
        DataType::Json => "json".into(),
        DataType::Date => "date".into(),
        DataType::Time => "time".into(),
        DataType::TimeTz => "timetz".into(),
        DataType::Timestamp => "timestamp".into(),
        DataType::TimestampTz => "timestamptz".into(),
        DataType::Interval => "interval".into(),
        DataType::Inet => "inet".into(),
        DataType::MacAddr => "macaddr".into(),
        DataType::Array(inner) => format!("_{}", default_type_name(inner)),
        DataType::Range(_) => "text".into(),
    }
}

fn is_json_extension(field: &Field) -> bool {
    field
        .metadata()
        .get("ARROW:extension:name")
        .is_some_and(|n| n == "arrow.json")
}

/// The engine type for an arrow field; `pg` is the PostgreSQL type Sluice recorded, if any.
pub(super) fn engine_type(field: &Field, pg: Option<&str>) -> Result<DataType, String> {
    let pg_lower = pg.map(str::to_ascii_lowercase);
    let pg = pg_lower.as_deref();
    Ok(match field.data_type() {
        ArrowType::Null => DataType::Text,
        ArrowType::Boolean => DataType::Bool,
        ArrowType::Int8 | ArrowType::Int16 | ArrowType::UInt8 => DataType::Int16,
        ArrowType::Int32 | ArrowType::UInt16 => DataType::Int32,
        ArrowType::Int64 | ArrowType::UInt32 => DataType::Int64,
        ArrowType::UInt64 => DataType::Numeric,
        ArrowType::Float16 | ArrowType::Float32 => DataType::Float32,
        ArrowType::Float64 => DataType::Float64,
        ArrowType::Decimal128(_, MONEY_SCALE) if pg == Some("money") => DataType::Money,
        ArrowType::Decimal32(..)
        | ArrowType::Decimal64(..)
        | ArrowType::Decimal128(..)
        | ArrowType::Decimal256(..) => DataType::Numeric,
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => match pg {
            Some("json" | "jsonb") => DataType::Json,
            Some(p) if p.starts_with("numeric") => DataType::Numeric,
            _ if is_json_extension(field) => DataType::Json,
            _ => DataType::Text,
        },
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => DataType::Bytes,
        ArrowType::FixedSizeBinary(16)
            if pg.is_none_or(|p| p == "uuid")
                && (pg.is_some()
                    || field
                        .metadata()
                        .get("ARROW:extension:name")
                        .is_some_and(|n| n == "arrow.uuid")) =>
        {
            DataType::Uuid
        }
        ArrowType::FixedSizeBinary(_) => DataType::Bytes,
        ArrowType::Date32 | ArrowType::Date64 => DataType::Date,
        ArrowType::Time32(_) | ArrowType::Time64(_) => DataType::Time,
        ArrowType::Timestamp(_, None) => DataType::Timestamp,
        ArrowType::Timestamp(_, Some(_)) => DataType::TimestampTz,
        ArrowType::Duration(_) | ArrowType::Interval(_) => DataType::Interval,
        ArrowType::List(item)
        | ArrowType::LargeList(item)
        | ArrowType::FixedSizeList(item, _)
        | ArrowType::ListView(item)
        | ArrowType::LargeListView(item) => {
            let elem_pg = pg.and_then(|p| p.strip_prefix('_'));
            let elem_pg = elem_pg.or_else(|| item.metadata().get(PG_TYPE_KEY).map(String::as_str));
            match engine_type(item, elem_pg)? {
                DataType::Array(_) | DataType::Json if !is_scalar_json(item, elem_pg) => {
                    DataType::Json
                }
                elem => DataType::Array(Box::new(elem)),
            }
        }
        ArrowType::Struct(_) | ArrowType::Map(..) => DataType::Json,
        ArrowType::Dictionary(_, value) => {
            let inner = Field::new(field.name(), value.as_ref().clone(), true)
                .with_metadata(field.metadata().clone());
            engine_type(&inner, pg)?
        }
        other => return Err(format!("Sluice cannot read arrow type {other}")),
    })
}

/// A list element that is JSON text (a `json[]` column) rather than a nested structure.
fn is_scalar_json(item: &FieldRef, pg: Option<&str>) -> bool {
    matches!(
        item.data_type(),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View
    ) && (matches!(pg, Some("json" | "jsonb")) || is_json_extension(item))
}
