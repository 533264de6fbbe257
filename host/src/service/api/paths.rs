//! ARM paths to operations. ADF matches the fixed segments (`resourceGroups`,
//! `Microsoft.DataFactory`, `linkedservices`, `queryPipelineRuns`, ...) case-insensitively, so
//! the path is parsed here segment by segment rather than by a case-sensitive router; names
//! (resource group, factory, definitions, plugins) keep their case.

use crate::service::control::Kind;

/// Where a request's path points, below `/subscriptions/{sub}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `providers/Microsoft.DataFactory/factories` (the whole subscription).
    SubscriptionFactories,
    /// `resourceGroups/{rg}/providers/Microsoft.DataFactory/factories`.
    GroupFactories { rg: String },
    /// Below `.../factories/{factory}`.
    Factory {
        rg: String,
        factory: String,
        rest: Rest,
    },
}

/// The part below a factory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rest {
    Itself,
    Definitions(Kind),
    Definition(Kind, String),
    CreateRun(String),
    Run(String),
    CancelRun(String),
    QueryRuns,
    QueryActivityRuns(String),
    Plugins,
    PluginVersions(String),
    Plugin(String, String),
    /// `triggers/{name}/start`, `/stop`.
    StartTrigger(String),
    StopTrigger(String),
    QueryTriggerRuns,
    /// `triggers/{name}/triggerRuns/{runId}/rerun`.
    RerunTriggerRun(String, String),
}

/// A parsed path: the subscription segment as written and the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub subscription: String,
    pub target: Target,
}

impl Parsed {
    /// The route's label in metrics and logs (no names in it).
    pub fn label(&self) -> &'static str {
        match &self.target {
            Target::SubscriptionFactories | Target::GroupFactories { .. } => "factories",
            Target::Factory { rest, .. } => match rest {
                Rest::Itself => "factory",
                Rest::Definitions(_) => "definitions",
                Rest::Definition(_, _) => "definition",
                Rest::CreateRun(_) => "createRun",
                Rest::Run(_) => "pipelineRun",
                Rest::CancelRun(_) => "cancel",
                Rest::QueryRuns => "queryPipelineRuns",
                Rest::QueryActivityRuns(_) => "queryActivityRuns",
                Rest::Plugins | Rest::PluginVersions(_) => "plugins",
                Rest::Plugin(_, _) => "plugin",
                Rest::StartTrigger(_) => "triggerStart",
                Rest::StopTrigger(_) => "triggerStop",
                Rest::QueryTriggerRuns => "queryTriggerRuns",
                Rest::RerunTriggerRun(_, _) => "triggerRerun",
            },
        }
    }
}

fn kind_of(segment: &str) -> Option<Kind> {
    match segment.to_ascii_lowercase().as_str() {
        "pipelines" => Some(Kind::Pipelines),
        "datasets" => Some(Kind::Datasets),
        "linkedservices" => Some(Kind::LinkedServices),
        "triggers" => Some(Kind::Triggers),
        _ => None,
    }
}

/// Parses a request path (percent-encoded as sent); `None` when it names no operation.
pub fn parse(path: &str) -> Option<Parsed> {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(decode)
        .collect::<Option<_>>()?;
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let is = |i: usize, word: &str| s.get(i).is_some_and(|x| x.eq_ignore_ascii_case(word));
    if !is(0, "subscriptions") || s.len() < 2 || s.iter().any(|x| x.is_empty()) {
        return None;
    }
    let subscription = s[1].to_string();
    let provider_at = |i: usize| {
        is(i, "providers") && is(i + 1, "Microsoft.DataFactory") && is(i + 2, "factories")
    };
    let target = if provider_at(2) && s.len() == 5 {
        Target::SubscriptionFactories
    } else if is(2, "resourceGroups") && s.len() >= 7 && provider_at(4) {
        let rg = s[3].to_string();
        if s.len() == 7 {
            Target::GroupFactories { rg }
        } else {
            let factory = s[7].to_string();
            Target::Factory {
                rg,
                factory,
                rest: rest(&s[8..])?,
            }
        }
    } else {
        return None;
    };
    Some(Parsed {
        subscription,
        target,
    })
}

