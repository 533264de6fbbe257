//! PostgreSQL's binary wire format for single values (what `typsend` produces and `typrecv`
//! reads), used by binary COPY in both directions and for bind parameters.
//!
//! Binary rather than text because it is both faster (no formatting or parsing of numbers and
//! dates) and exact (floats keep every bit, timestamps keep PostgreSQL's own epoch and infinity
//! markers). Every decoder checks lengths and returns [`CodecError`] on malformed input instead
//! of panicking, since the bytes come from the network.
//!
//! Type dispatch goes through [`resolve`], which never allocates: domains collapse to their base
//! type, enums to text, arrays and ranges borrow their element type.
//!
//! This module holds what both directions share: the error type, the type classification and
//! the wire-format constants. The codec itself is split by direction:
//! - `decode`: bytes into owned engine [`Value`]s, including arrays and ranges;
//! - `encode`: engine values into bytes for a target column type, and the plan-time
//!   [`can_encode`] check;
//! - `numeric`: PostgreSQL's base-10000 numeric format, both ways;
//! - `borrowed`: [`ValueRef`], the borrowing path between COPY tuples and plugin columns.

use tokio_postgres::types::{Kind, Type};

use super::types::is_citext;
use crate::types::schema::DataType;
use crate::types::value::Value;

mod borrowed;
mod decode;
mod encode;
mod numeric;
#[cfg(test)]
pub(crate) mod proptests;
#[cfg(test)]
mod tests;

pub(crate) use borrowed::{decode_ref, encode_ref_with_len, ValueRef};
pub use decode::decode;
pub(crate) use decode::decode_resolved;
pub(crate) use encode::encode_resolved_with_len;
pub use encode::{can_encode, encode, encode_with_len};

/// A value that could not be decoded from, or encoded to, PostgreSQL's binary format.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes received do not form a valid value of the type.
    #[error("malformed binary {type_name} value: {reason}")]
    Malformed { type_name: String, reason: String },
    /// The type has no binary codec here; the source reads it as text instead.
    #[error("type {type_name} has no binary codec (it must be read and written as text)")]
    Unsupported { type_name: String },
    /// The value's kind does not convert losslessly into the column's type.
    #[error("cannot write {value_kind} into a column of type {type_name}")]
    CannotWrite {
        value_kind: &'static str,
        type_name: String,
    },
    /// A numeric conversion whose source value does not fit the target type.
    #[error("value {value} is out of range for type {type_name}")]
    OutOfRange { value: String, type_name: String },
    /// The value is of an accepted kind but its content is invalid (e.g. unparseable numeric text).
    #[error("invalid {type_name} value {value:?}: {reason}")]
    InvalidValue {
        type_name: String,
        value: String,
        reason: String,
    },
    /// `encode` only writes non-NULL values; NULL is the caller's length prefix of -1.
    #[error("NULL passed to the binary encoder for a column of type {type_name}")]
    UnexpectedNull { type_name: String },
    /// The binary COPY framing (header, tuple, trailer) is broken.
    #[error("malformed binary COPY data: {0}")]
    Stream(String),
    /// Wraps an error with the column it happened in.
    #[error("column {column}: {cause}")]
    Column {
        column: String,
        cause: Box<CodecError>,
    },
}

impl CodecError {
    /// Attaches the column name (or position) to an error.
    pub fn in_column(self, column: impl Into<String>) -> Self {
        CodecError::Column {
            column: column.into(),
            cause: Box::new(self),
        }
    }
}

/// Readable type name for messages: `int4`, `int4[]`, `myschema.mood`.
pub fn type_name(ty: &Type) -> String {
    match ty.kind() {
        Kind::Array(elem) => format!("{}[]", type_name(elem)),
        _ => match ty.schema() {
            "" | "pg_catalog" | "public" => ty.name().to_string(),
            schema => format!("{schema}.{}", ty.name()),
        },
    }
}

