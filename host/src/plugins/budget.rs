//! Memory budgets over many plugin instances: one per tenant (all that tenant's live
//! instances together) and one per runtime (every tenant's instances in the process). The
//! per-instance cap alone let twenty instances of 240 MB each take 4.9 GB; with budgets, the
//! growth that would pass either total is refused (the instance fails with
//! [`super::PluginError::MemoryBudget`]) instead of growing the process.
//!
//! Each instance's limiter holds a [`Charge`]: the linear memory it was granted, reserved in
//! both budgets, released when the instance (its store) is dropped.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Whose total a budget bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetScope {
    /// All live instances of one tenant.
    Tenant(String),
    /// All live instances of every tenant on one runtime (a process runs one runtime).
    Process,
}

impl fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetScope::Tenant(t) => write!(f, "tenant {t}"),
            BudgetScope::Process => f.write_str("the process"),
        }
    }
}

/// Bytes of linear memory granted against a limit. Shared by the instances it bounds.
#[derive(Debug)]
pub struct MemoryBudget {
    scope: BudgetScope,
    limit: AtomicU64,
    used: AtomicU64,
}

/// A refused reservation: which budget, its limit, what was in use and what was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    pub scope: BudgetScope,
    pub limit: u64,
    pub in_use: u64,
    pub requested: u64,
}

impl MemoryBudget {
    pub fn new(scope: BudgetScope, limit: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            scope,
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(0),
        })
    }

    pub fn scope(&self) -> &BudgetScope {
        &self.scope
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Changes the limit (a tenant's limits changed). Memory already granted stays granted;
    /// only later growth sees the new limit.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Bytes granted to live instances now.
    pub fn in_use(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from the budget, or says why not.
    fn reserve(&self, bytes: u64) -> Result<(), OverBudget> {
        let limit = self.limit();
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .map(|_| ())
            .map_err(|in_use| OverBudget {
                scope: self.scope.clone(),
                limit,
                in_use,
                requested: bytes,
            })
    }

    fn release(&self, bytes: u64) {
        // Never below zero, whatever happens.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// One instance's share of its budgets: reserved in all of them or in none, released on drop.
#[derive(Debug)]
pub struct Charge {
    budgets: Vec<Arc<MemoryBudget>>,
    held: u64,
}

impl Charge {
    /// A charge against `budgets`, checked in order (the first to refuse is reported).
    pub fn new(budgets: Vec<Arc<MemoryBudget>>) -> Charge {
        Charge { budgets, held: 0 }
    }

    /// Reserves `bytes` more in every budget, or none when one refuses.
    pub fn grow(&mut self, bytes: u64) -> Result<(), OverBudget> {
        for (i, b) in self.budgets.iter().enumerate() {
            if let Err(e) = b.reserve(bytes) {
                self.budgets[..i].iter().for_each(|b| b.release(bytes));
                return Err(e);
            }
        }
        self.held = self.held.saturating_add(bytes);
        Ok(())
    }

    /// Gives back `bytes` (a growth that was granted here but then failed).
    pub fn shrink(&mut self, bytes: u64) {
        let bytes = bytes.min(self.held);
        self.budgets.iter().for_each(|b| b.release(bytes));
        self.held -= bytes;
    }

    /// Bytes this charge holds.
    pub fn held(&self) -> u64 {
        self.held
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let held = self.held;
        self.shrink(held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_reserve_in_every_budget_or_none() {
        let tenant = MemoryBudget::new(BudgetScope::Tenant("t".into()), 100);
        let process = MemoryBudget::new(BudgetScope::Process, 150);
        let other = MemoryBudget::new(BudgetScope::Tenant("u".into()), 1000);
        let mut a = Charge::new(vec![tenant.clone(), process.clone()]);
        a.grow(60).unwrap();
        let mut b = Charge::new(vec![tenant.clone(), process.clone()]);
        let e = b.grow(50).unwrap_err();
        assert_eq!(
            e,
            OverBudget {
                scope: BudgetScope::Tenant("t".into()),
                limit: 100,
                in_use: 60,
                requested: 50
            }
        );
        assert_eq!(process.in_use(), 60, "nothing half-reserved");
        let mut c = Charge::new(vec![other.clone(), process.clone()]);
        let e = c.grow(100).unwrap_err();
        assert_eq!(e.scope, BudgetScope::Process);
        assert_eq!(
            other.in_use(),
            0,
            "the tenant's reservation was rolled back"
        );
        c.grow(90).unwrap();
        drop(a);
        assert_eq!((tenant.in_use(), process.in_use()), (0, 90));
        c.shrink(1000);
        assert_eq!((c.held(), process.in_use(), other.in_use()), (0, 0, 0));
    }
}
