//! Compiling a plugin under the tenant's [`CompileLimits`]. Cranelift's time and memory grow
//! with the size of the largest function (a 6 MB function took 13.9 s and 1.3 GB), and wasmtime
//! can neither bound a compile's memory nor cancel it once started. So:
//! - before compiling, the component's size and every function body's size are checked against
//!   the caps (this bounds the memory of a compile, which the compiler spends per function);
//! - the compile runs on a thread of its own and the load waits for it until the deadline, then
//!   fails with [`PluginError::CompileTimeout`]; a compile past its deadline runs to its end in
//!   the background but its result is dropped, never cached;
//! - at most `max_concurrent_compiles` compiles run at once, abandoned ones included (a compile
//!   holds its slot until it really ends), so repeated timeouts cannot pile up compiles.
//!
//! Different plugins compile at the same time (each load compiles on its own thread), so one
//! large plugin does not hold up the others of a run.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::plugins::sandbox::human_bytes;
use crate::plugins::{CompileLimits, PluginError};

/// Compiles that may run at once; a compile holds a slot until it ends.
pub(super) struct CompileSlots {
    total: usize,
    free: Mutex<usize>,
    freed: Condvar,
}

/// A held slot, given back on drop.
pub(super) struct Slot(Arc<CompileSlots>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        self.0.freed.notify_one();
    }
}

impl CompileSlots {
    pub(super) fn new(total: usize) -> Arc<CompileSlots> {
        let total = total.max(1);
        Arc::new(CompileSlots {
            total,
            free: Mutex::new(total),
            freed: Condvar::new(),
        })
    }

    /// A slot, waiting for one until `deadline`; `None` when none came free in time.
    fn acquire(self: &Arc<Self>, deadline: Instant) -> Option<Slot> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            free = self
                .freed
                .wait_timeout(free, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *free -= 1;
        Some(Slot(self.clone()))
    }
}

/// Refuses a component over the size caps before anything compiles it: its total size, then
/// each function body of each core module inside it. A file that is no component at all (a
/// core module, or not WebAssembly) is refused first, saying so in those words rather than
/// with a parser's complaint about its bytes.
pub(super) fn check_size(
    id: &str,
    path: &Path,
    bytes: &[u8],
    limits: &CompileLimits,
) -> Result<(), PluginError> {
    let refuse = |reason: String| PluginError::CompileRefused {
        plugin: id.to_string(),
        path: path.to_path_buf(),
        reason,
    };
    if !wasmparser::Parser::is_component(bytes) {
        let message = if wasmparser::Parser::is_core_wasm(bytes) {
            "it is a core WebAssembly module, not a component; build plugins for wasm32-wasip2 \
             (`sluice plugin build`)"
        } else {
            "it is not a WebAssembly component (a component starts with `\\0asm` and the \
             component version; this file does not)"
        };
        return Err(PluginError::Compile {
            plugin: id.to_string(),
            path: path.to_path_buf(),
            message: message.to_string(),
        });
    }
    if bytes.len() as u64 > limits.max_wasm_bytes {
        return Err(refuse(format!(
            "it is {}, over the {} limit on a plugin's size",
            human_bytes(bytes.len() as u64),
            human_bytes(limits.max_wasm_bytes)
        )));
    }
    let mut module = 0usize;
    let mut function = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| PluginError::Compile {
            plugin: id.to_string(),
            path: path.to_path_buf(),
            message: format!("malformed: {e}"),
        })?;
        match payload {
            wasmparser::Payload::CodeSectionStart { .. } => {
                module += 1;
                function = 0;
            }
            wasmparser::Payload::CodeSectionEntry(body) => {
                let size = body.range().len() as u64;
                if size > limits.max_function_bytes {
                    return Err(refuse(format!(
                        "function {function} of its core module {module} is {}, over the {} limit per function (compile time and memory grow with a function's size)",
                        human_bytes(size),
                        human_bytes(limits.max_function_bytes)
                    )));
                }
                function += 1;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Compiles `bytes` on a thread of its own, waiting until `limits.timeout` has passed (the
/// wait for a free slot included). Returns the component and how long the compile took.
pub(super) fn compile_bounded(
    engine: &Engine,
    slots: &Arc<CompileSlots>,
    id: &str,
    path: &Path,
    bytes: &[u8],
    limits: &CompileLimits,
) -> Result<(Component, Duration), PluginError> {
    let start = Instant::now();
    let deadline = start + limits.timeout;
    let compile_err = |message: String| PluginError::Compile {
        plugin: id.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let timeout = |waiting: bool| PluginError::CompileTimeout {
        plugin: id.to_string(),
        path: path.to_path_buf(),
        limit: limits.timeout,
        waiting_for_slot: waiting.then_some(slots.total),
    };
    let slot = slots.acquire(deadline).ok_or_else(|| timeout(true))?;
    let (tx, rx) = mpsc::channel();
    let engine = engine.clone();
    let wasm = bytes.to_vec();
    std::thread::Builder::new()
        .name("sluice-plugin-compile".into())
        .spawn(move || {
            let res = Component::new(&engine, &wasm).map_err(|e| format!("{e:#}"));
            // Only now: an abandoned compile keeps its slot for as long as it really runs.
            drop(slot);
            let _ = tx.send(res);
        })
        .map_err(|e| compile_err(format!("cannot start a compile thread: {e}")))?;
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(c)) => Ok((c, start.elapsed())),
        Ok(Err(message)) => Err(compile_err(message)),
        Err(RecvTimeoutError::Timeout) => Err(timeout(false)),
        Err(RecvTimeoutError::Disconnected) => Err(compile_err(
            "the compile thread stopped unexpectedly".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_given_back_and_bounded() {
        let slots = CompileSlots::new(2);
        let soon = Instant::now() + Duration::from_secs(5);
        let a = slots.acquire(soon).unwrap();
        let _b = slots.acquire(soon).unwrap();
        // None free and the deadline already passed: no wait, no slot.
        assert!(slots.acquire(Instant::now()).is_none());
        drop(a);
        assert!(slots.acquire(Instant::now()).is_some());
    }
}
