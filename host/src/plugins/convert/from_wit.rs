//! Guest output back into engine values, validated: a guest is untrusted, so its batch's
//! shape (column count, list lengths, null flags) is checked before anything is sized by its
//! row count, each column against the declared type, and every `var-column`'s offsets and
//! UTF-8 before a row borrows from it. A violation is a [`ConvertError`] naming the column and
//! row, never a panic.
//!
//! [`ColumnCells`] and [`check_shape`] are shared with the COPY tuple path (`copy_tuples`).

use sluice_value_model::wit_encoding::uuid_from_pair;

use super::columns::{column_values_kind, column_values_len, column_values_scalar, var_column_of};
use super::schema::{data_type_to_wit, scalar_type_name};
use super::values::{array_from_wit, inet_from_wit, mac_from_wit, range_from_wit};
use super::ConvertError;
use crate::plugins::bindings::sluice::plugin::types as wit;
use crate::stores::postgres::binary::ValueRef;
use crate::types::batch::Batch;
use crate::types::schema::{DataType, Schema, SchemaRef};
use crate::types::value::Value;

/// Converts a WIT batch (returned by a guest) into an engine batch of `schema`, checking the
/// batch's shape (column count, list lengths, null flags) and every column's type.
pub fn batch_from_wit(schema: &SchemaRef, batch: wit::Batch) -> Result<Batch, ConvertError> {
    let width = schema.len();
    let rows = batch.num_rows as usize;
    check_shape(schema, &batch)?;
    if width == 0 {
        return Ok(Batch::new(schema.clone()));
    }
    let cells = rows
        .checked_mul(width)
        .ok_or_else(|| ConvertError::shape("batch too large"))?;
    let mut out = vec![Value::Null; cells];
    for (col, (data, column)) in batch.columns.into_iter().zip(&schema.columns).enumerate() {
        let name = column.name.as_str();
        let mut cells = ColumnCells::new(name, &column.data_type, data)?;
        for row in 0..rows {
            if cells.is_null(row) {
                continue;
            }
            let value = cells
                .take(row)
                .map_err(|m| ConvertError::at(name, row, m))?
                .into_owned();
            if let Some(slot) = out.get_mut(row * width + col) {
                *slot = value;
            }
        }
    }
    Ok(Batch::from_values(schema.clone(), out))
}

/// Checks a guest batch's shape against `schema`: the column count, and every column's list
/// lengths and null flags against `num-rows`. Nothing is sized by `num-rows` before this: that
/// is the guest's claim, and a forged one must not make the host allocate for it.
pub(in crate::plugins) fn check_shape(
    schema: &Schema,
    batch: &wit::Batch,
) -> Result<(), ConvertError> {
    let width = schema.len();
    let rows = batch.num_rows as usize;
    if batch.columns.len() != width {
        return Err(ConvertError::shape(format!(
            "batch has {} columns but the output schema has {width}",
            batch.columns.len()
        )));
    }
    for (data, column) in batch.columns.iter().zip(&schema.columns) {
        let name = column.name.as_str();
        if let Some(var) = var_column_of(&data.values) {
            let n = var.offsets.len();
            if n.checked_sub(1) != Some(rows) {
                return Err(ConvertError::column(
                    name,
                    format!(
                        "has {n} offsets but the batch has {rows} rows \
                         (a var-column has one offset more than rows)"
                    ),
                ));
            }
        }
        let len = column_values_len(&data.values);
        if len != rows {
            return Err(ConvertError::column(
                name,
                format!("has {len} values but the batch has {rows} rows"),
            ));
        }
        if !data.nulls.is_empty() && data.nulls.len() != rows {
            return Err(ConvertError::column(
                name,
                format!(
                    "has {} null flags but the batch has {rows} rows",
                    data.nulls.len()
                ),
            ));
        }
    }
    Ok(())
}

/// One column of a guest batch, checked against its declared type, from which rows are taken
/// one at a time. A var-column's buffer is validated once (offsets, and UTF-8 for the text
/// kinds) and each row borrows a slice of it, so nothing is allocated per value until a
/// consumer wants owned values.
pub(in crate::plugins) struct ColumnCells {
    nulls: Vec<bool>,
    values: Cells,
}

enum Cells {
    /// A text-like var-column: valid UTF-8, every row's range on character boundaries.
    Text {
        text: String,
        offsets: Vec<u32>,
        kind: TextKind,
    },
    Bytes {
        data: Vec<u8>,
        offsets: Vec<u32>,
    },
    /// Fixed-width values, arrays and ranges (`elem`: the element type of the latter two).
    Other {
        values: wit::ColumnValues,
        elem: wit::ScalarType,
    },
}

