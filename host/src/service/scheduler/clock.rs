//! The scheduler's notion of "now", injected: the service reads the system clock, tests drive
//! a [`ManualClock`] so that a schedule is exercised over hours of simulated time without a
//! single sleep.

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// Where the scheduler's loop reads the time from.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The machine's clock (what `sluice serve` uses).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, at: DateTime<Utc>) {
        // A poisoned lock only means another test thread panicked; the time is still valid.
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = at;
    }

    /// Moves the time forward by `by`; the new time.
    pub fn advance(&self, by: TimeDelta) -> DateTime<Utc> {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.checked_add_signed(by).unwrap_or(*now);
        *now
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}
