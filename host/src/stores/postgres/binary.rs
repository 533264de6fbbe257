//! PostgreSQL's binary wire format for single values (what `typsend` produces and `typrecv`
//! reads), used by binary COPY in both directions and for bind parameters.
//!
//! Binary rather than text because it is both faster (no formatting or parsing of numbers and
//! dates) and exact (floats keep every bit, timestamps keep PostgreSQL's own epoch and infinity
//! markers). Every decoder checks lengths and returns [`CodecError`] on malformed input instead
//! of panicking, since the bytes come from the network.
//!
//! Type dispatch goes through [`resolve`], which never allocates: domains collapse to their base
//! type, enums to text, arrays and ranges borrow their element type.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{Kind, Type};

use super::types::is_citext;
use crate::types::schema::DataType;
use crate::types::value::{ArrayValue, RangeValue, Value};

/// A value that could not be decoded from, or encoded to, PostgreSQL's binary format.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes received do not form a valid value of the type.
    #[error("malformed binary {type_name} value: {reason}")]
    Malformed { type_name: String, reason: String },
    /// The type has no binary codec here; the source reads it as text instead.
    #[error("type {type_name} has no binary codec (it must be read and written as text)")]
    Unsupported { type_name: String },
    /// The value's kind does not convert losslessly into the column's type.
    #[error("cannot write {value_kind} into a column of type {type_name}")]
    CannotWrite {
        value_kind: &'static str,
        type_name: String,
    },
    /// A numeric conversion whose source value does not fit the target type.
    #[error("value {value} is out of range for type {type_name}")]
    OutOfRange { value: String, type_name: String },
    /// The value is of an accepted kind but its content is invalid (e.g. unparseable numeric text).
    #[error("invalid {type_name} value {value:?}: {reason}")]
    InvalidValue {
        type_name: String,
        value: String,
        reason: String,
    },
    /// `encode` only writes non-NULL values; NULL is the caller's length prefix of -1.
    #[error("NULL passed to the binary encoder for a column of type {type_name}")]
    UnexpectedNull { type_name: String },
    /// The binary COPY framing (header, tuple, trailer) is broken.
    #[error("malformed binary COPY data: {0}")]
    Stream(String),
    /// Wraps an error with the column it happened in.
    #[error("column {column}: {cause}")]
    Column {
        column: String,
        cause: Box<CodecError>,
    },
}

impl CodecError {
    /// Attaches the column name (or position) to an error.
    pub fn in_column(self, column: impl Into<String>) -> Self {
        CodecError::Column {
            column: column.into(),
            cause: Box::new(self),
        }
    }
}

/// Readable type name for messages: `int4`, `int4[]`, `myschema.mood`.
pub fn type_name(ty: &Type) -> String {
    match ty.kind() {
        Kind::Array(elem) => format!("{}[]", type_name(elem)),
        _ => match ty.schema() {
            "" | "pg_catalog" | "public" => ty.name().to_string(),
            schema => format!("{schema}.{}", ty.name()),
        },
    }
}

/// The engine's name for a value's kind, for "cannot write" messages.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bool(_) => "Boolean",
        Value::Int16(_) => "Int16",
        Value::Int32(_) => "Int32",
        Value::Int64(_) => "Int64",
        Value::Float32(_) => "Single",
        Value::Float64(_) => "Double",
        Value::Numeric(_) => "Numeric",
        Value::Money(_) => "Money",
        Value::Text(_) => "Text",
        Value::Bytes(_) => "Bytes",
        Value::Uuid(_) => "Uuid",
        Value::Json(_) => "Json",
        Value::Date(_) => "Date",
        Value::Time(_) => "Time",
        Value::TimeTz { .. } => "TimeTz",
        Value::Timestamp(_) => "Timestamp",
        Value::TimestampTz(_) => "TimestampTz",
        Value::Interval { .. } => "Interval",
        Value::Inet { .. } => "Inet",
        Value::MacAddr(_) => "MacAddr",
        Value::Array(_) => "Array",
        Value::Range(_) => "Range",
    }
}

/// Base types with a binary codec here. Text-like types (text, varchar, bpchar, name, xml,
/// unknown, citext, enums) all send their characters as-is, so they share `Text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Money,
    Text,
    /// Sent and received as text, but see [`super::types::data_type_of`]: `xml_send` drops a
    /// default XML declaration, so the source reads xml through a `::text` cast instead.
    Xml,
    Bytea,
    Uuid,
    Json,
    Jsonb,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    Inet,
    Cidr,
    MacAddr,
}

/// What a type looks like to the codec, after looking through domains.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolved<'a> {
    Scalar(Scalar),
    /// An array with this element type (as declared, e.g. an enum or a domain).
    Array(&'a Type),
    /// A range with this subtype.
    Range(&'a Type),
    Unsupported,
}

/// Classifies a type for the codec without allocating: domains are replaced by their base
/// type (PostgreSQL's `domain_recv` delegates to the base type's format), enums are text.
pub(crate) fn resolve(ty: &Type) -> Resolved<'_> {
    let mut ty = ty;
    loop {
        return match ty.kind() {
            Kind::Domain(base) => {
                ty = base;
                continue;
            }
            Kind::Enum(_) => Resolved::Scalar(Scalar::Text),
            Kind::Array(elem) => Resolved::Array(elem),
            Kind::Range(sub) => Resolved::Range(sub),
            Kind::Simple => scalar_of(ty).map_or(Resolved::Unsupported, Resolved::Scalar),
            _ => Resolved::Unsupported,
        };
    }
}

/// Matches on the OID (one jump table) rather than comparing `Type`s one by one: this runs for
/// every value the codec touches. Built-in OIDs are fixed by PostgreSQL; user types start at
/// 16384 and never collide with them.
fn scalar_of(ty: &Type) -> Option<Scalar> {
    Some(match ty.oid() {
        16 => Scalar::Bool,
        21 => Scalar::Int2,
        23 => Scalar::Int4,
        20 => Scalar::Int8,
        700 => Scalar::Float4,
        701 => Scalar::Float8,
        1700 => Scalar::Numeric,
        790 => Scalar::Money,
        // text, varchar, bpchar, name, unknown
        25 | 1043 | 1042 | 19 | 705 => Scalar::Text,
        142 => Scalar::Xml,
        17 => Scalar::Bytea,
        2950 => Scalar::Uuid,
        114 => Scalar::Json,
        3802 => Scalar::Jsonb,
        1082 => Scalar::Date,
        1083 => Scalar::Time,
        1266 => Scalar::TimeTz,
        1114 => Scalar::Timestamp,
        1184 => Scalar::TimestampTz,
        1186 => Scalar::Interval,
        869 => Scalar::Inet,
        650 => Scalar::Cidr,
        829 => Scalar::MacAddr,
        _ if is_citext(ty) => Scalar::Text,
        _ => return None,
    })
}

