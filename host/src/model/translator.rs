//! The Copy activity's `translator` (`TabularTranslator`): explicit column mappings, by name
//! or by `ordinal` for delimited text without a header line, and `typeConversionSettings`,
//! read into plain settings. Applying them is the copy's job (`copy::mapping`,
//! `copy::conversion`).
//!
//! Reference: ADF's "Schema and data type mapping in copy activity" (translator -> mappings ->
//! source / sink take `name`, `ordinal` (1-based, for delimited text without a header line),
//! `path`, `type`; `typeConversion` turns on the conversion settings).

use super::error::ModelError;
use super::props::Props;

/// Which source column a mapping reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnRef {
    /// By name (exact, then case-insensitive when unambiguous).
    Name(String),
    /// By 1-based position (`ordinal`), for delimited text without a header line.
    Ordinal(usize),
}

/// One explicit column mapping of a `TabularTranslator`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub source: ColumnRef,
    /// The sink column's name (for a sink given by `ordinal`: `Prop_<ordinal - 1>`, ADF's
    /// name for a column of a file without a header line).
    pub sink: String,
    /// `translator.mappings[<i>]`, for run-time errors (which already name the activity).
    pub at: String,
}

/// A culture's number separators, for text read into numeric columns. Sluice knows the
/// cultures most factories use; others are refused when the factory is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Culture {
    /// The invariant culture and `en-US` (and other English cultures): `1,234.5`.
    #[default]
    Invariant,
    /// `de-DE`: `1.234,5`.
    German,
    /// `fr-FR`: `1 234,5` (space or no-break space groups).
    French,
}

impl Culture {
    /// The decimal separator and the group separators this culture writes.
    pub fn separators(&self) -> (char, &'static [char]) {
        match self {
            Culture::Invariant => ('.', &[',']),
            Culture::German => (',', &['.']),
            Culture::French => (',', &[' ', '\u{a0}', '\u{202f}']),
        }
    }
}

/// `typeConversionSettings` of a `TabularTranslator` with `typeConversion: true`: how text
/// read from a file becomes a typed sink value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypeConversion {
    /// `allowDataTruncation` (ADF's default: true): a text longer than a `varchar(n)` /
    /// `char(n)` column is cut to fit; false fails the row instead.
    pub allow_data_truncation: bool,
    /// `treatBooleanAsNumber`: a boolean source value written to a numeric column becomes
    /// 1 or 0, and `1` / `0` read into a boolean column become true / false.
    pub treat_boolean_as_number: bool,
    /// `dateFormat`: .NET format of text read into `date` columns.
    pub date_format: Option<String>,
    /// `dateTimeFormat`: .NET format of text read into `timestamp` (without time zone) columns.
    pub date_time_format: Option<String>,
    /// `dateTimeOffsetFormat`: .NET format of text read into `timestamptz` columns.
    pub date_time_offset_format: Option<String>,
    /// `timeFormat`: .NET format of text read into `time` columns.
    pub time_format: Option<String>,
    /// `timeSpanFormat`: .NET format of text read into `interval` columns.
    pub time_span_format: Option<String>,
    /// `culture`: number separators of text read into numeric columns.
    pub culture: Culture,
}

/// A resolved translator.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Translator {
    /// Explicit mappings; `None` maps by column name.
    pub mappings: Option<Vec<Mapping>>,
    /// `typeConversionSettings` when `typeConversion` is true.
    pub conversion: Option<TypeConversion>,
}

