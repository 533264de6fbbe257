//! Engine [`Batch`]es to and from arrow `RecordBatch`es, the in-memory form the `parquet`
//! crate reads and writes.
//!
//! Writing maps each engine column to the natural arrow type (see `docs/parquet-type-mapping.md`)
//! and records the column's PostgreSQL type name in the field metadata under [`PG_TYPE_KEY`], so
//! reading a file Sluice wrote gives back the same engine types (`numeric(12,2)`, `money`,
//! `timestamptz`, `interval`, ...). Reading a file from another writer (pandas, Spark, DuckDB)
//! maps every arrow type onto the closest engine type; nested structs and maps become JSON text.
//!
//! Arrow's typed accessors panic on a type mismatch, so every downcast here goes through the
//! `*_opt` accessors and reports a clear error instead.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    IntervalDayTimeType, IntervalMonthDayNanoType, IntervalYearMonthType, Time32MillisecondType,
    Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int16Array, Int32Array, Int64Array, ListArray, RecordBatch,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType as ArrowType, Field, FieldRef, Schema as ArrowSchema, TimeUnit};
use base64::Engine as _;

use crate::stores::StoreError;
use crate::types::batch::Batch;
use crate::types::schema::{Column, DataType, Schema, SchemaRef};
use crate::types::value::{ArrayValue, Value};

/// Field metadata key holding the column's PostgreSQL type name (`numeric(12,2)`, `_int4`).
pub const PG_TYPE_KEY: &str = "sluice.pg_type";

/// Days from 1970-01-01 (arrow's epoch) to 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i32 = 10_957;
/// Microseconds from 1970-01-01 to 2000-01-01.
const EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Bytes of values converted into one record batch at most: well inside the 2 GiB a
/// 32-bit-offset string or binary column can address.
const MAX_RECORD_BATCH_BYTES: usize = 512 * 1024 * 1024;
/// Largest precision an arrow Decimal128 holds.
const MAX_DECIMAL128_PRECISION: u8 = 38;
/// Precision and scale of `money` written as a decimal: an i64 count of cents.
const MONEY_PRECISION: u8 = 19;
const MONEY_SCALE: i8 = 2;

