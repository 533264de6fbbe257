//! The value model plugins see: one cell of a row, and the column types.
//!
//! It mirrors the host's `engine::value::Value` variant for variant, so a value read from
//! PostgreSQL reaches the plugin and goes back without loss (numeric as text, PostgreSQL's
//! 2000-01-01 epoch for dates and timestamps, `i32`/`i64` min/max as -infinity/infinity).

use std::fmt;
use std::net::IpAddr;

/// A leaf type; the WIT `scalar-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScalarType {
    Boolean,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Numeric,
    Money,
    Text,
    Bytes,
    Uuid,
    Json,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Inet,
    MacAddr,
}

impl ScalarType {
    /// Every scalar type, in WIT order.
    pub const ALL: [ScalarType; 20] = [
        ScalarType::Boolean,
        ScalarType::Int16,
        ScalarType::Int32,
        ScalarType::Int64,
        ScalarType::Float32,
        ScalarType::Float64,
        ScalarType::Numeric,
        ScalarType::Money,
        ScalarType::Text,
        ScalarType::Bytes,
        ScalarType::Uuid,
        ScalarType::Json,
        ScalarType::Date,
        ScalarType::Time,
        ScalarType::TimeTz,
        ScalarType::Timestamp,
        ScalarType::TimestampTz,
        ScalarType::Interval,
        ScalarType::Inet,
        ScalarType::MacAddr,
    ];

    /// The WIT name (`int64`, `timestamptz`), used in configs and error messages.
    pub fn name(self) -> &'static str {
        match self {
            ScalarType::Boolean => "boolean",
            ScalarType::Int16 => "int16",
            ScalarType::Int32 => "int32",
            ScalarType::Int64 => "int64",
            ScalarType::Float32 => "float32",
            ScalarType::Float64 => "float64",
            ScalarType::Numeric => "numeric",
            ScalarType::Money => "money",
            ScalarType::Text => "text",
            ScalarType::Bytes => "bytes",
            ScalarType::Uuid => "uuid",
            ScalarType::Json => "json",
            ScalarType::Date => "date",
            ScalarType::Time => "time",
            ScalarType::TimeTz => "timetz",
            ScalarType::Timestamp => "timestamp",
            ScalarType::TimestampTz => "timestamptz",
            ScalarType::Interval => "interval",
            ScalarType::Inet => "inet",
            ScalarType::MacAddr => "macaddr",
        }
    }

    /// Parses a WIT name as written by [`name`](Self::name), or a common alias
    /// (`bool`, `int`, `bigint`, `double`, `string`, `jsonb`, PostgreSQL's `int8` ...).
    pub fn parse(name: &str) -> Option<ScalarType> {
        let lower = name.trim().to_ascii_lowercase();
        let t = match lower.as_str() {
            "boolean" | "bool" => ScalarType::Boolean,
            "int16" | "int2" | "smallint" => ScalarType::Int16,
            "int32" | "int4" | "int" | "integer" => ScalarType::Int32,
            "int64" | "int8" | "bigint" | "long" => ScalarType::Int64,
            "float32" | "float4" | "real" => ScalarType::Float32,
            "float64" | "float8" | "double" | "float" => ScalarType::Float64,
            "numeric" | "decimal" => ScalarType::Numeric,
            "money" => ScalarType::Money,
            "text" | "string" | "varchar" => ScalarType::Text,
            "bytes" | "bytea" => ScalarType::Bytes,
            "uuid" => ScalarType::Uuid,
            "json" | "jsonb" => ScalarType::Json,
            "date" => ScalarType::Date,
            "time" => ScalarType::Time,
            "timetz" => ScalarType::TimeTz,
            "timestamp" => ScalarType::Timestamp,
            "timestamptz" => ScalarType::TimestampTz,
            "interval" => ScalarType::Interval,
            "inet" | "cidr" => ScalarType::Inet,
            "macaddr" => ScalarType::MacAddr,
            _ => return None,
        };
        Some(t)
    }

    /// PostgreSQL's type name, the default `Column::type_name`.
    pub fn pg_name(self) -> &'static str {
        match self {
            ScalarType::Boolean => "bool",
            ScalarType::Int16 => "int2",
            ScalarType::Int32 => "int4",
            ScalarType::Int64 => "int8",
            ScalarType::Float32 => "float4",
            ScalarType::Float64 => "float8",
            ScalarType::Numeric => "numeric",
            ScalarType::Money => "money",
            ScalarType::Text => "text",
            ScalarType::Bytes => "bytea",
            ScalarType::Uuid => "uuid",
            ScalarType::Json => "jsonb",
            ScalarType::Date => "date",
            ScalarType::Time => "time",
            ScalarType::TimeTz => "timetz",
            ScalarType::Timestamp => "timestamp",
            ScalarType::TimestampTz => "timestamptz",
            ScalarType::Interval => "interval",
            ScalarType::Inet => "inet",
            ScalarType::MacAddr => "macaddr",
        }
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A column's type: a leaf, or an array or range of leaves; the WIT `data-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Scalar(ScalarType),
    Array(ScalarType),
    Range(ScalarType),
}

