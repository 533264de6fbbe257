//! A small exact decimal (`i128` mantissa, base-10 scale) for numeric text.
//!
//! `numeric` values travel as text so no precision is lost; plugins that compare or compute
//! with them (filters, unit conversions) need exact arithmetic rather than `f64`, which
//! silently rounds past 15-17 digits. 38 significant digits cover the values such plugins
//! meet; beyond that operations return `None` and the caller decides (fall back to `f64`,
//! reject the row). `NaN` and infinities are not decimals: `parse` returns `None`.

use std::cmp::Ordering;
use std::fmt;

/// `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Decimal {
    pub fn new(mantissa: i128, scale: u32) -> Decimal {
        Decimal { mantissa, scale }
    }

    pub fn mantissa(self) -> i128 {
        self.mantissa
    }

    pub fn scale(self) -> u32 {
        self.scale
    }

    /// Parses `-12.340`, `+3`, `.5`, `1e3`, `1.5E-2`; `None` for anything else (including
    /// `NaN`, `Infinity`) or more than 38 digits.
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mant, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            if !b.is_ascii_digit() {
                return None;
            }
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(b - b'0'))?;
        }
        let scale = i64::try_from(frac_part.len()).ok()?.checked_sub(exp)?;
        let (mantissa, scale) = if scale < 0 {
            let up = pow10(u32::try_from(-scale).ok()?)?;
            (mantissa.checked_mul(up)?, 0)
        } else {
            (mantissa, u32::try_from(scale).ok()?)
        };
        Some(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale,
        })
    }

    /// Both values with the larger of the two scales.
    fn aligned(self, other: Decimal) -> Option<(i128, i128, u32)> {
        let scale = self.scale.max(other.scale);
        let a = self.mantissa.checked_mul(pow10(scale - self.scale)?)?;
        let b = other.mantissa.checked_mul(pow10(scale - other.scale)?)?;
        Some((a, b, scale))
    }

    /// Exact comparison; `None` only when aligning the scales overflows.
    pub fn compare(self, other: Decimal) -> Option<Ordering> {
        if (self.mantissa < 0) != (other.mantissa < 0) {
            return Some(self.mantissa.cmp(&other.mantissa));
        }
        self.aligned(other).map(|(a, b, _)| a.cmp(&b))
    }

    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Some(Decimal {
            mantissa: a.checked_add(b)?,
            scale,
        })
    }

    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        Some(Decimal {
            mantissa: self.mantissa.checked_mul(other.mantissa)?,
            scale: self.scale.checked_add(other.scale)?,
        })
    }

    /// Rounds to `scale` digits after the point, halves away from zero (as PostgreSQL does).
    pub fn round(self, scale: u32) -> Option<Decimal> {
        if scale >= self.scale {
            return Some(Decimal {
                mantissa: self.mantissa.checked_mul(pow10(scale - self.scale)?)?,
                scale,
            });
        }
        let div = pow10(self.scale - scale)?;
        let q = self.mantissa / div;
        let r = self.mantissa % div;
        let q = if r.unsigned_abs() * 2 >= div.unsigned_abs() {
            q + self.mantissa.signum()
        } else {
            q
        };
        Some(Decimal { mantissa: q, scale })
    }

    /// The value rounded to an integer, if it fits `i64`.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.round(0)?.mantissa).ok()
    }

    pub fn to_f64(self) -> f64 {
        // Through text: exact parsing gives the nearest f64.
        self.to_string().parse().unwrap_or(f64::NAN)
    }
}

impl From<i64> for Decimal {
    fn from(i: i64) -> Decimal {
        Decimal {
            mantissa: i.into(),
            scale: 0,
        }
    }
}

impl fmt::Display for Decimal {
    /// PostgreSQL's numeric text: digits, `-` when negative, exactly `scale` decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if self.mantissa < 0 {
            f.write_str("-")?;
        }
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() > scale {
            let (i, frac) = digits.split_at(digits.len() - scale);
            write!(f, "{i}.{frac}")
        } else {
            write!(f, "0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints() {
        for (input, text) in [
            ("-12.340", "-12.340"),
            ("+3", "3"),
            (".5", "0.5"),
            ("1e3", "1000"),
            ("1.5E-2", "0.015"),
            ("-0.001", "-0.001"),
            (
                "12345678901234567890.123456789",
                "12345678901234567890.123456789",
            ),
        ] {
            assert_eq!(d(input).to_string(), text, "{input}");
        }
        for bad in [
            "", "-", ".", "NaN", "Infinity", "1.2.3", "1e", "12a", "1e99",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn compares_exactly() {
        assert_eq!(d("1.0").compare(d("1")), Some(Ordering::Equal));
        assert_eq!(d("-2").compare(d("1.5")), Some(Ordering::Less));
        assert_eq!(
            d("12345678901234567.89").compare(d("12345678901234567.88")),
            Some(Ordering::Greater)
        );
        assert_eq!(d("-1.01").compare(d("-1.1")), Some(Ordering::Greater));
    }

    #[test]
    fn arithmetic_and_rounding() {
        assert_eq!(
            d("12.345").checked_mul(d("100")).unwrap().to_i64(),
            Some(1235)
        );
        assert_eq!(
            d("-12.345").checked_mul(d("100")).unwrap().to_i64(),
            Some(-1235)
        );
        assert_eq!(d("0.1").checked_add(d("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(d("2.5").round(0).unwrap().to_string(), "3");
        assert_eq!(d("1.2").round(3).unwrap().to_string(), "1.200");
        assert_eq!(d("0.125").to_f64(), 0.125);
    }
}
