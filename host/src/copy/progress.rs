//! Terminal progress of a run's copies. One [`ProgressBoard`] per run holds one line per
//! running copy (indicatif's `MultiProgress`), so parallel copies never draw over each other;
//! the front end prints its log lines through the same board ([`ProgressBoard::suspend`]) so
//! they land above the bars, not glued to them. A copy's line goes away when the copy ends,
//! however it ends, so no stale line stays on screen.
//!
//! What a line shows: rows, rows/s and bytes read always; a bar, percentage and ETA only when
//! the source could tell its size before reading ([`SizeHint`]): rows for a whole PostgreSQL
//! table (its catalog estimate), bytes for files (the sum of their sizes; the bar then counts
//! bytes read from the store, which is what the file sizes measure). Bytes are binary units
//! (KiB, MiB), as in the run summary. indicatif draws nothing when stderr is not a terminal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{
    HumanBytes, HumanCount, HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget,
    ProgressStyle,
};

use super::context::RunObserver;
use crate::stores::SizeHint;

/// The lines of one run's copies, shared by its copies (cheap to clone) and by the front end
/// that prints logs through it.
#[derive(Clone)]
pub struct ProgressBoard {
    multi: MultiProgress,
    colour: bool,
}

impl ProgressBoard {
    /// Lines on stderr, drawn only while stderr is a terminal; coloured when `colour` (the
    /// front end decides: a terminal, and `NO_COLOR` unset).
    pub fn stderr(colour: bool) -> ProgressBoard {
        ProgressBoard {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            colour,
        }
    }

    /// A board that draws nothing (an embedding program's runs, tests).
    pub fn hidden() -> ProgressBoard {
        ProgressBoard {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            colour: false,
        }
    }

    /// Runs `f` (which prints to stderr) with the lines cleared, then draws them again below
    /// what it printed.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    /// A new line for copy `label`, shown until the returned progress (all its clones) is
    /// dropped or finished.
    pub fn line(&self, label: &str) -> Progress {
        // Styled and labelled before it joins the board: its first frame is already complete.
        let bar = ProgressBar::no_length()
            .with_style(style(None, self.colour))
            .with_prefix(label.to_string());
        let progress = Progress {
            line: Arc::new(Line {
                bar: self.multi.add(bar),
                multi: self.multi.clone(),
                colour: self.colour,
                rows: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                by_bytes: std::sync::atomic::AtomicBool::new(false),
            }),
            observer: None,
        };
        progress.describe();
        progress
            .line
            .bar
            .enable_steady_tick(std::time::Duration::from_millis(200));
        progress
    }
}

/// One copy's line; removed from the board when the last [`Progress`] holding it goes.
struct Line {
    bar: ProgressBar,
    multi: MultiProgress,
    colour: bool,
    rows: AtomicU64,
    bytes: AtomicU64,
    /// The bar's position counts bytes (a file source of known size), not rows.
    by_bytes: std::sync::atomic::AtomicBool,
}

impl Drop for Line {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        self.multi.remove(&self.bar);
    }
}

/// The line template: a bar with percentage and ETA when the total is known, a spinner
/// otherwise. `{msg}` carries what the bar's position does not (rows/s, bytes or rows).
fn style(total: Option<SizeHint>, colour: bool) -> ProgressStyle {
    ProgressStyle::with_template(&template(total, colour))
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .progress_chars("=> ")
}

/// [`style`]'s template text.
fn template(total: Option<SizeHint>, colour: bool) -> String {
    let (spinner, prefix) = if colour {
        ("{spinner:.green}", "{prefix:.cyan.bold}")
    } else {
        ("{spinner}", "{prefix}")
    };
    match total {
        None => format!("{spinner} {prefix}: {{human_pos}} rows {{msg}} [{{elapsed}}]"),
        Some(SizeHint::Rows(_)) => format!(
            "{spinner} {prefix}: [{{bar:30}}] {{human_pos}}/{{human_len}} rows {{percent}}% {{msg}} [{{elapsed}}]"
        ),
        Some(SizeHint::Bytes(_)) => format!(
            "{spinner} {prefix}: [{{bar:30}}] {{binary_bytes}}/{{binary_total_bytes}} {{percent}}% {{msg}} [{{elapsed}}]"
        ),
    }
}

/// Progress of one copy: its line on the run's board, and the run's observer.
#[derive(Clone)]
pub struct Progress {
    line: Arc<Line>,
    /// The run's observer, told the totals after each batch, with the activity's name.
    observer: Option<(Arc<dyn RunObserver>, Arc<str>)>,
}

impl Progress {
    /// The same progress, also reported to `observer` as activity `activity`.
    pub fn observed(mut self, observer: Option<Arc<dyn RunObserver>>, activity: &str) -> Self {
        let activity: Arc<str> = Arc::from(activity);
        self.observer = observer.map(|o| (o, activity));
        self
    }

