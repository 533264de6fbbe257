//! Pipelines: parameters, activities, `dependsOn` and `policy`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::dataset::params_defaults;
use super::error::ModelError;
use super::load::{Definition, Factory, Kind};
use super::props::Props;
use super::timespan::parse_timespan;

/// A `dependsOn` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Succeeded,
    Failed,
    Skipped,
    Completed,
}

#[derive(Debug, Clone)]
pub struct Dependency {
    pub activity: String,
    pub conditions: Vec<Condition>,
}

/// An activity's `policy`.
#[derive(Debug, Clone)]
pub struct Policy {
    pub timeout: Duration,
    pub retry: u32,
    pub retry_interval: Duration,
    pub secure_output: bool,
    /// The activity's input is masked in logs and errors.
    pub secure_input: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: Duration::from_secs(7 * 86_400),
            retry: 0,
            retry_interval: Duration::from_secs(30),
            secure_output: false,
            secure_input: false,
        }
    }
}

/// The activity types Sluice runs: the one place an ADF `type` string is matched. The planner
/// and the executor both dispatch on this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    Copy,
    Lookup,
    Script,
    SetVariable,
    AppendVariable,
    Wait,
    Fail,
    IfCondition,
    ForEach,
    Until,
    ExecutePipeline,
    Filter,
    GetMetadata,
    Delete,
    WebActivity,
    Switch,
}

impl ActivityKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [ActivityKind; 16] = [
        ActivityKind::Copy,
        ActivityKind::Lookup,
        ActivityKind::Script,
        ActivityKind::SetVariable,
        ActivityKind::AppendVariable,
        ActivityKind::Wait,
        ActivityKind::Fail,
        ActivityKind::IfCondition,
        ActivityKind::ForEach,
        ActivityKind::Until,
        ActivityKind::ExecutePipeline,
        ActivityKind::Filter,
        ActivityKind::GetMetadata,
        ActivityKind::Delete,
        ActivityKind::WebActivity,
        ActivityKind::Switch,
    ];

    /// ADF's `type` string.
    pub fn name(self) -> &'static str {
        match self {
            ActivityKind::Copy => "Copy",
            ActivityKind::Lookup => "Lookup",
            ActivityKind::Script => "Script",
            ActivityKind::SetVariable => "SetVariable",
            ActivityKind::AppendVariable => "AppendVariable",
            ActivityKind::Wait => "Wait",
            ActivityKind::Fail => "Fail",
            ActivityKind::IfCondition => "IfCondition",
            ActivityKind::ForEach => "ForEach",
            ActivityKind::Until => "Until",
            ActivityKind::ExecutePipeline => "ExecutePipeline",
            ActivityKind::Filter => "Filter",
            ActivityKind::GetMetadata => "GetMetadata",
            ActivityKind::Delete => "Delete",
            ActivityKind::WebActivity => "WebActivity",
            ActivityKind::Switch => "Switch",
        }
    }

    /// The kind an ADF `type` string names, if Sluice runs it.
    pub fn parse(ty: &str) -> Option<ActivityKind> {
        ActivityKind::ALL.into_iter().find(|k| k.name() == ty)
    }
}

/// The properties of control activities that hold nested activities.
const NESTED: [(&str, &str); 4] = [
    ("ForEach", "activities"),
    ("Until", "activities"),
    ("IfCondition", "ifTrueActivities"),
    ("IfCondition", "ifFalseActivities"),
];

/// One activity; its `typeProperties` are resolved when it runs (they may use parameters).
#[derive(Debug, Clone)]
pub struct Activity {
    pub name: String,
    pub activity_type: String,
    /// What the activity does, parsed from `activity_type`.
    pub kind: ActivityKind,
    pub depends_on: Vec<Dependency>,
    pub policy: Policy,
    /// The activity's JSON, for the activity's own resolver.
    pub raw: Value,
    /// `pipeline 'P' activity 'A'`, for messages; a nested activity is named by its path
    /// (`ForEach1/Copy2`) so a message says where in the pipeline it is.
    pub at: String,
    /// The activity's path: its name, after its enclosing control activities' (`ForEach1/Copy2`).
    pub path: String,
    /// Nested activities of control activities, by property (`activities`,
    /// `ifTrueActivities`, `ifFalseActivities`).
    /// Shared, so running a list hands out references rather than copies of definitions.
    pub nested: BTreeMap<String, Arc<Vec<Activity>>>,
}

