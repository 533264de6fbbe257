//! Parsing text with a .NET date and time format string (`DateTime.ParseExact`, invariant
//! culture), the twin of the formatting in `datetime`, sharing its standard-format table and
//! month and day names. The Copy activity's `typeConversionSettings` (`dateTimeFormat`,
//! `dateFormat`, ...) describe how text in a file is laid out with such strings; so do ADF's
//! `timeSpanFormat`s, parsed by [`parse_timespan`].

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

use super::datetime::{run_length, standard_pattern, DAYS, MONTHS};

/// A parsed date and time, and the UTC offset in seconds when the text had one (`z`, `K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub dt: NaiveDateTime,
    pub offset_secs: Option<i32>,
}

/// Parses `text` with the .NET standard or custom format `fmt`; the error says where the text
/// stopped matching. Fields the format leaves out default as in .NET (date 0001-01-01 when
/// only a time is given, time midnight).
pub fn parse_exact(text: &str, fmt: &str) -> Result<Parsed, String> {
    let mut chars = fmt.chars();
    let pattern = match (chars.next(), chars.next()) {
        (Some(c), None) => standard_pattern(c)
            .ok_or_else(|| format!("'{fmt}' is not a standard date and time format"))?,
        _ => fmt,
    };
    let mut p = Parser {
        text: text.trim(),
        at: 0,
    };
    let f: Vec<char> = pattern.chars().collect();
    let (mut year, mut month, mut day) = (1i32, 1u32, 1u32);
    let (mut hour, mut minute, mut second, mut nanos) = (0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut i = 0;
    while i < f.len() {
        let c = f[i];
        let mut n = run_length(&f, i);
        match c {
            'd' if n <= 2 => day = p.number(n, 2, "day")? as u32,
            'd' => {
                let names: Vec<&str> = if n == 3 {
                    DAYS.iter().map(|d| &d[..3]).collect()
                } else {
                    DAYS.to_vec()
                };
                p.name(&names, "day name")?;
            }
            'M' if n <= 2 => month = p.number(n, 2, "month")? as u32,
            'M' => {
                let names: Vec<&str> = if n == 3 {
                    MONTHS.iter().map(|m| &m[..3]).collect()
                } else {
                    MONTHS.to_vec()
                };
                month = p.name(&names, "month name")? as u32 + 1;
            }
            'y' => {
                let (min, max) = match n {
                    1 => (1, 2),
                    2 => (2, 2),
                    n => (n, n.max(4)),
                };
                let y = p.number(min, max, "year")? as i32;
                // .NET's two-digit year window (TwoDigitYearMax 2049).
                year = if n <= 2 {
                    if y < 50 {
                        2000 + y
                    } else {
                        1900 + y
                    }
                } else {
                    y
                };
            }
            'h' | 'H' => hour = p.number(n.min(2), 2, "hour")? as u32,
            'm' => minute = p.number(n.min(2), 2, "minute")? as u32,
            's' => second = p.number(n.min(2), 2, "second")? as u32,
            'f' | 'F' => {
                if n > 7 {
                    return Err(format!("'{fmt}' has more than 7 fraction digits"));
                }
                let start = p.at;
                let min = if c == 'f' { n } else { 0 };
                let digits = p.digits(min, n, "fraction of a second")?;
                let len = p.at - start;
                nanos = (digits * 10u64.pow(9 - len as u32)) as u32;
            }
            't' => {
                let rest = p.rest().to_ascii_uppercase();
                let (is_pm, len) = if rest.starts_with("PM") && n > 1 {
                    (true, 2)
                } else if rest.starts_with("AM") && n > 1 {
                    (false, 2)
                } else if rest.starts_with('P') {
                    (true, 1)
                } else if rest.starts_with('A') {
                    (false, 1)
                } else {
                    return Err(p.expected("AM or PM"));
                };
                p.at += len;
                pm = Some(is_pm);
            }
            'z' => offset = Some(p.offset(n >= 3)?),
            'K' => {
                n = 1;
                if p.rest().starts_with('Z') {
                    p.at += 1;
                    offset = Some(0);
                } else if p.rest().starts_with(['+', '-']) {
                    offset = Some(p.offset(true)?);
                }
            }
            _ => n = p.verbatim(&f, i, fmt)?,
        }
        i += n;
    }
    p.finish(fmt)?;
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| format!("{year:04}-{month:02}-{day:02} is not a date"))?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| format!("{hour:02}:{minute:02}:{second:02} is not a time of day"))?;
    Ok(Parsed {
        dt: date.and_time(time),
        offset_secs: offset,
    })
}