    /// The line's label.
    pub fn label(&self) -> String {
        self.line.bar.prefix()
    }

    /// The source's size, when it could tell: the line becomes a bar with percentage and ETA.
    pub fn set_size(&self, size: Option<SizeHint>) {
        let line = &self.line;
        let (length, by_bytes) = match size {
            None => return,
            Some(SizeHint::Rows(n)) => (n, false),
            Some(SizeHint::Bytes(n)) => (n, true),
        };
        line.by_bytes.store(by_bytes, Ordering::Relaxed);
        line.bar.set_style(style(size, line.colour));
        line.bar.set_length(length);
        line.bar.set_position(if by_bytes {
            line.bytes.load(Ordering::Relaxed)
        } else {
            line.rows.load(Ordering::Relaxed)
        });
        self.describe();
    }

    /// Counts a batch read from the source.
    pub fn add(&self, rows: u64, bytes: u64) {
        let line = &self.line;
        let total_rows = line.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let total_bytes = line.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let by_bytes = line.by_bytes.load(Ordering::Relaxed);
        line.bar.inc(if by_bytes { bytes } else { rows });
        // An estimate (stale statistics) may fall short: the total grows with what was read,
        // so the line never claims more than 100%.
        if let Some(length) = line.bar.length() {
            if line.bar.position() > length {
                line.bar.set_length(line.bar.position());
            }
        }
        if let Some((observer, activity)) = &self.observer {
            observer.copy_progress(activity, total_rows, total_bytes);
        }
        self.describe();
    }

    /// Sets the line's message: what the bar's own fields do not show, and with a known
    /// total the time left at the copy's average rate so far (indicatif's own estimate swings
    /// with the batch-sized steps).
    fn describe(&self) {
        let line = &self.line;
        let rows = line.rows.load(Ordering::Relaxed);
        let bytes = line.bytes.load(Ordering::Relaxed);
        let secs = line.bar.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
        let by_bytes = line.by_bytes.load(Ordering::Relaxed);
        let mut message = if line.bar.length().is_some() && by_bytes {
            format!(
                "({} rows, {} rows/s",
                HumanCount(rows),
                HumanCount(rate as u64)
            )
        } else {
            format!("({} rows/s, {}", HumanCount(rate as u64), HumanBytes(bytes))
        };
        let position = line.bar.position();
        if let Some(length) = line.bar.length() {
            if position > 0 && secs > 0.0 {
                let left = (length - position.min(length)) as f64 * secs / position as f64;
                message.push_str(&format!(
                    ", ETA {}",
                    HumanDuration(std::time::Duration::from_secs_f64(left))
                ));
            }
        }
        message.push(')');
        line.bar.set_message(message);
    }

    /// Ends the line (it is cleared from the screen); later calls do nothing.
    pub fn finish(&self) {
        self.line.bar.finish_and_clear();
        self.line.multi.remove(&self.line.bar);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_row_total_makes_a_bar_that_never_passes_it() {
        let board = ProgressBoard::hidden();
        let p = board.line("ForEach1[2] CopyOne");
        assert_eq!(p.label(), "ForEach1[2] CopyOne");
        p.add(10, 100);
        p.set_size(Some(SizeHint::Rows(40)));
        assert_eq!(
            p.line.bar.position(),
            10,
            "rows read before the size counted"
        );
        assert_eq!(p.line.bar.length(), Some(40));
        p.add(50, 500);
        assert_eq!(p.line.bar.position(), 60);
        assert_eq!(
            p.line.bar.length(),
            Some(60),
            "the total grows with the rows read"
        );
    }

    #[test]
    fn a_file_total_counts_bytes_and_names_rows_in_the_message() {
        let board = ProgressBoard::hidden();
        let p = board.line("Copy");
        p.set_size(Some(SizeHint::Bytes(4096)));
        p.add(7, 1024);
        assert_eq!(p.line.bar.position(), 1024);
        assert!(
            p.line.bar.message().starts_with("(7 rows,"),
            "{}",
            p.line.bar.message()
        );
    }

    #[test]
    fn an_unknown_size_keeps_a_spinner_with_rows_and_bytes() {
        let board = ProgressBoard::hidden();
        let p = board.line("Copy");
        p.set_size(None);
        p.add(3, 2048);
        assert_eq!(p.line.bar.length(), None);
        assert_eq!(p.line.bar.position(), 3);
        assert!(
            p.line.bar.message().ends_with("2.00 KiB)"),
            "{}",
            p.line.bar.message()
        );
    }

    #[test]
    fn colour_codes_only_when_asked_and_every_template_parses() {
        for total in [None, Some(SizeHint::Rows(1)), Some(SizeHint::Bytes(1))] {
            for colour in [false, true] {
                let t = template(total, colour);
                assert!(ProgressStyle::with_template(&t).is_ok(), "{t}");
                assert_eq!(t.contains(".green"), colour, "{t}");
            }
        }
    }
}
