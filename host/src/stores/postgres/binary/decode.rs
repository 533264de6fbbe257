//! Decoding: one value's binary form (as `typsend` wrote it) into an owned engine [`Value`].
//!
//! Scalars are read by fixed width or as UTF-8; arrays (`array_send`) and ranges (`range_send`)
//! through a bounds-checked [`Reader`], decoding each element by its resolved type. Malformed
//! bytes are a [`CodecError::Malformed`] naming the type, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tokio_postgres::types::Type;

use super::numeric::decode_numeric;
use super::{
    resolve, type_name, CodecError, Resolved, Scalar, MAX_DIMS, PGSQL_AF_INET, PGSQL_AF_INET6,
    RANGE_EMPTY, RANGE_LB_INC, RANGE_LB_INF, RANGE_UB_INC, RANGE_UB_INF,
};
use crate::types::value::{ArrayValue, RangeValue, Value};

/// Decodes one non-NULL value of type `ty` from its binary form `raw` (without length prefix).
pub fn decode(ty: &Type, raw: &[u8]) -> Result<Value, CodecError> {
    decode_resolved(resolve(ty), ty, raw)
}

/// [`decode`] for a type already passed through [`resolve`] (the COPY decoder caches that).
pub(crate) fn decode_resolved(
    res: Resolved<'_>,
    ty: &Type,
    raw: &[u8],
) -> Result<Value, CodecError> {
    match res {
        Resolved::Scalar(s) => decode_scalar(s, ty, raw),
        Resolved::Array(elem) => decode_array(ty, elem, raw),
        Resolved::Range(sub) => decode_range(ty, sub, raw),
        Resolved::Unsupported => Err(CodecError::Unsupported {
            type_name: type_name(ty),
        }),
    }
}

pub(super) fn malformed(ty: &Type, reason: impl Into<String>) -> CodecError {
    CodecError::Malformed {
        type_name: type_name(ty),
        reason: reason.into(),
    }
}

/// Exactly `N` bytes, or an error naming the type.
fn fixed<const N: usize>(ty: &Type, raw: &[u8]) -> Result<[u8; N], CodecError> {
    <[u8; N]>::try_from(raw)
        .map_err(|_| malformed(ty, format!("expected {N} bytes, got {}", raw.len())))
}

pub(super) fn utf8<'a>(ty: &Type, raw: &'a [u8]) -> Result<&'a str, CodecError> {
    std::str::from_utf8(raw).map_err(|e| malformed(ty, format!("invalid UTF-8: {e}")))
}

fn decode_scalar(s: Scalar, ty: &Type, raw: &[u8]) -> Result<Value, CodecError> {
    Ok(match s {
        Scalar::Bool => {
            let [b] = fixed::<1>(ty, raw)?;
            Value::Bool(b != 0)
        }
        Scalar::Int2 => Value::Int16(i16::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Int4 => Value::Int32(i32::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Int8 => Value::Int64(i64::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Float4 => Value::Float32(f32::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Float8 => Value::Float64(f64::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Numeric => Value::Numeric(decode_numeric(ty, raw)?),
        Scalar::Money => Value::Money(i64::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Text | Scalar::Xml => Value::Text(utf8(ty, raw)?.to_owned()),
        Scalar::Bytea => Value::Bytes(raw.to_vec()),
        Scalar::Uuid => Value::Uuid(fixed(ty, raw)?),
        Scalar::Json => Value::Json(utf8(ty, raw)?.to_owned()),
        Scalar::Jsonb => Value::Json(jsonb_text(ty, raw)?.to_owned()),
        Scalar::Date => Value::Date(i32::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Time => Value::Time(i64::from_be_bytes(fixed(ty, raw)?)),
        Scalar::TimeTz => {
            let b: [u8; 12] = fixed(ty, raw)?;
            let [m0, m1, m2, m3, m4, m5, m6, m7, z0, z1, z2, z3] = b;
            let micros = i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]);
            // PostgreSQL stores the zone as seconds WEST of UTC; the engine uses east.
            let west = i32::from_be_bytes([z0, z1, z2, z3]);
            let offset_secs = west
                .checked_neg()
                .ok_or_else(|| malformed(ty, "zone offset out of range"))?;
            Value::TimeTz {
                micros,
                offset_secs,
            }
        }
        Scalar::Timestamp => Value::Timestamp(i64::from_be_bytes(fixed(ty, raw)?)),
        Scalar::TimestampTz => Value::TimestampTz(i64::from_be_bytes(fixed(ty, raw)?)),
        Scalar::Interval => {
            let b: [u8; 16] = fixed(ty, raw)?;
            let [m0, m1, m2, m3, m4, m5, m6, m7, d0, d1, d2, d3, n0, n1, n2, n3] = b;
            Value::Interval {
                micros: i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
                days: i32::from_be_bytes([d0, d1, d2, d3]),
                months: i32::from_be_bytes([n0, n1, n2, n3]),
            }
        }
        Scalar::Inet | Scalar::Cidr => decode_inet(ty, raw)?,
        Scalar::MacAddr => Value::MacAddr(fixed(ty, raw)?),
    })
}

/// The JSON text of a binary jsonb value (a version byte, then the text).
pub(super) fn jsonb_text<'a>(ty: &Type, raw: &'a [u8]) -> Result<&'a str, CodecError> {
    match raw.split_first() {
        Some((1, text)) => utf8(ty, text),
        Some((v, _)) => Err(malformed(ty, format!("unsupported jsonb version {v}"))),
        None => Err(malformed(ty, "empty value")),
    }
}

fn decode_inet(ty: &Type, raw: &[u8]) -> Result<Value, CodecError> {
    let Some((&[family, bits, is_cidr, nb], addr)) = raw.split_first_chunk::<4>() else {
        return Err(malformed(ty, "shorter than its 4-byte header"));
    };
    let (addr, max_bits) = match (family, nb, addr.len()) {
        (PGSQL_AF_INET, 4, 4) => {
            let a: [u8; 4] = fixed(ty, addr)?;
            (IpAddr::V4(Ipv4Addr::from(a)), 32)
        }
        (PGSQL_AF_INET6, 16, 16) => {
            let a: [u8; 16] = fixed(ty, addr)?;
            (IpAddr::V6(Ipv6Addr::from(a)), 128)
        }
        _ => {
            return Err(malformed(
                ty,
                format!(
                    "address family {family} with {nb} address bytes ({} present)",
                    addr.len()
                ),
            ))
        }
    };
    if bits > max_bits {
        return Err(malformed(ty, format!("prefix length {bits} too long")));
    }
    Ok(Value::Inet {
        addr,
        prefix: bits,
        cidr: is_cidr != 0,
    })
}

/// A bounds-checked cursor over a value's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    ty: &'a Type,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        match self.buf.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.buf = rest;
                Ok(*head)
            }
            None => Err(malformed(self.ty, "value is truncated")),
        }
    }

    fn i32(&mut self) -> Result<i32, CodecError> {
        self.take::<4>().map(i32::from_be_bytes)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.buf.len() {
            return Err(malformed(self.ty, "value is truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A length-prefixed sub-value; `None` for a NULL (-1) length.
    fn sized(&mut self) -> Result<Option<&'a [u8]>, CodecError> {
        match self.i32()? {
            -1 => Ok(None),
            n => match usize::try_from(n) {
                Ok(n) => self.bytes(n).map(Some),
                Err(_) => Err(malformed(self.ty, format!("invalid length {n}"))),
            },
        }
    }

    fn finish(&self) -> Result<(), CodecError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(malformed(
                self.ty,
                format!("{} unexpected trailing bytes", self.buf.len()),
            ))
        }
    }
}