/// How one engine column is written to arrow.
#[derive(Debug, Clone, PartialEq)]
enum Enc {
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

fn arrow_type_of(enc: &Enc, type_name: &str) -> ArrowType {
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

/// Builds one arrow column from its cells.
fn build(enc: &Enc, arrow: &ArrowType, cells: &[&Value]) -> Result<ArrayRef, String> {
    Ok(match enc {
        Enc::Bool => Arc::new(typed::<BooleanArray, _>(cells, "a boolean", |v| match v {
            Value::Bool(b) => Some(*b),
            _ => None,
        })?),
        Enc::Int16 => Arc::new(narrowed::<Int16Array, i16>(cells, "smallint")?),
        Enc::Int32 => Arc::new(narrowed::<Int32Array, i32>(cells, "integer")?),
        Enc::Int64 => Arc::new(
            cells
                .iter()
                .map(|v| int_of(v))
                .collect::<Result<Int64Array, _>>()?,
        ),
        Enc::Float32 => Arc::new(typed::<Float32Array, _>(cells, "a real", |v| match v {
            Value::Float32(f) => Some(*f),
            _ => None,
        })?),
        Enc::Float64 => Arc::new(typed::<Float64Array, _>(cells, "a double", |v| match v {
            Value::Float64(f) => Some(*f),
            Value::Float32(f) => Some(f64::from(*f)),
            _ => None,
        })?),
        Enc::Decimal { precision, scale } => Arc::new(
            cells
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Numeric(s) => decimal_of(s, *precision, *scale).map(Some),
                    Value::Int16(i) => decimal_of(&i.to_string(), *precision, *scale).map(Some),
                    Value::Int32(i) => decimal_of(&i.to_string(), *precision, *scale).map(Some),
                    Value::Int64(i) => decimal_of(&i.to_string(), *precision, *scale).map(Some),
                    other => Err(mismatch("a numeric", other)),
                })
                .collect::<Result<Decimal128Array, _>>()?
                .with_precision_and_scale(*precision, *scale)
                .map_err(|e| e.to_string())?,
        ),
        Enc::Money => Arc::new(
            typed::<Decimal128Array, _>(cells, "a money amount", |v| match v {
                Value::Money(cents) => Some(i128::from(*cents)),
                _ => None,
            })?
            .with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE)
            .map_err(|e| e.to_string())?,
        ),
        Enc::Text => {
            let mut scratch = String::new();
            let mut out = arrow_array::builder::StringBuilder::with_capacity(
                cells.len(),
                cells.iter().map(|v| v.byte_size()).sum(),
            );
            for v in cells {
                match v {
                    Value::Null => out.append_null(),
                    Value::Text(s) | Value::Json(s) | Value::Numeric(s) => out.append_value(s),
                    other => {
                        scratch.clear();
                        other.write_text(&mut scratch);
                        out.append_value(&scratch);
                    }
                }
            }
            Arc::new(out.finish())
        }
        Enc::Bytes => Arc::new(typed::<BinaryArray, _>(cells, "bytes", |v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })?),
        Enc::Uuid => {
            let mut out =
                arrow_array::builder::FixedSizeBinaryBuilder::with_capacity(cells.len(), 16);
            for v in cells {
                match v {
                    Value::Null => out.append_null(),
                    Value::Uuid(u) => out.append_value(u).map_err(|e| e.to_string())?,
                    other => return Err(mismatch("a uuid", other)),
                }
            }
            Arc::new(out.finish())
        }
        Enc::Date => Arc::new(typed::<Date32Array, _>(cells, "a date", |v| match v {
            Value::Date(d) => Some(date_to_arrow(*d)),
            _ => None,
        })?),
        Enc::Time => Arc::new(typed::<Time64MicrosecondArray, _>(
            cells,
            "a time",
            |v| match v {
                Value::Time(t) => Some(*t),
                _ => None,
            },
        )?),
        Enc::Timestamp | Enc::TimestampTz => {
            let array = cells
                .iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Timestamp(t) | Value::TimestampTz(t) => {
                        timestamp_to_arrow(*t).map(Some).ok_or_else(|| {
                            format!(
                                "{} is beyond the latest timestamp a Parquet file holds (294247-01-10)",
                                v.to_text().unwrap_or_default()
                            )
                        })
                    }
                    other => Err(mismatch("a timestamp", other)),
                })
                .collect::<Result<TimestampMicrosecondArray, _>>()?;
            Arc::new(if *enc == Enc::TimestampTz {
                array.with_timezone("UTC")
            } else {
                array
            })
        }
        Enc::List(inner) => {
            let mut offsets = Vec::with_capacity(cells.len() + 1);
            let mut valid = Vec::with_capacity(cells.len());
            let mut elements: Vec<&Value> = Vec::new();
            offsets.push(0i32);
            for v in cells {
                match v {
                    Value::Null => valid.push(false),
                    Value::Array(a) => {
                        check_flat(a)?;
                        elements.extend(a.elements.iter());
                        valid.push(true);
                    }
                    other => return Err(mismatch("an array", other)),
                }
                let end = i32::try_from(elements.len())
                    .map_err(|_| "more than 2^31 array elements in one batch".to_string())?;
                offsets.push(end);
            }
            let field = match arrow {
                ArrowType::List(f) => f.clone(),
                _ => Arc::new(Field::new("item", arrow_type_of(inner, ""), true)),
            };
            let values = build(inner, field.data_type(), &elements)?;
            let nulls = NullBuffer::from(valid);
            Arc::new(
                ListArray::try_new(
                    field,
                    OffsetBuffer::new(offsets.into()),
                    values,
                    (nulls.null_count() > 0).then_some(nulls),
                )
                .map_err(|e| e.to_string())?,
            )
        }
    })
}