/// A declared pipeline parameter.
#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub ty: String,
    pub default: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub parameters: Vec<Parameter>,
    /// Declared variables and their default values (`null` when none is given).
    pub variables: Map<String, Value>,
    pub activities: Arc<Vec<Activity>>,
}

impl Pipeline {
    /// Parses and checks a pipeline: names unique, `dependsOn` targets exist, no cycles.
    pub fn parse(def: &Definition, warnings: &mut Vec<String>) -> Result<Pipeline, ModelError> {
        let at = format!("pipeline '{}' ({})", def.name, def.file.display());
        let props = Props::of(at.clone(), &def.properties)?;
        for k in [
            "description",
            "annotations",
            "folder",
            "concurrency",
            "policy",
        ] {
            props.accept(k);
        }
        let mut parameters = Vec::new();
        if let Some(params) = props.object("parameters")? {
            let defaults: BTreeMap<String, Value> = params_defaults(&params)?.into_iter().collect();
            for name in params.keys() {
                let ty = def.properties["parameters"][&name]["type"]
                    .as_str()
                    .unwrap_or("String")
                    .to_string();
                parameters.push(Parameter {
                    default: defaults.get(&name).cloned(),
                    name,
                    ty,
                });
            }
        }
        let mut variables = Map::new();
        if let Some(vars) = props.object("variables")? {
            for name in vars.keys() {
                let decl = &def.properties["variables"][&name];
                let value = decl.get("defaultValue").cloned().unwrap_or(Value::Null);
                variables.insert(name, value);
            }
        }
        let items = props
            .array("activities")?
            .ok_or_else(|| props.err("activities", "is required"))?;
        let mut all_names = BTreeSet::new();
        let activities = parse_container(&def.name, &at, "", items, &mut all_names, warnings)?;
        warnings.extend(props.unused());
        Ok(Pipeline {
            name: def.name.clone(),
            parameters,
            variables,
            activities: Arc::new(activities),
        })
    }

    /// Parameter values: declared defaults overridden by `--param NAME=VALUE`, typed by the
    /// declared type. A parameter without a value is an error unless `lenient`.
    pub fn parameter_values(
        &self,
        given: &[(String, String)],
        lenient: bool,
    ) -> Result<Map<String, Value>, ModelError> {
        let at = format!("pipeline '{}'", self.name);
        let mut out = Map::new();
        for (name, text) in given {
            let p = self
                .parameters
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        self.parameters.iter().map(|p| p.name.as_str()).collect();
                    ModelError::invalid(
                        &at,
                        "parameters",
                        format!(
                            "--param {name}: no such parameter (declared: {})",
                            known.join(", ")
                        ),
                    )
                })?;
            out.insert(
                name.clone(),
                typed_value(&p.ty, text)
                    .map_err(|e| ModelError::invalid(&at, &format!("parameters.{name}"), e))?,
            );
        }
        for p in &self.parameters {
            if !out.contains_key(&p.name) {
                match &p.default {
                    Some(v) => {
                        out.insert(p.name.clone(), v.clone());
                    }
                    None if lenient => {}
                    None => {
                        return Err(ModelError::invalid(
                            &at,
                            &format!("parameters.{}", p.name),
                            "has no default; give it with --param NAME=VALUE",
                        ))
                    }
                }
            }
        }
        Ok(out)
    }
}

fn typed_value(ty: &str, text: &str) -> Result<Value, String> {
    match ty.to_ascii_lowercase().as_str() {
        "string" | "securestring" => Ok(Value::String(text.to_string())),
        "int" => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{text:?} is not an Int")),
        "float" => text
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| format!("{text:?} is not a Float")),
        "bool" => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{text:?} is not a Bool (true or false)")),
        },
        "array" | "object" => {
            serde_json::from_str(text).map_err(|e| format!("{text:?} is not JSON: {e}"))
        }
        other => Err(format!("unknown parameter type {other:?}")),
    }
}