/// A duration parsed with a .NET TimeSpan format (`c` / `g` standard forms
/// `[-][d.]hh:mm:ss[.fffffff]`, or custom specifiers `d`, `h`, `m`, `s`, `f`, `F` with any
/// other character matched literally): the total in microseconds.
pub fn parse_timespan(text: &str, fmt: &str) -> Result<i64, String> {
    let text = text.trim();
    if matches!(fmt, "c" | "t" | "T" | "g" | "G") {
        return standard_timespan(text).ok_or_else(|| {
            format!("{text:?} is not a time span in the form [-][d.]hh:mm:ss[.fffffff]")
        });
    }
    let mut p = Parser { text, at: 0 };
    let f: Vec<char> = fmt.chars().collect();
    let (mut days, mut hours, mut minutes, mut seconds, mut micros) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut i = 0;
    while i < f.len() {
        let c = f[i];
        let mut n = run_length(&f, i);
        match c {
            'd' => days = p.number(n, 8.max(n), "days")?,
            'h' => hours = p.number(n.min(2), 2, "hours")?,
            'm' => minutes = p.number(n.min(2), 2, "minutes")?,
            's' => seconds = p.number(n.min(2), 2, "seconds")?,
            'f' | 'F' => {
                let start = p.at;
                let digits = p.digits(if c == 'f' { n } else { 0 }, n.min(7), "fraction")?;
                let len = (p.at - start) as u32;
                micros = digits * 10u64.pow(9 - len) / 1000;
            }
            _ => n = p.verbatim(&f, i, fmt)?,
        }
        i += n;
    }
    p.finish(fmt)?;
    if hours > 23 || minutes > 59 || seconds > 59 {
        return Err(format!(
            "{text:?} has hours, minutes or seconds out of range"
        ));
    }
    let total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds;
    i64::try_from(total * 1_000_000 + micros)
        .map_err(|_| format!("{text:?} is too long a time span"))
}

