//! The translator's type conversion (`typeConversion: true` with `typeConversionSettings`):
//! the last row stage before a typed sink, turning source values (mostly text read from
//! files) into the text PostgreSQL reads for each sink column's type: dates and times laid
//! out with a .NET format (`dateFormat`, `dateTimeFormat`, `dateTimeOffsetFormat`,
//! `timeFormat`, `timeSpanFormat`), numbers written with a culture's separators (`culture`),
//! booleans as numbers (`treatBooleanAsNumber`) and strings longer than a `varchar(n)` /
//! `char(n)` column (`allowDataTruncation`).
//!
//! Reference: ADF's "Schema and data type mapping in copy activity", section "Data type
//! conversion settings". Values the settings do not concern pass unchanged, and PostgreSQL's
//! own input rules apply to them as without the settings.

use chrono::{Duration, NaiveDateTime};

use crate::expr::datetime_parse::{parse_exact, parse_timespan};
use crate::model::copy::TypeConversion;
use crate::stores::skip_log::SkipLog;
use crate::types::batch::Batch;
use crate::types::schema::SchemaRef;
use crate::types::value::Value;

/// The stage name converted-away rows are recorded under in the [`SkipLog`].
pub const OPERATION: &str = "typeConversion";

/// Where the settings are, for messages.
const AT: &str = "translator.typeConversionSettings";

/// What one sink column needs.
#[derive(Debug, Clone, PartialEq)]
enum Column {
    /// Nothing the settings change.
    Keep,
    /// `varchar(n)` / `char(n)`: at most `n` characters.
    Length(usize),
    Date,
    Timestamp,
    TimestampTz,
    Time,
    Interval,
    /// Integer, numeric and floating-point columns.
    Number,
    Bool,
}

/// The conversion of one copy: a plan per sink column.
pub struct Conversion {
    settings: TypeConversion,
    columns: Vec<Column>,
    names: Vec<String>,
    sql_types: Vec<String>,
    schema: SchemaRef,
    /// Rows seen so far, to number rows in messages.
    rows: u64,
    /// With `enableSkipIncompatibleRow`: rows that do not convert are recorded and dropped.
    skips: Option<SkipLog>,
}

impl Conversion {
    /// The conversion into a sink whose columns have the PostgreSQL types `sql_types` (as
    /// `format_type` spells them), for rows of `schema`; `None` when no column needs one.
    pub fn build(
        settings: &TypeConversion,
        schema: &SchemaRef,
        sql_types: &[String],
        skips: Option<SkipLog>,
    ) -> Option<Conversion> {
        let columns: Vec<Column> = sql_types.iter().map(|t| column(settings, t)).collect();
        if columns.iter().all(|c| *c == Column::Keep) {
            return None;
        }
        Some(Conversion {
            settings: settings.clone(),
            columns,
            names: schema.names().map(str::to_string).collect(),
            sql_types: sql_types.to_vec(),
            schema: schema.clone(),
            rows: 0,
            skips,
        })
    }

