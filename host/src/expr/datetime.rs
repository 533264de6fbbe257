//! Timestamps as ADF's date functions see them: parsing the usual textual forms, .NET's standard
//! and custom format strings (en-US names). Time zones are [`super::timezone`]'s.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// Whether the timestamp is known to be UTC (`Z`, printed by `K` and `o`) or is a wall-clock
/// time without a zone (what the time zone conversions return, as in .NET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Utc,
    Unspecified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub dt: NaiveDateTime,
    pub kind: Kind,
}

pub(super) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
pub(super) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// .NET ticks (100 ns) from 0001-01-01 to 1970-01-01.
const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

impl Stamp {
    pub(crate) fn utc(dt: NaiveDateTime) -> Self {
        Stamp {
            dt,
            kind: Kind::Utc,
        }
    }

    /// The `o` format, ADF's default: `2018-03-15T13:00:00.0000000Z`.
    pub(crate) fn format_default(&self) -> String {
        format_custom(self, "yyyy-MM-ddTHH:mm:ss.fffffffK").unwrap_or_default()
    }

    /// .NET ticks of the wall-clock time.
    pub(crate) fn ticks(&self) -> i64 {
        let t = self.dt.and_utc();
        UNIX_EPOCH_TICKS + t.timestamp() * 10_000_000 + i64::from(t.timestamp_subsec_nanos() / 100)
    }

