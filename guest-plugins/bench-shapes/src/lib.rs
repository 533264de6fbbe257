//! Guest side of the plugin batch-encoding benchmark: one export per batch shape. Each export
//! gets its batch lifted into Rust types by the bindings, touches every value through the API a
//! plugin author would use (summing numbers, string byte lengths, NULL flags) and returns the
//! batch with that checksum, which the host checks against its own.
//!
//! Checksum: wrapping sum over all cells of 1 for NULL, otherwise the value as `u64` (integers,
//! dates, timestamps sign-extended; floats by bits; uuid `hi ^ lo`), the byte length of
//! strings and byte strings, and the sum of the fields of small records.

wit_bindgen::generate!({
    path: "../../wit/bench-shapes",
    world: "bench",
});

use sluice::bench_shapes::buffers::{self, VarColumn};
use sluice::bench_shapes::rows::Value;
use sluice::bench_shapes::types::{
    ArrayValue, ColumnData, ColumnValues, Inet, Interval, RangeValue, Scalar, Timetz,
};

struct Bench;

impl Guest for Bench {
    fn echo_columnar(input: Batch) -> ColumnarEcho {
        let checksum = input
            .columns
            .iter()
            .fold(0u64, |acc, c| acc.wrapping_add(column_sum(c)));
        ColumnarEcho {
            batch: input,
            checksum,
        }
    }

    fn echo_rows(input: RowBatch) -> RowsEcho {
        let mut checksum = 0u64;
        for row in &input.rows {
            for value in row {
                checksum = checksum.wrapping_add(value_sum(value));
            }
        }
        RowsEcho {
            batch: input,
            checksum,
        }
    }

    fn echo_buffers(input: BufferBatch) -> BuffersEcho {
        let checksum = input
            .columns
            .iter()
            .fold(0u64, |acc, c| acc.wrapping_add(buffer_column_sum(c)));
        BuffersEcho {
            batch: input,
            checksum,
        }
    }
}

export!(Bench);

/// Sums `f` over a column's values, counting 1 for each row flagged NULL.
fn fold<T>(values: &[T], nulls: &[bool], f: impl Fn(&T) -> u64) -> u64 {
    if nulls.is_empty() {
        values.iter().fold(0, |acc, v| acc.wrapping_add(f(v)))
    } else {
        values.iter().zip(nulls).fold(0, |acc, (v, &null)| {
            acc.wrapping_add(if null { 1 } else { f(v) })
        })
    }
}

fn timetz_sum(t: &Timetz) -> u64 {
    (t.micros as u64).wrapping_add(t.offset_secs as i64 as u64)
}

fn interval_sum(i: &Interval) -> u64 {
    (i.months as i64 as u64)
        .wrapping_add(i.days as i64 as u64)
        .wrapping_add(i.micros as u64)
}

fn inet_sum(i: &Inet) -> u64 {
    i.addr.len() as u64 + u64::from(i.prefix) + u64::from(i.cidr)
}

fn scalar_sum(s: &Scalar) -> u64 {
    match s {
        Scalar::Boolean(b) => u64::from(*b),
        Scalar::Int16(v) => *v as i64 as u64,
        Scalar::Int32(v) | Scalar::Date(v) => *v as i64 as u64,
        Scalar::Int64(v)
        | Scalar::Money(v)
        | Scalar::Time(v)
        | Scalar::Timestamp(v)
        | Scalar::Timestamptz(v) => *v as u64,
        Scalar::Float32(v) => u64::from(v.to_bits()),
        Scalar::Float64(v) => v.to_bits(),
        Scalar::Numeric(s) | Scalar::Text(s) | Scalar::Json(s) => s.len() as u64,
        Scalar::Bytes(b) => b.len() as u64,
        Scalar::Uuid((hi, lo)) => hi ^ lo,
        Scalar::Timetz(t) => timetz_sum(t),
        Scalar::Interval(i) => interval_sum(i),
        Scalar::Inet(i) => inet_sum(i),
        Scalar::Macaddr(m) => *m,
    }
}

fn bound_sum(s: &Option<Scalar>) -> u64 {
    s.as_ref().map_or(1, scalar_sum)
}

fn array_sum(a: &ArrayValue) -> u64 {
    a.elements
        .iter()
        .fold(a.dims.len() as u64, |acc, e| acc.wrapping_add(bound_sum(e)))
}

fn range_sum(r: &RangeValue) -> u64 {
    u64::from(r.empty)
        .wrapping_add(bound_sum(&r.lower))
        .wrapping_add(bound_sum(&r.upper))
}

