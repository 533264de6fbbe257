//! The guest-output validator of the plugin boundary: a guest is untrusted, so any `output`
//! it returns (a batch of WIT columns for a declared output schema, plus rejections) must be
//! checked and converted, or refused with a named error, never a panic or a huge allocation.
//! Both paths a guest's batch takes are fuzzed: into engine values (`batch_from_wit`) and
//! straight into binary COPY tuples for a sink's column types (`wit_to_tuples`).
//!
//! The batch is built from the input with `arbitrary`, mostly shaped like the schema (same
//! column kinds, list lengths equal to `num-rows`) so the checks past the shape are reached,
//! sometimes not.
#![no_main]

use std::sync::Arc;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use sluice::plugins::bindings::sluice::plugin::types as wit;
use sluice::plugins::convert::{batch_from_wit, batch_to_wit, output_size};
use sluice::plugins::copy_tuples::wit_to_tuples;
use sluice::types::schema::{Column, DataType, Schema, SchemaRef};
use sluice_fuzz::pg_types;
use tokio_postgres::types::Type;

const LEAVES: [DataType; 20] = DataType::LEAVES;

fn leaf_index(u: &mut Unstructured<'_>) -> Result<usize> {
    u.choose_index(LEAVES.len())
}

fn data_type(u: &mut Unstructured<'_>) -> Result<DataType> {
    let leaf = LEAVES[leaf_index(u)?].clone();
    Ok(match u.int_in_range(0..=5u8)? {
        0 => DataType::Array(Box::new(leaf)),
        1 => DataType::Range(Box::new(leaf)),
        _ => leaf,
    })
}

/// The PostgreSQL type a sink column of this engine type would usually have.
fn natural_pg_type(dt: &DataType) -> Type {
    match dt {
        DataType::Bool => Type::BOOL,
        DataType::Int16 => Type::INT2,
        DataType::Int32 => Type::INT4,
        DataType::Int64 => Type::INT8,
        DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Numeric => Type::NUMERIC,
        DataType::Money => Type::MONEY,
        DataType::Text => Type::TEXT,
        DataType::Bytes => Type::BYTEA,
        DataType::Uuid => Type::UUID,
        DataType::Json => Type::JSONB,
        DataType::Date => Type::DATE,
        DataType::Time => Type::TIME,
        DataType::TimeTz => Type::TIMETZ,
        DataType::Timestamp => Type::TIMESTAMP,
        DataType::TimestampTz => Type::TIMESTAMPTZ,
        DataType::Interval => Type::INTERVAL,
        DataType::Inet => Type::INET,
        DataType::MacAddr => Type::MACADDR,
        DataType::Array(e) => match **e {
            DataType::Int32 => Type::INT4_ARRAY,
            DataType::Int64 => Type::INT8_ARRAY,
            DataType::Numeric => Type::NUMERIC_ARRAY,
            DataType::Date => Type::DATE_ARRAY,
            _ => Type::TEXT_ARRAY,
        },
        DataType::Range(e) => match **e {
            DataType::Int64 => Type::INT8_RANGE,
            DataType::Numeric => Type::NUM_RANGE,
            DataType::Date => Type::DATE_RANGE,
            DataType::Timestamp => Type::TS_RANGE,
            DataType::TimestampTz => Type::TSTZ_RANGE,
            _ => Type::INT4_RANGE,
        },
    }
}

fn text(u: &mut Unstructured<'_>, scalar: usize) -> Result<String> {
    // Numeric and JSON values are mostly well-formed, so their checks past UTF-8 are reached.
    Ok(match (scalar, u.int_in_range(0..=3u8)?) {
        (6, 0..=2) => format!("{}.{}", u.arbitrary::<i64>()?, u.arbitrary::<u32>()?),
        (11, 0..=2) => format!("{{\"k\": {}}}", u.arbitrary::<i32>()?),
        _ => u.arbitrary()?,
    })
}

fn inet(u: &mut Unstructured<'_>) -> Result<wit::Inet> {
    let len = if u.arbitrary()? { 4 } else { 16 };
    let len = if u.ratio(1, 8)? {
        u.int_in_range(0..=20)?
    } else {
        len
    };
    Ok(wit::Inet {
        addr: (0..len).map(|_| u.arbitrary()).collect::<Result<_>>()?,
        prefix: u.arbitrary()?,
        cidr: u.arbitrary()?,
    })
}

