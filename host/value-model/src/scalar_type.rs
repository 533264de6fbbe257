//! The leaf types a [`Value`](crate::Value) can have.

use std::fmt;

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

    /// PostgreSQL's type name (the plugin SDK's default `Column::type_name`).
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
