//! ADF triggers (`trigger/*.json` of a git-integration folder): a typed parse of schedule and
//! tumbling window triggers, and the arithmetic of when they fire, so a user can check a
//! recurrence (`sluice trigger next`) before deploying it and the service can later fire it.
//!
//! Pure: no clock and no I/O. Every computation takes the instant to count from, so tests
//! drive time instead of waiting for it.
//!
//! Layer: model (above `types`, below the stores); nothing here runs a pipeline.

pub mod schedule;
pub mod time;
pub mod tumbling;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use super::error::ModelError;
pub use schedule::{Frequency, MonthlyOccurrence, Recurrence, Schedule, ScheduleTrigger};
pub use tumbling::{Dependency, RetryPolicy, TumblingWindowTrigger, Window, WindowFrequency};

/// One trigger definition.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub name: String,
    /// `runtimeState` as exported (`Started`, `Stopped`, `Disabled`), when present.
    pub runtime_state: Option<String>,
    pub kind: TriggerKind,
}

#[derive(Debug, Clone)]
pub enum TriggerKind {
    Schedule(ScheduleTrigger),
    TumblingWindow(TumblingWindowTrigger),
    /// A type Sluice does not fire (storage or custom events): kept by name, so a command can
    /// say why it has no fire times.
    Other(String),
}

/// A pipeline a trigger starts, with the parameters it passes (values as written: literals or
/// `{"type": "Expression", "value": "@trigger().scheduledTime"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineTarget {
    pub pipeline: String,
    pub parameters: Map<String, Value>,
}

impl Trigger {
    /// Parses a trigger as ADF's git integration writes it: `{"name": .., "properties":
    /// {"type": .., "typeProperties": {..}, ..}}`. `fallback_name` (the file's stem) names a
    /// definition without a `name`.
    pub fn from_json(json: &Value, fallback_name: &str) -> Result<Trigger, ModelError> {
        let name = json
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(fallback_name)
            .to_string();
        let at = Ctx {
            object: format!("trigger '{name}'"),
        };
        let root = at.object_of(json, "")?;
        let props = at.object_of(
            root.get("properties")
                .ok_or_else(|| at.err("properties", "is missing"))?,
            "properties",
        )?;
        let ty = at.str_of(props.get("type"), "properties.type")?;
        let runtime_state = props
            .get("runtimeState")
            .and_then(Value::as_str)
            .map(str::to_string);
        let kind = match ty {
            "ScheduleTrigger" => TriggerKind::Schedule(ScheduleTrigger::parse(props, &at)?),
            "TumblingWindowTrigger" => {
                TriggerKind::TumblingWindow(TumblingWindowTrigger::parse(props, &at)?)
            }
            other => TriggerKind::Other(other.to_string()),
        };
        Ok(Trigger {
            name,
            runtime_state,
            kind,
        })
    }
}

/// Where a property is read, for errors naming the trigger and the property.
pub(crate) struct Ctx {
    pub object: String,
}

impl Ctx {
    pub fn err(&self, property: &str, reason: impl Into<String>) -> ModelError {
        ModelError::invalid(&self.object, property, reason)
    }

    pub fn object_of<'a>(
        &self,
        value: &'a Value,
        property: &str,
    ) -> Result<&'a Map<String, Value>, ModelError> {
        value
            .as_object()
            .ok_or_else(|| self.err(property, format!("must be an object, found {value}")))
    }

    pub fn str_of<'a>(
        &self,
        value: Option<&'a Value>,
        property: &str,
    ) -> Result<&'a str, ModelError> {
        match value {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(self.err(property, format!("must be a string, found {other}"))),
            None => Err(self.err(property, "is missing")),
        }
    }

    /// An integer property (ADF's portal sometimes writes numbers as strings: "15").
    pub fn int_of(&self, value: &Value, property: &str) -> Result<i64, ModelError> {
        match value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| self.err(property, format!("must be an integer, found {value}")))
    }

    /// An integer property that must lie in `range`.
    pub fn int_in(
        &self,
        value: &Value,
        property: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, ModelError> {
        let n = self.int_of(value, property)?;
        if range.contains(&n) {
            Ok(n)
        } else {
            Err(self.err(
                property,
                format!("{n} is out of range ({} to {})", range.start(), range.end()),
            ))
        }
    }

    /// A list property that ADF also accepts as a single value (`"hours": 5`).
    pub fn list_of<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        match value {
            Value::Array(items) => items.iter().collect(),
            Value::Null => Vec::new(),
            single => vec![single],
        }
    }

    /// `pipelineReference` and `parameters` of one `pipelines[]` item (or the tumbling window
    /// trigger's single `pipeline`).
    pub fn pipeline_target(
        &self,
        value: &Value,
        property: &str,
    ) -> Result<PipelineTarget, ModelError> {
        let item = self.object_of(value, property)?;
        let reference_at = format!("{property}.pipelineReference");
        let reference = self.object_of(
            item.get("pipelineReference")
                .ok_or_else(|| self.err(&reference_at, "is missing"))?,
            &reference_at,
        )?;
        let pipeline = self
            .str_of(
                reference.get("referenceName"),
                &format!("{reference_at}.referenceName"),
            )?
            .to_string();
        let parameters = match item.get("parameters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(other) => {
                return Err(self.err(
                    &format!("{property}.parameters"),
                    format!("must be an object, found {other}"),
                ))
            }
        };
        Ok(PipelineTarget {
            pipeline,
            parameters,
        })
    }
}
