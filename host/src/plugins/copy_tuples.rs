//! PostgreSQL binary COPY tuples straight into a plugin's WIT columns, and a plugin's WIT
//! columns straight into COPY tuples, without engine values in between.
//!
//! A PostgreSQL -> plugin -> PostgreSQL copy otherwise decodes every field into a [`Value`]
//! (an allocation for every text, json and numeric), moves it into a WIT column, and on the
//! way back builds values again only for the sink to encode them. Profiled on the standard
//! bench table, allocation and the two conversions took about a third of the client's CPU,
//! which the database servers need on a small machine. Here each field goes from its COPY
//! bytes to its column (or back) once: text-like values are copied as byte slices and a
//! numeric's text is written into one reused buffer.
//!
//! The copy runner chooses this path (see `engine::copy`) only when no step between the
//! source, the plugins and the sink needs engine values; the checks are the same as on the
//! value path: column types, UTF-8, the guest's offsets and shape, and whether each value fits
//! its target column, each failure naming the column and row.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

use super::bindings::sluice::plugin::types as wit;
use super::convert::{check_shape, data_type_to_wit, ColumnBuilder, ColumnCells, ConvertError};
use crate::stores::postgres::binary::{
    decode_ref, encode_ref_with_len, resolve, type_name, Resolved,
};
use crate::types::batch::RawTuples;
use crate::types::schema::Schema;

/// Converts undecoded tuples (whose column types `raw.types` match `schema`, as the source
/// described them) into a WIT batch.
pub fn tuples_to_wit(schema: &Schema, raw: &RawTuples) -> Result<wit::Batch, ConvertError> {
    let rows = raw.rows;
    let width = schema.len();
    let num_rows = u32::try_from(rows)
        .map_err(|_| ConvertError::shape(format!("batch of {rows} rows exceeds u32")))?;
    if raw.types.len() != width {
        return Err(ConvertError::shape(format!(
            "the tuples have {} column types but the schema has {width} columns",
            raw.types.len()
        )));
    }
    let mut builders = Vec::with_capacity(width);
    for c in &schema.columns {
        let dt = data_type_to_wit(&c.data_type).map_err(|m| ConvertError::column(&c.name, m))?;
        builders.push(ColumnBuilder::new(dt, rows));
    }
    let resolved: Vec<Resolved<'_>> = raw.types.iter().map(resolve).collect();
    let mut numeric = String::new();
    let mut data = &raw.data[..];
    for row in 0..rows {
        let count = take_i16(&mut data).ok_or_else(|| truncated(row))?;
        if usize::try_from(count).ok() != Some(width) {
            return Err(ConvertError::shape(format!(
                "row {row} has {count} fields, expected {width}"
            )));
        }
        for (((builder, ty), res), column) in builders
            .iter_mut()
            .zip(raw.types.iter())
            .zip(&resolved)
            .zip(&schema.columns)
        {
            let name = column.name.as_str();
            let len = take_i32(&mut data).ok_or_else(|| truncated(row))?;
            if len == -1 {
                builder.push_null(rows);
                continue;
            }
            let field = usize::try_from(len)
                .ok()
                .and_then(|n| take(&mut data, n))
                .ok_or_else(|| truncated(row))?;
            let value = decode_ref(*res, ty, field, &mut numeric)
                .map_err(|e| ConvertError::at(name, row, e.to_string()))?;
            builder
                .push_ref(value, rows)
                .map_err(|m| ConvertError::at(name, row, m))?;
        }
    }
    if !data.is_empty() {
        return Err(ConvertError::shape(format!(
            "{} bytes follow the last of the batch's {rows} rows",
            data.len()
        )));
    }
    Ok(wit::Batch {
        num_rows,
        columns: builders.into_iter().map(ColumnBuilder::finish).collect(),
    })
}

/// Why a guest's batch did not become COPY tuples.
#[derive(Debug)]
pub enum OutputError {
    /// The batch breaks the WIT contract (shape, types, offsets, UTF-8).
    Invalid(ConvertError),
    /// A value is valid but does not fit its sink column (out of range, wrong kind).
    Unwritable(ConvertError),
}