/// A Parquet list is one-dimensional and starts at index 1; anything else would lose its shape.
fn check_flat(a: &ArrayValue) -> Result<(), String> {
    match a.dims.as_slice() {
        [] | [(_, 1)] => Ok(()),
        [(_, lower)] => Err(format!(
            "an array with lower bound {lower} cannot be stored in a Parquet list without losing its bounds; \
             read the column as text in the source query (for example `col::text AS col`) to keep it"
        )),
        dims => Err(format!(
            "a {}-dimensional array cannot be stored in a Parquet list without losing its shape; \
             read the column as text in the source query (for example `col::text AS col`) to keep it",
            dims.len()
        )),
    }
}

/// One column from cells of a single kind: NULL stays null, `of` converts every other cell
/// and returns `None` for a cell of another kind, which is reported as not being `expected`.
fn typed<'a, A, T>(
    cells: &[&'a Value],
    expected: &str,
    of: impl Fn(&'a Value) -> Option<T>,
) -> Result<A, String>
where
    A: FromIterator<Option<T>>,
{
    cells
        .iter()
        .map(|&v| match v {
            Value::Null => Ok(None),
            v => of(v).map(Some).ok_or_else(|| mismatch(expected, v)),
        })
        .collect()
}

/// An integer column narrower than bigint, refusing values that do not fit `ty`.
fn narrowed<A, T>(cells: &[&Value], ty: &str) -> Result<A, String>
where
    A: FromIterator<Option<T>>,
    T: TryFrom<i64>,
{
    cells
        .iter()
        .map(|&v| {
            int_of(v).and_then(|o| {
                o.map(T::try_from)
                    .transpose()
                    .map_err(|_| out_of_range(v, ty))
            })
        })
        .collect()
}

fn mismatch(expected: &str, found: &Value) -> String {
    format!(
        "expected {expected}, found {}",
        crate::types::schema::DataType::interim_name(&data_type_of_value(found))
    )
}

fn out_of_range(v: &Value, ty: &str) -> String {
    format!(
        "{} is out of range for {ty}",
        v.to_text().unwrap_or_default()
    )
}

fn int_of(v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Int16(i) => Ok(Some(i64::from(*i))),
        Value::Int32(i) => Ok(Some(i64::from(*i))),
        Value::Int64(i) => Ok(Some(*i)),
        other => Err(mismatch("an integer", other)),
    }
}

/// The engine type a value belongs to, for messages.
fn data_type_of_value(v: &Value) -> DataType {
    match v {
        Value::Null | Value::Text(_) => DataType::Text,
        Value::Bool(_) => DataType::Bool,
        Value::Int16(_) => DataType::Int16,
        Value::Int32(_) => DataType::Int32,
        Value::Int64(_) => DataType::Int64,
        Value::Float32(_) => DataType::Float32,
        Value::Float64(_) => DataType::Float64,
        Value::Numeric(_) => DataType::Numeric,
        Value::Money(_) => DataType::Money,
        Value::Bytes(_) => DataType::Bytes,
        Value::Uuid(_) => DataType::Uuid,
        Value::Json(_) => DataType::Json,
        Value::Date(_) => DataType::Date,
        Value::Time(_) => DataType::Time,
        Value::TimeTz { .. } => DataType::TimeTz,
        Value::Timestamp(_) => DataType::Timestamp,
        Value::TimestampTz(_) => DataType::TimestampTz,
        Value::Interval { .. } => DataType::Interval,
        Value::Inet { .. } => DataType::Inet,
        Value::MacAddr(_) => DataType::MacAddr,
        Value::Array(_) => DataType::Array(Box::new(DataType::Text)),
        Value::Range(_) => DataType::Range(Box::new(DataType::Text)),
    }
}