#[derive(Clone, Copy)]
enum TextKind {
    Numeric,
    Text,
    Json,
}

impl ColumnCells {
    /// Checks one guest column (whose lengths [`check_shape`] checked) against the type the
    /// schema declares for it.
    pub(in crate::plugins) fn new(
        name: &str,
        declared: &DataType,
        data: wit::ColumnData,
    ) -> Result<Self, ConvertError> {
        use wit::ColumnValues as C;
        let declared = data_type_to_wit(declared).map_err(|m| ConvertError::column(name, m))?;
        let values = match (declared, data.values) {
            (wit::DataType::Array(elem), values @ C::Array(_))
            | (wit::DataType::Range(elem), values @ C::Range(_)) => Cells::Other { values, elem },
            (wit::DataType::Scalar(s), values) if column_values_scalar(&values) == Some(s) => {
                match values {
                    C::Numeric(v) => text_cells(name, v, TextKind::Numeric)?,
                    C::Text(v) => text_cells(name, v, TextKind::Text)?,
                    C::Json(v) => text_cells(name, v, TextKind::Json)?,
                    C::Bytes(v) => {
                        check_offsets(name, &v.offsets, v.data.len())?;
                        Cells::Bytes {
                            data: v.data,
                            offsets: v.offsets,
                        }
                    }
                    values => Cells::Other { values, elem: s },
                }
            }
            (declared, values) => {
                return Err(ConvertError::column(
                    name,
                    format!(
                        "values are {}, but the output schema declares {}",
                        column_values_kind(&values, elem_of(declared)),
                        describe_wit_type(declared)
                    ),
                ))
            }
        };
        Ok(ColumnCells {
            nulls: data.nulls,
            values,
        })
    }

    pub(in crate::plugins) fn is_null(&self, row: usize) -> bool {
        self.nulls.get(row).copied().unwrap_or(false)
    }

    /// The value of a row that is not NULL. Var-column values borrow the column's buffer;
    /// arrays and ranges are moved out, so each row is taken once.
    pub(in crate::plugins) fn take(&mut self, row: usize) -> Result<ValueRef<'_>, String> {
        let range = |offsets: &[u32]| {
            let start = *offsets.get(row)? as usize;
            let end = *offsets.get(row + 1)? as usize;
            Some(start..end)
        };
        let outside = || format!("row {row} is outside its var-column");
        Ok(match &mut self.values {
            Cells::Text {
                text,
                offsets,
                kind,
            } => {
                let s = range(offsets)
                    .and_then(|r| text.get(r))
                    .ok_or_else(outside)?;
                match kind {
                    TextKind::Numeric => ValueRef::Numeric(s),
                    TextKind::Text => ValueRef::Text(s),
                    TextKind::Json => ValueRef::Json(s),
                }
            }
            Cells::Bytes { data, offsets } => ValueRef::Bytes(
                range(offsets)
                    .and_then(|r| data.get(r))
                    .ok_or_else(outside)?,
            ),
            Cells::Other { values, elem } => ValueRef::Owned(take_fixed(values, *elem, row)?),
        })
    }
}

/// Checks a text-like var-column: offsets, UTF-8 (the error names the row holding the first
/// bad byte), and every row's range on character boundaries, NULL rows' too (a NULL row's
/// bytes are otherwise ignored).
fn text_cells(name: &str, values: wit::VarColumn, kind: TextKind) -> Result<Cells, ConvertError> {
    let wit::VarColumn { data, offsets } = values;
    check_offsets(name, &offsets, data.len())?;
    let text = match String::from_utf8(data) {
        Ok(text) => text,
        Err(e) => {
            // The row whose range holds the first bad byte (offsets are in order by now).
            let bad = e.utf8_error().valid_up_to();
            let row = offsets
                .partition_point(|&o| o as usize <= bad)
                .saturating_sub(1);
            return Err(ConvertError::at(
                name,
                row,
                format!("value is not valid UTF-8 (byte {bad} of the var-column)"),
            ));
        }
    };
    for (row, w) in offsets.windows(2).enumerate() {
        let &[start, end] = w else { continue };
        if !text.is_char_boundary(start as usize) || !text.is_char_boundary(end as usize) {
            return Err(ConvertError::at(
                name,
                row,
                format!(
                    "value (bytes {start}..{end} of the var-column) starts or ends inside a \
                     UTF-8 character"
                ),
            ));
        }
    }
    Ok(Cells::Text {
        text,
        offsets,
        kind,
    })
}