/// `[-][d.]hh:mm:ss[.fffffff]` in microseconds.
fn standard_timespan(text: &str) -> Option<i64> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let (clock, fraction) = match body.split_once(':') {
        Some(_) => match body.rsplit_once('.') {
            Some((c, f)) if c.contains(':') && c.matches(':').count() == 2 => (c, Some(f)),
            _ => (body, None),
        },
        None => return None,
    };
    let (days, clock) = match clock.split_once('.') {
        Some((d, c)) => (d.parse::<i64>().ok()?, c),
        None => (0, clock),
    };
    let parts: Vec<i64> = clock
        .split(':')
        .map(|x| x.parse::<i64>().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [h, m] => (*h, *m, 0),
        _ => return None,
    };
    let micros = match fraction {
        Some(f) if !f.is_empty() && f.len() <= 7 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<6}")[..6].parse::<i64>().ok()?
        }
        Some(_) => return None,
        None => 0,
    };
    let total = (((days * 24 + h) * 60 + m) * 60 + s) * 1_000_000 + micros;
    Some(if neg { -total } else { total })
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    /// Matches the format characters at `f[i]` that stand for themselves (a quoted literal, a
    /// `\\`-escaped character, `%` before a one-letter custom format, any other character);
    /// returns how many format characters were used.
    fn verbatim(&mut self, f: &[char], i: usize, fmt: &str) -> Result<usize, String> {
        let c = f[i];
        match c {
            '\'' | '"' => {
                let close = f[i + 1..]
                    .iter()
                    .position(|&x| x == c)
                    .ok_or_else(|| format!("'{fmt}' has an unterminated quote"))?;
                let lit: String = f[i + 1..i + 1 + close].iter().collect();
                self.literal(&lit)?;
                Ok(close + 2)
            }
            '\\' => {
                let lit = f
                    .get(i + 1)
                    .ok_or_else(|| format!("'{fmt}' ends with '\\'"))?;
                self.literal(&lit.to_string())?;
                Ok(2)
            }
            '%' => Ok(1),
            other => {
                self.literal(&other.to_string())?;
                Ok(1)
            }
        }
    }

    /// Fails when text is left after the whole format was matched.
    fn finish(&self, fmt: &str) -> Result<(), String> {
        match self.rest() {
            "" => Ok(()),
            rest => Err(format!(
                "unexpected {rest:?} after the end of format '{fmt}'"
            )),
        }
    }

    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or("")
    }

    fn expected(&self, what: &str) -> String {
        if self.rest().is_empty() {
            format!("expected {what} at the end of the text")
        } else {
            format!("expected {what} at {:?}", self.rest())
        }
    }

    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize, what: &str) -> Result<u64, String> {
        let len = self
            .rest()
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if len < min {
            return Err(self.expected(what));
        }
        let v = self.rest()[..len].parse::<u64>().unwrap_or(0);
        self.at += len;
        Ok(v)
    }

    fn number(&mut self, min: usize, max: usize, what: &str) -> Result<u64, String> {
        self.digits(min.max(1), max, what)
    }

    /// One of `names` (case-insensitive); its index.
    fn name(&mut self, names: &[&str], what: &str) -> Result<usize, String> {
        let rest = self.rest();
        // Longest first, so "June" is not taken for "Jun".
        let mut best: Option<(usize, usize)> = None;
        for (i, n) in names.iter().enumerate() {
            if rest.len() >= n.len()
                && rest.is_char_boundary(n.len())
                && rest[..n.len()].eq_ignore_ascii_case(n)
                && best.is_none_or(|(_, l)| n.len() > l)
            {
                best = Some((i, n.len()));
            }
        }
        let (i, len) = best.ok_or_else(|| self.expected(what))?;
        self.at += len;
        Ok(i)
    }

    fn literal(&mut self, lit: &str) -> Result<(), String> {
        if self.rest().starts_with(lit) {
            self.at += lit.len();
            Ok(())
        } else {
            Err(self.expected(&format!("{lit:?}")))
        }
    }

    /// `+h`, `+hh` or (`full`) `+hh:mm`, in seconds east of UTC.
    fn offset(&mut self, full: bool) -> Result<i32, String> {
        let sign = match self.rest().as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(self.expected("a UTC offset such as +02:00")),
        };
        self.at += 1;
        let h = self.digits(1, 2, "offset hours")? as i32;
        let mut m = 0;
        if full || self.rest().starts_with(':') {
            self.literal(":")?;
            m = self.digits(2, 2, "offset minutes")? as i32;
        }
        Ok(sign * (h * 3600 + m * 60))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn custom_formats() {
        let p = parse_exact("31/12/2024 13:45", "dd/MM/yyyy HH:mm").unwrap();
        assert_eq!(p.dt, dt("2024-12-31 13:45:00"));
        assert_eq!(p.offset_secs, None);
        let p = parse_exact("3/7/24 1:05:09.25 PM", "M/d/yy h:mm:ss.FF tt").unwrap();
        assert_eq!(p.dt, dt("2024-03-07 13:05:09.25"));
        let p = parse_exact("Tue, 05 Mar 2024", "ddd, dd MMM yyyy").unwrap();
        assert_eq!(p.dt, dt("2024-03-05 00:00:00"));
        let p = parse_exact("2024-06-01 08:00:00 +02:00", "yyyy-MM-dd HH:mm:ss zzz").unwrap();
        assert_eq!(p.offset_secs, Some(7200));
        let p = parse_exact("June 2024", "Y").unwrap();
        assert_eq!(p.dt, dt("2024-06-01 00:00:00"));
        let p = parse_exact("20240102T0304", "yyyyMMdd'T'HHmm").unwrap();
        assert_eq!(p.dt, dt("2024-01-02 03:04:00"));
    }

    #[test]
    fn mismatches_say_where() {
        let e = parse_exact("2024-12-31", "dd/MM/yyyy").unwrap_err();
        assert!(e.contains("\"/\""), "{e}");
        let e = parse_exact("31/02/2024", "dd/MM/yyyy").unwrap_err();
        assert!(e.contains("not a date"), "{e}");
        let e = parse_exact("31/12/2024 x", "dd/MM/yyyy").unwrap_err();
        assert!(e.contains("unexpected"), "{e}");
    }

    #[test]
    fn timespans() {
        assert_eq!(
            parse_timespan("1.02:03:04", "c").unwrap(),
            ((26 * 60 + 3) * 60 + 4) * 1_000_000
        );
        assert_eq!(
            parse_timespan("02.03:04:05", "dd.hh:mm:ss").unwrap(),
            (((2 * 24 + 3) * 60 + 4) * 60 + 5) * 1_000_000
        );
        assert_eq!(parse_timespan("00:00:01.5", "c").unwrap(), 1_500_000);
        assert!(parse_timespan("1:2", "hh\\:mm").is_err());
    }
}