/// Parses one list of activities (a pipeline's or a control activity's): names unique across
/// the whole pipeline (as ADF requires), `dependsOn` targets in the same list, no cycles.
/// `parent` is the enclosing activity's path (empty at the top).
fn parse_container(
    pipeline: &str,
    at: &str,
    parent: &str,
    items: &[Value],
    all_names: &mut BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Activity>, ModelError> {
    let mut activities = Vec::new();
    // Every activity is parsed, so `validate` reports each unsupported or bad one, not the first.
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match parse_activity(pipeline, at, parent, i, item, all_names, warnings) {
            Ok(a) => activities.push(a),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ModelError::several(errors));
    }
    let names: BTreeSet<&str> = activities.iter().map(|a| a.name.as_str()).collect();
    for a in &activities {
        for d in &a.depends_on {
            if !names.contains(d.activity.as_str()) {
                return Err(ModelError::Dangling {
                    from: format!("{} dependsOn", a.at),
                    kind: "activity",
                    name: d.activity.clone(),
                    known: names.iter().map(|s| s.to_string()).collect(),
                });
            }
        }
    }
    check_acyclic(at, &activities)?;
    Ok(activities)
}

fn parse_activity(
    pipeline: &str,
    pat: &str,
    parent: &str,
    i: usize,
    item: &Value,
    all_names: &mut BTreeSet<String>,
    warnings: &mut Vec<String>,
) -> Result<Activity, ModelError> {
    let p = Props::of(format!("{pat} activities[{i}]"), item)?;
    let name = p.req_str("name")?.to_string();
    let path = if parent.is_empty() {
        name.clone()
    } else {
        format!("{parent}/{name}")
    };
    let at = format!("pipeline '{pipeline}' activity '{path}'");
    let p = Props::of(at.clone(), item)?;
    p.accept("name");
    if !all_names.insert(name.clone()) {
        return Err(p.err(
            "name",
            "activity names must be unique within a pipeline, nested activities included",
        ));
    }
    let activity_type = p.req_str("type")?.to_string();
    let Some(kind) = ActivityKind::parse(&activity_type) else {
        let supported: Vec<&str> = ActivityKind::ALL.iter().map(|k| k.name()).collect();
        return Err(p.err(
            "type",
            format!(
                "activity type {activity_type:?} is not supported yet (supported: {})",
                supported.join(", ")
            ),
        ));
    };
    for k in [
        "description",
        "userProperties",
        "typeProperties",
        "inputs",
        "outputs",
        "state",
        "onInactiveMarkAs",
        "linkedServiceName",
    ] {
        p.accept(k);
    }
    let mut depends_on = Vec::new();
    for (j, d) in p.array("dependsOn")?.into_iter().flatten().enumerate() {
        let dp = Props::of(format!("{at} dependsOn[{j}]"), d)?;
        let activity = dp.req_str("activity")?.to_string();
        let mut conditions = Vec::new();
        for c in dp.array("dependencyConditions")?.into_iter().flatten() {
            conditions.push(match c.as_str() {
                Some("Succeeded") => Condition::Succeeded,
                Some("Failed") => Condition::Failed,
                Some("Skipped") => Condition::Skipped,
                Some("Completed") => Condition::Completed,
                _ => {
                    return Err(dp.err(
                        "dependencyConditions",
                        format!("{c} is not one of Succeeded, Failed, Skipped, Completed"),
                    ))
                }
            });
        }
        if conditions.is_empty() {
            conditions.push(Condition::Succeeded);
        }
        warnings.extend(dp.unused());
        depends_on.push(Dependency {
            activity,
            conditions,
        });
    }
    let mut policy = Policy::default();
    if let Some(pp) = p.object("policy")? {
        if let Some(t) = pp.str("timeout")? {
            policy.timeout = parse_timespan(t).map_err(|e| pp.err("timeout", e))?;
        }
        policy.retry = pp.int_in("retry", 0, 1000)?.unwrap_or(0) as u32;
        policy.retry_interval = Duration::from_secs(
            pp.int_in("retryIntervalInSeconds", 0, 86_400)?
                .unwrap_or(30) as u64,
        );
        policy.secure_output = pp.bool("secureOutput")?.unwrap_or(false);
        policy.secure_input = pp.bool("secureInput")?.unwrap_or(false);
        warnings.extend(pp.unused());
    }
    let mut nested = BTreeMap::new();
    for (ty, key) in NESTED {
        if ty != activity_type {
            continue;
        }
        let list = item["typeProperties"][key].as_array();
        let list = match (list, key) {
            (Some(l), _) => l.as_slice(),
            (None, "ifFalseActivities" | "ifTrueActivities") => &[],
            (None, _) => {
                return Err(p.err(
                    &format!("typeProperties.{key}"),
                    "is required: the activities to run",
                ))
            }
        };
        let inner_at = format!("{at} typeProperties.{key}");
        let inner = parse_container(pipeline, &inner_at, &path, list, all_names, warnings)?;
        nested.insert(key.to_string(), Arc::new(inner));
    }
    if kind == ActivityKind::Switch {
        for (key, list) in switch_lists(&p, item)? {
            let inner_at = format!("{at} typeProperties.{key}");
            let inner = parse_container(pipeline, &inner_at, &path, list, all_names, warnings)?;
            nested.insert(key, Arc::new(inner));
        }
    }
    warnings.extend(p.unused());
    Ok(Activity {
        name,
        activity_type,
        kind,
        depends_on,
        policy,
        raw: item.clone(),
        at,
        path,
        nested,
    })
}