impl DataType {
    /// The leaf type (the element type of an array or range).
    pub fn scalar_type(self) -> ScalarType {
        match self {
            DataType::Scalar(t) | DataType::Array(t) | DataType::Range(t) => t,
        }
    }

    /// PostgreSQL's type name for this type (`int8`, `_text`, `tstzrange`).
    pub fn pg_name(self) -> String {
        match self {
            DataType::Scalar(t) => t.pg_name().to_string(),
            DataType::Array(t) => format!("_{}", t.pg_name()),
            DataType::Range(t) => match t {
                ScalarType::Int32 => "int4range".into(),
                ScalarType::Int64 => "int8range".into(),
                ScalarType::Numeric => "numrange".into(),
                ScalarType::Date => "daterange".into(),
                ScalarType::Timestamp => "tsrange".into(),
                ScalarType::TimestampTz => "tstzrange".into(),
                other => format!("{}range", other.pg_name()),
            },
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Scalar(t) => write!(f, "{t}"),
            DataType::Array(t) => write!(f, "array<{t}>"),
            DataType::Range(t) => write!(f, "range<{t}>"),
        }
    }
}

impl From<ScalarType> for DataType {
    fn from(t: ScalarType) -> Self {
        DataType::Scalar(t)
    }
}

/// One column of a schema; the WIT `column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    /// The store's own type name (`int4`, `varchar`, `mood`), informational.
    pub type_name: String,
}

impl Column {
    /// A column whose `type_name` is PostgreSQL's name for `data_type`.
    ///
    /// ```
    /// use sluice_plugin_sdk::{Column, ScalarType};
    /// let c = Column::new("amount_cents", ScalarType::Int64);
    /// assert_eq!(c.type_name, "int8");
    /// ```
    pub fn new(name: impl Into<String>, data_type: impl Into<DataType>) -> Column {
        let data_type = data_type.into();
        Column {
            name: name.into(),
            type_name: data_type.pg_name(),
            data_type,
        }
    }
}

/// Microseconds since 2000-01-01 00:00:00; `i64::MAX` is `infinity`, `i64::MIN` is `-infinity`.
pub type PgTimestamp = i64;
/// Days since 2000-01-01; `i32::MAX` is `infinity`, `i32::MIN` is `-infinity`.
pub type PgDate = i32;

