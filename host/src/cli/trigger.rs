//! `sluice trigger next`: prints when a trigger of a factory would fire, without running
//! anything, so a recurrence can be checked before it is deployed.
//!
//! The definitions are read from `PATH/trigger/*.json` (the git-integration layout) or from
//! the JSON file given; the arithmetic is [`crate::model::trigger`]'s.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde_json::{json, Value};

use super::OutputFormat;
use crate::model::error::ModelError;
use crate::model::trigger::time::format_utc;
use crate::model::trigger::{Trigger, TriggerKind};

#[derive(Subcommand)]
pub enum TriggerCommand {
    /// Print a trigger's next fire times (schedule) or windows (tumbling window); runs nothing.
    Next(NextArgs),
}

#[derive(clap::Args)]
pub struct NextArgs {
    /// Factory folder (with trigger/) or a trigger's JSON file.
    pub path: PathBuf,
    /// The trigger's name.
    #[arg(long)]
    pub trigger: String,
    /// How many fire times to print.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub count: u64,
    /// Count from this instant (RFC 3339, e.g. 2027-05-01T00:00:00Z), inclusive; default now.
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub from: Option<DateTime<Utc>>,
    /// Text, or a JSON array: UTC instants for a schedule trigger, {"windowStartTime",
    /// "windowEndTime"} objects for a tumbling window trigger.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("{text:?} is not an instant; expected RFC 3339 such as 2027-05-01T00:00:00Z")
        })
}

pub fn dispatch(command: TriggerCommand) -> Result<ExitCode> {
    match command {
        TriggerCommand::Next(args) => next(&args),
    }
}

fn next(args: &NextArgs) -> Result<ExitCode> {
    let trigger = load_trigger(&args.path, &args.trigger)?;
    let from = args.from.unwrap_or_else(Utc::now);
    let count = usize::try_from(args.count).unwrap_or(usize::MAX);
    let (lines, items): (Vec<String>, Vec<Value>) = match &trigger.kind {
        TriggerKind::Schedule(s) => {
            let rec = &s.recurrence;
            rec.fire_times(from)
                .take(count)
                .map(|at| {
                    let local = at.with_timezone(&rec.zone);
                    let text = if matches!(rec.zone.name(), "UTC" | "Etc/UTC" | "Etc/GMT") {
                        format_utc(at)
                    } else {
                        format!(
                            "{}  ({} {})",
                            format_utc(at),
                            local.format("%Y-%m-%d %H:%M:%S %Z"),
                            rec.zone.name()
                        )
                    };
                    (text, json!(format_utc(at)))
                })
                .unzip()
        }
        TriggerKind::TumblingWindow(t) => t
            .windows_from(from)
            .take(count)
            .map(|w| {
                let text = if t.delay.is_zero() {
                    format!("{} .. {}", format_utc(w.start), format_utc(w.end))
                } else {
                    format!(
                        "{} .. {}  (runs at {})",
                        format_utc(w.start),
                        format_utc(w.end),
                        format_utc(t.fire_time(&w))
                    )
                };
                let item = json!({
                    "windowStartTime": format_utc(w.start),
                    "windowEndTime": format_utc(w.end),
                });
                (text, item)
            })
            .unzip(),
        TriggerKind::Other(ty) => bail!(
            "trigger '{}' is a {ty}: it fires on events, not at times that can be listed",
            trigger.name
        ),
    };
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&items)?),
        OutputFormat::Text => {
            for line in &lines {
                println!("{line}");
            }
            if lines.len() < count {
                eprintln!(
                    "note: trigger '{}' fires no more after these ({} found from {})",
                    trigger.name,
                    lines.len(),
                    format_utc(from)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The trigger named `name`: from `path/trigger/*.json` for a factory folder, or the JSON file
/// `path` itself. Only that definition is parsed, so another trigger's problem does not stop
/// this one being checked.
fn load_trigger(path: &Path, name: &str) -> Result<Trigger> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let dir = path.join("trigger");
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("{}: cannot read the trigger folder", dir.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let p = entry
                .with_context(|| format!("{}: cannot list", dir.display()))?
                .path();
            if p.extension().is_some_and(|e| e == "json") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut known = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|error| ModelError::Io {
            path: file.clone(),
            error,
        })?;
        let json: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
            path: file.clone(),
            line: e.line(),
            column: e.column(),
            reason: e.to_string(),
        })?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let found = json
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(&stem)
            .to_string();
        if found == name {
            return Trigger::from_json(&json, &stem).with_context(|| format!("{}", file.display()));
        }
        known.push(found);
    }
    if known.is_empty() {
        bail!("{}: no trigger definitions found", path.display());
    }
    bail!(
        "{}: no trigger '{name}' (defined: {})",
        path.display(),
        known.join(", ")
    )
}
