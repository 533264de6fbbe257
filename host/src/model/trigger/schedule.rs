//! Schedule triggers: `recurrence` (`frequency`, `interval`, `startTime`, `endTime`,
//! `timeZone`, `schedule`) and the instants it fires at.
//!
//! The rules follow "Create a trigger that runs a pipeline on a schedule" (ADF docs):
//! - without a `schedule`, occurrences are `startTime` + k × `interval` × `frequency`; Minute
//!   and Hour count elapsed time, Day and above keep the wall-clock time in `timeZone` across
//!   daylight saving changes ("trigger time auto-adjusts ... if the recurrence is set to Days or
//!   above");
//! - with a `schedule`, the days of each period (every `interval` days, weeks or months from the
//!   start's) are `weekDays` (Week), `monthDays` and `monthlyOccurrences` (Month; both lists
//!   together are their union), and the times of those days are `hours` × `minutes` in
//!   `timeZone`; "the trigger starts no sooner than the specified start time";
//! - hours or minutes not set come from the start time ("the hours or minutes of the first
//!   execution are used as the defaults"), except that `minutes` alone means every hour (the
//!   documented `{"minutes":[0,15,30,45]}`: "Run every 15 minutes");
//! - `endTime`: "the trigger doesn't execute after" it, so an occurrence at it still fires.
//!
//! Choices where the docs say nothing: weeks (for `interval` > 1) run Monday to Sunday; a
//! month without the start's day of month (a start on the 31st) uses its last day, while an
//! explicit `monthDays` entry a month lacks is skipped, as documented; wall-clock times that a
//! daylight saving change skips or repeats are placed by [`super::time::local_to_utc`].

use chrono::{
    DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike,
    Utc, Weekday,
};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::time::{local_to_utc, parse_instant, resolve_zone};
use super::{Ctx, PipelineTarget};
use crate::model::error::ModelError;

/// The most periods (days, weeks, months) searched for the next occurrence: a schedule that
/// can never fire (`monthDays: [30]` every 12 months from February) ends instead of looping.
const MAX_PERIODS: i64 = 100_000;

#[derive(Debug, Clone)]
pub struct ScheduleTrigger {
    pub recurrence: Recurrence,
    pub pipelines: Vec<PipelineTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Frequency {
    pub(crate) fn parse(text: &str) -> Option<Frequency> {
        Some(match text.to_ascii_lowercase().as_str() {
            "minute" => Frequency::Minute,
            "hour" => Frequency::Hour,
            "day" => Frequency::Day,
            "week" => Frequency::Week,
            "month" => Frequency::Month,
            _ => return None,
        })
    }
}

/// A schedule trigger's `recurrence`, resolved: instants in UTC, the zone a real one.
#[derive(Debug, Clone)]
pub struct Recurrence {
    pub frequency: Frequency,
    pub interval: u32,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub zone: Tz,
    pub schedule: Schedule,
}

/// `recurrence.schedule`; an empty list is a property not set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    pub minutes: Vec<u32>,
    pub hours: Vec<u32>,
    pub week_days: Vec<Weekday>,
    /// 1 to 31, or -1 (the last day) to -31.
    pub month_days: Vec<i32>,
    pub monthly_occurrences: Vec<MonthlyOccurrence>,
}

/// `{"day": "friday", "occurrence": -1}`: the last Friday; no occurrence is every Friday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthlyOccurrence {
    pub day: Weekday,
    pub occurrence: Option<i32>,
}

impl ScheduleTrigger {
    pub(crate) fn parse(props: &Map<String, Value>, at: &Ctx) -> Result<Self, ModelError> {
        let tp = at.object_of(
            props
                .get("typeProperties")
                .ok_or_else(|| at.err("properties.typeProperties", "is missing"))?,
            "properties.typeProperties",
        )?;
        let recurrence = Recurrence::parse(
            tp.get("recurrence")
                .ok_or_else(|| at.err("properties.typeProperties.recurrence", "is missing"))?,
            at,
        )?;
        let pipelines = match props.get("pipelines") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| at.pipeline_target(item, &format!("properties.pipelines[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(at.err(
                    "properties.pipelines",
                    format!("must be an array, found {other}"),
                ))
            }
        };
        Ok(ScheduleTrigger {
            recurrence,
            pipelines,
        })
    }
}

