//! Tumbling window triggers: fixed-size, contiguous windows from `startTime`, each fired once
//! it has passed (plus `delay`), past windows backfilled.
//!
//! From "Create a trigger that runs a pipeline on a tumbling window" (ADF docs): `frequency` is
//! Minute, Hour or Month; "the first trigger interval is (startTime, startTime + interval)";
//! "the minimum window interval is 5 minutes"; `delay` postpones the run but "doesn't alter the
//! window startTime"; `maxConcurrency` is 1 to 50. Windows are UTC (the trigger has no time
//! zone). A Month window from the 31st ends on the last day of a shorter month, each boundary
//! counted from `startTime` so the day comes back in longer months. `endTime` is "the last
//! occurrence": a window is produced when it ends by then.

use chrono::{DateTime, Datelike, Months, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::time::parse_instant;
use super::{Ctx, PipelineTarget};
use crate::model::error::ModelError;
use crate::model::timespan::parse_timespan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowFrequency {
    Minute,
    Hour,
    Month,
}

#[derive(Debug, Clone)]
pub struct TumblingWindowTrigger {
    pub frequency: WindowFrequency,
    pub interval: u32,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub delay: TimeDelta,
    pub max_concurrency: u32,
    pub retry: RetryPolicy,
    pub depends_on: Vec<Dependency>,
    pub pipeline: PipelineTarget,
}

/// `retryPolicy`: how often a failed window's run is retried, and how long apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub count: u32,
    pub interval_in_seconds: u32,
}

/// One `dependsOn` item: a window of another tumbling window trigger (or of this one, for a
/// self-dependency) shifted by `offset` and `size` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependency {
    Trigger {
        trigger: String,
        offset: Option<TimeDelta>,
        size: Option<TimeDelta>,
    },
    SelfDependency {
        offset: TimeDelta,
        size: Option<TimeDelta>,
    },
}

