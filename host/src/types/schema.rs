//! Column names and types shared by every store: what a source produces and a sink receives.

use std::sync::Arc;

/// The engine-level type of a column. Stores map their own types onto these; the PostgreSQL
/// connector keeps the exact server type name beside it in [`Column::type_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataType {
    Bool,
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
    Array(Box<DataType>),
    Range(Box<DataType>),
}

impl DataType {
    /// Every leaf (scalar) type, in the WIT `scalar-type` order: what arrays and ranges are
    /// made of. Property tests and fuzz targets walk it to cover every type.
    pub const LEAVES: [DataType; 20] = [
        DataType::Bool,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::Float32,
        DataType::Float64,
        DataType::Numeric,
        DataType::Money,
        DataType::Text,
        DataType::Bytes,
        DataType::Uuid,
        DataType::Json,
        DataType::Date,
        DataType::Time,
        DataType::TimeTz,
        DataType::Timestamp,
        DataType::TimestampTz,
        DataType::Interval,
        DataType::Inet,
        DataType::MacAddr,
    ];

    /// ADF's interim type name, shown in schemas and errors.
    pub fn interim_name(&self) -> String {
        match self {
            DataType::Bool => "Boolean".into(),
            DataType::Int16 => "Int16".into(),
            DataType::Int32 => "Int32".into(),
            DataType::Int64 => "Int64".into(),
            DataType::Float32 => "Single".into(),
            DataType::Float64 => "Double".into(),
            DataType::Numeric | DataType::Money => "Decimal".into(),
            DataType::Bytes => "Byte[]".into(),
            DataType::Uuid => "Guid".into(),
            DataType::Date | DataType::Timestamp | DataType::TimestampTz => "DateTime".into(),
            DataType::Time | DataType::Interval => "TimeSpan".into(),
            DataType::TimeTz => "DateTimeOffset".into(),
            DataType::Text | DataType::Json | DataType::Inet | DataType::MacAddr => "String".into(),
            DataType::Array(inner) => format!("{}[]", inner.interim_name()),
            DataType::Range(_) => "String".into(),
        }
    }
}

/// One column of a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub data_type: DataType,
    /// The store's own type name (`int4`, `mood`, `varchar`), for messages and exact mapping.
    pub type_name: String,
}

impl Column {
    pub fn new(name: impl Into<String>, data_type: DataType, type_name: impl Into<String>) -> Self {
        Column {
            name: name.into(),
            data_type,
            type_name: type_name.into(),
        }
    }
}

/// An ordered list of columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    pub columns: Vec<Column>,
}

pub type SchemaRef = Arc<Schema>;

impl Schema {
    pub fn new(columns: Vec<Column>) -> Self {
        Schema { columns }
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Position of the column with exactly this name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }
}