#[cfg(test)]
#[test]
fn scalar_oids_match_the_driver_types() {
    let expected = [
        (Type::BOOL, Scalar::Bool),
        (Type::INT2, Scalar::Int2),
        (Type::INT4, Scalar::Int4),
        (Type::INT8, Scalar::Int8),
        (Type::FLOAT4, Scalar::Float4),
        (Type::FLOAT8, Scalar::Float8),
        (Type::NUMERIC, Scalar::Numeric),
        (Type::MONEY, Scalar::Money),
        (Type::TEXT, Scalar::Text),
        (Type::VARCHAR, Scalar::Text),
        (Type::BPCHAR, Scalar::Text),
        (Type::NAME, Scalar::Text),
        (Type::UNKNOWN, Scalar::Text),
        (Type::XML, Scalar::Xml),
        (Type::BYTEA, Scalar::Bytea),
        (Type::UUID, Scalar::Uuid),
        (Type::JSON, Scalar::Json),
        (Type::JSONB, Scalar::Jsonb),
        (Type::DATE, Scalar::Date),
        (Type::TIME, Scalar::Time),
        (Type::TIMETZ, Scalar::TimeTz),
        (Type::TIMESTAMP, Scalar::Timestamp),
        (Type::TIMESTAMPTZ, Scalar::TimestampTz),
        (Type::INTERVAL, Scalar::Interval),
        (Type::INET, Scalar::Inet),
        (Type::CIDR, Scalar::Cidr),
        (Type::MACADDR, Scalar::MacAddr),
    ];
    for (ty, scalar) in expected {
        assert_eq!(scalar_of(&ty), Some(scalar), "{ty}");
    }
    for ty in [Type::POINT, Type::INT4_ARRAY, Type::TS_VECTOR, Type::OID] {
        assert_eq!(scalar_of(&ty), None, "{ty}");
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

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

fn malformed(ty: &Type, reason: impl Into<String>) -> CodecError {
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

fn utf8<'a>(ty: &Type, raw: &'a [u8]) -> Result<&'a str, CodecError> {
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
fn jsonb_text<'a>(ty: &Type, raw: &'a [u8]) -> Result<&'a str, CodecError> {
    match raw.split_first() {
        Some((1, text)) => utf8(ty, text),
        Some((v, _)) => Err(malformed(ty, format!("unsupported jsonb version {v}"))),
        None => Err(malformed(ty, "empty value")),
    }
}

/// A non-NULL value as the codec sees it, borrowing the bytes of the variable-length kinds
/// (text, json, numeric text, bytea) instead of owning them: converting between COPY tuples
/// and a plugin's columns then allocates nothing per value.
#[derive(Debug)]
pub(crate) enum ValueRef<'a> {
    Text(&'a str),
    Json(&'a str),
    Numeric(&'a str),
    Bytes(&'a [u8]),
    /// Every other kind: fixed-width values own nothing; arrays, ranges and inets are rare.
    Owned(Value),
}

impl ValueRef<'_> {
    /// The engine value, copying borrowed bytes.
    pub(crate) fn into_owned(self) -> Value {
        match self {
            ValueRef::Text(t) => Value::Text(t.to_owned()),
            ValueRef::Json(t) => Value::Json(t.to_owned()),
            ValueRef::Numeric(t) => Value::Numeric(t.to_owned()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueRef::Owned(v) => v,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ValueRef::Text(_) => "Text",
            ValueRef::Json(_) => "Json",
            ValueRef::Numeric(_) => "Numeric",
            ValueRef::Bytes(_) => "Bytes",
            ValueRef::Owned(v) => value_kind(v),
        }
    }
}

/// [`decode_resolved`] without copying variable-length values: text and json borrow `raw`
/// (checked as UTF-8), a numeric's text is written into `numeric` (reused across values).
pub(crate) fn decode_ref<'a>(
    res: Resolved<'_>,
    ty: &Type,
    raw: &'a [u8],
    numeric: &'a mut String,
) -> Result<ValueRef<'a>, CodecError> {
    Ok(match res {
        Resolved::Scalar(Scalar::Text | Scalar::Xml) => ValueRef::Text(utf8(ty, raw)?),
        Resolved::Scalar(Scalar::Json) => ValueRef::Json(utf8(ty, raw)?),
        Resolved::Scalar(Scalar::Jsonb) => ValueRef::Json(jsonb_text(ty, raw)?),
        Resolved::Scalar(Scalar::Bytea) => ValueRef::Bytes(raw),
        Resolved::Scalar(Scalar::Numeric) => {
            decode_numeric_into(ty, raw, numeric)?;
            ValueRef::Numeric(numeric.as_str())
        }
        other => ValueRef::Owned(decode_resolved(other, ty, raw)?),
    })
}

/// `PGSQL_AF_INET` and `PGSQL_AF_INET6` from PostgreSQL's `utils/inet.h`.
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

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

/// Sign codes of PostgreSQL's numeric wire format (`utils/adt/numeric.c`).
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// Largest display scale the format can carry.
const NUMERIC_DSCALE_MAX: u16 = 0x3FFF;

/// Decodes base-10000 numeric digits into PostgreSQL's exact text form, mirroring
/// `get_str_from_var`: the declared display scale is kept (`1.500`), digits beyond it dropped.
fn decode_numeric(ty: &Type, raw: &[u8]) -> Result<String, CodecError> {
    let mut s = String::new();
    decode_numeric_into(ty, raw, &mut s)?;
    Ok(s)
}

/// [`decode_numeric`] into a caller's buffer (cleared first), so a column of numerics can
/// reuse one allocation.
fn decode_numeric_into(ty: &Type, raw: &[u8], s: &mut String) -> Result<(), CodecError> {
    s.clear();
    let Some((&[n0, n1, w0, w1, s0, s1, d0, d1], body)) = raw.split_first_chunk::<8>() else {
        return Err(malformed(ty, "shorter than its 8-byte header"));
    };
    let ndigits = i16::from_be_bytes([n0, n1]);
    let weight = i64::from(i16::from_be_bytes([w0, w1]));
    let sign = u16::from_be_bytes([s0, s1]);
    let dscale = u16::from_be_bytes([d0, d1]);
    let ndigits = usize::try_from(ndigits)
        .map_err(|_| malformed(ty, format!("negative digit count {ndigits}")))?;
    if body.len() != ndigits * 2 {
        return Err(malformed(
            ty,
            format!("{ndigits} digits declared, {} bytes present", body.len()),
        ));
    }
    let special = match sign {
        NUMERIC_POS | NUMERIC_NEG => None,
        NUMERIC_NAN => Some("NaN"),
        NUMERIC_PINF => Some("Infinity"),
        NUMERIC_NINF => Some("-Infinity"),
        _ => return Err(malformed(ty, format!("invalid sign code {sign:#06x}"))),
    };
    if let Some(special) = special {
        s.push_str(special);
        return Ok(());
    }
    if dscale > NUMERIC_DSCALE_MAX {
        return Err(malformed(ty, format!("invalid display scale {dscale}")));
    }
    for pair in body.chunks_exact(2) {
        let d = be16(pair);
        if d > 9999 {
            return Err(malformed(ty, format!("invalid base-10000 digit {d}")));
        }
    }
    // Digit k (0-based) is worth 10000^(weight - k); missing digits are zero.
    let digit = |k: i64| -> u16 {
        usize::try_from(k)
            .ok()
            .and_then(|k| body.get(k * 2..k * 2 + 2))
            .map_or(0, be16)
    };
    let int_groups = usize::try_from(weight + 1).unwrap_or(0);
    s.reserve(2 + int_groups * 4 + usize::from(dscale));
    if sign == NUMERIC_NEG {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for k in 0..=weight {
            let d = digit(k);
            if k == 0 {
                push_u16(s, d);
            } else {
                push_group(s, d);
            }
        }
    }
    if dscale > 0 {
        s.push('.');
        for i in 0..i64::from(dscale) {
            let d = digit(weight + 1 + i / 4);
            let pow = match i % 4 {
                0 => 1000,
                1 => 100,
                2 => 10,
                _ => 1,
            };
            s.push(char::from(b'0' + ((d / pow) % 10) as u8));
        }
    }
    Ok(())
}

/// A big-endian u16 from a 2-byte slice (0 for any other length, which callers rule out).
fn be16(b: &[u8]) -> u16 {
    match b {
        [hi, lo] => u16::from_be_bytes([*hi, *lo]),
        _ => 0,
    }
}

fn push_u16(s: &mut String, mut d: u16) {
    let mut buf = [0u8; 5];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (d % 10) as u8;
        }
        d /= 10;
        if d == 0 || i == 0 {
            break;
        }
    }
    for &b in buf.get(i..).unwrap_or_default() {
        s.push(char::from(b));
    }
}

