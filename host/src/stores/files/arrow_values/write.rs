//! The writer-side plan: each engine column mapped to the natural arrow type (see
//! `docs/parquet-type-mapping.md`), with its PostgreSQL type name in the field metadata and the
//! canonical `uuid` / `json` extension types, and batches cut into record batches that arrow's
//! 32-bit offsets can hold.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field, Schema as ArrowSchema, TimeUnit};

use super::encode::build;
use super::{
    MAX_DECIMAL128_PRECISION, MAX_RECORD_BATCH_BYTES, MONEY_PRECISION, MONEY_SCALE, PG_TYPE_KEY,
};
use crate::stores::StoreError;
use crate::types::batch::Batch;
use crate::types::schema::{DataType, Schema};
use crate::types::value::Value;

/// How one engine column is written to arrow.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Enc {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// `numeric(p,s)` with p <= 38, and `money` (19,2).
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// Money as Decimal128(19,2).
    Money,
    /// The value's PostgreSQL text form (text, numeric without a declared precision, interval,
    /// inet, ranges, timetz, ...).
    Text,
    Bytes,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    List(Box<Enc>),
}

/// A writer-side plan: the arrow schema and how to fill each column.
#[derive(Debug, Clone)]
pub struct ArrowPlan {
    arrow: Arc<ArrowSchema>,
    encs: Vec<Enc>,
}

impl ArrowPlan {
    /// Maps an engine schema to the arrow schema Sluice writes.
    pub fn new(schema: &Schema) -> ArrowPlan {
        let mut fields = Vec::with_capacity(schema.len());
        let mut encs = Vec::with_capacity(schema.len());
        for col in &schema.columns {
            let enc = enc_of(&col.data_type, &col.type_name);
            fields.push(field_of(&col.name, &enc, &col.type_name));
            encs.push(enc);
        }
        ArrowPlan {
            arrow: Arc::new(ArrowSchema::new(fields)),
            encs,
        }
    }

    pub fn arrow_schema(&self) -> Arc<ArrowSchema> {
        self.arrow.clone()
    }

    /// Converts a batch (whose schema is the one the plan was made from) to record batches,
    /// split so that no column's text or bytes outgrow arrow's 32-bit offsets.
    pub fn to_record_batches(&self, batch: &Batch) -> Result<Vec<RecordBatch>, StoreError> {
        let width = batch.width().max(1);
        let mut out = Vec::new();
        let mut start = 0;
        let mut bytes = 0usize;
        for (r, row) in batch.values().chunks(width).enumerate() {
            let size: usize = row.iter().map(Value::byte_size).sum();
            if r > start && bytes + size > MAX_RECORD_BATCH_BYTES {
                out.push(self.to_record_batch(batch, start..r)?);
                start = r;
                bytes = 0;
            }
            bytes += size;
        }
        if start < batch.num_rows() || out.is_empty() {
            out.push(self.to_record_batch(batch, start..batch.num_rows())?);
        }
        Ok(out)
    }

    /// Converts rows `rows` of a batch to one record batch.
    fn to_record_batch(
        &self,
        batch: &Batch,
        rows: std::ops::Range<usize>,
    ) -> Result<RecordBatch, StoreError> {
        let width = batch.width();
        if width != self.encs.len() {
            return Err(StoreError::new(format!(
                "a batch has {width} columns where {} were expected",
                self.encs.len()
            )));
        }
        let values = batch.values();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(width);
        for (c, enc) in self.encs.iter().enumerate() {
            let cells: Vec<&Value> = rows
                .clone()
                .filter_map(|r| values.get(r * width + c))
                .collect();
            let field = self.arrow.field(c);
            let name = field.name();
            let array = build(enc, field.data_type(), &cells)
                .map_err(|e| StoreError::new(format!("column '{name}': {e}")))?;
            columns.push(array);
        }
        RecordBatch::try_new(self.arrow.clone(), columns)
            .map_err(|e| StoreError::new(format!("cannot assemble the rows for the file: {e}")))
    }
}