fn parse_weekday(value: &Value) -> Option<Weekday> {
    Some(match value.as_str()?.to_ascii_lowercase().as_str() {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

impl Recurrence {
    fn parse(value: &Value, at: &Ctx) -> Result<Self, ModelError> {
        const P: &str = "properties.typeProperties.recurrence";
        let rec = at.object_of(value, P)?;
        let frequency_text = at.str_of(rec.get("frequency"), &format!("{P}.frequency"))?;
        let frequency = Frequency::parse(frequency_text).ok_or_else(|| {
            at.err(
                &format!("{P}.frequency"),
                format!("{frequency_text:?} is not one of Minute, Hour, Day, Week, Month"),
            )
        })?;
        let interval = match rec.get("interval") {
            None | Some(Value::Null) => 1,
            Some(v) => at.int_in(v, &format!("{P}.interval"), 1..=1000)? as u32,
        };
        let zone = match rec.get("timeZone") {
            None | Some(Value::Null) => Tz::UTC,
            Some(v) => resolve_zone(at.str_of(Some(v), &format!("{P}.timeZone"))?)
                .map_err(|reason| at.err(&format!("{P}.timeZone"), reason))?,
        };
        let instant = |key: &str| -> Result<Option<DateTime<Utc>>, ModelError> {
            match rec.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let property = format!("{P}.{key}");
                    parse_instant(at.str_of(Some(v), &property)?, zone)
                        .map(Some)
                        .map_err(|reason| at.err(&property, reason))
                }
            }
        };
        let start =
            instant("startTime")?.ok_or_else(|| at.err(&format!("{P}.startTime"), "is missing"))?;
        let end = instant("endTime")?;
        if let Some(end) = end {
            if end < start {
                return Err(at.err(&format!("{P}.endTime"), "is before startTime"));
            }
        }
        let schedule = match rec.get("schedule") {
            None | Some(Value::Null) => Schedule::default(),
            Some(v) => Schedule::parse(v, frequency, at, &format!("{P}.schedule"))?,
        };
        Ok(Recurrence {
            frequency,
            interval,
            start,
            end,
            zone,
            schedule,
        })
    }

    /// The first occurrence at or after `instant` (and not before `startTime`), or `None` when
    /// the recurrence has ended by then.
    pub fn first_at_or_after(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let from = instant.max(self.start);
        let found = match self.frequency {
            Frequency::Minute => self.fixed_step(from, 60),
            Frequency::Hour if self.schedule.minutes.is_empty() => self.fixed_step(from, 3600),
            Frequency::Hour => self.hourly_minutes(from),
            Frequency::Day | Frequency::Week | Frequency::Month => self.calendar(from),
        }?;
        match self.end {
            Some(end) if found > end => None,
            _ => Some(found),
        }
    }

    /// The first occurrence strictly after `instant`.
    pub fn next_after(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.first_at_or_after(instant.checked_add_signed(TimeDelta::nanoseconds(1))?)
    }

    /// The occurrences from `instant` on (at or after it), in order.
    pub fn fire_times(&self, instant: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        std::iter::successors(self.first_at_or_after(instant), move |last| {
            self.next_after(*last)
        })
    }

    /// `startTime` + k × `seconds` × `interval`: elapsed time, not wall-clock time.
    fn fixed_step(&self, from: DateTime<Utc>, seconds: i64) -> Option<DateTime<Utc>> {
        let step_seconds = seconds * i64::from(self.interval);
        let step = TimeDelta::try_seconds(step_seconds)?;
        let k = (from - self.start).num_seconds() / step_seconds;
        let mut at = self
            .start
            .checked_add_signed(TimeDelta::try_seconds(k.checked_mul(step_seconds)?)?)?;
        while at < from {
            at = at.checked_add_signed(step)?;
        }
        Some(at)
    }

    /// Hour frequency with `minutes`: every `interval` hours from the start's hour (on the
    /// zone's clock, which matters in zones offset by half hours), at each listed minute.
    fn hourly_minutes(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = self.start.with_timezone(&self.zone);
        let anchor = self.start
            - TimeDelta::seconds(i64::from(local.minute() * 60 + local.second()))
            - TimeDelta::nanoseconds(i64::from(local.nanosecond()));
        let step = 3600 * i64::from(self.interval);
        let k0 = ((from - anchor).num_seconds() / step - 1).max(0);
        let mut minutes = self.schedule.minutes.clone();
        minutes.sort_unstable();
        for k in k0..k0 + 3 {
            let period = anchor + TimeDelta::seconds(k * step);
            for m in &minutes {
                let at =
                    period + TimeDelta::seconds(i64::from(*m) * 60 + i64::from(local.second()));
                if at >= from {
                    return Some(at);
                }
            }
        }
        None
    }

    /// Day, Week and Month frequencies: wall-clock occurrences, period by period.
    fn calendar(&self, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start_local = self.start.with_timezone(&self.zone).naive_local();
        let from_date = from.with_timezone(&self.zone).date_naive();
        let interval = i64::from(self.interval);
        let k0 = match self.frequency {
            Frequency::Day => (from_date - start_local.date()).num_days() / interval,
            Frequency::Week => {
                (from_date - week_monday(start_local.date())).num_days() / (7 * interval)
            }
            _ => (month_index(from_date) - month_index(start_local.date())) / interval,
        };
        // One period back: a daylight saving change can put an occurrence of the period before
        // `from`'s local date at or after `from`.
        let k0 = (k0 - 1).max(0);
        let last_day = self.end.map(|e| e.with_timezone(&self.zone).date_naive());
        for k in k0..k0.saturating_add(MAX_PERIODS) {
            if let (Some(last), Some(first)) = (last_day, self.period_first_day(start_local, k)) {
                if first > last {
                    return None;
                }
            }
            let days = self.period_days(start_local, k)?;
            let mut found: Option<DateTime<Utc>> = None;
            for day in &days {
                for time in self.times_of_day(start_local) {
                    let at = local_to_utc(self.zone, day.and_time(time));
                    if at >= from && found.is_none_or(|f| at < f) {
                        found = Some(at);
                    }
                }
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// The first calendar day of period `k`, for ending the search.
    fn period_first_day(&self, start_local: NaiveDateTime, k: i64) -> Option<NaiveDate> {
        let n = u64::try_from(k)
            .ok()?
            .checked_mul(u64::from(self.interval))?;
        let start = start_local.date();
        match self.frequency {
            Frequency::Week => week_monday(start).checked_add_days(Days::new(n.checked_mul(7)?)),
            Frequency::Month => start
                .with_day(1)?
                .checked_add_months(Months::new(u32::try_from(n).ok()?)),
            _ => start.checked_add_days(Days::new(n)),
        }
    }

    /// The days of period `k`, sorted: the day itself (Day), the week's `weekDays` (Week, the
    /// start's weekday by default), the month's `monthDays` and `monthlyOccurrences` (Month,
    /// the start's day of month by default).
    fn period_days(&self, start_local: NaiveDateTime, k: i64) -> Option<Vec<NaiveDate>> {
        let start = start_local.date();
        let first = self.period_first_day(start_local, k)?;
        let s = &self.schedule;
        let mut days = match self.frequency {
            Frequency::Week => {
                let week_days = if s.week_days.is_empty() {
                    vec![start.weekday()]
                } else {
                    s.week_days.clone()
                };
                week_days
                    .iter()
                    .filter_map(|d| {
                        first.checked_add_days(Days::new(u64::from(d.num_days_from_monday())))
                    })
                    .collect()
            }
            Frequency::Month => month_days(first, start.day(), s),
            _ => vec![first],
        };
        days.sort_unstable();
        days.dedup();
        Some(days)
    }

    /// The wall-clock times of a day the trigger fires at, sorted.
    fn times_of_day(&self, start_local: NaiveDateTime) -> Vec<NaiveTime> {
        let s = &self.schedule;
        let st = start_local.time();
        if s.hours.is_empty() && s.minutes.is_empty() {
            return vec![st];
        }
        let hours: Vec<u32> = if !s.hours.is_empty() {
            s.hours.clone()
        } else {
            (0..24).collect()
        };
        let minutes = if s.minutes.is_empty() {
            vec![st.minute()]
        } else {
            s.minutes.clone()
        };
        let mut times: Vec<NaiveTime> = hours
            .iter()
            .flat_map(|h| {
                minutes
                    .iter()
                    .filter_map(move |m| NaiveTime::from_hms_opt(*h, *m, st.second()))
            })
            .collect();
        times.sort_unstable();
        times.dedup();
        times
    }
}

/// The Monday of `date`'s week.
fn week_monday(date: NaiveDate) -> NaiveDate {
    date - TimeDelta::days(i64::from(date.weekday().num_days_from_monday()))
}

fn month_index(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// The days of the month starting at `first` that `schedule` names; `start_day` when it names
/// none (the month's last day if it is shorter).
fn month_days(first: NaiveDate, start_day: u32, schedule: &Schedule) -> Vec<NaiveDate> {
    let len = first
        .checked_add_months(Months::new(1))
        .map(|next| (next - first).num_days() as i32)
        .unwrap_or(31);
    let day = |d: i32| first.with_day(u32::try_from(d).ok()?);
    if schedule.month_days.is_empty() && schedule.monthly_occurrences.is_empty() {
        return day((start_day as i32).min(len)).into_iter().collect();
    }
    let mut days: Vec<NaiveDate> = schedule
        .month_days
        .iter()
        .filter_map(|d| match *d {
            d if d > 0 && d <= len => day(d),
            d if d < 0 && len + 1 + d >= 1 => day(len + 1 + d),
            _ => None,
        })
        .collect();
    for occ in &schedule.monthly_occurrences {
        let all: Vec<NaiveDate> = (1..=len)
            .filter_map(day)
            .filter(|d| d.weekday() == occ.day)
            .collect();
        match occ.occurrence {
            None => days.extend(all),
            Some(n) if n > 0 => days.extend(all.get(n as usize - 1)),
            Some(n) => days.extend(
                all.len()
                    .checked_sub(n.unsigned_abs() as usize)
                    .and_then(|i| all.get(i)),
            ),
        }
    }
    days
}

impl Schedule {
    fn parse(value: &Value, frequency: Frequency, at: &Ctx, p: &str) -> Result<Self, ModelError> {
        let obj = at.object_of(value, p)?;
        let mut s = Schedule::default();
        for (key, v) in obj {
            let property = format!("{p}.{key}");
            match key.as_str() {
                "minutes" => {
                    for item in at.list_of(v) {
                        s.minutes.push(at.int_in(item, &property, 0..=59)? as u32);
                    }
                }
                "hours" => {
                    for item in at.list_of(v) {
                        s.hours.push(at.int_in(item, &property, 0..=23)? as u32);
                    }
                }
                "weekDays" => {
                    for item in at.list_of(v) {
                        s.week_days.push(parse_weekday(item).ok_or_else(|| {
                            at.err(&property, format!("{item} is not a day of the week (Monday to Sunday)"))
                        })?);
                    }
                }
                "monthDays" => {
                    for item in at.list_of(v) {
                        let d = at.int_in(item, &property, -31..=31)?;
                        if d == 0 {
                            return Err(at.err(&property, "0 is not a day of the month (1 to 31, or -1 to -31 from the end)"));
                        }
                        s.month_days.push(d as i32);
                    }
                }
                "monthlyOccurrences" => {
                    for (i, item) in at.list_of(v).into_iter().enumerate() {
                        let here = format!("{property}[{i}]");
                        let o = at.object_of(item, &here)?;
                        let day_value = o.get("day").ok_or_else(|| at.err(&format!("{here}.day"), "is missing"))?;
                        let day = parse_weekday(day_value).ok_or_else(|| {
                            at.err(&format!("{here}.day"), format!("{day_value} is not a day of the week (Monday to Sunday)"))
                        })?;
                        let occurrence = match o.get("occurrence") {
                            None | Some(Value::Null) => None,
                            Some(n) => {
                                let n = at.int_in(n, &format!("{here}.occurrence"), -5..=5)?;
                                if n == 0 {
                                    return Err(at.err(&format!("{here}.occurrence"), "0 is not an occurrence (1 to 5, or -1 to -5 from the end)"));
                                }
                                Some(n as i32)
                            }
                        };
                        s.monthly_occurrences.push(MonthlyOccurrence { day, occurrence });
                    }
                }
                _ => {
                    return Err(at.err(
                        &property,
                        "is not a schedule element (minutes, hours, weekDays, monthDays, monthlyOccurrences)",
                    ))
                }
            }
        }
        let allowed: &[(&str, bool, &str)] = &[
            (
                "minutes",
                !s.minutes.is_empty() && frequency == Frequency::Minute,
                "a Minute frequency repeats by itself",
            ),
            (
                "hours",
                !s.hours.is_empty() && matches!(frequency, Frequency::Minute | Frequency::Hour),
                "needs a Day, Week or Month frequency",
            ),
            (
                "weekDays",
                !s.week_days.is_empty() && frequency != Frequency::Week,
                "can be used with a Week frequency only",
            ),
            (
                "monthDays",
                !s.month_days.is_empty() && frequency != Frequency::Month,
                "can be used with a Month frequency only",
            ),
            (
                "monthlyOccurrences",
                !s.monthly_occurrences.is_empty() && frequency != Frequency::Month,
                "can be used with a Month frequency only",
            ),
        ];
        if let Some((key, _, reason)) = allowed.iter().find(|(_, bad, _)| *bad) {
            return Err(at.err(&format!("{p}.{key}"), *reason));
        }
        Ok(s)
    }
}