/// Engine days since 2000 to arrow days since 1970; the infinities become `i32::MAX`/`MIN`
/// (no real PostgreSQL date comes near them).
fn date_to_arrow(d: i32) -> i32 {
    match d {
        i32::MAX | i32::MIN => d,
        _ => d.saturating_add(EPOCH_DAYS),
    }
}

/// Engine microseconds since 2000 to arrow microseconds since 1970; the infinities become
/// `i64::MAX`/`MIN`. `None` for the last ~30 years before PostgreSQL's limit of 294276 AD.
fn timestamp_to_arrow(t: i64) -> Option<i64> {
    match t {
        i64::MAX | i64::MIN => Some(t),
        _ => t.checked_add(EPOCH_MICROS).filter(|v| *v != i64::MAX),
    }
}

/// Parses a decimal's text form into an unscaled integer of the given precision and scale.
fn decimal_of(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let bad = || {
        format!("{text} does not fit a Parquet DECIMAL({precision},{scale}) (NaN and infinities cannot be stored in a decimal column)")
    };
    let (negative, digits) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim().trim_start_matches('+')),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let scale_digits = usize::try_from(scale).map_err(|_| bad())?;
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > scale_digits {
        return Err(bad());
    }
    let int_trimmed = int_part.trim_start_matches('0');
    if int_trimmed.len() + scale_digits > usize::from(precision) {
        return Err(bad());
    }
    let mut unscaled: i128 = 0;
    let frac_padded = frac_trimmed
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(scale_digits);
    for b in int_trimmed.bytes().chain(frac_padded) {
        unscaled = unscaled
            .checked_mul(10)
            .and_then(|u| u.checked_add(i128::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// The text form of an unscaled decimal given as decimal digits (with an optional `-`).
fn decimal_text(unscaled: &str, scale: i8) -> String {
    let (negative, digits) = match unscaled.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, unscaled),
    };
    let sign = if negative { "-" } else { "" };
    if scale <= 0 {
        let zeros = "0".repeat(usize::from(scale.unsigned_abs()));
        if digits.chars().all(|c| c == '0') {
            return "0".to_string();
        }
        return format!("{sign}{digits}{zeros}");
    }
    let scale = usize::from(scale.unsigned_abs());
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits.to_string()
    };
    let (int_part, frac_part) = padded.split_at(padded.len() - scale);
    let is_zero = padded.chars().all(|c| c == '0');
    format!("{}{int_part}.{frac_part}", if is_zero { "" } else { sign })
}

// ---------------------------------------------------------------------------------------------
// Reading

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

