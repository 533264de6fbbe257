//! Plugin batch encoding, measured: how much a plugin call costs per 1M rows for three shapes of
//! the batch that crosses the WebAssembly boundary (see docs/plugin-batch-encoding.md).
//!
//! - A columnar: one typed list per column (`list<s64>`, `list<string>`, ...), as in
//!   `wit/sluice-plugin-0.1.0`.
//! - B rows: `list<list<value>>`, `value` a variant of leaf values with a `null` case.
//! - C buffers: A, but numeric/text/json/bytes columns are one byte buffer plus offsets.
//!
//! For each shape and each batch of 4096 rows it times, separately: the host conversion from the
//! engine's row-major [`Batch`] to the generated WIT types (plus dropping the input batch, which
//! the plugin replaces), the call (lowering into the guest, the guest lifting into its Rust types
//! and touching every value, lifting the result back) and the conversion back to a [`Batch`].
//! The baseline is the same walk over every value without a plugin. Every call's checksum is
//! checked against the host's, and the warm-up pass checks that each shape round-trips the
//! batch exactly.
//!
//! Run: `cargo bench -p sluice --bench wit_shapes` (builds the guest in
//! `guest-plugins/bench-shapes` for wasm32-wasip2 first). `WIT_SHAPES_ROWS` and
//! `WIT_SHAPES_RUNS` override 1,000,000 rows and 5 runs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use sluice::types::batch::Batch;
use sluice::types::schema::{Column, DataType, Schema, SchemaRef};
use sluice::types::value::Value;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, OptLevel, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/bench-shapes",
        world: "bench",
    });
}

use bindings::sluice::bench_shapes::{buffers as wb, rows as wr, types as wt};
use bindings::Bench;

const BATCH_ROWS: usize = 4096;

/// `wasmtime::Error` into `anyhow::Error` (the host builds wasmtime without its `anyhow` feature).
trait WasmtimeResult<T> {
    fn anyhow(self) -> Result<T>;
}