/// The engine's name for a value's kind, for "cannot write" messages.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "Boolean",
        Value::Int16(_) => "Int16",
        Value::Int32(_) => "Int32",
        Value::Int64(_) => "Int64",
        Value::Float32(_) => "Single",
        Value::Float64(_) => "Double",
        Value::Numeric(_) => "Numeric",
        Value::Money(_) => "Money",
        Value::Text(_) => "Text",
        Value::Bytes(_) => "Bytes",
        Value::Uuid(_) => "Uuid",
        Value::Json(_) => "Json",
        Value::Date(_) => "Date",
        Value::Time(_) => "Time",
        Value::TimeTz { .. } => "TimeTz",
        Value::Timestamp(_) => "Timestamp",
        Value::TimestampTz(_) => "TimestampTz",
        Value::Interval { .. } => "Interval",
        Value::Inet { .. } => "Inet",
        Value::MacAddr(_) => "MacAddr",
        Value::Array(_) => "Array",
        Value::Range(_) => "Range",
    }
}

/// Every built-in type the codec reads and writes (scalars, an array of each, ranges and
/// arrays of ranges), with the engine type its values decode to: the list the round-trip
/// property tests and the fuzz targets cover. Domains, enums and `citext` resolve to these.
pub fn codec_types() -> Vec<(Type, DataType)> {
    let leaf = |i: usize| DataType::LEAVES[i].clone();
    let mut types = vec![
        (Type::BOOL, leaf(0)),
        (Type::INT2, leaf(1)),
        (Type::INT4, leaf(2)),
        (Type::INT8, leaf(3)),
        (Type::FLOAT4, leaf(4)),
        (Type::FLOAT8, leaf(5)),
        (Type::NUMERIC, leaf(6)),
        (Type::MONEY, leaf(7)),
        (Type::TEXT, leaf(8)),
        (Type::VARCHAR, leaf(8)),
        (Type::BPCHAR, leaf(8)),
        (Type::NAME, leaf(8)),
        (Type::XML, leaf(8)),
        (Type::BYTEA, leaf(9)),
        (Type::UUID, leaf(10)),
        (Type::JSON, leaf(11)),
        (Type::JSONB, leaf(11)),
        (Type::DATE, leaf(12)),
        (Type::TIME, leaf(13)),
        (Type::TIMETZ, leaf(14)),
        (Type::TIMESTAMP, leaf(15)),
        (Type::TIMESTAMPTZ, leaf(16)),
        (Type::INTERVAL, leaf(17)),
        (Type::INET, leaf(18)),
        (Type::CIDR, leaf(18)),
        (Type::MACADDR, leaf(19)),
    ];
    let arrays = [
        Type::BOOL_ARRAY,
        Type::INT2_ARRAY,
        Type::INT4_ARRAY,
        Type::INT8_ARRAY,
        Type::FLOAT4_ARRAY,
        Type::FLOAT8_ARRAY,
        Type::NUMERIC_ARRAY,
        Type::MONEY_ARRAY,
        Type::TEXT_ARRAY,
        Type::BYTEA_ARRAY,
        Type::UUID_ARRAY,
        Type::JSONB_ARRAY,
        Type::DATE_ARRAY,
        Type::TIME_ARRAY,
        Type::TIMETZ_ARRAY,
        Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ_ARRAY,
        Type::INTERVAL_ARRAY,
        Type::INET_ARRAY,
        Type::MACADDR_ARRAY,
    ];
    for (i, ty) in arrays.into_iter().enumerate() {
        types.push((ty, DataType::Array(Box::new(leaf(i)))));
    }
    let array = |e: DataType| DataType::Array(Box::new(e));
    types.extend([
        (Type::VARCHAR_ARRAY, array(DataType::Text)),
        (Type::JSON_ARRAY, array(DataType::Json)),
        (Type::CIDR_ARRAY, array(DataType::Inet)),
    ]);
    let range = |s: DataType| DataType::Range(Box::new(s));
    types.extend([
        (Type::INT4_RANGE, range(DataType::Int32)),
        (Type::INT8_RANGE, range(DataType::Int64)),
        (Type::NUM_RANGE, range(DataType::Numeric)),
        (Type::DATE_RANGE, range(DataType::Date)),
        (Type::TS_RANGE, range(DataType::Timestamp)),
        (Type::TSTZ_RANGE, range(DataType::TimestampTz)),
        (
            Type::INT4_RANGE_ARRAY,
            DataType::Array(Box::new(range(DataType::Int32))),
        ),
        (
            Type::TSTZ_RANGE_ARRAY,
            DataType::Array(Box::new(range(DataType::TimestampTz))),
        ),
    ]);
    types
}

