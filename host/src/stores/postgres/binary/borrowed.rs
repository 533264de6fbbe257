//! The borrowing path: [`ValueRef`], a non-NULL value whose variable-length bytes (text,
//! json, numeric text, bytea) stay where they lie, and the decoder and encoder that use it.
//!
//! Converting between binary COPY tuples and a plugin's columns goes through here, so it
//! allocates nothing per value; every other kind falls back to the owned codec.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

use super::decode::{decode_resolved, jsonb_text, utf8};
use super::encode::{encode_resolved, put_text, with_len};
use super::numeric::{decode_numeric_into, encode_numeric_text};
use super::{type_name, value_kind, CodecError, Resolved, Scalar};
use crate::types::value::Value;

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