fn default_type_name(dt: &DataType) -> String {
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
fn engine_type(field: &Field, pg: Option<&str>) -> Result<DataType, String> {
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

/// Decodes a whole arrow array into engine values of type `dt`.
fn decode(array: &dyn Array, dt: &DataType) -> Result<Vec<Value>, String> {
    let n = array.len();
    let wrong = || {
        format!(
            "arrow type {} does not match its declared type",
            array.data_type()
        )
    };
    macro_rules! prim {
        ($t:ty, $f:expr) => {{
            let a = array.as_primitive_opt::<$t>().ok_or_else(wrong)?;
            let f = $f;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(if a.is_null(i) {
                    Value::Null
                } else {
                    f(a.value(i))?
                });
            }
            out
        }};
    }
    fn ok(v: Value) -> Result<Value, String> {
        Ok(v)
    }
    if *dt == DataType::Json
        && !matches!(
            array.data_type(),
            ArrowType::Utf8
                | ArrowType::LargeUtf8
                | ArrowType::Utf8View
                | ArrowType::Dictionary(..)
        )
    {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            if array.is_null(i) {
                out.push(Value::Null);
            } else {
                let mut s = String::new();
                write_json(array, i, &mut s)?;
                out.push(Value::Json(s));
            }
        }
        return Ok(out);
    }
    Ok(match array.data_type() {
        ArrowType::Null => vec![Value::Null; n],
        ArrowType::Boolean => {
            let a = array.as_boolean_opt().ok_or_else(wrong)?;
            (0..n)
                .map(|i| {
                    if a.is_null(i) {
                        Value::Null
                    } else {
                        Value::Bool(a.value(i))
                    }
                })
                .collect()
        }
        ArrowType::Int8 => prim!(Int8Type, |v: i8| ok(Value::Int16(i16::from(v)))),
        ArrowType::Int16 => prim!(Int16Type, |v: i16| ok(Value::Int16(v))),
        ArrowType::Int32 => prim!(Int32Type, |v: i32| ok(Value::Int32(v))),
        ArrowType::Int64 => prim!(Int64Type, |v: i64| ok(Value::Int64(v))),
        ArrowType::UInt8 => prim!(UInt8Type, |v: u8| ok(Value::Int16(i16::from(v)))),
        ArrowType::UInt16 => prim!(UInt16Type, |v: u16| ok(Value::Int32(i32::from(v)))),
        ArrowType::UInt32 => prim!(UInt32Type, |v: u32| ok(Value::Int64(i64::from(v)))),
        ArrowType::UInt64 => prim!(UInt64Type, |v: u64| ok(Value::Numeric(v.to_string()))),
        ArrowType::Float16 => prim!(
            Float16Type,
            |v: <Float16Type as arrow_array::ArrowPrimitiveType>::Native| ok(Value::Float32(
                v.to_f32()
            ))
        ),
        ArrowType::Float32 => prim!(Float32Type, |v: f32| ok(Value::Float32(v))),
        ArrowType::Float64 => prim!(Float64Type, |v: f64| ok(Value::Float64(v))),
        ArrowType::Decimal32(_, s) => {
            let s = *s;
            prim!(Decimal32Type, |v: i32| ok(Value::Numeric(decimal_text(
                &v.to_string(),
                s
            ))))
        }
        ArrowType::Decimal64(_, s) => {
            let s = *s;
            prim!(Decimal64Type, |v: i64| ok(Value::Numeric(decimal_text(
                &v.to_string(),
                s
            ))))
        }
        ArrowType::Decimal128(_, s) => {
            let s = *s;
            if *dt == DataType::Money {
                prim!(Decimal128Type, |v: i128| i64::try_from(v)
                    .map(Value::Money)
                    .map_err(|_| format!(
                        "{} is out of range for money",
                        decimal_text(&v.to_string(), s)
                    )))
            } else {
                prim!(Decimal128Type, |v: i128| ok(Value::Numeric(decimal_text(
                    &v.to_string(),
                    s
                ))))
            }
        }
        ArrowType::Decimal256(_, s) => {
            let s = *s;
            prim!(Decimal256Type, |v: arrow_buffer::i256| ok(Value::Numeric(
                decimal_text(&v.to_string(), s)
            )))
        }
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
            let make: fn(String) -> Value = match dt {
                DataType::Json => Value::Json,
                DataType::Numeric => Value::Numeric,
                _ => Value::Text,
            };
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(match str_at(array, i) {
                    Some(s) => make(s.to_string()),
                    None => Value::Null,
                });
            }
            out
        }
        ArrowType::Binary | ArrowType::LargeBinary | ArrowType::BinaryView => (0..n)
            .map(|i| bytes_at(array, i).map_or(Value::Null, |b| Value::Bytes(b.to_vec())))
            .collect(),
        ArrowType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary_opt().ok_or_else(wrong)?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                out.push(if a.is_null(i) {
                    Value::Null
                } else if *dt == DataType::Uuid {
                    let u: [u8; 16] = a
                        .value(i)
                        .try_into()
                        .map_err(|_| "a uuid is not 16 bytes".to_string())?;
                    Value::Uuid(u)
                } else {
                    Value::Bytes(a.value(i).to_vec())
                });
            }
            out
        }
        ArrowType::Date32 => prim!(Date32Type, |d: i32| date_from_arrow(i64::from(d))
            .map(Value::Date)),
        ArrowType::Date64 => prim!(Date64Type, |ms: i64| date_from_arrow(
            ms.div_euclid(86_400_000)
        )
        .map(Value::Date)),
        ArrowType::Time32(TimeUnit::Second) => prim!(Time32SecondType, |s: i32| ok(Value::Time(
            i64::from(s) * 1_000_000
        ))),
        ArrowType::Time32(_) => prim!(Time32MillisecondType, |ms: i32| ok(Value::Time(
            i64::from(ms) * 1_000
        ))),
        ArrowType::Time64(TimeUnit::Nanosecond) => prim!(Time64NanosecondType, |ns: i64| ok(
            Value::Time(ns.div_euclid(1_000))
        )),
        ArrowType::Time64(_) => prim!(Time64MicrosecondType, |us: i64| ok(Value::Time(us))),
        ArrowType::Timestamp(unit, tz) => {
            let make: fn(i64) -> Value = if tz.is_some() {
                Value::TimestampTz
            } else {
                Value::Timestamp
            };
            let conv = |v: i64, per: i64| -> Result<Value, String> {
                timestamp_from_arrow(v, per).map(make)
            };
            match unit {
                TimeUnit::Second => prim!(TimestampSecondType, |v: i64| conv(v, -1_000_000)),
                TimeUnit::Millisecond => prim!(TimestampMillisecondType, |v: i64| conv(v, -1_000)),
                TimeUnit::Microsecond => prim!(TimestampMicrosecondType, |v: i64| conv(v, 1)),
                TimeUnit::Nanosecond => prim!(TimestampNanosecondType, |v: i64| conv(v, 1_000)),
            }
        }
        ArrowType::Duration(unit) => {
            let iv = |micros: Option<i64>| -> Result<Value, String> {
                micros
                    .map(|micros| Value::Interval {
                        months: 0,
                        days: 0,
                        micros,
                    })
                    .ok_or_else(|| "a duration is out of range for interval".to_string())
            };
            match unit {
                TimeUnit::Second => {
                    prim!(DurationSecondType, |v: i64| iv(v.checked_mul(1_000_000)))
                }
                TimeUnit::Millisecond => {
                    prim!(DurationMillisecondType, |v: i64| iv(v.checked_mul(1_000)))
                }
                TimeUnit::Microsecond => prim!(DurationMicrosecondType, |v: i64| iv(Some(v))),
                TimeUnit::Nanosecond => prim!(DurationNanosecondType, |v: i64| iv(Some(v / 1_000))),
            }
        }
        ArrowType::Interval(arrow_schema::IntervalUnit::YearMonth) => {
            prim!(IntervalYearMonthType, |m: i32| ok(Value::Interval {
                months: m,
                days: 0,
                micros: 0
            }))
        }
        ArrowType::Interval(arrow_schema::IntervalUnit::DayTime) => {
            prim!(IntervalDayTimeType, |v: arrow_buffer::IntervalDayTime| ok(
                Value::Interval {
                    months: 0,
                    days: v.days,
                    micros: i64::from(v.milliseconds) * 1_000,
                }
            ))
        }
        ArrowType::Interval(arrow_schema::IntervalUnit::MonthDayNano) => {
            prim!(
                IntervalMonthDayNanoType,
                |v: arrow_buffer::IntervalMonthDayNano| ok(Value::Interval {
                    months: v.months,
                    days: v.days,
                    micros: v.nanoseconds / 1_000,
                })
            )
        }
        ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::FixedSizeList(..) => {
            let elem_dt = match dt {
                DataType::Array(inner) => inner.as_ref(),
                _ => return Err(wrong()),
            };
            let (child, ranges) = list_parts(array).ok_or_else(wrong)?;
            let mut elements = decode(child.as_ref(), elem_dt)?;
            let mut out = Vec::with_capacity(n);
            for (i, (start, end)) in ranges.into_iter().enumerate() {
                if array.is_null(i) {
                    out.push(Value::Null);
                    continue;
                }
                let slice = elements
                    .get_mut(start..end)
                    .ok_or_else(|| "a list's offsets are out of bounds".to_string())?;
                let items: Vec<Value> = slice
                    .iter_mut()
                    .map(|v| std::mem::replace(v, Value::Null))
                    .collect();
                let len =
                    i32::try_from(items.len()).map_err(|_| "a list is too long".to_string())?;
                out.push(Value::Array(Box::new(ArrayValue {
                    dims: if len == 0 { Vec::new() } else { vec![(len, 1)] },
                    elements: items,
                })));
            }
            out
        }
        ArrowType::Dictionary(..) => {
            let a = array.as_any_dictionary_opt().ok_or_else(wrong)?;
            let values = decode(a.values().as_ref(), dt)?;
            if values.is_empty() {
                vec![Value::Null; n]
            } else {
                let keys = a.normalized_keys();
                (0..n)
                    .map(|i| {
                        if a.is_null(i) {
                            Value::Null
                        } else {
                            keys.get(i)
                                .and_then(|k| values.get(*k))
                                .cloned()
                                .unwrap_or(Value::Null)
                        }
                    })
                    .collect()
            }
        }
        other => return Err(format!("Sluice cannot read arrow type {other}")),
    })
}

