//! A guarded call's outcome turned into the caller's value or a [`PluginError`] of the right
//! kind (timeout, memory refusal, trap), naming plugin, call and batch and carrying the guest's
//! stderr and the top of the wasm backtrace.

use wasmtime::{Store, Trap};

use super::epoch::Guarded;
use crate::plugins::guest_text::{multi_line, GUEST_TEXT_MAX};
use crate::plugins::sandbox::{HostState, Refusal};
use crate::plugins::{Call, PluginError, TenantLimits};

/// How much captured stderr an error carries.
const STDERR_IN_ERROR: usize = 4096;

/// Where a call happens, for errors.
pub(super) struct Site<'a> {
    pub(super) plugin: &'a str,
    pub(super) call: Call,
    pub(super) batch: Option<u64>,
    pub(super) limits: &'a TenantLimits,
}

/// Turns a guarded call's outcome into the caller's value or a [`PluginError`] of the right
/// kind: timeout, memory refusal, or trap (with the guest's stderr).
pub(super) fn classify<R>(
    store: &mut Store<HostState>,
    res: Guarded<R>,
    site: &Site<'_>,
) -> Result<R, PluginError> {
    // The guest's own words: kept to the tail and with control characters escaped (it may span
    // lines, which the error shows indented under "guest stderr:").
    let stderr = multi_line(&store.data().stderr.tail(STDERR_IN_ERROR), STDERR_IN_ERROR);
    let refused = store.data_mut().limiter.refused.take();
    let timed_out = store.data().timed_out;
    let timeout = || PluginError::Timeout {
        plugin: site.plugin.to_string(),
        call: site.call,
        batch: site.batch,
        limit: site.limits.call_timeout,
        stderr: stderr.clone(),
    };
    let e = match res {
        Err(_elapsed) => return Err(timeout()),
        Ok(Ok(v)) if refused.is_none() => return Ok(v),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e),
    };
    if timed_out || e.as_ref().and_then(|e| e.downcast_ref::<Trap>()) == Some(&Trap::Interrupt) {
        return Err(timeout());
    }
    // A backtrace names the guest's functions, as the guest's name section spells them.
    let trap = e
        .as_ref()
        .map(|e| multi_line(&trap_message(e), GUEST_TEXT_MAX));
    match refused {
        Some(Refusal::Limit(refused)) => {
            let limit = store.data().limiter.memory_limit() as u64;
            let message = match trap {
                Some(t) => format!("{refused}; then {t}"),
                None => refused,
            };
            return Err(PluginError::MemoryLimit {
                plugin: site.plugin.to_string(),
                call: site.call,
                batch: site.batch,
                limit_bytes: limit,
                message,
                stderr,
            });
        }
        Some(Refusal::Budget(over)) => {
            return Err(PluginError::MemoryBudget {
                plugin: site.plugin.to_string(),
                call: site.call,
                batch: site.batch,
                budget: over.scope.to_string(),
                limit_bytes: over.limit,
                in_use_bytes: over.in_use,
                requested_bytes: over.requested,
                stderr,
            });
        }
        None => {}
    }
    Err(PluginError::Trap {
        plugin: site.plugin.to_string(),
        call: site.call,
        batch: site.batch,
        message: trap.unwrap_or_else(|| "unknown failure".into()),
        stderr,
    })
}

/// The trap's description plus the top of the wasm backtrace (a stack overflow has thousands
/// of frames; the first few say where).
fn trap_message(e: &wasmtime::Error) -> String {
    let mut msg = match e.downcast_ref::<Trap>() {
        // `Trap`'s own text already reads "wasm trap: ...".
        Some(t) => t.to_string(),
        None => {
            // Not a trap: a host-side failure during the call (e.g. a canonical ABI check on
            // the guest's return value). The root cause is the useful part.
            error_chain(e)
        }
    };
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        let text = bt.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let shown = lines.len().min(8);
        if shown > 0 {
            msg.push('\n');
            msg.push_str(&lines[..shown].join("\n"));
            if lines.len() > shown {
                msg.push_str(&format!("\n    … {} more frames", lines.len() - shown));
            }
        }
    }
    msg
}

/// The error's context chain without the wasm backtrace (shown separately, trimmed).
fn error_chain(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .filter(|c| !c.starts_with("error while executing at wasm backtrace"))
        .collect::<Vec<_>>()
        .join(": ")
}