/// Shape A: one typed list per column.
fn column_sum(c: &ColumnData) -> u64 {
    let n = &c.nulls[..];
    match &c.values {
        ColumnValues::Boolean(v) => fold(v, n, |b| u64::from(*b)),
        ColumnValues::Int16(v) => fold(v, n, |x| *x as i64 as u64),
        ColumnValues::Int32(v) | ColumnValues::Date(v) => fold(v, n, |x| *x as i64 as u64),
        ColumnValues::Int64(v)
        | ColumnValues::Money(v)
        | ColumnValues::Time(v)
        | ColumnValues::Timestamp(v)
        | ColumnValues::Timestamptz(v) => fold(v, n, |x| *x as u64),
        ColumnValues::Float32(v) => fold(v, n, |x| u64::from(x.to_bits())),
        ColumnValues::Float64(v) => fold(v, n, |x| x.to_bits()),
        ColumnValues::Numeric(v) | ColumnValues::Text(v) | ColumnValues::Json(v) => {
            fold(v, n, |s| s.len() as u64)
        }
        ColumnValues::Bytes(v) => fold(v, n, |b| b.len() as u64),
        ColumnValues::Uuid(v) => fold(v, n, |(hi, lo)| hi ^ lo),
        ColumnValues::Timetz(v) => fold(v, n, timetz_sum),
        ColumnValues::Interval(v) => fold(v, n, interval_sum),
        ColumnValues::Inet(v) => fold(v, n, inet_sum),
        ColumnValues::Macaddr(v) => fold(v, n, |m| *m),
        ColumnValues::Array(v) => fold(v, n, array_sum),
        ColumnValues::Range(v) => fold(v, n, range_sum),
    }
}

/// Shape B: one variant per cell.
fn value_sum(v: &Value) -> u64 {
    match v {
        Value::Null => 1,
        Value::Boolean(b) => u64::from(*b),
        Value::Int16(x) => *x as i64 as u64,
        Value::Int32(x) | Value::Date(x) => *x as i64 as u64,
        Value::Int64(x)
        | Value::Money(x)
        | Value::Time(x)
        | Value::Timestamp(x)
        | Value::Timestamptz(x) => *x as u64,
        Value::Float32(x) => u64::from(x.to_bits()),
        Value::Float64(x) => x.to_bits(),
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) => s.len() as u64,
        Value::Bytes(b) => b.len() as u64,
        Value::Uuid((hi, lo)) => hi ^ lo,
        Value::Timetz(t) => timetz_sum(t),
        Value::Interval(i) => interval_sum(i),
        Value::Inet(i) => inet_sum(i),
        Value::Macaddr(m) => *m,
        Value::Array(a) => array_sum(a),
        Value::Range(r) => range_sum(r),
    }
}

/// The values of a var-length column as byte slices; `None` if the offsets are out of bounds.
fn var_slices(c: &VarColumn) -> impl Iterator<Item = Option<&[u8]>> {
    c.offsets
        .windows(2)
        .map(|w| c.data.get(w[0] as usize..w[1] as usize))
}

/// The values of a text-like column as `&str`, what an SDK would hand a plugin: the buffer is
/// validated as UTF-8 once, then each offset only needs a char-boundary check. Invalid data
/// yields `u64::MAX` per value, which the host reports as a checksum mismatch.
fn text_sum(c: &VarColumn, nulls: &[bool]) -> u64 {
    let Ok(text) = std::str::from_utf8(&c.data) else {
        return u64::MAX;
    };
    let strs = c
        .offsets
        .windows(2)
        .map(|w| text.get(w[0] as usize..w[1] as usize));
    let f = |s: &Option<&str>| s.map_or(u64::MAX, |s| s.len() as u64);
    if nulls.is_empty() {
        strs.fold(0, |acc, s| acc.wrapping_add(f(&s)))
    } else {
        strs.zip(nulls).fold(0, |acc, (s, &null)| {
            acc.wrapping_add(if null { 1 } else { f(&s) })
        })
    }
}

/// Shape C: like A, with byte buffer + offsets for var-length columns.
fn buffer_column_sum(c: &buffers::ColumnData) -> u64 {
    use buffers::ColumnValues as V;
    let n = &c.nulls[..];
    match &c.values {
        V::Boolean(v) => fold(v, n, |b| u64::from(*b)),
        V::Int16(v) => fold(v, n, |x| *x as i64 as u64),
        V::Int32(v) | V::Date(v) => fold(v, n, |x| *x as i64 as u64),
        V::Int64(v) | V::Money(v) | V::Time(v) | V::Timestamp(v) | V::Timestamptz(v) => {
            fold(v, n, |x| *x as u64)
        }
        V::Float32(v) => fold(v, n, |x| u64::from(x.to_bits())),
        V::Float64(v) => fold(v, n, |x| x.to_bits()),
        V::Numeric(v) | V::Text(v) | V::Json(v) => text_sum(v, n),
        V::Bytes(v) => {
            let slices: Vec<Option<&[u8]>> = var_slices(v).collect();
            fold(&slices, n, |b| b.map_or(u64::MAX, |b| b.len() as u64))
        }
        V::Uuid(v) => fold(v, n, |(hi, lo)| hi ^ lo),
        V::Timetz(v) => fold(v, n, timetz_sum),
        V::Interval(v) => fold(v, n, interval_sum),
        V::Inet(v) => fold(v, n, inet_sum),
        V::Macaddr(v) => fold(v, n, |m| *m),
        V::Array(v) => fold(v, n, array_sum),
        V::Range(v) => fold(v, n, range_sum),
    }
}