/// The numeric precision and scale declared in a type name such as `numeric(12,2)`.
fn numeric_typmod(type_name: &str) -> Option<(u8, i8)> {
    let t = type_name.trim().to_ascii_lowercase();
    let inner = t
        .strip_prefix("numeric")
        .or_else(|| t.strip_prefix("decimal"))?
        .trim()
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let mut parts = inner.split(',').map(str::trim);
    let precision: u8 = parts.next()?.parse().ok()?;
    let scale: i8 = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some()
        || precision == 0
        || precision > MAX_DECIMAL128_PRECISION
        || scale < 0
        || scale as u8 > precision
    {
        return None;
    }
    Some((precision, scale))
}

fn enc_of(dt: &DataType, type_name: &str) -> Enc {
    match dt {
        DataType::Bool => Enc::Bool,
        DataType::Int16 => Enc::Int16,
        DataType::Int32 => Enc::Int32,
        DataType::Int64 => Enc::Int64,
        DataType::Float32 => Enc::Float32,
        DataType::Float64 => Enc::Float64,
        DataType::Numeric => match numeric_typmod(type_name) {
            Some((precision, scale)) => Enc::Decimal { precision, scale },
            None => Enc::Text,
        },
        DataType::Money => Enc::Money,
        DataType::Bytes => Enc::Bytes,
        DataType::Uuid => Enc::Uuid,
        DataType::Date => Enc::Date,
        DataType::Time => Enc::Time,
        DataType::Timestamp => Enc::Timestamp,
        DataType::TimestampTz => Enc::TimestampTz,
        DataType::Array(inner) => {
            let elem = type_name.strip_prefix('_').unwrap_or("");
            Enc::List(Box::new(enc_of(inner, elem)))
        }
        DataType::Text
        | DataType::Json
        | DataType::TimeTz
        | DataType::Interval
        | DataType::Inet
        | DataType::MacAddr
        | DataType::Range(_) => Enc::Text,
    }
}

pub(super) fn arrow_type_of(enc: &Enc, type_name: &str) -> ArrowType {
    match enc {
        Enc::Bool => ArrowType::Boolean,
        Enc::Int16 => ArrowType::Int16,
        Enc::Int32 => ArrowType::Int32,
        Enc::Int64 => ArrowType::Int64,
        Enc::Float32 => ArrowType::Float32,
        Enc::Float64 => ArrowType::Float64,
        Enc::Decimal { precision, scale } => ArrowType::Decimal128(*precision, *scale),
        Enc::Money => ArrowType::Decimal128(MONEY_PRECISION, MONEY_SCALE),
        Enc::Text => ArrowType::Utf8,
        Enc::Bytes => ArrowType::Binary,
        Enc::Uuid => ArrowType::FixedSizeBinary(16),
        Enc::Date => ArrowType::Date32,
        Enc::Time => ArrowType::Time64(TimeUnit::Microsecond),
        Enc::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        Enc::TimestampTz => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Enc::List(inner) => {
            let elem = type_name.strip_prefix('_').unwrap_or("");
            ArrowType::List(Arc::new(field_of("item", inner, elem)))
        }
    }
}

/// The arrow field for a column: its PostgreSQL type in the metadata, and the canonical `uuid`
/// and `json` extension types, which the Parquet writer turns into the UUID and JSON logical
/// types other tools recognise.
fn field_of(name: &str, enc: &Enc, type_name: &str) -> Field {
    let mut field = Field::new(name, arrow_type_of(enc, type_name), true);
    if !type_name.is_empty() {
        field = field.with_metadata(
            std::iter::once((PG_TYPE_KEY, type_name)).collect::<arrow_schema::Metadata>(),
        );
    }
    // Only fields whose storage type fits the extension get one, so these cannot fail.
    match (enc, type_name.to_ascii_lowercase().as_str()) {
        (Enc::Uuid, _) => {
            let _ = field.try_with_extension_type(arrow_schema::extension::Uuid);
        }
        (Enc::Text, "json" | "jsonb") => {
            let _ = field.try_with_extension_type(arrow_schema::extension::Json::default());
        }
        _ => {}
    }
    field
}
