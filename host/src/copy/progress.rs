//! Terminal progress: rows, rows/s and bytes on stderr. indicatif hides the bar by itself when
//! stderr is not a terminal, so logs and piped runs stay clean.

use std::sync::Arc;

use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::context::RunObserver;

/// Progress of one copy.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    bytes: Arc<std::sync::atomic::AtomicU64>,
    /// The run's observer, told the totals after each batch, with the activity's name.
    observer: Option<(Arc<dyn RunObserver>, Arc<str>)>,
}

impl Progress {
    /// A bar for copy `label`, drawn when `enabled` and stderr is a terminal.
    pub fn new(label: &str, enabled: bool) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {prefix}: {human_pos} rows {msg} [{elapsed}]")
        {
            bar.set_style(style);
        }
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Progress {
            bar,
            bytes: Default::default(),
            observer: None,
        }
    }

    /// The same progress, also reported to `observer`.
    pub fn observed(mut self, observer: Option<Arc<dyn RunObserver>>) -> Progress {
        let label: Arc<str> = Arc::from(self.bar.prefix());
        self.observer = observer.map(|o| (o, label));
        self
    }

    pub fn add(&self, rows: u64, bytes: u64) {
        let total = self
            .bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        self.bar.inc(rows);
        if let Some((observer, label)) = &self.observer {
            observer.copy_progress(label, self.bar.position(), total);
        }
        let secs = self.bar.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.bar.position() as f64 / secs
        } else {
            0.0
        };
        self.bar.set_message(format!(
            "({} rows/s, {})",
            HumanCount(rate as u64),
            HumanBytes(total)
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