/// Reads `translator`. `sink_by_ordinal` says whether the sink is delimited text without a
/// header line (the only sink whose columns have positions but no names).
pub fn resolve(
    t: &Props<'_>,
    sink_by_ordinal: bool,
    warnings: &mut Vec<String>,
) -> Result<Translator, ModelError> {
    let ty = t.req_str("type")?;
    if ty != "TabularTranslator" {
        return Err(t.err(
            "type",
            format!("{ty:?} is not supported; use TabularTranslator"),
        ));
    }
    let enabled = t.bool("typeConversion")?.unwrap_or(false);
    let conversion = match t.object("typeConversionSettings")? {
        Some(s) if enabled => Some(type_conversion(&s)?),
        Some(s) => {
            warnings.push(format!(
                "{}: ignored because typeConversion is not true (set \"typeConversion\": true to apply it)",
                s.path
            ));
            None
        }
        None if enabled => Some(TypeConversion {
            allow_data_truncation: true,
            ..TypeConversion::default()
        }),
        None => None,
    };
    let mappings = match t.array("mappings")? {
        Some(items) => Some(mappings(t, items, sink_by_ordinal)?),
        None => None,
    };
    warnings.extend(t.unused());
    Ok(Translator {
        mappings,
        conversion,
    })
}

fn mappings(
    t: &Props<'_>,
    items: &[serde_json::Value],
    sink_by_ordinal: bool,
) -> Result<Vec<Mapping>, ModelError> {
    let mut out: Vec<(Mapping, Option<usize>)> = Vec::new();
    let mut first_by_ordinal: Option<bool> = None;
    for (i, item) in items.iter().enumerate() {
        let at = format!("translator.mappings[{i}]");
        let m = Props::of(format!("{}.mappings[{i}]", t.path), item)?;
        let source_p = m
            .object("source")?
            .ok_or_else(|| m.err("source", "is required"))?;
        let sink_p = m
            .object("sink")?
            .ok_or_else(|| m.err("sink", "is required"))?;
        let source = match (side_name(&source_p)?, ordinal(&source_p)?) {
            (_, Some(n)) => ColumnRef::Ordinal(n),
            (Some(name), None) => ColumnRef::Name(name),
            (None, None) => {
                return Err(source_p.err(
                    "name",
                    "is required (or ordinal, the 1-based column number, for delimited text without a header line)",
                ))
            }
        };
        let by_ordinal = matches!(source, ColumnRef::Ordinal(_));
        match first_by_ordinal {
            None => first_by_ordinal = Some(by_ordinal),
            Some(first) if first != by_ordinal => {
                let (this, other) = if by_ordinal {
                    ("ordinal", "name")
                } else {
                    ("name", "ordinal")
                };
                return Err(source_p.err(
                    this,
                    format!("mapping {i} selects its source column by {this} but mapping 0 selects by {other}: give every mapping's source the same kind (ordinal for delimited text without a header line, name otherwise)"),
                ));
            }
            Some(_) => {}
        }
        let sink_ordinal = ordinal(&sink_p)?;
        let sink_name = side_name(&sink_p)?;
        let sink = match (sink_name, sink_ordinal) {
            (Some(name), _) if !sink_by_ordinal => name,
            (_, Some(n)) => format!("Prop_{}", n - 1),
            (Some(name), None) => name,
            (None, None) => {
                return Err(sink_p.err(
                    "name",
                    if sink_by_ordinal {
                        "is required (or ordinal, the 1-based column number in the file)"
                    } else {
                        "is required"
                    },
                ))
            }
        };
        if sink_ordinal.is_some() && !sink_by_ordinal && side_name(&sink_p)?.is_none() {
            return Err(sink_p.err(
                "ordinal",
                "a sink column is chosen by ordinal only in delimited text without a header line; name the column",
            ));
        }
        for side in [&source_p, &sink_p] {
            for k in ["type", "physicalType", "culture", "format"] {
                side.accept(k);
            }
        }
        let unknown: Vec<String> = source_p
            .unused()
            .into_iter()
            .chain(sink_p.unused())
            .chain(m.unused())
            .collect();
        if !unknown.is_empty() {
            return Err(m.err(
                "",
                format!(
                    "unknown properties {} (a mapping's source and sink take name, ordinal, path, type)",
                    unknown.join(", ")
                ),
            ));
        }
        out.push((
            Mapping { source, sink, at },
            sink_ordinal.filter(|_| sink_by_ordinal),
        ));
    }
    // Sink ordinals place the columns: they must number them 1..n, each once.
    if sink_by_ordinal && out.iter().any(|(_, o)| o.is_some()) {
        let n = out.len();
        let mut seen = vec![false; n];
        for (i, (_, o)) in out.iter().enumerate() {
            let at = format!("{}.mappings[{i}].sink", t.path);
            match o {
                None => return Err(ModelError::invalid(&at, "ordinal", "is required when another mapping's sink has one: give every sink column its position")),
                Some(k) if *k > n => return Err(ModelError::invalid(&at, "ordinal", format!("{k} is out of range: {n} columns are mapped, so sink ordinals run from 1 to {n}"))),
                Some(k) if seen[k - 1] => return Err(ModelError::invalid(&at, "ordinal", format!("{k} is used by two mappings"))),
                Some(k) => seen[k - 1] = true,
            }
        }
        out.sort_by_key(|(_, o)| o.unwrap_or(0));
    }
    Ok(out.into_iter().map(|(m, _)| m).collect())
}

