//! Row-level access: [`Schema`], the [`Row`] view a plugin gets, and [`Emit`], where it puts
//! what comes out.

use std::collections::HashMap;
use std::sync::Arc;

use crate::value::{Column, Value};

/// Columns with a by-name index, shared by every row of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    columns: Vec<Column>,
    index: HashMap<String, usize>,
}

impl Schema {
    pub fn new(columns: Vec<Column>) -> Schema {
        // The first column wins when a name repeats, as in SQL's `SELECT a, a`.
        let mut index = HashMap::with_capacity(columns.len());
        for (i, c) in columns.iter().enumerate() {
            index.entry(c.name.clone()).or_insert(i);
        }
        Schema { columns, index }
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Position of the column named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// One input row: its values in input-schema order, addressable by name or position.
///
/// ```
/// # use sluice_plugin_sdk::{Column, Row, Schema, ScalarType, Value};
/// # use std::sync::Arc;
/// let schema = Arc::new(Schema::new(vec![Column::new("email", ScalarType::Text)]));
/// let mut row = Row::new(schema, vec![Value::from("a@b.c")], 0);
/// assert_eq!(row.get("email").and_then(Value::as_str), Some("a@b.c"));
/// row.set("email", "***")?;
/// assert_eq!(row.values(), &[Value::from("***")]);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    schema: Arc<Schema>,
    values: Vec<Value>,
    index: u32,
}

impl Row {
    /// A row of `schema`; `index` is its position in the input batch.
    pub fn new(schema: Arc<Schema>, values: Vec<Value>, index: u32) -> Row {
        Row {
            schema,
            values,
            index,
        }
    }

    /// The value of the column named `name`; `None` when there is no such column.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.schema.index_of(name).and_then(|i| self.values.get(i))
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        let i = self.schema.index_of(name)?;
        self.values.get_mut(i)
    }

    /// The value at position `i` (input-schema order).
    pub fn at(&self, i: usize) -> Option<&Value> {
        self.values.get(i)
    }

    /// Replaces the value of column `name`; an error names a column that is not in the schema.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> Result<(), String> {
        match self.get_mut(name) {
            Some(slot) => {
                *slot = value.into();
                Ok(())
            }
            None => Err(format!("no column named \"{name}\" in the row")),
        }
    }

    /// Moves the value of column `i` out, leaving NULL: avoids cloning strings.
    pub fn take(&mut self, i: usize) -> Value {
        self.values
            .get_mut(i)
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub fn values(&self) -> &[Value] {
        &self.values
    }

    pub fn values_mut(&mut self) -> &mut Vec<Value> {
        &mut self.values
    }

    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Position of this row in its input batch (what a rejection reports).
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// Where `process` and `flush` put their output: any number of rows per input row, and
/// rejections of the current input row.
///
/// Emitted rows must have one value per *output* column, in output-schema order.
#[derive(Debug, Default)]
pub struct Emit {
    pub(crate) rows: Vec<Vec<Value>>,
    pub(crate) rejected: Vec<(u32, String)>,
    /// The input row being processed; `None` during `flush`.
    pub(crate) current: Option<u32>,
    /// A rejection asked for where there is no input row; reported as an error.
    pub(crate) misplaced_reject: Option<String>,
}

impl Emit {
    pub(crate) fn with_capacity(rows: usize) -> Emit {
        Emit {
            rows: Vec::with_capacity(rows),
            ..Emit::default()
        }
    }

    /// Emits a row (typically the input row, changed in place).
    pub fn row(&mut self, row: Row) {
        self.rows.push(row.values);
    }

    /// Emits a row given as values in output-schema order.
    pub fn values(&mut self, values: Vec<Value>) {
        self.rows.push(values);
    }

    /// Rejects the current input row: it is counted in `rowsSkipped` when the Copy activity
    /// skips incompatible rows, and otherwise fails the activity with `message`.
    /// Rows already emitted for it stay emitted.
    pub fn reject(&mut self, message: impl Into<String>) {
        match self.current {
            Some(i) => self.rejected.push((i, message.into())),
            None => {
                self.misplaced_reject.get_or_insert(message.into());
            }
        }
    }

    /// Rows emitted so far in this call.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}