/// Base types with a binary codec here. Text-like types (text, varchar, bpchar, name, xml,
/// unknown, citext, enums) all send their characters as-is, so they share `Text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Money,
    Text,
    /// Sent and received as text, but see [`super::types::data_type_of`]: `xml_send` drops a
    /// default XML declaration, so the source reads xml through a `::text` cast instead.
    Xml,
    Bytea,
    Uuid,
    Json,
    Jsonb,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Inet,
    Cidr,
    MacAddr,
}

/// What a type looks like to the codec, after looking through domains.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolved<'a> {
    Scalar(Scalar),
    /// An array with this element type (as declared, e.g. an enum or a domain).
    Array(&'a Type),
    /// A range with this subtype.
    Range(&'a Type),
    Unsupported,
}

/// Classifies a type for the codec without allocating: domains are replaced by their base
/// type (PostgreSQL's `domain_recv` delegates to the base type's format), enums are text.
pub(crate) fn resolve(ty: &Type) -> Resolved<'_> {
    let mut ty = ty;
    loop {
        return match ty.kind() {
            Kind::Domain(base) => {
                ty = base;
                continue;
            }
            Kind::Enum(_) => Resolved::Scalar(Scalar::Text),
            Kind::Array(elem) => Resolved::Array(elem),
            Kind::Range(sub) => Resolved::Range(sub),
            Kind::Simple => scalar_of(ty).map_or(Resolved::Unsupported, Resolved::Scalar),
            _ => Resolved::Unsupported,
        };
    }
}

/// Matches on the OID (one jump table) rather than comparing `Type`s one by one: this runs for
/// every value the codec touches. Built-in OIDs are fixed by PostgreSQL; user types start at
/// 16384 and never collide with them.
fn scalar_of(ty: &Type) -> Option<Scalar> {
    Some(match ty.oid() {
        16 => Scalar::Bool,
        21 => Scalar::Int2,
        23 => Scalar::Int4,
        20 => Scalar::Int8,
        700 => Scalar::Float4,
        701 => Scalar::Float8,
        1700 => Scalar::Numeric,
        790 => Scalar::Money,
        // text, varchar, bpchar, name, unknown
        25 | 1043 | 1042 | 19 | 705 => Scalar::Text,
        142 => Scalar::Xml,
        17 => Scalar::Bytea,
        2950 => Scalar::Uuid,
        114 => Scalar::Json,
        3802 => Scalar::Jsonb,
        1082 => Scalar::Date,
        1083 => Scalar::Time,
        1266 => Scalar::TimeTz,
        1114 => Scalar::Timestamp,
        1184 => Scalar::TimestampTz,
        1186 => Scalar::Interval,
        869 => Scalar::Inet,
        650 => Scalar::Cidr,
        829 => Scalar::MacAddr,
        _ if is_citext(ty) => Scalar::Text,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Wire-format constants shared by the decoder and the encoder
// ---------------------------------------------------------------------------------------------

/// `PGSQL_AF_INET` and `PGSQL_AF_INET6` from PostgreSQL's `utils/inet.h`.
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

/// Element dimensions allowed by PostgreSQL (`MAXDIM`).
const MAX_DIMS: usize = 6;

/// Range flag bits (`utils/rangetypes.h`).
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;