    /// Formats with a .NET standard (one letter) or custom format string; `None` means `o`.
    pub(crate) fn format(&self, fmt: Option<&str>) -> Result<String, String> {
        let fmt = match fmt {
            None | Some("") => return Ok(self.format_default()),
            Some(f) => f,
        };
        let mut chars = fmt.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            let pattern = standard_pattern(c).ok_or_else(|| {
                format!(
                    "'{fmt}' is not a standard date and time format (d, D, f, F, g, G, M, o, R, s, t, T, u, U, Y)"
                )
            })?;
            return format_custom(self, pattern);
        }
        format_custom(self, fmt)
    }

    /// Parses the textual forms ADF accepts: ISO 8601 (`2018-03-15`, `2018-03-15T13:00:00Z`,
    /// `2018-03-15 13:00:00.123+02:00`), US (`03/15/2018 1:00:00 PM`) and RFC 1123
    /// (`Thu, 15 Mar 2018 13:00:00 GMT`). A time with an offset is converted to UTC.
    pub(crate) fn parse(s: &str) -> Option<Stamp> {
        let mut c = Cursor {
            b: s.trim().as_bytes(),
            i: 0,
        };
        let date = c
            .iso_date()
            .or_else(|| c.us_date())
            .or_else(|| c.rfc1123_date())?;
        let mut time = NaiveTime::MIN;
        if c.eat(b'T') || c.eat(b' ') {
            c.skip_spaces();
            time = c.time()?;
        }
        let mut dt = date.and_time(time);
        c.skip_spaces();
        let kind = if c.done() {
            Kind::Unspecified
        } else if c.eat(b'Z') || c.eat(b'z') || c.eat_word("GMT") || c.eat_word("UTC") {
            Kind::Utc
        } else {
            let sign = if c.eat(b'+') {
                1
            } else if c.eat(b'-') {
                -1
            } else {
                return None;
            };
            let h = c.digits(1, 2)?;
            c.eat(b':');
            let m = if c.done() { 0 } else { c.digits(2, 2)? };
            if h > 14 || m > 59 {
                return None;
            }
            dt -= Duration::minutes(sign * (h * 60 + m));
            Kind::Utc
        };
        c.skip_spaces();
        c.done().then_some(Stamp { dt, kind })
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.i >= self.b.len()
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_word(&mut self, w: &str) -> bool {
        let end = self.i + w.len();
        if end <= self.b.len() && self.b[self.i..end].eq_ignore_ascii_case(w.as_bytes()) {
            self.i = end;
            true
        } else {
            false
        }
    }
    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.i;
        while self.i - start < max && self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i - start < min {
            self.i = start;
            return None;
        }
        std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()
    }
    fn iso_date(&mut self) -> Option<NaiveDate> {
        let start = self.i;
        let r = (|| {
            let y = self.digits(4, 4)?;
            if !self.eat(b'-') {
                return None;
            }
            let m = self.digits(1, 2)?;
            if !self.eat(b'-') {
                return None;
            }
            let d = self.digits(1, 2)?;
            NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)
        })();
        if r.is_none() {
            self.i = start;
        }
        r
    }
    fn us_date(&mut self) -> Option<NaiveDate> {
        let start = self.i;
        let r = (|| {
            let m = self.digits(1, 2)?;
            if !self.eat(b'/') {
                return None;
            }
            let d = self.digits(1, 2)?;
            if !self.eat(b'/') {
                return None;
            }
            let y = self.digits(4, 4)?;
            NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)
        })();
        if r.is_none() {
            self.i = start;
        }
        r
    }
    /// `Thu, 15 Mar 2018` (the weekday is optional and not checked).
    fn rfc1123_date(&mut self) -> Option<NaiveDate> {
        let start = self.i;
        let r = (|| {
            if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 3;
                if !self.eat(b',') {
                    return None;
                }
                self.skip_spaces();
            }
            let d = self.digits(1, 2)?;
            self.skip_spaces();
            let m = MONTHS.iter().position(|name| self.eat_word(&name[..3]))?;
            self.skip_spaces();
            let y = self.digits(4, 4)?;
            NaiveDate::from_ymd_opt(y as i32, m as u32 + 1, d as u32)
        })();
        if r.is_none() {
            self.i = start;
        }
        r
    }
    fn time(&mut self) -> Option<NaiveTime> {
        let mut h = self.digits(1, 2)?;
        if !self.eat(b':') {
            return None;
        }
        let m = self.digits(2, 2)?;
        let mut s = 0;
        let mut nanos = 0i64;
        if self.eat(b':') {
            s = self.digits(2, 2)?;
            if self.eat(b'.') || self.eat(b',') {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let frac = std::str::from_utf8(&self.b[start..self.i]).ok()?;
                if frac.is_empty() {
                    return None;
                }
                let nine: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
                nanos = nine.parse().ok()?;
            }
        }
        let save = self.i;
        self.skip_spaces();
        if self.eat_word("AM") {
            if !(1..=12).contains(&h) {
                return None;
            }
            if h == 12 {
                h = 0;
            }
        } else if self.eat_word("PM") {
            if !(1..=12).contains(&h) {
                return None;
            }
            if h != 12 {
                h += 12;
            }
        } else {
            self.i = save;
        }
        NaiveTime::from_hms_nano_opt(h as u32, m as u32, s as u32, nanos as u32)
    }
}

/// The custom pattern a .NET standard (one letter) date and time format stands for, with the
/// invariant culture's patterns (en-US names).
pub(super) fn standard_pattern(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => "M/d/yyyy",
        'D' => "dddd, MMMM d, yyyy",
        'f' => "dddd, MMMM d, yyyy h:mm tt",
        'F' => "dddd, MMMM d, yyyy h:mm:ss tt",
        'g' => "M/d/yyyy h:mm tt",
        'G' => "M/d/yyyy h:mm:ss tt",
        'm' | 'M' => "MMMM d",
        'o' | 'O' => "yyyy-MM-ddTHH:mm:ss.fffffffK",
        'r' | 'R' => "ddd, dd MMM yyyy HH:mm:ss 'GMT'",
        's' => "yyyy-MM-ddTHH:mm:ss",
        't' => "h:mm tt",
        'T' => "h:mm:ss tt",
        'u' => "yyyy-MM-dd HH:mm:ss'Z'",
        'U' => "dddd, MMMM d, yyyy h:mm:ss tt",
        'y' | 'Y' => "MMMM yyyy",
        _ => return None,
    })
}