/// Checks a guest's `var-column` offsets against its buffer of `len` bytes (their count was
/// checked with the batch's shape): they start at 0, never decrease, stay within the buffer and
/// end exactly at its end. After this, every row's range is a valid slice of the buffer.
fn check_offsets(name: &str, offsets: &[u32], len: usize) -> Result<(), ConvertError> {
    match offsets.first() {
        Some(0) => {}
        Some(first) => {
            return Err(ConvertError::column(
                name,
                format!("var-column offsets start at {first}, not 0"),
            ))
        }
        None => return Err(ConvertError::column(name, "var-column has no offsets")),
    }
    for (row, w) in offsets.windows(2).enumerate() {
        let &[start, end] = w else { continue };
        if end < start {
            return Err(ConvertError::at(
                name,
                row,
                format!("var-column offsets go backwards (value from byte {start} to {end})"),
            ));
        }
        if end as usize > len {
            return Err(ConvertError::at(
                name,
                row,
                format!("value ends at byte {end}, past the end of the {len}-byte var-column"),
            ));
        }
    }
    let last = offsets.last().copied().unwrap_or(0);
    if last as usize != len {
        return Err(ConvertError::column(
            name,
            format!("var-column offsets end at byte {last}, but its buffer has {len} bytes"),
        ));
    }
    Ok(())
}

fn elem_of(dt: wit::DataType) -> wit::ScalarType {
    match dt {
        wit::DataType::Scalar(s) | wit::DataType::Array(s) | wit::DataType::Range(s) => s,
    }
}

fn describe_wit_type(dt: wit::DataType) -> String {
    match dt {
        wit::DataType::Scalar(s) => scalar_type_name(s).to_string(),
        wit::DataType::Array(s) => format!("array of {}", scalar_type_name(s)),
        wit::DataType::Range(s) => format!("range of {}", scalar_type_name(s)),
    }
}

/// Row `row` of a fixed-width, array or range column as an engine value.
fn take_fixed(
    values: &mut wit::ColumnValues,
    elem: wit::ScalarType,
    row: usize,
) -> Result<Value, String> {
    use wit::ColumnValues as C;
    fn at<T: Copy>(v: &[T], row: usize) -> Result<T, String> {
        v.get(row)
            .copied()
            .ok_or_else(|| format!("row {row} is missing from its column"))
    }
    Ok(match values {
        C::Boolean(v) => Value::Bool(at(v, row)?),
        C::Int16(v) => Value::Int16(at(v, row)?),
        C::Int32(v) => Value::Int32(at(v, row)?),
        C::Int64(v) => Value::Int64(at(v, row)?),
        C::Float32(v) => Value::Float32(at(v, row)?),
        C::Float64(v) => Value::Float64(at(v, row)?),
        C::Money(v) => Value::Money(at(v, row)?),
        C::Uuid(v) => Value::Uuid(uuid_from_pair(at(v, row)?)),
        C::Date(v) => Value::Date(at(v, row)?),
        C::Time(v) => Value::Time(at(v, row)?),
        C::Timetz(v) => {
            let x = at(v, row)?;
            Value::TimeTz {
                micros: x.micros,
                offset_secs: x.offset_secs,
            }
        }
        C::Timestamp(v) => Value::Timestamp(at(v, row)?),
        C::Timestamptz(v) => Value::TimestampTz(at(v, row)?),
        C::Interval(v) => {
            let x = at(v, row)?;
            Value::Interval {
                months: x.months,
                days: x.days,
                micros: x.micros,
            }
        }
        C::Inet(v) => inet_from_wit(take_at(v, row, || wit::Inet {
            addr: Vec::new(),
            prefix: 0,
            cidr: false,
        })?)?,
        C::Macaddr(v) => Value::MacAddr(mac_from_wit(at(v, row)?)?),
        C::Array(v) => array_from_wit(
            take_at(v, row, || wit::ArrayValue {
                dims: Vec::new(),
                elements: Vec::new(),
            })?,
            elem,
        )?,
        C::Range(v) => range_from_wit(
            take_at(v, row, || wit::RangeValue {
                empty: true,
                lower: None,
                upper: None,
                lower_inclusive: false,
                upper_inclusive: false,
            })?,
            elem,
        )?,
        // Variable-length columns are `Cells::Text` / `Cells::Bytes`.
        C::Numeric(_) | C::Text(_) | C::Json(_) | C::Bytes(_) => {
            return Err("var-column passed to the fixed-width path".into())
        }
    })
}

/// Moves row `row` out of a column list, leaving a placeholder.
fn take_at<T>(v: &mut [T], row: usize, placeholder: impl FnOnce() -> T) -> Result<T, String> {
    v.get_mut(row)
        .map(|slot| std::mem::replace(slot, placeholder()))
        .ok_or_else(|| format!("row {row} is missing from its column"))
}