/// One window: `[start, end)`, passed to the pipeline as `@trigger().outputs.windowStartTime`
/// and `windowEndTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl TumblingWindowTrigger {
    pub(crate) fn parse(props: &Map<String, Value>, at: &Ctx) -> Result<Self, ModelError> {
        const P: &str = "properties.typeProperties";
        let tp = at.object_of(
            props
                .get("typeProperties")
                .ok_or_else(|| at.err(P, "is missing"))?,
            P,
        )?;
        let pipeline = at.pipeline_target(
            props
                .get("pipeline")
                .ok_or_else(|| at.err("properties.pipeline", "is missing"))?,
            "properties.pipeline",
        )?;
        let frequency_text = at.str_of(tp.get("frequency"), &format!("{P}.frequency"))?;
        let frequency = match frequency_text.to_ascii_lowercase().as_str() {
            "minute" => WindowFrequency::Minute,
            "hour" => WindowFrequency::Hour,
            "month" => WindowFrequency::Month,
            _ => {
                return Err(at.err(
                    &format!("{P}.frequency"),
                    format!(
                    "{frequency_text:?} is not a tumbling window frequency (Minute, Hour or Month)"
                ),
                ))
            }
        };
        let interval = match tp.get("interval") {
            Some(v) => at.int_in(v, &format!("{P}.interval"), 1..=i64::from(u32::MAX))? as u32,
            None => return Err(at.err(&format!("{P}.interval"), "is missing")),
        };
        if frequency == WindowFrequency::Minute && interval < 5 {
            return Err(at.err(
                &format!("{P}.interval"),
                format!("{interval} minutes is shorter than the 5-minute minimum window"),
            ));
        }
        let instant = |key: &str| -> Result<Option<DateTime<Utc>>, ModelError> {
            match tp.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let property = format!("{P}.{key}");
                    parse_instant(at.str_of(Some(v), &property)?, Tz::UTC)
                        .map(Some)
                        .map_err(|reason| at.err(&property, reason))
                }
            }
        };
        let start =
            instant("startTime")?.ok_or_else(|| at.err(&format!("{P}.startTime"), "is missing"))?;
        let end = instant("endTime")?;
        let span = |key: &str, v: Option<&Value>| -> Result<Option<TimeDelta>, ModelError> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let property = format!("{P}.{key}");
                    parse_signed_timespan(at.str_of(Some(v), &property)?)
                        .map(Some)
                        .map_err(|reason| at.err(&property, reason))
                }
            }
        };
        let delay = span("delay", tp.get("delay"))?.unwrap_or_default();
        if delay < TimeDelta::zero() {
            return Err(at.err(&format!("{P}.delay"), "must not be negative"));
        }
        let max_concurrency = match tp.get("maxConcurrency") {
            None | Some(Value::Null) => 1,
            Some(v) => at.int_in(v, &format!("{P}.maxConcurrency"), 1..=50)? as u32,
        };
        let retry = match tp.get("retryPolicy") {
            None | Some(Value::Null) => RetryPolicy {
                count: 0,
                interval_in_seconds: 30,
            },
            Some(v) => {
                let here = format!("{P}.retryPolicy");
                let o = at.object_of(v, &here)?;
                let field = |key: &str, default: u32| -> Result<u32, ModelError> {
                    match o.get(key) {
                        None | Some(Value::Null) => Ok(default),
                        Some(v) => Ok(at.int_in(
                            v,
                            &format!("{here}.{key}"),
                            0..=i64::from(u32::MAX),
                        )? as u32),
                    }
                };
                RetryPolicy {
                    count: field("count", 0)?,
                    interval_in_seconds: field("intervalInSeconds", 30)?,
                }
            }
        };
        let mut depends_on = Vec::new();
        if let Some(v) = tp.get("dependsOn") {
            for (i, item) in at.list_of(v).into_iter().enumerate() {
                let here = format!("{P}.dependsOn[{i}]");
                let o = at.object_of(item, &here)?;
                let offset = span(&format!("dependsOn[{i}].offset"), o.get("offset"))?;
                let size = span(&format!("dependsOn[{i}].size"), o.get("size"))?;
                if size.is_some_and(|s| s <= TimeDelta::zero()) {
                    return Err(at.err(&format!("{here}.size"), "must be positive"));
                }
                let ty = at.str_of(o.get("type"), &format!("{here}.type"))?;
                depends_on.push(match ty {
                    "TumblingWindowTriggerDependencyReference" => {
                        let reference = at.object_of(
                            o.get("referenceTrigger").ok_or_else(|| {
                                at.err(&format!("{here}.referenceTrigger"), "is missing")
                            })?,
                            &format!("{here}.referenceTrigger"),
                        )?;
                        Dependency::Trigger {
                            trigger: at
                                .str_of(
                                    reference.get("referenceName"),
                                    &format!("{here}.referenceTrigger.referenceName"),
                                )?
                                .to_string(),
                            offset,
                            size,
                        }
                    }
                    "SelfDependencyTumblingWindowTriggerReference" => {
                        let offset = offset
                            .ok_or_else(|| at.err(&format!("{here}.offset"), "is missing"))?;
                        if offset >= TimeDelta::zero() {
                            return Err(at.err(
                                &format!("{here}.offset"),
                                "must be negative: a window can depend only on earlier windows of its own trigger",
                            ));
                        }
                        Dependency::SelfDependency { offset, size }
                    }
                    other => {
                        return Err(at.err(
                            &format!("{here}.type"),
                            format!("{other:?} is not TumblingWindowTriggerDependencyReference or SelfDependencyTumblingWindowTriggerReference"),
                        ))
                    }
                });
            }
        }
        Ok(TumblingWindowTrigger {
            frequency,
            interval,
            start,
            end,
            delay,
            max_concurrency,
            retry,
            depends_on,
            pipeline,
        })
    }

    /// Boundary `k`: `startTime` + k × `interval` × `frequency`.
    fn boundary(&self, k: u64) -> Option<DateTime<Utc>> {
        let n = k.checked_mul(u64::from(self.interval))?;
        match self.frequency {
            WindowFrequency::Minute => self
                .start
                .checked_add_signed(TimeDelta::try_minutes(i64::try_from(n).ok()?)?),
            WindowFrequency::Hour => self
                .start
                .checked_add_signed(TimeDelta::try_hours(i64::try_from(n).ok()?)?),
            WindowFrequency::Month => self
                .start
                .checked_add_months(Months::new(u32::try_from(n).ok()?)),
        }
    }

    /// Window `k` (0 is the first), or `None` past `endTime`.
    pub fn window(&self, k: u64) -> Option<Window> {
        let window = Window {
            start: self.boundary(k)?,
            end: self.boundary(k.checked_add(1)?)?,
        };
        match self.end {
            Some(end) if window.end > end => None,
            _ => Some(window),
        }
    }

    /// When a window's run is due: its end plus `delay`.
    pub fn fire_time(&self, window: &Window) -> DateTime<Utc> {
        window
            .end
            .checked_add_signed(self.delay)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The windows due at or after `instant`, in order, up to `endTime`. Windows due before it
    /// are the backfill a service starts at once; these are the ones still to come.
    pub fn windows_from(&self, instant: DateTime<Utc>) -> impl Iterator<Item = Window> + '_ {
        let since = instant.checked_sub_signed(self.delay).unwrap_or(instant);
        let k0 = match self.frequency {
            WindowFrequency::Month => {
                let months = |d: DateTime<Utc>| i64::from(d.year()) * 12 + i64::from(d.month0());
                (months(since) - months(self.start)) / i64::from(self.interval)
            }
            WindowFrequency::Minute | WindowFrequency::Hour => {
                let unit = if self.frequency == WindowFrequency::Minute {
                    60
                } else {
                    3600
                };
                (since - self.start).num_seconds() / (unit * i64::from(self.interval))
            }
        };
        let k0 = u64::try_from(k0 - 1).unwrap_or(0);
        (k0..)
            .map_while(move |k| self.window(k))
            .filter(move |w| self.fire_time(w) >= instant)
    }
}

/// A timespan with an optional leading `-` (a dependency's `offset` looks back: `-01:00:00`).
fn parse_signed_timespan(text: &str) -> Result<TimeDelta, String> {
    let t = text.trim();
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let span = TimeDelta::from_std(parse_timespan(body)?)
        .map_err(|_| format!("{text:?} is longer than a timespan can be"))?;
    Ok(if negative { -span } else { span })
}