    /// Converts every row of `batch`; a value that does not convert fails the copy with a
    /// message naming the setting, the row and the column (or, when skipping, drops the row).
    pub fn apply(&mut self, batch: Batch) -> Result<Batch, String> {
        let mut out = Batch::with_capacity(self.schema.clone(), batch.num_rows());
        out.bytes = batch.bytes;
        for row in batch.rows() {
            self.rows += 1;
            let mut converted = Vec::with_capacity(row.len());
            let mut failed = None;
            for (i, v) in row.iter().enumerate() {
                let kind = self.columns.get(i).unwrap_or(&Column::Keep);
                match self.value(kind, i, v) {
                    Ok(v) => converted.push(v),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match (failed, &self.skips) {
                (None, _) => out.push_row(converted),
                (Some(e), Some(skips)) => skips.record(
                    OPERATION,
                    &crate::stores::postgres::bisect::render_values(row),
                    &e,
                ),
                (Some(e), None) => {
                    return Err(format!(
                        "{e}; set enableSkipIncompatibleRow to skip such rows"
                    ))
                }
            }
        }
        Ok(out)
    }

    fn value(&self, kind: &Column, i: usize, v: &Value) -> Result<Value, String> {
        let s = &self.settings;
        let fail = |setting: &str, reason: String| {
            let column = self.names.get(i).map_or("?", String::as_str);
            format!(
                "{AT}.{setting}: row {}, column \"{column}\": {reason}",
                self.rows
            )
        };
        let text = match v {
            Value::Text(t) => t.as_str(),
            Value::Bool(b) if *kind == Column::Number && s.treat_boolean_as_number => {
                return Ok(Value::Text(if *b { "1" } else { "0" }.into()))
            }
            Value::Int16(_) | Value::Int32(_) | Value::Int64(_)
                if *kind == Column::Bool && s.treat_boolean_as_number =>
            {
                let zero = matches!(v, Value::Int16(0) | Value::Int32(0) | Value::Int64(0));
                return Ok(Value::Text(if zero { "false" } else { "true" }.into()));
            }
            _ => return Ok(v.clone()),
        };
        let formatted = |setting: &str,
                         fmt: &Option<String>|
         -> Result<Option<(NaiveDateTime, Option<i32>)>, String> {
            match fmt {
                None => Ok(None),
                Some(f) => parse_exact(text, f)
                    .map(|p| Some((p.dt, p.offset_secs)))
                    .map_err(|e| fail(setting, format!("{text:?} does not match \"{f}\": {e}"))),
            }
        };
        let out = match kind {
            Column::Keep => return Ok(v.clone()),
            Column::Length(n) => {
                let len = text.chars().count();
                if len <= *n {
                    return Ok(v.clone());
                }
                if !s.allow_data_truncation {
                    return Err(fail(
                        "allowDataTruncation",
                        format!(
                            "the text is {len} characters long, longer than the column's {} (allowDataTruncation is false)",
                            self.sql_types.get(i).map_or("type", String::as_str)
                        ),
                    ));
                }
                text.chars().take(*n).collect()
            }
            Column::Date => {
                let (setting, fmt) = match &s.date_format {
                    Some(_) => ("dateFormat", &s.date_format),
                    None => ("dateTimeFormat", &s.date_time_format),
                };
                match formatted(setting, fmt)? {
                    Some((dt, _)) => dt.format("%Y-%m-%d").to_string(),
                    None => return Ok(v.clone()),
                }
            }
            Column::Timestamp => match formatted("dateTimeFormat", &s.date_time_format)? {
                // An offset in the text moves the time to UTC, the zone ADF's servers run in.
                Some((dt, offset)) => {
                    let dt = dt - Duration::seconds(i64::from(offset.unwrap_or(0)));
                    dt.format("%Y-%m-%d %H:%M:%S%.f").to_string()
                }
                None => return Ok(v.clone()),
            },
            Column::TimestampTz => {
                let (setting, fmt) = match &s.date_time_offset_format {
                    Some(_) => ("dateTimeOffsetFormat", &s.date_time_offset_format),
                    None => ("dateTimeFormat", &s.date_time_format),
                };
                match formatted(setting, fmt)? {
                    // Without an offset in the text the time is UTC.
                    Some((dt, offset)) => {
                        let off = offset.unwrap_or(0);
                        let sign = if off < 0 { '-' } else { '+' };
                        let a = off.unsigned_abs();
                        format!(
                            "{}{sign}{:02}:{:02}",
                            dt.format("%Y-%m-%d %H:%M:%S%.f"),
                            a / 3600,
                            a % 3600 / 60
                        )
                    }
                    None => return Ok(v.clone()),
                }
            }
            Column::Time => match formatted("timeFormat", &s.time_format)? {
                Some((dt, _)) => dt.format("%H:%M:%S%.f").to_string(),
                None => return Ok(v.clone()),
            },
            Column::Interval => match &s.time_span_format {
                Some(f) => {
                    let micros = parse_timespan(text, f).map_err(|e| {
                        fail(
                            "timeSpanFormat",
                            format!("{text:?} does not match \"{f}\": {e}"),
                        )
                    })?;
                    interval_text(micros)
                }
                None => return Ok(v.clone()),
            },
            Column::Number => {
                let trimmed = text.trim();
                if s.treat_boolean_as_number {
                    if trimmed.eq_ignore_ascii_case("true") {
                        return Ok(Value::Text("1".into()));
                    }
                    if trimmed.eq_ignore_ascii_case("false") {
                        return Ok(Value::Text("0".into()));
                    }
                }
                number_text(trimmed, s.culture.separators()).ok_or_else(|| {
                    fail(
                        "culture",
                        format!("{text:?} is not a number in the culture's notation"),
                    )
                })?
            }
            Column::Bool => {
                let trimmed = text.trim();
                match (s.treat_boolean_as_number, trimmed.parse::<f64>()) {
                    (true, Ok(n)) => if n != 0.0 { "true" } else { "false" }.to_string(),
                    _ => return Ok(v.clone()),
                }
            }
        };
        Ok(Value::Text(out))
    }
}

/// What a sink column of PostgreSQL type `sql_type` needs under `settings`.
fn column(settings: &TypeConversion, sql_type: &str) -> Column {
    let t = sql_type.trim().to_ascii_lowercase();
    // `timestamp(3) with time zone` -> `timestamp`, `numeric(10,2)` -> `numeric`.
    let base = t
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .trim_end_matches(" without time zone")
        .trim_end_matches(" with time zone");
    let length = || {
        t.split_once('(')
            .and_then(|(_, r)| r.split(')').next())
            .and_then(|n| n.trim().parse::<usize>().ok())
    };
    match base {
        "character varying" | "character" | "varchar" | "char" | "bpchar" => match length() {
            Some(n) if !t.ends_with("[]") => Column::Length(n),
            _ => Column::Keep,
        },
        "date" => Column::Date,
        "timestamp" if t.contains(" with time zone") => Column::TimestampTz,
        "timestamp" => Column::Timestamp,
        "time" if !t.contains(" with time zone") => Column::Time,
        "interval" => Column::Interval,
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision"
            if !t.ends_with("[]") =>
        {
            Column::Number
        }
        "boolean" if settings.treat_boolean_as_number => Column::Bool,
        _ => Column::Keep,
    }
}

/// A number written with `(decimal, groups)` separators, in PostgreSQL's notation (`.`
/// decimal point, no grouping); `None` when it is not one.
fn number_text(text: &str, (decimal, groups): (char, &[char])) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "nan" | "infinity" | "-infinity" | "+infinity"
    ) {
        return Some(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut seen_decimal = false;
    for c in text.chars() {
        if c == decimal && !seen_decimal {
            seen_decimal = true;
            out.push('.');
        } else if groups.contains(&c) && !seen_decimal {
            continue;
        } else if c.is_ascii_digit() || matches!(c, '-' | '+' | 'e' | 'E') {
            out.push(c);
        } else {
            return None;
        }
    }
    out.chars().any(|c| c.is_ascii_digit()).then_some(out)
}

/// Microseconds as PostgreSQL interval input: `[-]<days> days [-]hh:mm:ss.ffffff`.
fn interval_text(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let a = micros.unsigned_abs();
    let secs = a / 1_000_000;
    format!(
        "{sign}{} days {sign}{:02}:{:02}:{:02}.{:06}",
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
        a % 1_000_000
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::model::translator::Culture;

    #[test]
    fn numbers_in_cultures() {
        assert_eq!(
            number_text("1.234,5", Culture::German.separators()).as_deref(),
            Some("1234.5")
        );
        assert_eq!(
            number_text("1\u{a0}234,5", Culture::French.separators()).as_deref(),
            Some("1234.5")
        );
        assert_eq!(
            number_text("1,234.5", Culture::Invariant.separators()).as_deref(),
            Some("1234.5")
        );
        assert_eq!(number_text("12a", Culture::Invariant.separators()), None);
    }

    #[test]
    fn columns_from_sql_types() {
        let s = TypeConversion::default();
        assert_eq!(column(&s, "character varying(5)"), Column::Length(5));
        assert_eq!(column(&s, "character(3)"), Column::Length(3));
        assert_eq!(column(&s, "text"), Column::Keep);
        assert_eq!(
            column(&s, "timestamp(3) with time zone"),
            Column::TimestampTz
        );
        assert_eq!(column(&s, "timestamp without time zone"), Column::Timestamp);
        assert_eq!(column(&s, "time without time zone"), Column::Time);
        assert_eq!(column(&s, "numeric(10,2)"), Column::Number);
        assert_eq!(column(&s, "boolean"), Column::Keep);
    }

    #[test]
    fn intervals() {
        assert_eq!(interval_text(93_784_500_000), "1 days 02:03:04.500000");
        assert_eq!(interval_text(-1_000_000), "-0 days -00:00:01.000000");
    }
}
