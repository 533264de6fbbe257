//! PostgreSQL's binary `numeric` (`numeric_send` / `numeric_recv`): a header (digit count,
//! weight, sign, display scale) and base-10000 digits.
//!
//! Decoding writes PostgreSQL's exact text form; encoding parses numeric text (or takes an
//! integer) and writes the same digits PostgreSQL would, keeping the display scale, so a value
//! survives the round trip as text unchanged.

use bytes::{BufMut, BytesMut};
use tokio_postgres::types::Type;

use super::decode::malformed;
use super::{type_name, CodecError};

/// Sign codes of PostgreSQL's numeric wire format (`utils/adt/numeric.c`).
const NUMERIC_POS: u16 = 0x0000;
pub(super) const NUMERIC_NEG: u16 = 0x4000;
pub(super) const NUMERIC_NAN: u16 = 0xC000;
pub(super) const NUMERIC_PINF: u16 = 0xD000;
pub(super) const NUMERIC_NINF: u16 = 0xF000;
/// Largest display scale the format can carry.
const NUMERIC_DSCALE_MAX: u16 = 0x3FFF;

/// Decodes base-10000 numeric digits into PostgreSQL's exact text form, mirroring
/// `get_str_from_var`: the declared display scale is kept (`1.500`), digits beyond it dropped.
pub(super) fn decode_numeric(ty: &Type, raw: &[u8]) -> Result<String, CodecError> {
    let mut s = String::new();
    decode_numeric_into(ty, raw, &mut s)?;
    Ok(s)
}

/// [`decode_numeric`] into a caller's buffer (cleared first), so a column of numerics can
/// reuse one allocation.
pub(super) fn decode_numeric_into(ty: &Type, raw: &[u8], s: &mut String) -> Result<(), CodecError> {
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
pub(super) fn encode_numeric_int(x: i128, out: &mut BytesMut) {
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
pub(super) fn encode_numeric_text(
    text: &str,
    ty: &Type,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
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