/// Formats with a .NET custom date and time format string.
fn format_custom(st: &Stamp, fmt: &str) -> Result<String, String> {
    let dt = st.dt;
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let bad = |what: &str| {
        Err(format!(
            "'{fmt}' is not a valid date and time format: {what}"
        ))
    };
    while i < chars.len() {
        let c = chars[i];
        let mut n = run_length(&chars, i);
        match c {
            'd' => match n {
                1 => out.push_str(&dt.day().to_string()),
                2 => out.push_str(&format!("{:02}", dt.day())),
                3 => out.push_str(&DAYS[dt.weekday().num_days_from_sunday() as usize][..3]),
                _ => out.push_str(DAYS[dt.weekday().num_days_from_sunday() as usize]),
            },
            'f' | 'F' => {
                if n > 7 {
                    return bad("more than 7 fraction digits");
                }
                let digits = format!("{:09}", dt.nanosecond() % 1_000_000_000);
                let mut part = digits[..n].to_string();
                if c == 'F' {
                    part = part.trim_end_matches('0').to_string();
                    if part.is_empty() && out.ends_with('.') {
                        out.pop();
                    }
                }
                out.push_str(&part);
            }
            'g' => out.push_str("A.D."),
            'h' => {
                let h = match dt.hour() % 12 {
                    0 => 12,
                    h => h,
                };
                out.push_str(&if n == 1 {
                    h.to_string()
                } else {
                    format!("{h:02}")
                });
            }
            'H' => out.push_str(&if n == 1 {
                dt.hour().to_string()
            } else {
                format!("{:02}", dt.hour())
            }),
            'K' => {
                if st.kind == Kind::Utc {
                    out.push('Z');
                }
                n = 1.min(n);
            }
            'm' => out.push_str(&if n == 1 {
                dt.minute().to_string()
            } else {
                format!("{:02}", dt.minute())
            }),
            'M' => match n {
                1 => out.push_str(&dt.month().to_string()),
                2 => out.push_str(&format!("{:02}", dt.month())),
                3 => out.push_str(&MONTHS[dt.month0() as usize][..3]),
                _ => out.push_str(MONTHS[dt.month0() as usize]),
            },
            's' => out.push_str(&if n == 1 {
                dt.second().to_string()
            } else {
                format!("{:02}", dt.second())
            }),
            't' => {
                let ampm = if dt.hour() < 12 { "AM" } else { "PM" };
                out.push_str(if n == 1 { &ampm[..1] } else { ampm });
            }
            'y' => {
                let y = dt.year();
                out.push_str(&match n {
                    1 => (y % 100).to_string(),
                    2 => format!("{:02}", y % 100),
                    n => format!("{y:0n$}"),
                });
            }
            'z' => {
                // Without a zone the offset is the server's, and ADF's servers run in UTC.
                out.push_str(match n {
                    1 => "+0",
                    2 => "+00",
                    _ => "+00:00",
                });
            }
            '\'' | '"' => {
                let close = chars[i + 1..].iter().position(|&x| x == c).ok_or_else(|| {
                    format!("'{fmt}' is not a valid date and time format: unterminated quote")
                })?;
                out.extend(&chars[i + 1..i + 1 + close]);
                n = close + 2;
            }
            '\\' => {
                match chars.get(i + 1) {
                    Some(&x) => out.push(x),
                    None => return bad("it ends with '\\'"),
                }
                n = 2;
            }
            '%' => {
                // `%d` uses one custom specifier on its own; the specifier follows.
                n = 1;
            }
            other => {
                out.extend(std::iter::repeat_n(other, n));
            }
        }
        i += n;
    }
    Ok(out)
}