fn push_group(s: &mut String, d: u16) {
    for pow in [1000, 100, 10, 1] {
        s.push(char::from(b'0' + ((d / pow) % 10) as u8));
    }
}

/// Element dimensions allowed by PostgreSQL (`MAXDIM`).
const MAX_DIMS: usize = 6;

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

/// Range flag bits (`utils/rangetypes.h`).
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

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

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Encodes one non-NULL value as type `ty`, appending its binary form to `out` WITHOUT a length
/// prefix (tokio-postgres' `ToSql` and [`encode_with_len`] write that). On error `out` may hold
/// a partial value; [`encode_with_len`] rolls it back.
///
/// Conversions are only those that cannot lose information: wider integer types, integers into
/// numeric or (when exact) floating point, text into any text-like type or json, a timestamp
/// into timestamptz and back (a `timestamp` is taken as UTC), a date into a timestamp at
/// midnight. Arrays and ranges are written with the *target's* element type OID, so enum arrays
/// work between databases whose enum OIDs differ.
pub fn encode(v: &Value, ty: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    encode_resolved(v, resolve(ty), ty, out)
}

/// Encodes `v` with its 4-byte big-endian length prefix (reserved, then back-filled), and a
/// NULL as length -1. On error `out` is restored to its previous length.
pub fn encode_with_len(v: &Value, ty: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    encode_resolved_with_len(v, resolve(ty), ty, out)
}

pub(crate) fn encode_resolved_with_len(
    v: &Value,
    res: Resolved<'_>,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    if v.is_null() {
        out.put_i32(-1);
        return Ok(());
    }
    with_len(ty, out, |out| encode_resolved(v, res, ty, out))
}

/// [`encode_resolved_with_len`] for a borrowed non-NULL value.
pub(crate) fn encode_ref_with_len(
    v: &ValueRef<'_>,
    res: Resolved<'_>,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    with_len(ty, out, |out| encode_ref(v, res, ty, out))
}

fn encode_ref(
    v: &ValueRef<'_>,
    res: Resolved<'_>,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let written = match (res, v) {
        (_, ValueRef::Owned(v)) => return encode_resolved(v, res, ty, out),
        (Resolved::Scalar(s), ValueRef::Text(t) | ValueRef::Json(t)) => put_text(s, t, out),
        (Resolved::Scalar(Scalar::Numeric), ValueRef::Numeric(t)) => {
            return encode_numeric_text(t, ty, out)
        }
        (Resolved::Scalar(Scalar::Bytea), ValueRef::Bytes(b)) => {
            out.put_slice(b);
            true
        }
        _ => false,
    };
    if written {
        Ok(())
    } else {
        Err(CodecError::CannotWrite {
            value_kind: v.kind(),
            type_name: type_name(ty),
        })
    }
}

/// Text or JSON text into a text-like or json column; false (nothing written) for any other.
fn put_text(s: Scalar, t: &str, out: &mut BytesMut) -> bool {
    match s {
        Scalar::Text | Scalar::Xml | Scalar::Json => out.put_slice(t.as_bytes()),
        Scalar::Jsonb => {
            out.put_u8(1);
            out.put_slice(t.as_bytes());
        }
        _ => return false,
    }
    true
}