fn scalar(u: &mut Unstructured<'_>, leaf: usize) -> Result<wit::Scalar> {
    use wit::Scalar as S;
    // Mostly the declared leaf type, sometimes any.
    let which = if u.ratio(1, 10)? {
        leaf_index(u)?
    } else {
        leaf
    };
    Ok(match which {
        0 => S::Boolean(u.arbitrary()?),
        1 => S::Int16(u.arbitrary()?),
        2 => S::Int32(u.arbitrary()?),
        3 => S::Int64(u.arbitrary()?),
        4 => S::Float32(u.arbitrary()?),
        5 => S::Float64(u.arbitrary()?),
        6 => S::Numeric(text(u, 6)?),
        7 => S::Money(u.arbitrary()?),
        8 => S::Text(u.arbitrary()?),
        9 => S::Bytes(u.arbitrary()?),
        10 => S::Uuid(u.arbitrary()?),
        11 => S::Json(text(u, 11)?),
        12 => S::Date(u.arbitrary()?),
        13 => S::Time(u.arbitrary()?),
        14 => S::Timetz(wit::Timetz {
            micros: u.arbitrary()?,
            offset_secs: u.arbitrary()?,
        }),
        15 => S::Timestamp(u.arbitrary()?),
        16 => S::Timestamptz(u.arbitrary()?),
        17 => S::Interval(wit::Interval {
            months: u.arbitrary()?,
            days: u.arbitrary()?,
            micros: u.arbitrary()?,
        }),
        18 => S::Inet(inet(u)?),
        _ => S::Macaddr(u.arbitrary()?),
    })
}

fn var_column(u: &mut Unstructured<'_>, rows: usize, leaf: usize) -> Result<wit::VarColumn> {
    let mut data = Vec::new();
    let mut offsets = vec![0u32];
    for _ in 0..rows {
        let v = if leaf == 9 {
            u.arbitrary::<Vec<u8>>()?
        } else {
            text(u, leaf)?.into_bytes()
        };
        data.extend_from_slice(&v);
        offsets.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
    }
    if u.ratio(1, 8)? {
        // A forged var-column: offsets and bytes as the input says.
        return Ok(wit::VarColumn {
            data: u.arbitrary()?,
            offsets: u.arbitrary()?,
        });
    }
    Ok(wit::VarColumn { data, offsets })
}

fn arb<T: for<'a> arbitrary::Arbitrary<'a>>(u: &mut Unstructured<'_>) -> Result<T> {
    u.arbitrary()
}