/// `name` (or a JSON `path` such as `$['col']`), trimmed of the path syntax.
fn side_name(side: &Props<'_>) -> Result<Option<String>, ModelError> {
    let name = match side.str("name")? {
        Some(n) => Some(n),
        None => side.str("path")?,
    };
    Ok(name.filter(|n| !n.is_empty()).map(|n| {
        n.trim_start_matches("$['")
            .trim_end_matches("']")
            .to_string()
    }))
}

/// `ordinal`: a 1-based column number.
fn ordinal(side: &Props<'_>) -> Result<Option<usize>, ModelError> {
    match side.int("ordinal")? {
        None => Ok(None),
        Some(n) if n >= 1 => Ok(Some(n as usize)),
        Some(n) => Err(side.err(
            "ordinal",
            format!("must be 1 or more (ordinals count columns from 1), found {n}"),
        )),
    }
}

fn type_conversion(s: &Props<'_>) -> Result<TypeConversion, ModelError> {
    let format = |key: &str| -> Result<Option<String>, ModelError> {
        Ok(s.str(key)?
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string))
    };
    let culture = match s.str("culture")?.map(str::trim) {
        None | Some("") => Culture::Invariant,
        Some(c) => match c.to_ascii_lowercase().as_str() {
            "invariant" | "en-us" | "en-gb" | "en" => Culture::Invariant,
            "de-de" | "de" | "de-at" => Culture::German,
            "fr-fr" | "fr" => Culture::French,
            _ => {
                return Err(s.err(
                    "culture",
                    format!("{c:?} is not supported; Sluice knows the invariant culture, en-US, en-GB, de-DE, de-AT and fr-FR"),
                ))
            }
        },
    };
    let out = TypeConversion {
        allow_data_truncation: s.bool("allowDataTruncation")?.unwrap_or(true),
        treat_boolean_as_number: s.bool("treatBooleanAsNumber")?.unwrap_or(false),
        date_format: format("dateFormat")?,
        date_time_format: format("dateTimeFormat")?,
        date_time_offset_format: format("dateTimeOffsetFormat")?,
        time_format: format("timeFormat")?,
        time_span_format: format("timeSpanFormat")?,
        culture,
    };
    let unknown = s.unused();
    if !unknown.is_empty() {
        return Err(s.err(
            "",
            format!(
                "unknown properties {} (typeConversionSettings takes allowDataTruncation, treatBooleanAsNumber, dateFormat, dateTimeFormat, dateTimeOffsetFormat, timeFormat, timeSpanFormat and culture)",
                unknown.join(", ")
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: serde_json::Value, sink_by_ordinal: bool) -> Result<Translator, ModelError> {
        let p = Props::of("pipeline 'P' activity 'C' typeProperties.translator", &v)?;
        resolve(&p, sink_by_ordinal, &mut Vec::new())
    }

    #[test]
    fn ordinals_and_names() {
        let t = read(
            json!({"type": "TabularTranslator", "mappings": [
                {"source": {"type": "String", "ordinal": 2}, "sink": {"name": "b"}},
                {"source": {"ordinal": "1"}, "sink": {"name": "a", "type": "Int32"}}
            ]}),
            false,
        )
        .unwrap();
        let m = t.mappings.unwrap();
        assert_eq!(m[0].source, ColumnRef::Ordinal(2));
        assert_eq!(m[1].source, ColumnRef::Ordinal(1));
        assert_eq!(m[1].sink, "a");
        assert_eq!(m[1].at, "translator.mappings[1]");
        assert!(t.conversion.is_none());
    }

    #[test]
    fn sink_ordinals_order_the_columns() {
        let t = read(
            json!({"type": "TabularTranslator", "mappings": [
                {"source": {"name": "x"}, "sink": {"ordinal": 2}},
                {"source": {"name": "y"}, "sink": {"ordinal": 1}}
            ]}),
            true,
        )
        .unwrap();
        let m = t.mappings.unwrap();
        assert_eq!(m[0].source, ColumnRef::Name("y".into()));
        assert_eq!(m[0].sink, "Prop_0");
        assert_eq!(m[1].sink, "Prop_1");
    }

    #[test]
    fn bad_mappings_name_the_index_and_property() {
        let e = read(
            json!({"type": "TabularTranslator", "mappings": [
                {"source": {"ordinal": 1}, "sink": {"name": "a"}},
                {"source": {"name": "b"}, "sink": {"name": "b"}}
            ]}),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mappings[1].source") && e.contains("'name'"),
            "{e}"
        );
        assert!(
            e.contains("mapping 1 selects") && e.contains("ordinal"),
            "{e}"
        );
        let e = read(
            json!({"type": "TabularTranslator", "mappings": [{"source": {"ordinal": 0}, "sink": {"name": "a"}}]}),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mappings[0].source") && e.contains("'ordinal'") && e.contains("1 or more"),
            "{e}"
        );
        let e = read(
            json!({"type": "TabularTranslator", "mappings": [
                {"source": {"name": "a"}, "sink": {"ordinal": 1}},
                {"source": {"name": "b"}, "sink": {"ordinal": 3}}
            ]}),
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mappings[1].sink") && e.contains("out of range"),
            "{e}"
        );
        let e = read(
            json!({"type": "TabularTranslator", "mappings": [{"source": {"name": "a"}, "sink": {"ordinal": 1}}]}),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mappings[0].sink") && e.contains("name the column"),
            "{e}"
        );
    }

    #[test]
    fn type_conversion_settings() {
        let t = read(
            json!({"type": "TabularTranslator", "typeConversion": true, "typeConversionSettings": {
                "allowDataTruncation": false, "treatBooleanAsNumber": true,
                "dateTimeFormat": "dd/MM/yyyy HH:mm", "culture": "de-DE"}}),
            false,
        )
        .unwrap();
        let c = t.conversion.unwrap();
        assert!(!c.allow_data_truncation && c.treat_boolean_as_number);
        assert_eq!(c.date_time_format.as_deref(), Some("dd/MM/yyyy HH:mm"));
        assert_eq!(c.culture, Culture::German);
        let e = read(
            json!({"type": "TabularTranslator", "typeConversion": true, "typeConversionSettings": {"culture": "ja-JP"}}),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("'culture'") && e.contains("ja-JP"), "{e}");
        let mut warnings = Vec::new();
        let v =
            json!({"type": "TabularTranslator", "typeConversionSettings": {"culture": "de-DE"}});
        let p = Props::of("T", &v).unwrap();
        let t = resolve(&p, false, &mut warnings).unwrap();
        assert!(t.conversion.is_none());
        assert!(
            warnings[0].contains("typeConversion is not true"),
            "{warnings:?}"
        );
    }
}