/// One cell value, variant for variant the host's `Value`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    /// Exact decimal in PostgreSQL's text form (`-12.340`, `NaN`, `Infinity`).
    Numeric(String),
    /// Smallest currency unit (cents).
    Money(i64),
    Text(String),
    Bytes(Vec<u8>),
    /// The 16 bytes in network order.
    Uuid([u8; 16]),
    /// json or jsonb document text.
    Json(String),
    Date(PgDate),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since midnight and the zone's offset in seconds east of UTC.
    TimeTz {
        micros: i64,
        offset_secs: i32,
    },
    Timestamp(PgTimestamp),
    /// UTC instant.
    TimestampTz(PgTimestamp),
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Inet {
        addr: IpAddr,
        prefix: u8,
        cidr: bool,
    },
    MacAddr([u8; 6]),
    Array(Box<ArrayValue>),
    Range(Box<RangeValue>),
}

/// A PostgreSQL array of any dimension, elements in row-major order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArrayValue {
    /// `(length, lower bound)` per dimension; empty for an empty array.
    pub dims: Vec<(i32, i32)>,
    /// Scalars or `Value::Null`; never arrays or ranges.
    pub elements: Vec<Value>,
}

/// A PostgreSQL range; `None` bounds are unbounded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RangeValue {
    pub empty: bool,
    pub lower: Option<Value>,
    pub upper: Option<Value>,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a `Text`, `Json` or `Numeric` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Json(s) | Value::Numeric(s) => Some(s),
            _ => None,
        }
    }

    /// Any integer value widened to `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int16(v) => Some(v.into()),
            Value::Int32(v) => Some(v.into()),
            Value::Int64(v) => Some(v),
            _ => None,
        }
    }

    /// Any number as `f64`: integers, floats, and numeric text (`NaN`, `Infinity` included).
    /// Large integers and long decimals round; compare exactly with the values themselves.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int16(v) => Some((*v).into()),
            Value::Int32(v) => Some((*v).into()),
            Value::Int64(v) => Some(*v as f64),
            Value::Float32(v) => Some((*v).into()),
            Value::Float64(v) => Some(*v),
            Value::Numeric(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The variant's name (`null`, `int64`, `array`), for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int16(_) => "int16",
            Value::Int32(_) => "int32",
            Value::Int64(_) => "int64",
            Value::Float32(_) => "float32",
            Value::Float64(_) => "float64",
            Value::Numeric(_) => "numeric",
            Value::Money(_) => "money",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "json",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::TimeTz { .. } => "timetz",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamptz",
            Value::Interval { .. } => "interval",
            Value::Inet { .. } => "inet",
            Value::MacAddr(_) => "macaddr",
            Value::Array(_) => "array",
            Value::Range(_) => "range",
        }
    }

    /// The scalar type of a non-null leaf value; `None` for NULL, arrays and ranges.
    pub fn scalar_type(&self) -> Option<ScalarType> {
        Some(match self {
            Value::Null | Value::Array(_) | Value::Range(_) => return None,
            Value::Bool(_) => ScalarType::Boolean,
            Value::Int16(_) => ScalarType::Int16,
            Value::Int32(_) => ScalarType::Int32,
            Value::Int64(_) => ScalarType::Int64,
            Value::Float32(_) => ScalarType::Float32,
            Value::Float64(_) => ScalarType::Float64,
            Value::Numeric(_) => ScalarType::Numeric,
            Value::Money(_) => ScalarType::Money,
            Value::Text(_) => ScalarType::Text,
            Value::Bytes(_) => ScalarType::Bytes,
            Value::Uuid(_) => ScalarType::Uuid,
            Value::Json(_) => ScalarType::Json,
            Value::Date(_) => ScalarType::Date,
            Value::Time(_) => ScalarType::Time,
            Value::TimeTz { .. } => ScalarType::TimeTz,
            Value::Timestamp(_) => ScalarType::Timestamp,
            Value::TimestampTz(_) => ScalarType::TimestampTz,
            Value::Interval { .. } => ScalarType::Interval,
            Value::Inet { .. } => ScalarType::Inet,
            Value::MacAddr(_) => ScalarType::MacAddr,
        })
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i16> for Value {
    fn from(v: i16) -> Self {
        Value::Int16(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int32(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float32(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