fn list<T>(
    u: &mut Unstructured<'_>,
    n: usize,
    mut f: impl FnMut(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    (0..n).map(|_| f(u)).collect()
}

fn column_values(
    u: &mut Unstructured<'_>,
    dt: &DataType,
    rows: usize,
) -> Result<wit::ColumnValues> {
    use wit::ColumnValues as C;
    let (shape, leaf) = match dt {
        DataType::Array(e) => (1, LEAVES.iter().position(|l| l == &**e).unwrap_or(0)),
        DataType::Range(e) => (2, LEAVES.iter().position(|l| l == &**e).unwrap_or(0)),
        other => (0, LEAVES.iter().position(|l| l == other).unwrap_or(0)),
    };
    let (shape, leaf) = if u.ratio(1, 12)? {
        (u.int_in_range(0..=2)?, leaf_index(u)?)
    } else {
        (shape, leaf)
    };
    let n = if u.ratio(1, 12)? {
        u.int_in_range(0..=10)?
    } else {
        rows
    };
    Ok(match (shape, leaf) {
        (1, _) => C::Array(list(u, n, |u| {
            let dims = if u.ratio(1, 4)? {
                u.arbitrary()?
            } else {
                let len: i32 = u.int_in_range(0..=4)?;
                if len == 0 {
                    vec![]
                } else {
                    vec![(len, u.int_in_range(-2..=2)?)]
                }
            };
            let count: usize = dims
                .iter()
                .map(|&(l, _): &(i32, i32)| usize::try_from(l).unwrap_or(0).min(8))
                .fold(1usize, usize::saturating_mul)
                .min(16);
            let count = if dims.is_empty() { 0 } else { count };
            let count = if u.ratio(1, 8)? {
                u.int_in_range(0..=6)?
            } else {
                count
            };
            Ok(wit::ArrayValue {
                dims,
                elements: list(u, count, |u| {
                    Ok(if u.ratio(1, 5)? {
                        None
                    } else {
                        Some(scalar(u, leaf)?)
                    })
                })?,
            })
        })?),
        (2, _) => C::Range(list(u, n, |u| {
            Ok(wit::RangeValue {
                empty: u.ratio(1, 6)?,
                lower: if u.ratio(1, 4)? {
                    None
                } else {
                    Some(scalar(u, leaf)?)
                },
                upper: if u.ratio(1, 4)? {
                    None
                } else {
                    Some(scalar(u, leaf)?)
                },
                lower_inclusive: u.arbitrary()?,
                upper_inclusive: u.arbitrary()?,
            })
        })?),
        (_, 0) => C::Boolean(list(u, n, arb)?),
        (_, 1) => C::Int16(list(u, n, arb)?),
        (_, 2) => C::Int32(list(u, n, arb)?),
        (_, 3) => C::Int64(list(u, n, arb)?),
        (_, 4) => C::Float32(list(u, n, arb)?),
        (_, 5) => C::Float64(list(u, n, arb)?),
        (_, 6) => C::Numeric(var_column(u, n, 6)?),
        (_, 7) => C::Money(list(u, n, arb)?),
        (_, 8) => C::Text(var_column(u, n, 8)?),
        (_, 9) => C::Bytes(var_column(u, n, 9)?),
        (_, 10) => C::Uuid(list(u, n, arb)?),
        (_, 11) => C::Json(var_column(u, n, 11)?),
        (_, 12) => C::Date(list(u, n, arb)?),
        (_, 13) => C::Time(list(u, n, arb)?),
        (_, 14) => C::Timetz(list(u, n, |u| {
            Ok(wit::Timetz {
                micros: u.arbitrary()?,
                offset_secs: u.arbitrary()?,
            })
        })?),
        (_, 15) => C::Timestamp(list(u, n, arb)?),
        (_, 16) => C::Timestamptz(list(u, n, arb)?),
        (_, 17) => C::Interval(list(u, n, |u| {
            Ok(wit::Interval {
                months: u.arbitrary()?,
                days: u.arbitrary()?,
                micros: u.arbitrary()?,
            })
        })?),
        (_, 18) => C::Inet(list(u, n, inet)?),
        _ => C::Macaddr(list(u, n, arb)?),
    })
}

fn case(u: &mut Unstructured<'_>) -> Result<(SchemaRef, wit::Output, Vec<Type>)> {
    let width = u.int_in_range(0..=4)?;
    let columns: Vec<Column> = (0..width)
        .map(|i| Ok(Column::new(format!("c{i}"), data_type(u)?, "t")))
        .collect::<Result<_>>()?;
    let schema = Arc::new(Schema::new(columns));
    let rows: usize = u.int_in_range(0..=8)?;
    let num_rows = if u.ratio(1, 16)? {
        u.arbitrary()?
    } else {
        rows as u32
    };
    let mut data = Vec::new();
    for c in &schema.columns {
        let n = if u.ratio(1, 12)? {
            u.int_in_range(0..=10)?
        } else {
            rows
        };
        let nulls = list(u, n, |u| u.ratio(1, 4))?;
        data.push(wit::ColumnData {
            nulls,
            values: column_values(u, &c.data_type, rows)?,
        });
    }
    if u.ratio(1, 16)? {
        data.pop();
    }
    let all = pg_types();
    let targets = schema
        .columns
        .iter()
        .map(|c| {
            Ok(if u.ratio(1, 4)? {
                all[u.choose_index(all.len())?].clone()
            } else {
                natural_pg_type(&c.data_type)
            })
        })
        .collect::<Result<_>>()?;
    let count = u.int_in_range(0..=2)?;
    let rejected = list(u, count, |u| {
        Ok(wit::Rejection {
            row: u.arbitrary()?,
            message: u.arbitrary()?,
        })
    })?;
    let output = wit::Output {
        batch: wit::Batch {
            num_rows,
            columns: data,
        },
        rejected,
    };
    Ok((schema, output, targets))
}

fuzz_target!(|bytes: &[u8]| {
    let mut u = Unstructured::new(bytes);
    let Ok((schema, output, targets)) = case(&mut u) else {
        return;
    };
    let _ = output_size(&output);
    let targets: Arc<[Type]> = targets.into();
    let _ = wit_to_tuples(&schema, output.batch.clone(), &targets);
    if let Ok(batch) = batch_from_wit(&schema, output.batch) {
        // What the host accepted from a guest it can hand to the next guest, unchanged.
        let values = batch.values().to_vec();
        let wit_batch = batch_to_wit(batch);
        assert!(
            wit_batch.is_ok(),
            "accepted batch does not go out again: {wit_batch:?}"
        );
        if let Ok(w) = wit_batch {
            let back = batch_from_wit(&schema, w);
            assert!(back.is_ok(), "re-sent batch is refused: {back:?}");
            if let Ok(back) = back {
                let same = values.len() == back.values().len()
                    && values
                        .iter()
                        .zip(back.values())
                        .all(|(a, b)| a == b || (format!("{a:?}") == format!("{b:?}")));
                assert!(
                    same,
                    "values changed crossing the boundary twice: {values:?} -> {:?}",
                    back.values()
                );
            }
        }
    }
});