fn str_at(array: &dyn Array, i: usize) -> Option<&str> {
    if array.is_null(i) {
        return None;
    }
    if let Some(a) = array.as_string_opt::<i32>() {
        return Some(a.value(i));
    }
    if let Some(a) = array.as_string_opt::<i64>() {
        return Some(a.value(i));
    }
    array.as_string_view_opt().map(|a| a.value(i))
}

fn bytes_at(array: &dyn Array, i: usize) -> Option<&[u8]> {
    if array.is_null(i) {
        return None;
    }
    if let Some(a) = array.as_binary_opt::<i32>() {
        return Some(a.value(i));
    }
    if let Some(a) = array.as_binary_opt::<i64>() {
        return Some(a.value(i));
    }
    if let Some(a) = array.as_binary_view_opt() {
        return Some(a.value(i));
    }
    array.as_fixed_size_binary_opt().map(|a| a.value(i))
}

/// The child values of a list array and each row's `start..end` in them.
fn list_parts(array: &dyn Array) -> Option<(ArrayRef, Vec<(usize, usize)>)> {
    if let Some(a) = array.as_list_opt::<i32>() {
        let ranges = a
            .offsets()
            .windows(2)
            .map(|w| {
                (
                    usize::try_from(w[0]).unwrap_or(0),
                    usize::try_from(w[1]).unwrap_or(0),
                )
            })
            .collect();
        return Some((a.values().clone(), ranges));
    }
    if let Some(a) = array.as_list_opt::<i64>() {
        let ranges = a
            .offsets()
            .windows(2)
            .map(|w| {
                (
                    usize::try_from(w[0]).unwrap_or(0),
                    usize::try_from(w[1]).unwrap_or(0),
                )
            })
            .collect();
        return Some((a.values().clone(), ranges));
    }
    if let Some(a) = array.as_fixed_size_list_opt() {
        let size = usize::try_from(a.value_length()).ok()?;
        let ranges = (0..a.len()).map(|i| (i * size, (i + 1) * size)).collect();
        return Some((a.values().clone(), ranges));
    }
    None
}