/// Converts a guest's WIT batch of `schema` into COPY tuples for columns of types `targets`
/// (the sink's), checking the batch as [`super::convert::batch_from_wit`] does.
pub fn wit_to_tuples(
    schema: &Schema,
    batch: wit::Batch,
    targets: &Arc<[Type]>,
) -> Result<RawTuples, OutputError> {
    check_shape(schema, &batch).map_err(OutputError::Invalid)?;
    let width = schema.len();
    let rows = batch.num_rows as usize;
    if targets.len() != width {
        return Err(OutputError::Unwritable(ConvertError::shape(format!(
            "the sink has {} columns but the output schema has {width}",
            targets.len()
        ))));
    }
    if width == 0 {
        // A batch without columns holds no rows, as `batch_from_wit` reads it: its `num-rows`
        // is then the guest's bare claim, and a tuple per claimed row let a forged count
        // (u32::MAX) make the host write gigabytes. Found by the `guest_output` fuzz target.
        return Ok(RawTuples {
            data: bytes::Bytes::new(),
            rows: 0,
            types: targets.clone(),
        });
    }
    let count = i16::try_from(width).map_err(|_| {
        OutputError::Unwritable(ConvertError::shape(format!(
            "{width} columns exceed COPY's limit"
        )))
    })?;
    let payload: usize = batch.columns.iter().map(super::convert::var_bytes).sum();
    let mut columns = Vec::with_capacity(width);
    for (data, column) in batch.columns.into_iter().zip(&schema.columns) {
        columns.push(
            ColumnCells::new(&column.name, &column.data_type, data)
                .map_err(OutputError::Invalid)?,
        );
    }
    let resolved: Vec<Resolved<'_>> = targets.iter().map(resolve).collect();
    // Field lengths and fixed-width values are a few bytes each; text is its own size.
    let mut out = BytesMut::with_capacity(payload + rows * (2 + width * 12));
    for row in 0..rows {
        out.put_i16(count);
        for (((cells, ty), res), column) in columns
            .iter_mut()
            .zip(targets.iter())
            .zip(&resolved)
            .zip(&schema.columns)
        {
            if cells.is_null(row) {
                out.put_i32(-1);
                continue;
            }
            let name = column.name.as_str();
            let value = cells
                .take(row)
                .map_err(|m| OutputError::Invalid(ConvertError::at(name, row, m)))?;
            encode_ref_with_len(&value, *res, ty, &mut out).map_err(|e| {
                OutputError::Unwritable(ConvertError::at(
                    name,
                    row,
                    format!("cannot be written to a {} column: {e}", type_name(ty)),
                ))
            })?;
        }
    }
    Ok(RawTuples {
        data: out.freeze(),
        rows,
        types: targets.clone(),
    })
}

fn truncated(row: usize) -> ConvertError {
    ConvertError::shape(format!("row {row} is cut off in the COPY data"))
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Some(head)
}

fn take_i16(data: &mut &[u8]) -> Option<i16> {
    let (head, rest) = data.split_first_chunk::<2>()?;
    *data = rest;
    Some(i16::from_be_bytes(*head))
}