impl<T> WasmtimeResult<T> for wasmtime::Result<T> {
    fn anyhow(self) -> Result<T> {
        self.map_err(|e| anyhow!("{e:?}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Checksum: the same walk the guest does (see guest-plugins/bench-shapes/src/lib.rs).

fn value_sum(v: &Value) -> u64 {
    match v {
        Value::Null => 1,
        Value::Bool(b) => u64::from(*b),
        Value::Int16(x) => *x as i64 as u64,
        Value::Int32(x) | Value::Date(x) => *x as i64 as u64,
        Value::Int64(x)
        | Value::Money(x)
        | Value::Time(x)
        | Value::Timestamp(x)
        | Value::TimestampTz(x) => *x as u64,
        Value::Float32(x) => u64::from(x.to_bits()),
        Value::Float64(x) => x.to_bits(),
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) => s.len() as u64,
        Value::Bytes(b) => b.len() as u64,
        Value::Uuid(u) => {
            let (hi, lo) = uuid_to_wit(u);
            hi ^ lo
        }
        Value::TimeTz {
            micros,
            offset_secs,
        } => (*micros as u64).wrapping_add(*offset_secs as i64 as u64),
        Value::Interval {
            months,
            days,
            micros,
        } => (*months as i64 as u64)
            .wrapping_add(*days as i64 as u64)
            .wrapping_add(*micros as u64),
        Value::Inet { addr, prefix, cidr } => {
            let len = if addr.is_ipv4() { 4 } else { 16 };
            len + u64::from(*prefix) + u64::from(*cidr)
        }
        Value::MacAddr(m) => mac_to_wit(m),
        Value::Array(a) => a
            .elements
            .iter()
            .fold(a.dims.len() as u64, |acc, e| acc.wrapping_add(value_sum(e))),
        Value::Range(r) => u64::from(r.empty)
            .wrapping_add(r.lower.as_ref().map_or(1, value_sum))
            .wrapping_add(r.upper.as_ref().map_or(1, value_sum)),
    }
}

/// The no-plugin baseline: one pass over every value of the batch.
fn batch_sum(batch: &Batch) -> u64 {
    batch
        .values()
        .iter()
        .fold(0u64, |acc, v| acc.wrapping_add(value_sum(v)))
}

// ---------------------------------------------------------------------------------------------
// Leaf conversions shared by the shapes.

fn uuid_to_wit(u: &[u8; 16]) -> (u64, u64) {
    let n = u128::from_be_bytes(*u);
    ((n >> 64) as u64, n as u64)
}

fn uuid_from_wit((hi, lo): (u64, u64)) -> Value {
    Value::Uuid(((u128::from(hi) << 64) | u128::from(lo)).to_be_bytes())
}

fn mac_to_wit(m: &[u8; 6]) -> u64 {
    m.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn mac_from_wit(m: u64) -> Value {
    let b = m.to_be_bytes();
    Value::MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn inet_to_wit(addr: &IpAddr, prefix: u8, cidr: bool) -> wt::Inet {
    let addr = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    wt::Inet { addr, prefix, cidr }
}

fn inet_from_wit(i: wt::Inet) -> Result<Value> {
    let addr = if let Ok(a) = <[u8; 4]>::try_from(i.addr.as_slice()) {
        IpAddr::V4(Ipv4Addr::from(a))
    } else if let Ok(a) = <[u8; 16]>::try_from(i.addr.as_slice()) {
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        bail!("inet address of {} bytes", i.addr.len());
    };
    Ok(Value::Inet {
        addr,
        prefix: i.prefix,
        cidr: i.cidr,
    })
}

fn timetz_from_wit(t: wt::Timetz) -> Value {
    Value::TimeTz {
        micros: t.micros,
        offset_secs: t.offset_secs,
    }
}

fn interval_from_wit(i: wt::Interval) -> Value {
    Value::Interval {
        months: i.months,
        days: i.days,
        micros: i.micros,
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed-width columns, shared by shapes A and C (their WIT variants have the same cases).

enum Fixed {
    Boolean(Vec<bool>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float32(Vec<f32>),
    Float64(Vec<f64>),
    Money(Vec<i64>),
    Uuid(Vec<(u64, u64)>),
    Date(Vec<i32>),
    Time(Vec<i64>),
    Timetz(Vec<wt::Timetz>),
    Timestamp(Vec<i64>),
    Timestamptz(Vec<i64>),
    Interval(Vec<wt::Interval>),
    Inet(Vec<wt::Inet>),
    Macaddr(Vec<u64>),
}

/// Collects one column: `f` maps a non-NULL value, NULL rows get `placeholder` and a flag.
fn collect<T>(
    cells: impl Iterator<Item = Value>,
    rows: usize,
    nulls: &mut Vec<bool>,
    placeholder: impl Fn() -> T,
    f: impl Fn(Value) -> Option<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::with_capacity(rows);
    for (i, v) in cells.enumerate() {
        if let Value::Null = v {
            if nulls.is_empty() {
                nulls.resize(rows, false);
            }
            nulls[i] = true;
            out.push(placeholder());
        } else {
            out.push(f(v).ok_or_else(|| anyhow!("a value of another type in row {i}"))?);
        }
    }
    Ok(out)
}

/// The fixed-width column for `dt`, or `None` for var-length and nested types.
fn fixed_to_wit(
    dt: &DataType,
    cells: impl Iterator<Item = Value>,
    rows: usize,
    nulls: &mut Vec<bool>,
) -> Result<Option<Fixed>> {
    let c = cells;
    let n = nulls;
    Ok(Some(match dt {
        DataType::Bool => Fixed::Boolean(collect(
            c,
            rows,
            n,
            || false,
            |v| match v {
                Value::Bool(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Int16 => Fixed::Int16(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::Int16(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Int32 => Fixed::Int32(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::Int32(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Int64 => Fixed::Int64(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::Int64(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Float32 => Fixed::Float32(collect(
            c,
            rows,
            n,
            || 0.0,
            |v| match v {
                Value::Float32(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Float64 => Fixed::Float64(collect(
            c,
            rows,
            n,
            || 0.0,
            |v| match v {
                Value::Float64(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Money => Fixed::Money(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::Money(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Uuid => Fixed::Uuid(collect(
            c,
            rows,
            n,
            || (0, 0),
            |v| match v {
                Value::Uuid(x) => Some(uuid_to_wit(&x)),
                _ => None,
            },
        )?),
        DataType::Date => Fixed::Date(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::Date(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Time => Fixed::Time(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::Time(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::TimeTz => Fixed::Timetz(collect(
            c,
            rows,
            n,
            || wt::Timetz {
                micros: 0,
                offset_secs: 0,
            },
            |v| match v {
                Value::TimeTz {
                    micros,
                    offset_secs,
                } => Some(wt::Timetz {
                    micros,
                    offset_secs,
                }),
                _ => None,
            },
        )?),
        DataType::Timestamp => Fixed::Timestamp(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::Timestamp(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::TimestampTz => Fixed::Timestamptz(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::TimestampTz(x) => Some(x),
                _ => None,
            },
        )?),
        DataType::Interval => Fixed::Interval(collect(
            c,
            rows,
            n,
            || wt::Interval {
                months: 0,
                days: 0,
                micros: 0,
            },
            |v| match v {
                Value::Interval {
                    months,
                    days,
                    micros,
                } => Some(wt::Interval {
                    months,
                    days,
                    micros,
                }),
                _ => None,
            },
        )?),
        DataType::Inet => Fixed::Inet(collect(
            c,
            rows,
            n,
            || wt::Inet {
                addr: Vec::new(),
                prefix: 0,
                cidr: false,
            },
            |v| match v {
                Value::Inet { addr, prefix, cidr } => Some(inet_to_wit(&addr, prefix, cidr)),
                _ => None,
            },
        )?),
        DataType::MacAddr => Fixed::Macaddr(collect(
            c,
            rows,
            n,
            || 0,
            |v| match v {
                Value::MacAddr(x) => Some(mac_to_wit(&x)),
                _ => None,
            },
        )?),
        DataType::Numeric
        | DataType::Text
        | DataType::Bytes
        | DataType::Json
        | DataType::Array(_)
        | DataType::Range(_) => return Ok(None),
    }))
}

type Cells = Box<dyn Iterator<Item = Value>>;

fn boxed<T: 'static>(v: Vec<T>, f: impl FnMut(T) -> Value + 'static) -> Cells {
    Box::new(v.into_iter().map(f))
}

/// A fixed-width column's values in row order (NULL flags applied by the caller).
fn fixed_from_wit(f: Fixed) -> Result<Cells> {
    Ok(match f {
        Fixed::Boolean(v) => boxed(v, Value::Bool),
        Fixed::Int16(v) => boxed(v, Value::Int16),
        Fixed::Int32(v) => boxed(v, Value::Int32),
        Fixed::Int64(v) => boxed(v, Value::Int64),
        Fixed::Float32(v) => boxed(v, Value::Float32),
        Fixed::Float64(v) => boxed(v, Value::Float64),
        Fixed::Money(v) => boxed(v, Value::Money),
        Fixed::Uuid(v) => boxed(v, uuid_from_wit),
        Fixed::Date(v) => boxed(v, Value::Date),
        Fixed::Time(v) => boxed(v, Value::Time),
        Fixed::Timetz(v) => boxed(v, timetz_from_wit),
        Fixed::Timestamp(v) => boxed(v, Value::Timestamp),
        Fixed::Timestamptz(v) => boxed(v, Value::TimestampTz),
        Fixed::Interval(v) => boxed(v, interval_from_wit),
        Fixed::Inet(v) => Box::new(
            v.into_iter()
                .map(inet_from_wit)
                .collect::<Result<Vec<_>>>()?
                .into_iter(),
        ),
        Fixed::Macaddr(v) => boxed(v, mac_from_wit),
    })
}

fn with_nulls(cells: Cells, nulls: Vec<bool>) -> Cells {
    if nulls.is_empty() {
        cells
    } else {
        Box::new(
            cells
                .zip(nulls)
                .map(|(v, null)| if null { Value::Null } else { v }),
        )
    }
}

/// Interleaves per-column value streams back into the engine's row-major batch.
fn interleave(schema: &SchemaRef, rows: usize, mut columns: Vec<Cells>) -> Result<Batch> {
    ensure!(columns.len() == schema.len(), "column count changed");
    let mut batch = Batch::with_capacity(schema.clone(), rows);
    for _ in 0..rows {
        for c in &mut columns {
            batch.push_value(
                c.next()
                    .ok_or_else(|| anyhow!("column shorter than batch"))?,
            );
        }
    }
    Ok(batch)
}

/// The cells of column `c` of row-major values `width` wide.
fn column_cells(values: &[Value], width: usize, c: usize) -> impl Iterator<Item = &Value> {
    values.iter().skip(c).step_by(width.max(1))
}

/// Moves the cells of column `c` out of row-major values, leaving NULLs behind.
fn take_column(values: &mut [Value], width: usize, c: usize) -> impl Iterator<Item = Value> + '_ {
    values
        .iter_mut()
        .skip(c)
        .step_by(width.max(1))
        .map(|v| std::mem::replace(v, Value::Null))
}

// ---------------------------------------------------------------------------------------------
// Shape A: columnar, `list<string>` for strings.

fn to_columnar(batch: Batch) -> Result<wt::Batch> {
    let rows = batch.num_rows();
    let (schema, mut values) = batch.into_values();
    let width = schema.len();
    let mut columns = Vec::with_capacity(width);
    for (c, col) in schema.columns.iter().enumerate() {
        let mut nulls = Vec::new();
        let dt = &col.data_type;
        let cells = take_column(&mut values, width, c);
        let values = match fixed_to_wit(dt, cells, rows, &mut nulls)? {
            Some(f) => columnar_fixed(f),
            None => {
                let cells = take_column(&mut values, width, c);
                let text = |v: Value| match v {
                    Value::Numeric(s) | Value::Text(s) | Value::Json(s) => Some(s),
                    _ => None,
                };
                let n = &mut nulls;
                match dt {
                    DataType::Numeric => {
                        wt::ColumnValues::Numeric(collect(cells, rows, n, String::new, text)?)
                    }
                    DataType::Text => {
                        wt::ColumnValues::Text(collect(cells, rows, n, String::new, text)?)
                    }
                    DataType::Json => {
                        wt::ColumnValues::Json(collect(cells, rows, n, String::new, text)?)
                    }
                    DataType::Bytes => {
                        wt::ColumnValues::Bytes(collect(cells, rows, n, Vec::new, |v| match v {
                            Value::Bytes(b) => Some(b),
                            _ => None,
                        })?)
                    }
                    other => bail!("{other:?} columns are not in the bench tables"),
                }
            }
        };
        columns.push(wt::ColumnData { nulls, values });
    }
    Ok(wt::Batch {
        num_rows: u32::try_from(rows)?,
        columns,
    })
}

fn columnar_fixed(f: Fixed) -> wt::ColumnValues {
    use wt::ColumnValues as V;
    match f {
        Fixed::Boolean(v) => V::Boolean(v),
        Fixed::Int16(v) => V::Int16(v),
        Fixed::Int32(v) => V::Int32(v),
        Fixed::Int64(v) => V::Int64(v),
        Fixed::Float32(v) => V::Float32(v),
        Fixed::Float64(v) => V::Float64(v),
        Fixed::Money(v) => V::Money(v),
        Fixed::Uuid(v) => V::Uuid(v),
        Fixed::Date(v) => V::Date(v),
        Fixed::Time(v) => V::Time(v),
        Fixed::Timetz(v) => V::Timetz(v),
        Fixed::Timestamp(v) => V::Timestamp(v),
        Fixed::Timestamptz(v) => V::Timestamptz(v),
        Fixed::Interval(v) => V::Interval(v),
        Fixed::Inet(v) => V::Inet(v),
        Fixed::Macaddr(v) => V::Macaddr(v),
    }
}

fn from_columnar(batch: wt::Batch, schema: &SchemaRef) -> Result<Batch> {
    use wt::ColumnValues as V;
    let rows = usize::try_from(batch.num_rows)?;
    let mut columns = Vec::with_capacity(batch.columns.len());
    for col in batch.columns {
        let cells = match col.values {
            V::Boolean(v) => fixed_from_wit(Fixed::Boolean(v))?,
            V::Int16(v) => fixed_from_wit(Fixed::Int16(v))?,
            V::Int32(v) => fixed_from_wit(Fixed::Int32(v))?,
            V::Int64(v) => fixed_from_wit(Fixed::Int64(v))?,
            V::Float32(v) => fixed_from_wit(Fixed::Float32(v))?,
            V::Float64(v) => fixed_from_wit(Fixed::Float64(v))?,
            V::Money(v) => fixed_from_wit(Fixed::Money(v))?,
            V::Uuid(v) => fixed_from_wit(Fixed::Uuid(v))?,
            V::Date(v) => fixed_from_wit(Fixed::Date(v))?,
            V::Time(v) => fixed_from_wit(Fixed::Time(v))?,
            V::Timetz(v) => fixed_from_wit(Fixed::Timetz(v))?,
            V::Timestamp(v) => fixed_from_wit(Fixed::Timestamp(v))?,
            V::Timestamptz(v) => fixed_from_wit(Fixed::Timestamptz(v))?,
            V::Interval(v) => fixed_from_wit(Fixed::Interval(v))?,
            V::Inet(v) => fixed_from_wit(Fixed::Inet(v))?,
            V::Macaddr(v) => fixed_from_wit(Fixed::Macaddr(v))?,
            V::Numeric(v) => boxed(v, Value::Numeric),
            V::Text(v) => boxed(v, Value::Text),
            V::Json(v) => boxed(v, Value::Json),
            V::Bytes(v) => boxed(v, Value::Bytes),
            V::Array(_) | V::Range(_) => bail!("arrays and ranges are not in the bench tables"),
        };
        columns.push(with_nulls(cells, col.nulls));
    }
    interleave(schema, rows, columns)
}

// ---------------------------------------------------------------------------------------------
// Shape B: rows of variants.

fn row_value(v: Value) -> Result<wr::Value> {
    use wr::Value as W;
    Ok(match v {
        Value::Null => W::Null,
        Value::Bool(x) => W::Boolean(x),
        Value::Int16(x) => W::Int16(x),
        Value::Int32(x) => W::Int32(x),
        Value::Int64(x) => W::Int64(x),
        Value::Float32(x) => W::Float32(x),
        Value::Float64(x) => W::Float64(x),
        Value::Numeric(s) => W::Numeric(s),
        Value::Money(x) => W::Money(x),
        Value::Text(s) => W::Text(s),
        Value::Bytes(b) => W::Bytes(b),
        Value::Uuid(u) => W::Uuid(uuid_to_wit(&u)),
        Value::Json(s) => W::Json(s),
        Value::Date(x) => W::Date(x),
        Value::Time(x) => W::Time(x),
        Value::TimeTz {
            micros,
            offset_secs,
        } => W::Timetz(wt::Timetz {
            micros,
            offset_secs,
        }),
        Value::Timestamp(x) => W::Timestamp(x),
        Value::TimestampTz(x) => W::Timestamptz(x),
        Value::Interval {
            months,
            days,
            micros,
        } => W::Interval(wt::Interval {
            months,
            days,
            micros,
        }),
        Value::Inet { addr, prefix, cidr } => W::Inet(inet_to_wit(&addr, prefix, cidr)),
        Value::MacAddr(m) => W::Macaddr(mac_to_wit(&m)),
        Value::Array(_) | Value::Range(_) => bail!("arrays and ranges are not in the bench tables"),
    })
}

fn value_from_row(v: wr::Value) -> Result<Value> {
    use wr::Value as W;
    Ok(match v {
        W::Null => Value::Null,
        W::Boolean(x) => Value::Bool(x),
        W::Int16(x) => Value::Int16(x),
        W::Int32(x) => Value::Int32(x),
        W::Int64(x) => Value::Int64(x),
        W::Float32(x) => Value::Float32(x),
        W::Float64(x) => Value::Float64(x),
        W::Numeric(s) => Value::Numeric(s),
        W::Money(x) => Value::Money(x),
        W::Text(s) => Value::Text(s),
        W::Bytes(b) => Value::Bytes(b),
        W::Uuid(u) => uuid_from_wit(u),
        W::Json(s) => Value::Json(s),
        W::Date(x) => Value::Date(x),
        W::Time(x) => Value::Time(x),
        W::Timetz(t) => timetz_from_wit(t),
        W::Timestamp(x) => Value::Timestamp(x),
        W::Timestamptz(x) => Value::TimestampTz(x),
        W::Interval(i) => interval_from_wit(i),
        W::Inet(i) => inet_from_wit(i)?,
        W::Macaddr(m) => mac_from_wit(m),
        W::Array(_) | W::Range(_) => bail!("arrays and ranges are not in the bench tables"),
    })
}

fn to_rows(batch: Batch) -> Result<wr::RowBatch> {
    let rows = batch.num_rows();
    let (schema, values) = batch.into_values();
    let mut cells = values.into_iter();
    let mut out = Vec::with_capacity(rows);
    for _ in 0..rows {
        out.push(
            cells
                .by_ref()
                .take(schema.len())
                .map(row_value)
                .collect::<Result<Vec<_>>>()?,
        );
    }
    Ok(wr::RowBatch { rows: out })
}

fn from_rows(batch: wr::RowBatch, schema: &SchemaRef) -> Result<Batch> {
    let mut out = Batch::with_capacity(schema.clone(), batch.rows.len());
    for row in batch.rows {
        ensure!(row.len() == schema.len(), "row of {} values", row.len());
        for v in row {
            out.push_value(value_from_row(v)?);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Shape C: columnar, one byte buffer + offsets per var-length column.

fn var_column<'a>(
    cells: impl Iterator<Item = &'a Value>,
    rows: usize,
    nulls: &mut Vec<bool>,
    bytes: impl Fn(&'a Value) -> Option<&'a [u8]>,
) -> Result<wb::VarColumn> {
    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0u32);
    for (i, v) in cells.enumerate() {
        if let Value::Null = v {
            if nulls.is_empty() {
                nulls.resize(rows, false);
            }
            nulls[i] = true;
        } else {
            data.extend_from_slice(bytes(v).ok_or_else(|| anyhow!("unexpected value {v:?}"))?);
        }
        offsets.push(u32::try_from(data.len())?);
    }
    Ok(wb::VarColumn { data, offsets })
}

fn text_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn byte_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Bytes(b) => Some(b.as_slice()),
        _ => None,
    }
}

fn to_buffers(batch: Batch) -> Result<wb::BufferBatch> {
    use wb::ColumnValues as V;
    let rows = batch.num_rows();
    let (schema, mut values) = batch.into_values();
    let width = schema.len();
    let mut columns = Vec::with_capacity(width);
    for (c, col) in schema.columns.iter().enumerate() {
        let mut nulls = Vec::new();
        let dt = &col.data_type;
        let cells = take_column(&mut values, width, c);
        let values = match fixed_to_wit(dt, cells, rows, &mut nulls)? {
            Some(f) => buffers_fixed(f),
            None => {
                let cells = column_cells(&values, width, c);
                let n = &mut nulls;
                match dt {
                    DataType::Numeric => V::Numeric(var_column(cells, rows, n, text_bytes)?),
                    DataType::Text => V::Text(var_column(cells, rows, n, text_bytes)?),
                    DataType::Json => V::Json(var_column(cells, rows, n, text_bytes)?),
                    DataType::Bytes => V::Bytes(var_column(cells, rows, n, byte_bytes)?),
                    other => bail!("{other:?} columns are not in the bench tables"),
                }
            }
        };
        columns.push(wb::ColumnData { nulls, values });
    }
    Ok(wb::BufferBatch {
        num_rows: u32::try_from(rows)?,
        columns,
    })
}

fn buffers_fixed(f: Fixed) -> wb::ColumnValues {
    use wb::ColumnValues as V;
    match f {
        Fixed::Boolean(v) => V::Boolean(v),
        Fixed::Int16(v) => V::Int16(v),
        Fixed::Int32(v) => V::Int32(v),
        Fixed::Int64(v) => V::Int64(v),
        Fixed::Float32(v) => V::Float32(v),
        Fixed::Float64(v) => V::Float64(v),
        Fixed::Money(v) => V::Money(v),
        Fixed::Uuid(v) => V::Uuid(v),
        Fixed::Date(v) => V::Date(v),
        Fixed::Time(v) => V::Time(v),
        Fixed::Timetz(v) => V::Timetz(v),
        Fixed::Timestamp(v) => V::Timestamp(v),
        Fixed::Timestamptz(v) => V::Timestamptz(v),
        Fixed::Interval(v) => V::Interval(v),
        Fixed::Inet(v) => V::Inet(v),
        Fixed::Macaddr(v) => V::Macaddr(v),
    }
}

/// Checks a var-length column's offsets once so that slicing it afterwards cannot fail.
fn check_offsets(offsets: &[u32], rows: usize, len: usize, text: Option<&str>) -> Result<()> {
    ensure!(
        offsets.len() == rows + 1,
        "offsets for a different row count"
    );
    let mut last = 0u32;
    for &o in offsets {
        ensure!(o >= last && (o as usize) <= len, "bad offset {o}");
        if let Some(t) = text {
            ensure!(
                t.is_char_boundary(o as usize),
                "offset {o} splits a character"
            );
        }
        last = o;
    }
    Ok(())
}

/// A text-like column: the buffer is validated as UTF-8 once, each value is a copied slice.
fn text_cells(col: wb::VarColumn, rows: usize, f: fn(String) -> Value) -> Result<Cells> {
    let text = String::from_utf8(col.data)?;
    let offsets = col.offsets;
    check_offsets(&offsets, rows, text.len(), Some(&text))?;
    Ok(Box::new((0..rows).map(move |i| {
        let s = text
            .get(offsets[i] as usize..offsets[i + 1] as usize)
            .unwrap_or_default();
        f(s.to_owned())
    })))
}

fn bytes_cells(col: wb::VarColumn, rows: usize) -> Result<Cells> {
    check_offsets(&col.offsets, rows, col.data.len(), None)?;
    Ok(Box::new((0..rows).map(move |i| {
        let b = col
            .data
            .get(col.offsets[i] as usize..col.offsets[i + 1] as usize)
            .unwrap_or_default();
        Value::Bytes(b.to_vec())
    })))
}

fn from_buffers(batch: wb::BufferBatch, schema: &SchemaRef) -> Result<Batch> {
    use wb::ColumnValues as V;
    let rows = usize::try_from(batch.num_rows)?;
    let mut columns = Vec::with_capacity(batch.columns.len());
    for col in batch.columns {
        let cells = match col.values {
            V::Boolean(v) => fixed_from_wit(Fixed::Boolean(v))?,
            V::Int16(v) => fixed_from_wit(Fixed::Int16(v))?,
            V::Int32(v) => fixed_from_wit(Fixed::Int32(v))?,
            V::Int64(v) => fixed_from_wit(Fixed::Int64(v))?,
            V::Float32(v) => fixed_from_wit(Fixed::Float32(v))?,
            V::Float64(v) => fixed_from_wit(Fixed::Float64(v))?,
            V::Money(v) => fixed_from_wit(Fixed::Money(v))?,
            V::Uuid(v) => fixed_from_wit(Fixed::Uuid(v))?,
            V::Date(v) => fixed_from_wit(Fixed::Date(v))?,
            V::Time(v) => fixed_from_wit(Fixed::Time(v))?,
            V::Timetz(v) => fixed_from_wit(Fixed::Timetz(v))?,
            V::Timestamp(v) => fixed_from_wit(Fixed::Timestamp(v))?,
            V::Timestamptz(v) => fixed_from_wit(Fixed::Timestamptz(v))?,
            V::Interval(v) => fixed_from_wit(Fixed::Interval(v))?,
            V::Inet(v) => fixed_from_wit(Fixed::Inet(v))?,
            V::Macaddr(v) => fixed_from_wit(Fixed::Macaddr(v))?,
            V::Numeric(v) => text_cells(v, rows, Value::Numeric)?,
            V::Text(v) => text_cells(v, rows, Value::Text)?,
            V::Json(v) => text_cells(v, rows, Value::Json)?,
            V::Bytes(v) => bytes_cells(v, rows)?,
            V::Array(_) | V::Range(_) => bail!("arrays and ranges are not in the bench tables"),
        };
        columns.push(with_nulls(cells, col.nulls));
    }
    interleave(schema, rows, columns)
}

// ---------------------------------------------------------------------------------------------
// Test data.

/// SplitMix64: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Lowercase words separated by spaces, `len` bytes long.
    fn text(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            if !s.is_empty() && self.below(6) == 0 {
                s.push(' ');
            } else {
                s.push(char::from(b'a' + self.below(26) as u8));
            }
        }
        s
    }
}

struct Table {
    name: &'static str,
    description: &'static str,
    batches: Vec<Batch>,
}

fn schema(columns: &[(&str, DataType, &str)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, dt, type_name)| Column::new(*name, dt.clone(), *type_name))
            .collect(),
    ))
}

fn generate(
    rows: usize,
    schema: &SchemaRef,
    mut row: impl FnMut(usize) -> Vec<Value>,
) -> Vec<Batch> {
    let mut batches = Vec::with_capacity(rows.div_ceil(BATCH_ROWS));
    let mut start = 0;
    while start < rows {
        let n = BATCH_ROWS.min(rows - start);
        let mut batch = Batch::with_capacity(schema.clone(), n);
        for i in start..start + n {
            batch.push_row(row(i));
        }
        batches.push(batch);
        start += n;
    }
    batches
}

/// The realistic table: bigint id, int, numeric(12,2), double, text ~40 chars, varchar ~10,
/// bool, date, timestamptz, uuid, jsonb ~100 bytes; double and text are 5% NULL.
fn wide_table(rows: usize) -> Table {
    let schema = schema(&[
        ("id", DataType::Int64, "int8"),
        ("quantity", DataType::Int32, "int4"),
        ("price", DataType::Numeric, "numeric"),
        ("score", DataType::Float64, "float8"),
        ("title", DataType::Text, "text"),
        ("code", DataType::Text, "varchar"),
        ("active", DataType::Bool, "bool"),
        ("born", DataType::Date, "date"),
        ("updated", DataType::TimestampTz, "timestamptz"),
        ("uid", DataType::Uuid, "uuid"),
        ("doc", DataType::Json, "jsonb"),
    ]);
    let mut rng = Rng(42);
    let batches = generate(rows, &schema, |i| {
        let null = rng.below(20) == 0;
        let score = if null {
            Value::Null
        } else {
            Value::Float64(rng.below(1_000_000) as f64 / 7.0)
        };
        let title_len = 30 + rng.below(21) as usize;
        let title = if rng.below(20) == 0 {
            Value::Null
        } else {
            Value::Text(rng.text(title_len))
        };
        let code_len = 8 + rng.below(5) as usize;
        let code = rng.text(code_len);
        let note_len = 10 + rng.below(10) as usize;
        let doc = format!(
            r#"{{"id":{i},"kind":"{}","tags":["{}","{}"],"score":{}.{:03},"active":{},"note":"{}"}}"#,
            rng.text(8),
            rng.text(5),
            rng.text(6),
            rng.below(1000),
            rng.below(1000),
            rng.below(2) == 0,
            rng.text(note_len),
        );
        let mut uuid = [0u8; 16];
        uuid[..8].copy_from_slice(&rng.next().to_be_bytes());
        uuid[8..].copy_from_slice(&rng.next().to_be_bytes());
        vec![
            Value::Int64(i as i64),
            Value::Int32(rng.below(10_000) as i32),
            Value::Numeric(format!("{}.{:02}", rng.below(10_000_000), rng.below(100))),
            score,
            title,
            Value::Text(code),
            Value::Bool(rng.below(2) == 0),
            Value::Date(rng.below(10_000) as i32),
            Value::TimestampTz(rng.below(800_000_000_000_000) as i64),
            Value::Uuid(uuid),
            Value::Json(doc),
        ]
    });
    Table {
        name: "wide",
        description: "int8, int4, numeric(12,2), float8 (5% NULL), text ~40 (5% NULL), \
                      varchar ~10, bool, date, timestamptz, uuid, jsonb ~100 B",
        batches,
    }
}

/// Four bigint columns, no NULLs.
fn narrow_table(rows: usize) -> Table {
    let schema = schema(&[
        ("a", DataType::Int64, "int8"),
        ("b", DataType::Int64, "int8"),
        ("c", DataType::Int64, "int8"),
        ("d", DataType::Int64, "int8"),
    ]);
    let mut rng = Rng(7);
    let batches = generate(rows, &schema, |i| {
        vec![
            Value::Int64(i as i64),
            Value::Int64(rng.next() as i64),
            Value::Int64(rng.below(1_000_000) as i64),
            Value::Int64(rng.below(100) as i64),
        ]
    });
    Table {
        name: "narrow",
        description: "4 x int8, no NULLs",
        batches,
    }
}

// ---------------------------------------------------------------------------------------------
// The guest.

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

struct Guest {
    store: Store<Host>,
    bench: Bench,
}

fn build_guest() -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-plugins/bench-shapes");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .current_dir(&dir)
        .status()
        .context("running cargo for the guest")?;
    ensure!(status.success(), "building the bench guest failed");
    Ok(dir.join("target/wasm32-wasip2/release/sluice_bench_shapes.wasm"))
}

fn instantiate(engine: &Engine, component: &Component, linker: &Linker<Host>) -> Result<Guest> {
    let host = Host {
        // Nothing granted: no preopens, environment, arguments or network.
        ctx: WasiCtx::builder().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine, host);
    let bench = Bench::instantiate(&mut store, component, linker).anyhow()?;
    Ok(Guest { store, bench })
}

// ---------------------------------------------------------------------------------------------
// Measurement.

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Columnar,
    Rows,
    Buffers,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::Columnar, Shape::Rows, Shape::Buffers];

    fn label(self) -> &'static str {
        match self {
            Shape::Columnar => "A columnar (list<string>)",
            Shape::Rows => "B rows (list<list<value>>)",
            Shape::Buffers => "C columnar, bytes+offsets",
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Phases {
    to_wit: Duration,
    call: Duration,
    from_wit: Duration,
}

impl Phases {
    fn total(&self) -> Duration {
        self.to_wit + self.call + self.from_wit
    }
}

/// Converts a batch to a WIT value and passes it to the guest. Returns the guest's answer, the
/// conversion time (including dropping the WIT input afterwards, which the host no longer
/// needs: the plugin's output replaces it) and the call time alone.
fn convert_and_call<W, E>(
    convert: impl FnOnce() -> Result<W>,
    call: impl FnOnce(&W) -> Result<E>,
) -> Result<(E, Duration, Duration)> {
    let t0 = Instant::now();
    let wit = convert()?;
    let t1 = Instant::now();
    let echo = call(&wit)?;
    let t2 = Instant::now();
    drop(wit);
    let convert_time = (t1 - t0) + t2.elapsed();
    Ok((echo, convert_time, t2 - t1))
}

/// One pass of `shape` over the table. With `verify`, every output batch is compared with its
/// input.
fn run_shape(
    shape: Shape,
    guest: &mut Guest,
    batches: &[Batch],
    sums: &[u64],
    verify: bool,
) -> Result<Phases> {
    let mut p = Phases::default();
    let store = &mut guest.store;
    let bench = &guest.bench;
    for (batch, &sum) in batches.iter().zip(sums) {
        let schema = batch.schema();
        // The plugin consumes its input batch: clone it untimed, convert (and drop) it timed.
        let input = batch.clone();
        let (out, checksum, to_wit, call, from_wit) = match shape {
            Shape::Columnar => {
                let (echo, to_wit, call) = convert_and_call(
                    || to_columnar(input),
                    |w| bench.call_echo_columnar(&mut *store, w).anyhow(),
                )?;
                let t = Instant::now();
                let out = from_columnar(echo.batch, schema)?;
                (out, echo.checksum, to_wit, call, t.elapsed())
            }
            Shape::Rows => {
                let (echo, to_wit, call) = convert_and_call(
                    || to_rows(input),
                    |w| bench.call_echo_rows(&mut *store, w).anyhow(),
                )?;
                let t = Instant::now();
                let out = from_rows(echo.batch, schema)?;
                (out, echo.checksum, to_wit, call, t.elapsed())
            }
            Shape::Buffers => {
                let (echo, to_wit, call) = convert_and_call(
                    || to_buffers(input),
                    |w| bench.call_echo_buffers(&mut *store, w).anyhow(),
                )?;
                let t = Instant::now();
                let out = from_buffers(echo.batch, schema)?;
                (out, echo.checksum, to_wit, call, t.elapsed())
            }
        };
        ensure!(
            checksum == sum,
            "{}: guest checksum {checksum} != host {sum}",
            shape.label()
        );
        if verify {
            ensure!(
                out.values() == batch.values(),
                "{} did not round-trip the batch",
                shape.label()
            );
        }
        p.to_wit += to_wit;
        p.call += call;
        p.from_wit += from_wit;
    }
    Ok(p)
}

fn run_baseline(batches: &[Batch]) -> Duration {
    let start = Instant::now();
    let mut sum = 0u64;
    for batch in batches {
        sum = sum.wrapping_add(batch_sum(std::hint::black_box(batch)));
    }
    std::hint::black_box(sum);
    start.elapsed()
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

struct Row {
    label: &'static str,
    phases: Option<Phases>,
    total: Duration,
}

fn ms(d: Duration, scale: f64) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3 * scale)
}

fn report(table: &Table, rows: usize, runs: usize, results: &[Row]) {
    let width = table.batches.first().map_or(0, Batch::width);
    let bytes: usize = table
        .batches
        .iter()
        .flat_map(|b| b.values())
        .map(Value::byte_size)
        .sum();
    let mb = bytes as f64 / 1e6;
    // Times are shown per 1M rows whatever the row count.
    let scale = 1e6 / rows as f64;
    println!();
    println!(
        "{} table: {rows} rows x {width} columns ({}), {mb:.1} MB of values, batches of \
         {BATCH_ROWS} rows; median of {runs} runs; times in ns per row (= ms per 1M rows)",
        table.name, table.description
    );
    println!();
    println!(
        "| shape | Batch->WIT | call | WIT->Batch | total | rows/s | MB/s | x baseline | vs A |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let baseline = results.first().map_or(Duration::ZERO, |r| r.total);
    let columnar = results
        .iter()
        .find(|r| r.label == Shape::Columnar.label())
        .map_or(Duration::ZERO, |r| r.total);
    for r in results {
        let secs = r.total.as_secs_f64();
        let (a, b, c) = match &r.phases {
            Some(p) => (
                ms(p.to_wit, scale),
                ms(p.call, scale),
                ms(p.from_wit, scale),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let vs_a = match r.phases {
            Some(_) => format!("{:.2}", secs / columnar.as_secs_f64()),
            None => "-".into(),
        };
        println!(
            "| {} | {a} | {b} | {c} | {} | {:.2} M | {:.0} | {:.1} | {vs_a} |",
            r.label,
            ms(r.total, scale),
            rows as f64 / secs / 1e6,
            mb / secs,
            secs / baseline.as_secs_f64(),
        );
    }
}

fn bench_table(
    table: &Table,
    engine: &Engine,
    component: &Component,
    linker: &Linker<Host>,
    runs: usize,
) -> Result<()> {
    let rows: usize = table.batches.iter().map(Batch::num_rows).sum();
    let sums: Vec<u64> = table.batches.iter().map(batch_sum).collect();
    let mut guests = Vec::new();
    for shape in Shape::ALL {
        let mut guest = instantiate(engine, component, linker)?;
        // Warm-up pass, checking the round trip value by value.
        run_shape(shape, &mut guest, &table.batches, &sums, true)?;
        guests.push((shape, guest));
    }
    run_baseline(&table.batches);

    let mut baseline = Vec::new();
    let mut measured: Vec<Vec<Phases>> = vec![Vec::new(); Shape::ALL.len()];
    for run in 0..runs {
        eprint!("\r{}: run {}/{runs}", table.name, run + 1);
        baseline.push(run_baseline(&table.batches));
        for (i, (shape, guest)) in guests.iter_mut().enumerate() {
            let p = run_shape(*shape, guest, &table.batches, &sums, false)?;
            if let Some(m) = measured.get_mut(i) {
                m.push(p);
            }
        }
    }
    eprintln!();

    let mut results = vec![Row {
        label: "baseline: iterate the Batch, no plugin",
        phases: None,
        total: median(baseline),
    }];
    for (shape, ps) in Shape::ALL.into_iter().zip(measured) {
        let phases = Phases {
            to_wit: median(ps.iter().map(|p| p.to_wit).collect()),
            call: median(ps.iter().map(|p| p.call).collect()),
            from_wit: median(ps.iter().map(|p| p.from_wit).collect()),
        };
        results.push(Row {
            label: shape.label(),
            phases: Some(phases),
            total: median(ps.iter().map(Phases::total).collect()),
        });
    }
    report(table, rows, runs, &results);
    Ok(())
}

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

fn main() -> Result<()> {
    let rows = env_usize("WIT_SHAPES_ROWS", 1_000_000)?;
    let runs = env_usize("WIT_SHAPES_RUNS", 5)?.max(1);

    let wasm = build_guest()?;
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.cranelift_opt_level(OptLevel::Speed);
    let engine = Engine::new(&config).anyhow()?;
    let component = Component::from_file(&engine, &wasm)
        .anyhow()
        .with_context(|| format!("compiling {}", wasm.display()))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).anyhow()?;

    println!(
        "wit_shapes: wasmtime 48 (cranelift, opt speed), guest {} ({} KiB), {} cores",
        wasm.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::fs::metadata(&wasm)?.len() / 1024,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    for table in [wide_table(rows), narrow_table(rows)] {
        bench_table(&table, &engine, &component, &linker, runs)?;
    }
    Ok(())
}