/// Arrow days since 1970 to engine days since 2000, keeping the infinities Sluice writes.
fn date_from_arrow(days: i64) -> Result<i32, String> {
    if days == i64::from(i32::MAX) || days == i64::from(i32::MIN) {
        return Ok(days as i32);
    }
    i32::try_from(days - i64::from(EPOCH_DAYS))
        .ok()
        .filter(|d| *d != i32::MAX && *d != i32::MIN)
        .ok_or_else(|| format!("a date {days} days from 1970 is out of range"))
}

/// An arrow timestamp in units where `per` is the number of units per microsecond (negative:
/// microseconds per unit) to engine microseconds since 2000. `i64::MAX`/`MIN` are the
/// infinities Sluice writes.
fn timestamp_from_arrow(v: i64, per: i64) -> Result<i64, String> {
    if v == i64::MAX || v == i64::MIN {
        return Ok(v);
    }
    let micros = if per > 0 {
        Some(v.div_euclid(per))
    } else {
        v.checked_mul(-per)
    };
    micros
        .and_then(|m| m.checked_sub(EPOCH_MICROS))
        .filter(|m| *m != i64::MAX && *m != i64::MIN)
        .ok_or_else(|| "a timestamp is out of range".to_string())
}

/// Writes the value at `i` of an arrow array as JSON (for structs, maps and nested lists).
fn write_json(array: &dyn Array, i: usize, out: &mut String) -> Result<(), String> {
    use std::fmt::Write;
    if array.is_null(i) {
        out.push_str("null");
        return Ok(());
    }
    let quoted = |s: &str, out: &mut String| {
        out.push_str(&serde_json::Value::String(s.to_string()).to_string());
    };
    match array.data_type() {
        ArrowType::Struct(_) => {
            let a = array.as_struct_opt().ok_or("not a struct")?;
            out.push('{');
            for (k, (name, col)) in a.column_names().iter().zip(a.columns()).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                quoted(name, out);
                out.push(':');
                write_json(col.as_ref(), i, out)?;
            }
            out.push('}');
        }
        ArrowType::Map(..) => {
            let a = array.as_map_opt().ok_or("not a map")?;
            let offsets = a.value_offsets();
            let start = usize::try_from(offsets[i]).map_err(|e| e.to_string())?;
            let end = usize::try_from(offsets[i + 1]).map_err(|e| e.to_string())?;
            out.push('{');
            for (k, j) in (start..end).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                let mut key = String::new();
                match str_at(a.keys().as_ref(), j) {
                    Some(s) => key.push_str(s),
                    None => write_json(a.keys().as_ref(), j, &mut key)?,
                }
                quoted(&key, out);
                out.push(':');
                write_json(a.values().as_ref(), j, out)?;
            }
            out.push('}');
        }
        ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::FixedSizeList(..) => {
            let (child, ranges) = list_parts(array).ok_or("not a list")?;
            let (start, end) = ranges.get(i).copied().ok_or("list offsets out of bounds")?;
            out.push('[');
            for (k, j) in (start..end).enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_json(child.as_ref(), j, out)?;
            }
            out.push(']');
        }
        ArrowType::Dictionary(..) => {
            let a = array.as_any_dictionary_opt().ok_or("not a dictionary")?;
            let keys = a.normalized_keys();
            let k = keys.get(i).copied().ok_or("dictionary key out of bounds")?;
            write_json(a.values().as_ref(), k, out)?;
        }
        _ => {
            let dt = engine_type(&Field::new("", array.data_type().clone(), true), None)?;
            let sliced = array.slice(i, 1);
            let v = decode(sliced.as_ref(), &dt)?
                .into_iter()
                .next()
                .unwrap_or(Value::Null);
            match v {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
                Value::Int16(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Int32(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Int64(x) => {
                    let _ = write!(out, "{x}");
                }
                Value::Float32(x) if x.is_finite() => {
                    let _ = write!(out, "{x}");
                }
                Value::Float64(x) if x.is_finite() => {
                    let _ = write!(out, "{x}");
                }
                Value::Numeric(s)
                    if s.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'-' || b == b'.') =>
                {
                    out.push_str(&s)
                }
                Value::Bytes(b) => {
                    quoted(&base64::engine::general_purpose::STANDARD.encode(b), out)
                }
                Value::Json(s) => out.push_str(&s),
                other => quoted(&other.to_text().unwrap_or_default(), out),
            }
        }
    }
    Ok(())
}
