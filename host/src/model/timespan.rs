//! ADF timespans: `[d.]hh:mm:ss[.fffffff]` (e.g. `00:30:00`, `7.00:00:00`).

use std::time::Duration;

/// The most days a .NET `TimeSpan` (ADF's type) holds: 10675199.02:48:05.4775807.
const MAX_DAYS: u64 = 10_675_199;

/// Parses a timespan; the error says what form is expected.
pub fn parse_timespan(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{text:?} is not a timespan; expected [d.]hh:mm:ss such as 00:30:00 or 1.00:00:00")
    };
    let t = text.trim();
    let (days, rest) = match t.split_once(':') {
        Some((head, _)) if head.contains('.') => {
            let (d, _) = head.split_once('.').ok_or_else(bad)?;
            (d.parse::<u64>().map_err(|_| bad())?, &t[d.len() + 1..])
        }
        Some(_) => (0, t),
        None => return Err(bad()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return Err(bad());
    };
    if days > MAX_DAYS {
        return Err(format!(
            "{text:?} is longer than a timespan can be ({MAX_DAYS} days at most)"
        ));
    }
    let hours: u64 = h.parse().map_err(|_| bad())?;
    let minutes: u64 = m.parse().map_err(|_| bad())?;
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let seconds: u64 = whole.parse().map_err(|_| bad())?;
    if hours > 23
        || minutes > 59
        || seconds > 59
        || h.len() != 2
        || m.len() != 2
        || whole.len() != 2
    {
        return Err(bad());
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        format!("{frac:0<9}").parse::<u32>().map_err(|_| bad())?
    };
    Ok(Duration::new(
        ((days * 24 + hours) * 60 + minutes) * 60 + seconds,
        nanos,
    ))
}

/// Formats a duration as a timespan, for messages.
pub fn format_timespan(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    if days > 0 {
        format!("{days}.{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_adf_forms() {
        assert_eq!(parse_timespan("00:00:30"), Ok(Duration::from_secs(30)));
        assert_eq!(
            parse_timespan("7.00:00:00"),
            Ok(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(
            parse_timespan("02:00:00.5"),
            Ok(Duration::from_millis(7_200_500))
        );
        for bad in [
            "30",
            "00:60:00",
            "1:00:00",
            "x.00:00:00",
            "00:00:00.1234567890",
            "",
        ] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
        assert_eq!(format_timespan(Duration::from_secs(90_061)), "1.01:01:01");
    }

    #[test]
    fn days_beyond_a_dotnet_timespan_are_refused_not_wrapped() {
        // 2^57 days times 86,400 s wraps a u64 to about one second.
        let e = parse_timespan("144115188075855872.00:00:01").unwrap_err();
        assert!(e.contains("10675199 days at most"), "{e}");
        assert_eq!(
            parse_timespan("10675199.00:00:00"),
            Ok(Duration::from_secs(10_675_199 * 86_400))
        );
    }
}
