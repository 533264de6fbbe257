//! Terminal progress: rows, rows/s and bytes on stderr. indicatif hides the bar by itself when
//! stderr is not a terminal, so logs and piped runs stay clean.

use indicatif::{HumanBytes, HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of one copy.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Progress {
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
        }
    }

    pub fn add(&self, rows: u64, bytes: u64) {
        let total = self
            .bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed)
            + bytes;
        self.bar.inc(rows);
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