/// Runs `encode` behind a 4-byte length prefix (reserved, then back-filled); on error `out`
/// is restored to its previous length.
fn with_len(
    ty: &Type,
    out: &mut BytesMut,
    encode: impl FnOnce(&mut BytesMut) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let start = out.len();
    out.put_i32(0);
    let result = encode(out).and_then(|()| {
        let len = out.len() - start - 4;
        let len = i32::try_from(len).map_err(|_| CodecError::InvalidValue {
            type_name: type_name(ty),
            value: format!("{len} bytes"),
            reason: "a single value is limited to 2 GiB".into(),
        })?;
        if let Some(slot) = out.get_mut(start..start + 4) {
            slot.copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn cannot_write(v: &Value, ty: &Type) -> CodecError {
    CodecError::CannotWrite {
        value_kind: value_kind(v),
        type_name: type_name(ty),
    }
}

fn out_of_range(value: impl std::fmt::Display, ty: &Type) -> CodecError {
    CodecError::OutOfRange {
        value: value.to_string(),
        type_name: type_name(ty),
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A date at midnight as a timestamp, keeping the infinities.
fn date_to_timestamp(d: i32, ty: &Type) -> Result<i64, CodecError> {
    match d {
        i32::MAX => Ok(i64::MAX),
        i32::MIN => Ok(i64::MIN),
        _ => i64::from(d)
            .checked_mul(MICROS_PER_DAY)
            .ok_or_else(|| out_of_range(format!("date day {d}"), ty)),
    }
}

/// An i64 as f64 only when the conversion is exact (`i64::MAX as f64` rounds up to 2^63).
fn exact_f64(x: i64) -> Option<f64> {
    let f = x as f64;
    (f < 9_223_372_036_854_775_808.0 && f as i64 == x).then_some(f)
}

pub(crate) fn encode_resolved(
    v: &Value,
    res: Resolved<'_>,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let s = match res {
        Resolved::Scalar(s) => s,
        Resolved::Array(elem) => {
            return match v {
                Value::Array(a) => encode_array(a, ty, elem, out),
                Value::Null => Err(CodecError::UnexpectedNull {
                    type_name: type_name(ty),
                }),
                _ => Err(cannot_write(v, ty)),
            }
        }
        Resolved::Range(sub) => {
            return match v {
                Value::Range(r) => encode_range(r, sub, out),
                Value::Null => Err(CodecError::UnexpectedNull {
                    type_name: type_name(ty),
                }),
                _ => Err(cannot_write(v, ty)),
            }
        }
        Resolved::Unsupported => return Err(cannot_write(v, ty)),
    };
    match (s, v) {
        (_, Value::Null) => {
            return Err(CodecError::UnexpectedNull {
                type_name: type_name(ty),
            })
        }
        (Scalar::Bool, Value::Bool(b)) => out.put_u8(u8::from(*b)),
        (Scalar::Int2, Value::Int16(x)) => out.put_i16(*x),
        (Scalar::Int2, Value::Int32(x)) => {
            out.put_i16(i16::try_from(*x).map_err(|_| out_of_range(x, ty))?)
        }
        (Scalar::Int2, Value::Int64(x)) => {
            out.put_i16(i16::try_from(*x).map_err(|_| out_of_range(x, ty))?)
        }
        (Scalar::Int4, Value::Int16(x)) => out.put_i32(i32::from(*x)),
        (Scalar::Int4, Value::Int32(x)) => out.put_i32(*x),
        (Scalar::Int4, Value::Int64(x)) => {
            out.put_i32(i32::try_from(*x).map_err(|_| out_of_range(x, ty))?)
        }
        (Scalar::Int8, Value::Int16(x)) => out.put_i64(i64::from(*x)),
        (Scalar::Int8, Value::Int32(x)) => out.put_i64(i64::from(*x)),
        (Scalar::Int8, Value::Int64(x)) => out.put_i64(*x),
        (Scalar::Float4, Value::Float32(x)) => out.put_f32(*x),
        (Scalar::Float4, Value::Int16(x)) => out.put_f32(f32::from(*x)),
        (Scalar::Float4, Value::Float64(x)) => {
            let f = *x as f32;
            if f64::from(f) == *x || x.is_nan() {
                out.put_f32(f);
            } else {
                return Err(out_of_range(format!("{x} (not exactly representable)"), ty));
            }
        }
        (Scalar::Float8, Value::Float64(x)) => out.put_f64(*x),
        (Scalar::Float8, Value::Float32(x)) => out.put_f64(f64::from(*x)),
        (Scalar::Float8, Value::Int16(x)) => out.put_f64(f64::from(*x)),
        (Scalar::Float8, Value::Int32(x)) => out.put_f64(f64::from(*x)),
        (Scalar::Float8, Value::Int64(x)) => out.put_f64(
            exact_f64(*x)
                .ok_or_else(|| out_of_range(format!("{x} (not exactly representable)"), ty))?,
        ),
        (Scalar::Numeric, Value::Numeric(text)) => encode_numeric_text(text, ty, out)?,
        (Scalar::Numeric, Value::Int16(x)) => encode_numeric_int(i128::from(*x), out),
        (Scalar::Numeric, Value::Int32(x)) => encode_numeric_int(i128::from(*x), out),
        (Scalar::Numeric, Value::Int64(x)) => encode_numeric_int(i128::from(*x), out),
        (Scalar::Numeric, Value::Money(_)) => {
            let mut text = String::with_capacity(24);
            v.write_text(&mut text);
            encode_numeric_text(&text, ty, out)?
        }
        (Scalar::Money, Value::Money(x)) => out.put_i64(*x),
        (
            Scalar::Text | Scalar::Xml | Scalar::Json | Scalar::Jsonb,
            Value::Text(t) | Value::Json(t),
        ) => {
            put_text(s, t, out);
        }
        (Scalar::Bytea, Value::Bytes(b)) => out.put_slice(b),
        (Scalar::Uuid, Value::Uuid(u)) => out.put_slice(u),
        (Scalar::Date, Value::Date(d)) => out.put_i32(*d),
        (Scalar::Time, Value::Time(t)) => out.put_i64(*t),
        (
            Scalar::TimeTz,
            Value::TimeTz {
                micros,
                offset_secs,
            },
        ) => {
            let west = offset_secs
                .checked_neg()
                .ok_or_else(|| out_of_range(format!("zone offset {offset_secs} s"), ty))?;
            out.put_i64(*micros);
            out.put_i32(west);
        }
        (Scalar::Timestamp | Scalar::TimestampTz, Value::Timestamp(t) | Value::TimestampTz(t)) => {
            out.put_i64(*t)
        }
        (Scalar::Timestamp | Scalar::TimestampTz, Value::Date(d)) => {
            out.put_i64(date_to_timestamp(*d, ty)?)
        }
        (
            Scalar::Interval,
            Value::Interval {
                months,
                days,
                micros,
            },
        ) => {
            out.put_i64(*micros);
            out.put_i32(*days);
            out.put_i32(*months);
        }
        (Scalar::Inet | Scalar::Cidr, Value::Inet { addr, prefix, .. }) => {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if *prefix > max {
                return Err(CodecError::InvalidValue {
                    type_name: type_name(ty),
                    value: format!("{addr}/{prefix}"),
                    reason: format!("prefix length exceeds {max}"),
                });
            }
            let family = if addr.is_ipv4() {
                PGSQL_AF_INET
            } else {
                PGSQL_AF_INET6
            };
            out.put_u8(family);
            out.put_u8(*prefix);
            out.put_u8(u8::from(s == Scalar::Cidr));
            match addr {
                IpAddr::V4(a) => {
                    out.put_u8(4);
                    out.put_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    out.put_u8(16);
                    out.put_slice(&a.octets());
                }
            }
        }
        (Scalar::MacAddr, Value::MacAddr(m)) => out.put_slice(m),
        _ => return Err(cannot_write(v, ty)),
    }
    Ok(())
}

fn encode_array(
    a: &ArrayValue,
    ty: &Type,
    elem: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let invalid = |reason: String| CodecError::InvalidValue {
        type_name: type_name(ty),
        value: format!("array of {} elements", a.elements.len()),
        reason,
    };
    if a.dims.len() > MAX_DIMS {
        return Err(invalid(format!(
            "{} dimensions (PostgreSQL allows {MAX_DIMS})",
            a.dims.len()
        )));
    }
    let mut total: usize = if a.dims.is_empty() { 0 } else { 1 };
    for &(len, lower) in &a.dims {
        let ulen = usize::try_from(len)
            .map_err(|_| invalid(format!("negative dimension length {len}")))?;
        if len > 0 && lower.checked_add(len - 1).is_none() {
            return Err(invalid("dimension upper bound overflows".into()));
        }
        total = total
            .checked_mul(ulen)
            .ok_or_else(|| invalid("too many elements".into()))?;
    }
    if total != a.elements.len() {
        return Err(invalid(format!(
            "dimensions {:?} hold {total} elements",
            a.dims
        )));
    }
    let ndim = if total == 0 { 0 } else { a.dims.len() };
    out.put_i32(ndim as i32);
    out.put_i32(i32::from(a.elements.iter().any(Value::is_null)));
    out.put_u32(elem.oid());
    if ndim > 0 {
        for &(len, lower) in &a.dims {
            out.put_i32(len);
            out.put_i32(lower);
        }
    }
    let res = resolve(elem);
    for e in &a.elements {
        encode_resolved_with_len(e, res, elem, out)?;
    }
    Ok(())
}

fn encode_range(r: &RangeValue, sub: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    if r.empty {
        out.put_u8(RANGE_EMPTY);
        return Ok(());
    }
    // A NULL bound means unbounded, as in PostgreSQL's range constructors.
    let lower = r.lower.as_ref().filter(|v| !v.is_null());
    let upper = r.upper.as_ref().filter(|v| !v.is_null());
    let mut flags = 0;
    match lower {
        None => flags |= RANGE_LB_INF,
        Some(_) if r.lower_inclusive => flags |= RANGE_LB_INC,
        Some(_) => {}
    }
    match upper {
        None => flags |= RANGE_UB_INF,
        Some(_) if r.upper_inclusive => flags |= RANGE_UB_INC,
        Some(_) => {}
    }
    out.put_u8(flags);
    let res = resolve(sub);
    for bound in [lower, upper].into_iter().flatten() {
        encode_resolved_with_len(bound, res, sub, out)?;
    }
    Ok(())
}

/// Writes the numeric header and base-10000 digits.
fn put_numeric(out: &mut BytesMut, weight: i16, sign: u16, dscale: u16, digits: &[u16]) {
    out.put_i16(digits.len() as i16);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(dscale);
    for &d in digits {
        out.put_u16(d);
    }
}

/// An integer as numeric, straight to base-10000 groups.
fn encode_numeric_int(x: i128, out: &mut BytesMut) {
    let sign = if x < 0 { NUMERIC_NEG } else { NUMERIC_POS };
    let mut u = x.unsigned_abs();
    // Least significant group first; i64 needs at most 5 groups, i128 at most 10.
    let mut groups = [0u16; 10];
    let mut n = 0;
    while u > 0 && n < groups.len() {
        if let Some(g) = groups.get_mut(n) {
            *g = (u % 10_000) as u16;
        }
        u /= 10_000;
        n += 1;
    }
    let used = groups.get(..n).unwrap_or_default();
    // Trailing (least significant) zero groups are implied by the weight.
    let skip = used.iter().take_while(|&&g| g == 0).count();
    let mut digits = [0u16; 10];
    let mut nd = 0;
    for &g in used.iter().skip(skip).rev() {
        if let Some(d) = digits.get_mut(nd) {
            *d = g;
        }
        nd += 1;
    }
    let weight = n.saturating_sub(1) as i16;
    if nd == 0 {
        put_numeric(out, 0, NUMERIC_POS, 0, &[]);
    } else {
        put_numeric(out, weight, sign, 0, digits.get(..nd).unwrap_or_default());
    }
}

/// Parses numeric text (`-12.340`, `1e-5`, `NaN`, `Infinity`, surrounding spaces allowed, as
/// `numeric_in` accepts) and writes PostgreSQL's base-10000 form with the same display scale,
/// so `1.500` stays `1.500`. The target column's typmod is applied by the server on receipt.
fn encode_numeric_text(text: &str, ty: &Type, out: &mut BytesMut) -> Result<(), CodecError> {
    let invalid = |reason: &str| CodecError::InvalidValue {
        type_name: type_name(ty),
        value: if text.len() > 60 {
            format!("{}...", text.chars().take(60).collect::<String>())
        } else {
            text.to_string()
        },
        reason: reason.to_string(),
    };
    let t = text.trim();
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..).unwrap_or_default()),
        Some(b'+') => (false, t.get(1..).unwrap_or_default()),
        _ => (false, t),
    };
    if unsigned.eq_ignore_ascii_case("nan") && t.len() == unsigned.len() {
        put_numeric(out, 0, NUMERIC_NAN, 0, &[]);
        return Ok(());
    }
    if unsigned.eq_ignore_ascii_case("infinity") || unsigned.eq_ignore_ascii_case("inf") {
        let sign = if negative { NUMERIC_NINF } else { NUMERIC_PINF };
        put_numeric(out, 0, sign, 0, &[]);
        return Ok(());
    }
    // Split mantissa and exponent.
    let (mantissa, exp) = match unsigned.find(['e', 'E']) {
        Some(pos) => {
            let exp_text = unsigned.get(pos + 1..).unwrap_or_default();
            let exp: i64 = exp_text.parse().map_err(|_| invalid("bad exponent"))?;
            if exp.abs() > 1_000_000 {
                return Err(invalid("exponent out of range"));
            }
            (unsigned.get(..pos).unwrap_or_default(), exp)
        }
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(invalid("no digits"));
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(invalid("not a number"));
    }
    let dscale = (frac_part.len() as i64 - exp).max(0);
    let dscale = u16::try_from(dscale)
        .ok()
        .filter(|&d| d <= NUMERIC_DSCALE_MAX)
        .ok_or_else(|| invalid("scale too large"))?;
    // Digit j of int_part ++ frac_part is worth 10^(point - 1 - j).
    let int_bytes = int_part.as_bytes();
    let frac_bytes = frac_part.as_bytes();
    let n = int_bytes.len() + frac_bytes.len();
    let point = int_bytes.len() as i64 + exp;
    let digit_at = |j: usize| -> u16 {
        let b = if j < int_bytes.len() {
            int_bytes.get(j)
        } else {
            frac_bytes.get(j - int_bytes.len())
        };
        b.map_or(0, |b| u16::from(b - b'0'))
    };
    let first = (0..n).find(|&j| digit_at(j) != 0);
    let last = (0..n).rev().find(|&j| digit_at(j) != 0);
    let (Some(first), Some(last)) = (first, last) else {
        put_numeric(out, 0, NUMERIC_POS, dscale, &[]);
        return Ok(());
    };
    let exp_of = |j: usize| point - 1 - j as i64;
    let weight = exp_of(first).div_euclid(4);
    let last_group = exp_of(last).div_euclid(4);
    let weight16 = i16::try_from(weight).map_err(|_| invalid("value out of range"))?;
    let ndigits = weight - last_group + 1;
    let ndigits16 = i16::try_from(ndigits).map_err(|_| invalid("too many digits"))?;
    out.reserve(8 + ndigits as usize * 2);
    out.put_i16(ndigits16);
    out.put_i16(weight16);
    out.put_u16(if negative { NUMERIC_NEG } else { NUMERIC_POS });
    out.put_u16(dscale);
    let digit_by_exp = |e: i64| -> u16 {
        let j = point - 1 - e;
        usize::try_from(j)
            .ok()
            .filter(|&j| j < n)
            .map_or(0, digit_at)
    };
    for g in (last_group..=weight).rev() {
        let base = g * 4;
        let group = digit_by_exp(base + 3) * 1000
            + digit_by_exp(base + 2) * 100
            + digit_by_exp(base + 1) * 10
            + digit_by_exp(base);
        out.put_u16(group);
    }
    Ok(())
}

/// Plan-time twin of [`encode`]: whether values of engine type `src` can be written in binary
/// into a column of type `target`. When false the sink sends PostgreSQL's text form instead.
/// Value-dependent conversions (an Int64 into int4, a Double into real) count as possible;
/// `encode` reports values that do not fit.
pub fn can_encode(src: &DataType, target: &Type) -> bool {
    match resolve(target) {
        Resolved::Scalar(s) => can_encode_scalar(src, s),
        Resolved::Array(elem) => match src {
            DataType::Array(inner) => can_encode(inner, elem),
            _ => false,
        },
        Resolved::Range(sub) => match src {
            DataType::Range(inner) => can_encode(inner, sub),
            _ => false,
        },
        Resolved::Unsupported => false,
    }
}

fn can_encode_scalar(src: &DataType, s: Scalar) -> bool {
    use DataType as D;
    match s {
        Scalar::Bool => matches!(src, D::Bool),
        Scalar::Int2 | Scalar::Int4 | Scalar::Int8 => {
            matches!(src, D::Int16 | D::Int32 | D::Int64)
        }
        Scalar::Float4 => matches!(src, D::Float32 | D::Float64 | D::Int16),
        Scalar::Float8 => matches!(
            src,
            D::Float64 | D::Float32 | D::Int16 | D::Int32 | D::Int64
        ),
        Scalar::Numeric => matches!(src, D::Numeric | D::Int16 | D::Int32 | D::Int64 | D::Money),
        Scalar::Money => matches!(src, D::Money),
        Scalar::Text | Scalar::Xml | Scalar::Json | Scalar::Jsonb => {
            matches!(src, D::Text | D::Json)
        }
        Scalar::Bytea => matches!(src, D::Bytes),
        Scalar::Uuid => matches!(src, D::Uuid),
        Scalar::Date => matches!(src, D::Date),
        Scalar::Time => matches!(src, D::Time),
        Scalar::TimeTz => matches!(src, D::TimeTz),
        Scalar::Timestamp | Scalar::TimestampTz => {
            matches!(src, D::Timestamp | D::TimestampTz | D::Date)
        }
        Scalar::Interval => matches!(src, D::Interval),
        Scalar::Inet | Scalar::Cidr => matches!(src, D::Inet),
        Scalar::MacAddr => matches!(src, D::MacAddr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
        let mut out = BytesMut::new();
        encode(v, ty, &mut out)?;
        Ok(out.to_vec())
    }

    fn round_trip(v: Value, ty: &Type) -> Value {
        match enc(&v, ty).and_then(|bytes| decode(ty, &bytes)) {
            Ok(back) => back,
            Err(e) => Value::Text(format!("error: {e}")),
        }
    }

    fn numeric_bytes(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = BytesMut::new();
        out.put_i16(ndigits);
        out.put_i16(weight);
        out.put_u16(sign);
        out.put_u16(dscale);
        for d in digits {
            out.put_u16(*d);
        }
        out.to_vec()
    }

    fn num_text(raw: &[u8]) -> String {
        match decode(&Type::NUMERIC, raw) {
            Ok(Value::Numeric(s)) => s,
            other => format!("{other:?}"),
        }
    }

    fn custom(name: &str, oid: u32, kind: Kind) -> Type {
        Type::new(name.into(), oid, kind, "public".into())
    }

    #[test]
    fn numeric_decodes_known_bytes() {
        assert_eq!(num_text(&numeric_bytes(2, 0, 0, 3, &[1, 5000])), "1.500");
        assert_eq!(num_text(&numeric_bytes(0, 0, 0, 0, &[])), "0");
        assert_eq!(num_text(&numeric_bytes(0, 0, 0, 3, &[])), "0.000");
        assert_eq!(
            num_text(&numeric_bytes(1, -1, NUMERIC_NEG, 1, &[5000])),
            "-0.5"
        );
        assert_eq!(num_text(&numeric_bytes(1, 1, 0, 0, &[1])), "10000");
        assert_eq!(
            num_text(&numeric_bytes(1, -5, 0, 20, &[1])),
            "0.00000000000000000001"
        );
        assert_eq!(num_text(&numeric_bytes(0, 0, NUMERIC_NAN, 0, &[])), "NaN");
        assert_eq!(
            num_text(&numeric_bytes(0, 0, NUMERIC_PINF, 0, &[])),
            "Infinity"
        );
        assert_eq!(
            num_text(&numeric_bytes(0, 0, NUMERIC_NINF, 0, &[])),
            "-Infinity"
        );
        // Digits beyond the display scale are dropped, as PostgreSQL's output does.
        assert_eq!(num_text(&numeric_bytes(2, 0, 0, 1, &[3, 1415])), "3.1");
    }

    #[test]
    fn numeric_encodes_like_postgres() {
        let bytes = |t: &str| enc(&Value::Numeric(t.into()), &Type::NUMERIC).unwrap_or_default();
        assert_eq!(bytes("1.500"), numeric_bytes(2, 0, 0, 3, &[1, 5000]));
        assert_eq!(bytes("10000"), numeric_bytes(1, 1, 0, 0, &[1]));
        assert_eq!(bytes("-0.5"), numeric_bytes(1, -1, NUMERIC_NEG, 1, &[5000]));
        assert_eq!(bytes("0.000"), numeric_bytes(0, 0, 0, 3, &[]));
        assert_eq!(bytes("-0"), numeric_bytes(0, 0, 0, 0, &[]));
        assert_eq!(bytes("nan"), numeric_bytes(0, 0, NUMERIC_NAN, 0, &[]));
        assert_eq!(
            bytes("-Infinity"),
            numeric_bytes(0, 0, NUMERIC_NINF, 0, &[])
        );
        assert_eq!(
            bytes("12345678901234567890.123456789"),
            numeric_bytes(
                8,
                4,
                0,
                9,
                &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000]
            )
        );
    }

    #[test]
    fn numeric_text_round_trips() {
        let big = format!("{}.{}", "9".repeat(1000), "1234567890".repeat(50));
        let cases = [
            ("0", "0"),
            ("0.000", "0.000"),
            ("-0.5", "-0.5"),
            ("0.00000000000000000001", "0.00000000000000000001"),
            (
                "12345678901234567890.123456789",
                "12345678901234567890.123456789",
            ),
            ("-12.340", "-12.340"),
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("+inf", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("100000000", "100000000"),
            ("0.0001", "0.0001"),
            ("1e5", "100000"),
            ("1.5e-3", "0.0015"),
            ("1E+2", "100"),
            ("  3.14 ", "3.14"),
            ("+7", "7"),
            (".5", "0.5"),
            ("5.", "5"),
            ("0001.10", "1.10"),
            (big.as_str(), big.as_str()),
        ];
        for (input, expected) in cases {
            assert_eq!(
                round_trip(Value::Numeric(input.into()), &Type::NUMERIC),
                Value::Numeric(expected.into()),
                "{input}"
            );
        }
    }

    #[test]
    fn numeric_rejects_bad_text() {
        for bad in [
            "",
            "-",
            "abc",
            "1.2.3",
            "1e",
            "1e99999999",
            "NaNx",
            "--1",
            "1 2",
            ".",
            "-nan",
        ] {
            let r = enc(&Value::Numeric(bad.into()), &Type::NUMERIC);
            assert!(r.is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn integers_into_numeric_match_text_encoding() {
        for x in [
            0i64,
            1,
            -1,
            9999,
            10_000,
            123_456_789,
            i64::MIN,
            i64::MAX,
            -100_000_000,
        ] {
            let from_int = enc(&Value::Int64(x), &Type::NUMERIC).unwrap_or_default();
            let from_text = enc(&Value::Numeric(x.to_string()), &Type::NUMERIC).unwrap_or_default();
            assert_eq!(from_int, from_text, "{x}");
        }
        assert_eq!(
            round_trip(Value::Money(-1234), &Type::NUMERIC),
            Value::Numeric("-12.34".into())
        );
    }

    #[test]
    fn integer_conversions_are_range_checked() {
        assert_eq!(
            round_trip(Value::Int64(-32768), &Type::INT2),
            Value::Int16(-32768)
        );
        assert_eq!(round_trip(Value::Int16(7), &Type::INT8), Value::Int64(7));
        let err = enc(&Value::Int64(1 << 40), &Type::INT4)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("value 1099511627776 is out of range for type int4")
        );
        assert!(enc(&Value::Int32(40_000), &Type::INT2).is_err());
    }

    #[test]
    fn floats_keep_every_bit() {
        for x in [
            0.0f64,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            5e-324,
            0.1,
        ] {
            let bits = match round_trip(Value::Float64(x), &Type::FLOAT8) {
                Value::Float64(y) => Some(y.to_bits()),
                _ => None,
            };
            assert_eq!(bits, Some(x.to_bits()), "{x}");
        }
        assert!(
            matches!(round_trip(Value::Float64(f64::NAN), &Type::FLOAT8), Value::Float64(y) if y.is_nan())
        );
        assert!(
            matches!(round_trip(Value::Float32(f32::NAN), &Type::FLOAT4), Value::Float32(y) if y.is_nan())
        );
        assert_eq!(
            round_trip(Value::Float32(1.5), &Type::FLOAT8),
            Value::Float64(1.5)
        );
        assert_eq!(
            round_trip(Value::Int64(1 << 53), &Type::FLOAT8),
            Value::Float64(9_007_199_254_740_992.0)
        );
        assert!(enc(&Value::Int64((1 << 53) + 1), &Type::FLOAT8).is_err());
        assert!(enc(&Value::Int64(i64::MAX), &Type::FLOAT8).is_err());
        assert_eq!(
            round_trip(Value::Float64(0.5), &Type::FLOAT4),
            Value::Float32(0.5)
        );
        assert!(enc(&Value::Float64(0.1), &Type::FLOAT4).is_err());
    }

    #[test]
    fn dates_times_and_intervals() {
        assert_eq!(
            decode(&Type::DATE, &i32::MAX.to_be_bytes()).ok(),
            Some(Value::Date(i32::MAX))
        );
        assert_eq!(
            decode(&Type::TIMESTAMPTZ, &i64::MIN.to_be_bytes()).ok(),
            Some(Value::TimestampTz(i64::MIN))
        );
        // 12:00+05:30 is sent as 43200 s of micros and -19800 (seconds west of UTC).
        let mut raw = BytesMut::new();
        raw.put_i64(43_200_000_000);
        raw.put_i32(-19_800);
        let tz = Value::TimeTz {
            micros: 43_200_000_000,
            offset_secs: 19_800,
        };
        assert_eq!(decode(&Type::TIMETZ, &raw).ok(), Some(tz.clone()));
        assert_eq!(enc(&tz, &Type::TIMETZ).ok(), Some(raw.to_vec()));
        let iv = Value::Interval {
            months: -14,
            days: 3,
            micros: -1,
        };
        assert_eq!(round_trip(iv.clone(), &Type::INTERVAL), iv);
        assert_eq!(
            round_trip(Value::Timestamp(5), &Type::TIMESTAMPTZ),
            Value::TimestampTz(5)
        );
        assert_eq!(
            round_trip(Value::TimestampTz(5), &Type::TIMESTAMP),
            Value::Timestamp(5)
        );
        assert_eq!(
            round_trip(Value::Date(1), &Type::TIMESTAMP),
            Value::Timestamp(MICROS_PER_DAY)
        );
        assert_eq!(
            round_trip(Value::Date(i32::MIN), &Type::TIMESTAMPTZ),
            Value::TimestampTz(i64::MIN)
        );
    }

    #[test]
    fn strings_bytes_and_misc_scalars() {
        let mood = custom("mood", 90_001, Kind::Enum(vec!["ok".into()]));
        assert_eq!(
            round_trip(Value::Text("ok".into()), &mood),
            Value::Text("ok".into())
        );
        assert_eq!(
            round_trip(Value::Text("é\t\\".into()), &Type::XML),
            Value::Text("é\t\\".into())
        );
        assert_eq!(
            enc(&Value::Json("{}".into()), &Type::JSONB).ok(),
            Some(b"\x01{}".to_vec())
        );
        assert_eq!(
            round_trip(Value::Text("[1]".into()), &Type::JSONB),
            Value::Json("[1]".into())
        );
        assert!(decode(&Type::JSONB, b"\x02{}").is_err());
        assert!(decode(&Type::TEXT, b"\xff").is_err());
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(
            round_trip(Value::Bytes(all.clone()), &Type::BYTEA),
            Value::Bytes(all)
        );
        assert_eq!(
            round_trip(Value::Uuid([7; 16]), &Type::UUID),
            Value::Uuid([7; 16])
        );
        assert_eq!(
            round_trip(Value::Money(i64::MIN), &Type::MONEY),
            Value::Money(i64::MIN)
        );
        assert_eq!(
            round_trip(Value::MacAddr([1, 2, 3, 4, 5, 6]), &Type::MACADDR),
            Value::MacAddr([1, 2, 3, 4, 5, 6])
        );
        assert_eq!(
            round_trip(Value::Bool(true), &Type::BOOL),
            Value::Bool(true)
        );
        let cidr = Value::Inet {
            addr: "10.0.0.0"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            prefix: 8,
            cidr: true,
        };
        assert_eq!(
            enc(&cidr, &Type::CIDR).ok(),
            Some(vec![2, 8, 1, 4, 10, 0, 0, 0])
        );
        assert_eq!(round_trip(cidr.clone(), &Type::CIDR), cidr);
        let v6 = Value::Inet {
            addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            prefix: 128,
            cidr: false,
        };
        assert_eq!(round_trip(v6.clone(), &Type::INET), v6);
        let bad = Value::Inet {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix: 33,
            cidr: false,
        };
        assert!(enc(&bad, &Type::INET).is_err());
        let dom = custom("posint", 90_003, Kind::Domain(Type::INT4));
        assert_eq!(round_trip(Value::Int32(5), &dom), Value::Int32(5));
    }

    #[test]
    fn wrong_kinds_are_refused_with_names() {
        let e = enc(&Value::Text("1".into()), &Type::INT4)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("cannot write Text into a column of type int4")
        );
        let e = enc(&Value::Int32(1), &Type::INT4_ARRAY)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("cannot write Int32 into a column of type int4[]")
        );
        assert!(enc(&Value::Text("(1,2)".into()), &Type::POINT).is_err());
        assert!(enc(&Value::Null, &Type::INT4).is_err());
        assert!(decode(&Type::POINT, &[0; 16]).is_err());
    }

    fn arr(dims: Vec<(i32, i32)>, elements: Vec<Value>) -> Value {
        Value::Array(Box::new(ArrayValue { dims, elements }))
    }

    #[test]
    fn arrays_round_trip_with_target_element_oid() {
        let a = arr(
            vec![(2, 0), (2, 1)],
            vec![
                Value::Int32(1),
                Value::Int32(2),
                Value::Int32(3),
                Value::Null,
            ],
        );
        assert_eq!(round_trip(a.clone(), &Type::INT4_ARRAY), a);
        let bytes = enc(&a, &Type::INT4_ARRAY).unwrap_or_default();
        assert_eq!(
            bytes.get(..12),
            Some(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 23][..])
        );
        let empty = arr(vec![], vec![]);
        assert_eq!(round_trip(empty.clone(), &Type::TEXT_ARRAY), empty);
        let mood = custom("mood", 90_001, Kind::Enum(vec!["a".into()]));
        let moods = custom("_mood", 90_002, Kind::Array(mood));
        let m = arr(vec![(1, 1)], vec![Value::Text("a".into())]);
        let bytes = enc(&m, &moods).unwrap_or_default();
        assert_eq!(bytes.get(8..12), Some(&90_001u32.to_be_bytes()[..]));
        assert_eq!(decode(&moods, &bytes).ok(), Some(m));
        // An element OID other than the column's element type is refused.
        assert!(decode(
            &Type::INT4_ARRAY,
            &enc(&a, &Type::INT4_ARRAY)
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, b)| if i == 11 { 20 } else { *b })
                .collect::<Vec<_>>()
        )
        .is_err());
        // Elements convert like scalars.
        let wide = arr(
            vec![(2, 1)],
            vec![Value::Int64(1), Value::Numeric("2.50".into())],
        );
        assert_eq!(
            round_trip(wide, &Type::NUMERIC_ARRAY),
            arr(
                vec![(2, 1)],
                vec![Value::Numeric("1".into()), Value::Numeric("2.50".into())]
            )
        );
        let bad = arr(vec![(3, 1)], vec![Value::Int32(1)]);
        assert!(enc(&bad, &Type::INT4_ARRAY).is_err());
        let mut out = BytesMut::from(&b"keep"[..]);
        assert!(encode_with_len(&bad, &Type::INT4_ARRAY, &mut out).is_err());
        assert_eq!(&out[..], b"keep");
    }

    #[test]
    fn ranges_round_trip() {
        let r = |lower: Option<Value>, upper: Option<Value>, li: bool, ui: bool| {
            Value::Range(Box::new(RangeValue {
                empty: false,
                lower,
                upper,
                lower_inclusive: li,
                upper_inclusive: ui,
            }))
        };
        let empty = Value::Range(Box::new(RangeValue {
            empty: true,
            lower: None,
            upper: None,
            lower_inclusive: false,
            upper_inclusive: false,
        }));
        assert_eq!(enc(&empty, &Type::INT4_RANGE).ok(), Some(vec![1]));
        assert_eq!(round_trip(empty.clone(), &Type::INT4_RANGE), empty);
        for v in [
            r(Some(Value::Int32(1)), Some(Value::Int32(10)), true, false),
            r(None, Some(Value::Int32(5)), false, false),
            r(Some(Value::Int32(3)), None, true, false),
            r(None, None, false, false),
        ] {
            assert_eq!(round_trip(v.clone(), &Type::INT4_RANGE), v);
        }
        let n = r(
            Some(Value::Numeric("1.50".into())),
            Some(Value::Numeric("2.500".into())),
            true,
            true,
        );
        assert_eq!(round_trip(n.clone(), &Type::NUM_RANGE), n);
        assert_eq!(
            enc(&r(None, None, true, true), &Type::INT4_RANGE).ok(),
            Some(vec![RANGE_LB_INF | RANGE_UB_INF])
        );
    }

    #[test]
    fn can_encode_mirrors_encode() {
        assert!(can_encode(&DataType::Int64, &Type::INT2));
        assert!(can_encode(&DataType::Text, &Type::JSONB));
        assert!(can_encode(&DataType::Date, &Type::TIMESTAMPTZ));
        assert!(can_encode(
            &DataType::Array(Box::new(DataType::Int16)),
            &Type::NUMERIC_ARRAY
        ));
        assert!(can_encode(
            &DataType::Range(Box::new(DataType::Date)),
            &Type::DATE_RANGE
        ));
        let mood = custom("mood", 90_001, Kind::Enum(vec![]));
        assert!(can_encode(&DataType::Text, &mood));
        assert!(!can_encode(&DataType::Text, &Type::INT4));
        assert!(!can_encode(&DataType::Text, &Type::POINT));
        assert!(!can_encode(&DataType::Text, &Type::UUID));
        assert!(!can_encode(&DataType::Float64, &Type::NUMERIC));
        assert!(!can_encode(&DataType::Int32, &Type::INT4_ARRAY));
        assert!(!can_encode(
            &DataType::Array(Box::new(DataType::Text)),
            &Type::POINT_ARRAY
        ));
    }

    /// Every prefix and a batch of pseudo-random corruptions of valid encodings must yield
    /// `Ok` or `Err`, never a panic.
    #[test]
    fn malformed_input_never_panics() {
        let samples: Vec<(Type, Value)> = vec![
            (Type::NUMERIC, Value::Numeric("-12345.6789".into())),
            (
                Type::TIMETZ,
                Value::TimeTz {
                    micros: 1,
                    offset_secs: -3600,
                },
            ),
            (
                Type::INTERVAL,
                Value::Interval {
                    months: 1,
                    days: 2,
                    micros: 3,
                },
            ),
            (
                Type::INET,
                Value::Inet {
                    addr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                    prefix: 64,
                    cidr: false,
                },
            ),
            (Type::JSONB, Value::Json("{\"a\":1}".into())),
            (
                Type::INT4_ARRAY,
                arr(vec![(2, 0), (1, 5)], vec![Value::Int32(1), Value::Null]),
            ),
            (
                Type::NUMERIC_ARRAY,
                arr(
                    vec![(2, 1)],
                    vec![Value::Numeric("1.5".into()), Value::Null],
                ),
            ),
            (
                Type::TSTZ_RANGE,
                Value::Range(Box::new(RangeValue {
                    empty: false,
                    lower: Some(Value::TimestampTz(1)),
                    upper: None,
                    lower_inclusive: true,
                    upper_inclusive: false,
                })),
            ),
            (Type::TEXT, Value::Text("héllo".into())),
            (Type::UUID, Value::Uuid([1; 16])),
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (ty, v) in &samples {
            let good = enc(v, ty).unwrap_or_default();
            assert_eq!(decode(ty, &good).ok().as_ref(), Some(v), "{ty}");
            for cut in 0..good.len() {
                let _ = decode(ty, good.get(..cut).unwrap_or_default());
            }
            for _ in 0..2000 {
                let mut bad = good.clone();
                let flips = 1 + next() % 4;
                for _ in 0..flips {
                    if bad.is_empty() {
                        break;
                    }
                    let i = (next() % bad.len() as u64) as usize;
                    if let Some(b) = bad.get_mut(i) {
                        *b = next() as u8;
                    }
                }
                let _ = decode(ty, &bad);
            }
            for len in 0..40 {
                let garbage: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = decode(ty, &garbage);
            }
        }
        // Huge declared sizes are refused before allocating.
        let mut huge = BytesMut::new();
        huge.put_i32(2);
        huge.put_i32(0);
        huge.put_u32(Type::INT4.oid());
        huge.put_i32(i32::MAX);
        huge.put_i32(1);
        huge.put_i32(i32::MAX);
        huge.put_i32(1);
        assert!(decode(&Type::INT4_ARRAY, &huge).is_err());
        assert!(decode(&Type::NUMERIC, &numeric_bytes(1, 0, 0, 0, &[10_000])).is_err());
        assert!(decode(&Type::NUMERIC, &numeric_bytes(-1, 0, 0, 0, &[])).is_err());
        assert!(decode(&Type::NUMERIC, &numeric_bytes(0, 0, 0x1234, 0, &[])).is_err());
    }
}