/// A Switch's nested lists, keyed `cases[i].activities` and `defaultActivities` (both may be
/// empty). Each case needs a string `value` (ADF compares the `on` string to it) and no two
/// cases may share one.
fn switch_lists<'a>(
    p: &Props<'_>,
    item: &'a Value,
) -> Result<Vec<(String, &'a [Value])>, ModelError> {
    let tp = &item["typeProperties"];
    let mut lists = Vec::new();
    let mut values = BTreeSet::new();
    let cases = match &tp["cases"] {
        Value::Null => &[][..],
        Value::Array(c) => c.as_slice(),
        other => {
            return Err(p.err(
                "typeProperties.cases",
                format!("must be an array, found {other}"),
            ))
        }
    };
    for (i, case) in cases.iter().enumerate() {
        let at = format!("typeProperties.cases[{i}]");
        let Some(value) = case["value"].as_str() else {
            return Err(p.err(
                &format!("{at}.value"),
                "is required: the string the `on` value is compared to",
            ));
        };
        if !values.insert(value) {
            return Err(p.err(
                &format!("{at}.value"),
                format!("{value:?} is the value of an earlier case too"),
            ));
        }
        let list = match &case["activities"] {
            Value::Null => &[][..],
            Value::Array(l) => l.as_slice(),
            other => {
                return Err(p.err(
                    &format!("{at}.activities"),
                    format!("must be an array, found {other}"),
                ))
            }
        };
        lists.push((format!("cases[{i}].activities"), list));
    }
    let default = match &tp["defaultActivities"] {
        Value::Null => &[][..],
        Value::Array(l) => l.as_slice(),
        other => {
            return Err(p.err(
                "typeProperties.defaultActivities",
                format!("must be an array, found {other}"),
            ))
        }
    };
    lists.push(("defaultActivities".to_string(), default));
    Ok(lists)
}

/// Kahn's algorithm: O(activities + dependencies), whatever order the list is written in.
fn check_acyclic(at: &str, activities: &[Activity]) -> Result<(), ModelError> {
    let index: BTreeMap<&str, usize> = activities
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    let mut waiting: Vec<usize> = activities.iter().map(|a| a.depends_on.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); activities.len()];
    for (i, a) in activities.iter().enumerate() {
        for d in &a.depends_on {
            if let Some(&j) = index.get(d.activity.as_str()) {
                dependents[j].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..activities.len()).filter(|&i| waiting[i] == 0).collect();
    let mut done = vec![false; activities.len()];
    while let Some(i) = ready.pop() {
        done[i] = true;
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(j);
            }
        }
    }
    let cycle: Vec<&str> = activities
        .iter()
        .zip(&done)
        .filter(|(_, d)| !**d)
        .map(|(a, _)| a.name.as_str())
        .collect();
    if cycle.is_empty() {
        return Ok(());
    }
    Err(ModelError::invalid(
        at,
        "dependsOn",
        format!(
            "activities depend on each other in a cycle: {}",
            cycle.join(", ")
        ),
    ))
}

/// Loads and checks a pipeline by name.
pub fn load(
    factory: &Factory,
    name: &str,
    warnings: &mut Vec<String>,
) -> Result<Pipeline, ModelError> {
    Pipeline::parse(
        factory.get(Kind::Pipeline, name, "the command line")?,
        warnings,
    )
}