/// Array wire format (`array_send`): ndim, has-null flag, element OID, (length, lower bound)
/// per dimension, then each element length-prefixed (-1 for NULL) in row-major order.
fn decode_array(ty: &Type, elem: &Type, raw: &[u8]) -> Result<Value, CodecError> {
    let mut r = Reader { buf: raw, ty };
    let ndim = r.i32()?;
    let flags = r.i32()?;
    let elem_oid = u32::from_be_bytes(r.take::<4>()?);
    let ndim = usize::try_from(ndim)
        .ok()
        .filter(|&n| n <= MAX_DIMS)
        .ok_or_else(|| malformed(ty, format!("invalid number of dimensions {ndim}")))?;
    if flags != 0 && flags != 1 {
        return Err(malformed(ty, format!("invalid flags {flags}")));
    }
    if ndim == 0 {
        r.finish()?;
        return Ok(Value::Array(Box::new(ArrayValue {
            dims: Vec::new(),
            elements: Vec::new(),
        })));
    }
    if elem_oid != elem.oid() {
        return Err(malformed(
            ty,
            format!(
                "element type OID {elem_oid} where {} (OID {}) was expected",
                type_name(elem),
                elem.oid()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut total: usize = 1;
    for _ in 0..ndim {
        let len = r.i32()?;
        let lower = r.i32()?;
        let ulen = usize::try_from(len)
            .map_err(|_| malformed(ty, format!("negative dimension length {len}")))?;
        if len > 0 && lower.checked_add(len - 1).is_none() {
            return Err(malformed(ty, "dimension upper bound overflows"));
        }
        total = total
            .checked_mul(ulen)
            .ok_or_else(|| malformed(ty, "too many elements"))?;
        dims.push((len, lower));
    }
    // Each element takes at least its 4-byte length: reject absurd counts before allocating.
    if total > r.buf.len() / 4 {
        return Err(malformed(
            ty,
            format!("{total} elements declared in {} bytes", r.buf.len()),
        ));
    }
    if total == 0 {
        dims.clear();
    }
    let res = resolve(elem);
    let mut elements = Vec::with_capacity(total);
    for _ in 0..total {
        elements.push(match r.sized()? {
            None => Value::Null,
            Some(bytes) => decode_resolved(res, elem, bytes)?,
        });
    }
    r.finish()?;
    Ok(Value::Array(Box::new(ArrayValue { dims, elements })))
}

/// Range wire format (`range_send`): flags byte, then the lower and upper bounds that are
/// present, each length-prefixed.
fn decode_range(ty: &Type, sub: &Type, raw: &[u8]) -> Result<Value, CodecError> {
    let mut r = Reader { buf: raw, ty };
    let [flags] = r.take::<1>()?;
    if flags & RANGE_EMPTY != 0 {
        r.finish()?;
        return Ok(Value::Range(Box::new(RangeValue {
            empty: true,
            lower: None,
            upper: None,
            lower_inclusive: false,
            upper_inclusive: false,
        })));
    }
    let res = resolve(sub);
    let bound = |r: &mut Reader<'_>, infinite: bool| -> Result<Option<Value>, CodecError> {
        if infinite {
            return Ok(None);
        }
        match r.sized()? {
            Some(bytes) => decode_resolved(res, sub, bytes).map(Some),
            None => Err(malformed(ty, "NULL range bound")),
        }
    };
    let lower = bound(&mut r, flags & RANGE_LB_INF != 0)?;
    let upper = bound(&mut r, flags & RANGE_UB_INF != 0)?;
    r.finish()?;
    Ok(Value::Range(Box::new(RangeValue {
        empty: false,
        lower_inclusive: flags & RANGE_LB_INC != 0 && lower.is_some(),
        upper_inclusive: flags & RANGE_UB_INC != 0 && upper.is_some(),
        lower,
        upper,
    })))
}