fn take_i32(data: &mut &[u8]) -> Option<i32> {
    let (head, rest) = data.split_first_chunk::<4>()?;
    *data = rest;
    Some(i32::from_be_bytes(*head))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::convert::{batch_from_wit, batch_to_wit};
    use crate::stores::postgres::copy_binary::write_row;
    use crate::types::batch::Batch;
    use crate::types::schema::{Column, DataType};
    use crate::types::value::{ArrayValue, Value};

    fn schema() -> Schema {
        Schema::new(vec![
            Column::new("id", DataType::Int32, "int4"),
            Column::new("name", DataType::Text, "varchar"),
            Column::new("doc", DataType::Json, "jsonb"),
            Column::new("amount", DataType::Numeric, "numeric"),
            Column::new("blob", DataType::Bytes, "bytea"),
            Column::new("tags", DataType::Array(Box::new(DataType::Int64)), "_int8"),
        ])
    }

    fn types() -> Arc<[Type]> {
        vec![
            Type::INT4,
            Type::VARCHAR,
            Type::JSONB,
            Type::NUMERIC,
            Type::BYTEA,
            Type::INT8_ARRAY,
        ]
        .into()
    }

    fn rows() -> Vec<Vec<Value>> {
        (0..5)
            .map(|i| {
                let null = i % 2 == 1;
                let or_null = |v: Value| if null { Value::Null } else { v };
                vec![
                    Value::Int32(i),
                    or_null(Value::Text(format!("ünï {i}"))),
                    Value::Json(format!("{{\"k\": {i}}}")),
                    or_null(Value::Numeric(format!("-{i}.50"))),
                    Value::Bytes(vec![0, 255, i as u8]),
                    or_null(Value::Array(Box::new(ArrayValue {
                        dims: vec![(2, 1)],
                        elements: vec![Value::Int64(i.into()), Value::Null],
                    }))),
                ]
            })
            .collect()
    }

    fn encoded(rows: &[Vec<Value>]) -> RawTuples {
        let mut data = BytesMut::new();
        for row in rows {
            write_row(row, &types(), &mut data).unwrap();
        }
        RawTuples {
            data: data.freeze(),
            rows: rows.len(),
            types: types(),
        }
    }

    #[test]
    fn tuples_become_the_same_columns_as_values_and_come_back_byte_for_byte() {
        let schema = schema();
        let raw = encoded(&rows());
        let direct = tuples_to_wit(&schema, &raw).unwrap();
        let mut batch = Batch::new(Arc::new(schema.clone()));
        for row in rows() {
            batch.push_row(row);
        }
        let via_values = batch_to_wit(batch).unwrap();
        assert_eq!(format!("{direct:?}"), format!("{via_values:?}"));
        let back = wit_to_tuples(&schema, direct, &types()).unwrap();
        assert_eq!(back.rows, 5);
        assert_eq!(back.data, raw.data);
    }

    #[test]
    fn cut_off_or_miscounted_tuples_are_errors() {
        let schema = schema();
        let raw = encoded(&rows());
        let cut = RawTuples {
            data: raw.data.slice(..raw.data.len() - 3),
            ..raw.clone()
        };
        let e = tuples_to_wit(&schema, &cut).unwrap_err().to_string();
        assert!(e.contains("row 4 is cut off"), "{e}");
        let fewer = RawTuples { rows: 4, ..raw };
        let e = tuples_to_wit(&schema, &fewer).unwrap_err().to_string();
        assert!(e.contains("bytes follow the last"), "{e}");
    }

    #[test]
    fn a_bad_field_names_its_column_and_row() {
        let schema = Schema::new(vec![Column::new("name", DataType::Text, "text")]);
        let mut data = BytesMut::new();
        for field in [&b"ok"[..], &[0xff, 0xfe][..]] {
            data.put_i16(1);
            data.put_i32(field.len() as i32);
            data.put_slice(field);
        }
        let raw = RawTuples {
            data: data.freeze(),
            rows: 2,
            types: vec![Type::TEXT].into(),
        };
        let e = tuples_to_wit(&schema, &raw).unwrap_err();
        assert_eq!((e.column.as_str(), e.row), ("name", Some(1)));
        assert!(e.message.contains("UTF-8"), "{e}");
    }

    /// Fuzz regression (`guest_output` target): a guest batch without columns claiming
    /// u32::MAX rows made `wit_to_tuples` write a tuple per claimed row (gigabytes, minutes).
    /// It holds no rows, on this path as on the value path.
    #[test]
    fn a_batch_without_columns_has_no_rows_whatever_it_claims() {
        let forged = || wit::Batch {
            num_rows: u32::MAX,
            columns: Vec::new(),
        };
        let none: Arc<[Type]> = Vec::new().into();
        let tuples = wit_to_tuples(&Schema::default(), forged(), &none).unwrap();
        assert_eq!((tuples.rows, tuples.data.len()), (0, 0));
        let values = batch_from_wit(&Arc::new(Schema::default()), forged()).unwrap();
        assert_eq!(values.num_rows(), 0);
    }

    #[test]
    fn output_that_breaks_the_contract_or_does_not_fit_is_told_apart() {
        let schema = Schema::new(vec![Column::new("n", DataType::Int64, "int8")]);
        let batch = |values: Vec<i64>, rows: u32| wit::Batch {
            num_rows: rows,
            columns: vec![wit::ColumnData {
                nulls: Vec::new(),
                values: wit::ColumnValues::Int64(values),
            }],
        };
        let int4: Arc<[Type]> = vec![Type::INT4].into();
        match wit_to_tuples(&schema, batch(vec![1, 2], 3), &int4) {
            Err(OutputError::Invalid(e)) => assert!(e.message.contains("has 2 values"), "{e}"),
            other => panic!("expected an invalid batch, got {other:?}"),
        }
        match wit_to_tuples(&schema, batch(vec![1, 3_000_000_000], 2), &int4) {
            Err(OutputError::Unwritable(e)) => {
                assert_eq!((e.column.as_str(), e.row), ("n", Some(1)));
                assert!(e.message.contains("3000000000"), "{e}");
            }
            other => panic!("expected an unwritable value, got {other:?}"),
        }
        let ok = wit_to_tuples(&schema, batch(vec![1, -2], 2), &int4).unwrap();
        assert_eq!(
            &ok.data[..],
            &[0, 1, 0, 0, 0, 4, 0, 0, 0, 1, 0, 1, 0, 0, 0, 4, 255, 255, 255, 254][..]
        );
    }
}