fn rest(s: &[&str]) -> Option<Rest> {
    let is = |i: usize, word: &str| s.get(i).is_some_and(|x| x.eq_ignore_ascii_case(word));
    let name = |i: usize| s[i].to_string();
    Some(match s.len() {
        0 => Rest::Itself,
        1 if is(0, "queryPipelineRuns") => Rest::QueryRuns,
        1 if is(0, "plugins") => Rest::Plugins,
        1 if is(0, "queryTriggerRuns") => Rest::QueryTriggerRuns,
        1 => Rest::Definitions(kind_of(s[0])?),
        2 if is(0, "pipelineruns") => Rest::Run(name(1)),
        2 if is(0, "plugins") => Rest::PluginVersions(name(1)),
        2 => Rest::Definition(kind_of(s[0])?, name(1)),
        3 if is(0, "pipelines") && is(2, "createRun") => Rest::CreateRun(name(1)),
        3 if is(0, "pipelineruns") && is(2, "cancel") => Rest::CancelRun(name(1)),
        3 if is(0, "pipelineruns") && is(2, "queryActivityruns") => {
            Rest::QueryActivityRuns(name(1))
        }
        3 if is(0, "plugins") && is(2, "versions") => Rest::PluginVersions(name(1)),
        3 if is(0, "triggers") && is(2, "start") => Rest::StartTrigger(name(1)),
        3 if is(0, "triggers") && is(2, "stop") => Rest::StopTrigger(name(1)),
        4 if is(0, "plugins") && is(2, "versions") => Rest::Plugin(name(1), name(3)),
        5 if is(0, "triggers") && is(2, "triggerRuns") && is(4, "rerun") => {
            Rest::RerunTriggerRun(name(1), name(3))
        }
        _ => return None,
    })
}

/// Percent-decodes one segment; `None` for invalid UTF-8.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Encodes a name for a URL path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Query pairs, percent-decoded (`+` as a space).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |t: &str| decode(&t.replace('+', " ")).unwrap_or_default();
            (d(k), d(v))
        })
        .collect()
}

/// The first value of query parameter `name` (case-insensitive).
pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "/subscriptions/0b8c6d0e-0000-4000-8000-000000000001";

    fn rest_of(path: &str) -> Rest {
        match parse(&format!(
            "{SUB}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/F{path}"
        )) {
            Some(Parsed {
                target: Target::Factory { rest, factory, rg },
                ..
            }) => {
                assert_eq!((rg.as_str(), factory.as_str()), ("rg", "F"));
                rest
            }
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn fixed_segments_match_in_any_case_and_names_keep_theirs() {
        assert_eq!(rest_of(""), Rest::Itself);
        assert_eq!(
            rest_of("/linkedservices/Pg"),
            Rest::Definition(Kind::LinkedServices, "Pg".into())
        );
        assert_eq!(
            rest_of("/LinkedServices"),
            Rest::Definitions(Kind::LinkedServices)
        );
        assert_eq!(
            rest_of("/pipelines/My%20Pipe/createRun"),
            Rest::CreateRun("My Pipe".into())
        );
        assert_eq!(rest_of("/queryPipelineRuns"), Rest::QueryRuns);
        assert_eq!(
            rest_of("/pipelineruns/abc/queryActivityruns"),
            Rest::QueryActivityRuns("abc".into())
        );
        assert_eq!(
            rest_of("/PIPELINERUNS/abc/cancel"),
            Rest::CancelRun("abc".into())
        );
        assert_eq!(
            rest_of("/plugins/up/versions/1.0.0"),
            Rest::Plugin("up".into(), "1.0.0".into())
        );
        let lower = parse(&format!(
            "{SUB}/resourcegroups/rg/providers/microsoft.datafactory/factories"
        ))
        .map(|p| p.target);
        assert_eq!(lower, Some(Target::GroupFactories { rg: "rg".into() }));
        let sub =
            parse(&format!("{SUB}/providers/Microsoft.DataFactory/factories")).map(|p| p.target);
        assert_eq!(sub, Some(Target::SubscriptionFactories));
        assert!(parse(&format!(
            "{SUB}/resourceGroups/rg/providers/Microsoft.Storage/factories/F"
        ))
        .is_none());
        assert!(parse("/subscriptions").is_none());
        assert_eq!(
            rest_of("/triggers/T1"),
            Rest::Definition(Kind::Triggers, "T1".into())
        );
        assert_eq!(rest_of("/Triggers"), Rest::Definitions(Kind::Triggers));
        assert_eq!(
            rest_of("/triggers/T1/START"),
            Rest::StartTrigger("T1".into())
        );
        assert_eq!(rest_of("/triggers/T1/stop"), Rest::StopTrigger("T1".into()));
        assert_eq!(rest_of("/querytriggerruns"), Rest::QueryTriggerRuns);
        assert_eq!(
            rest_of("/triggers/T1/triggerruns/abc/rerun"),
            Rest::RerunTriggerRun("T1".into(), "abc".into())
        );
        assert!(parse(&format!(
            "{SUB}/resourceGroups/rg/providers/Microsoft.DataFactory/factories/F/triggers/t/cancel"
        ))
        .is_none());
    }

    #[test]
    fn names_round_trip_through_encoding() {
        assert_eq!(decode(&encode("a b/ü%")).as_deref(), Some("a b/ü%"));
        assert_eq!(decode("100%"), Some("100%".into()));
        let q = query_pairs(Some("api-version=2018-06-01&%24skipToken=a%20b"));
        assert_eq!(query_value(&q, "$skiptoken"), Some("a b"));
    }
}
