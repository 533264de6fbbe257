//! Time limits on guest code: a thread advancing the engine's epoch every tick, the
//! callback that interrupts a call past its deadline (and otherwise yields to tokio), and
//! [`run_guarded`], which runs one call under the epoch deadline and a tokio backstop timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store, StoreContextMut, UpdateDeadline};

use crate::plugins::sandbox::HostState;
use crate::plugins::TenantLimits;

/// Advances the engine's epoch every tick on a dedicated thread; stops when dropped.
pub(super) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub(super) fn start(engine: Engine, tick: Duration) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// At each epoch tick during a call: interrupt when the call's deadline has passed, otherwise
/// yield to the async executor (so a busy guest never holds a tokio worker for more than one
/// tick and the backstop timeout can fire) and check again next tick.
pub(super) fn on_epoch(
    mut ctx: StoreContextMut<'_, HostState>,
) -> wasmtime::Result<UpdateDeadline> {
    let data = ctx.data_mut();
    match data.deadline {
        Some(d) if Instant::now() >= d => {
            data.timed_out = true;
            Ok(UpdateDeadline::Interrupt)
        }
        _ => Ok(UpdateDeadline::Yield(1)),
    }
}

pub(super) type Guarded<R> = Result<wasmtime::Result<R>, tokio::time::error::Elapsed>;

/// Runs one guest call under the tenant's time limit: the epoch deadline (checked every tick,
/// traps the guest) inside a tokio timeout (catches a guest stuck in a host call, where epochs
/// are not checked).
pub(super) async fn run_guarded<R>(
    store: &mut Store<HostState>,
    limits: &TenantLimits,
    f: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
) -> Guarded<R> {
    store
        .data_mut()
        .begin_call(Instant::now() + limits.call_timeout);
    store.set_epoch_deadline(1);
    let backstop = limits.call_timeout + Duration::from_millis(250);
    let res = tokio::time::timeout(backstop, f(store)).await;
    store.data_mut().deadline = None;
    res
}