/// How many times the format character at `chars[i]` repeats from `i` (.NET custom formats
/// read `yyyy`, `MM`, `fff` ... as one specifier of that length).
pub(super) fn run_length(chars: &[char], i: usize) -> usize {
    let c = chars[i];
    chars[i..].iter().take_while(|&&x| x == c).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Stamp {
        Stamp::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            p("2018-03-15T13:00:00Z").format_default(),
            "2018-03-15T13:00:00.0000000Z"
        );
        assert_eq!(
            p("2018-03-15").format_default(),
            "2018-03-15T00:00:00.0000000"
        );
        assert_eq!(
            p("2018-03-15 13:00:00.1234567891+02:00").format_default(),
            "2018-03-15T11:00:00.1234567Z"
        );
        assert_eq!(
            p("03/15/2018 1:05:00 PM").format(Some("s")).unwrap(),
            "2018-03-15T13:05:00"
        );
        assert_eq!(
            p("3/5/2018 12:00 AM").format(Some("s")).unwrap(),
            "2018-03-05T00:00:00"
        );
        assert_eq!(
            p("Thu, 15 Mar 2018 13:00:00 GMT").format_default(),
            "2018-03-15T13:00:00.0000000Z"
        );
        assert_eq!(
            p("2018-03-15T13:00Z").format(Some("u")).unwrap(),
            "2018-03-15 13:00:00Z"
        );
        for bad in [
            "",
            "2018-13-01",
            "2018-02-30",
            "hello",
            "2018-03-15T25:00:00",
            "2018-03-15X",
        ] {
            assert!(Stamp::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn formats_like_dotnet() {
        let s = p("2009-06-15T13:45:30.6175425Z");
        let f = |fmt: &str| s.format(Some(fmt)).unwrap();
        assert_eq!(f("d"), "6/15/2009");
        assert_eq!(f("D"), "Monday, June 15, 2009");
        assert_eq!(f("f"), "Monday, June 15, 2009 1:45 PM");
        assert_eq!(f("F"), "Monday, June 15, 2009 1:45:30 PM");
        assert_eq!(f("g"), "6/15/2009 1:45 PM");
        assert_eq!(f("G"), "6/15/2009 1:45:30 PM");
        assert_eq!(f("M"), "June 15");
        assert_eq!(f("o"), "2009-06-15T13:45:30.6175425Z");
        assert_eq!(f("R"), "Mon, 15 Jun 2009 13:45:30 GMT");
        assert_eq!(f("s"), "2009-06-15T13:45:30");
        assert_eq!(f("t"), "1:45 PM");
        assert_eq!(f("T"), "1:45:30 PM");
        assert_eq!(f("u"), "2009-06-15 13:45:30Z");
        assert_eq!(f("Y"), "June 2009");
        assert_eq!(f("yyyy-MM-dd HH:mm:ss.fff"), "2009-06-15 13:45:30.617");
        assert_eq!(f("yy yyy yyyyy y"), "09 2009 02009 9");
        assert_eq!(f("ddd dd d MMM M h hh tt t"), "Mon 15 15 Jun 6 1 01 PM P");
        assert_eq!(f("HH:mm:ss.FFFFFFF zzz K"), "13:45:30.6175425 +00:00 Z");
        assert_eq!(f("'Date:' yyyy\\y \"q\" %d"), "Date: 2009y q 15");
        assert_eq!(f("yyyyMMddTHHmmss"), "20090615T134530");
        let whole = p("2009-06-15T13:45:30Z");
        assert_eq!(whole.format(Some("HH:mm:ss.FFF")).unwrap(), "13:45:30");
        assert!(s.format(Some("q")).is_err());
        assert!(s.format(Some("ffffffff")).is_err());
        assert!(s.format(Some("'open")).is_err());
    }

    #[test]
    fn ticks_match_dotnet() {
        assert_eq!(p("0001-01-01T00:00:00Z").ticks(), 0);
        assert_eq!(p("2018-03-15T13:00:00Z").ticks(), 636_567_156_000_000_000);
    }
}
