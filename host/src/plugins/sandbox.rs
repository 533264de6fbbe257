//! What one plugin instance's `Store` holds: a WASI p2 context that grants nothing, captured
//! stdio, the resource limiter, the per-call deadline and the capped `log` import.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::sluice::plugin::{log, types};
use super::budget::{Charge, OverBudget};
use super::guest_text;
use super::TenantLimits;

/// Per-instance state inside the `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) log: LogState,
    pub(crate) stdout: CappedPipe,
    pub(crate) stderr: CappedPipe,
    /// When the running call must end; checked at each epoch tick.
    pub(crate) deadline: Option<Instant>,
    /// Set by the epoch callback when it interrupts a call, so the trap is reported as a timeout.
    pub(crate) timed_out: bool,
}

impl HostState {
    /// A sandbox that grants nothing: no preopened directories, no environment, no arguments,
    /// no network of any kind, empty stdin. Clocks and random numbers stay available (they
    /// reveal nothing about the host that a plugin could exfiltrate, having no network).
    /// `charge` takes the instance's linear memory from the tenant's and the process's budgets.
    pub(crate) fn new(
        limits: &TenantLimits,
        plugin: Arc<str>,
        tenant: Arc<str>,
        charge: Charge,
    ) -> Self {
        let stdout = CappedPipe::new(limits.max_stdio_bytes);
        let stderr = CappedPipe::new(limits.max_stdio_bytes);
        let wasi = WasiCtxBuilder::new()
            .stdin(tokio::io::empty())
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            // Belt and braces: even were TCP/UDP allowed, every address is refused.
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
                table_elements: limits.max_table_elements,
                instances: limits.max_instances,
                tables: limits.max_tables,
                memories: limits.max_memories,
                charge,
                refused: None,
            },
            log: LogState {
                plugin,
                tenant,
                per_call_max: limits.max_log_messages_per_call,
                per_instance_max: limits.max_log_messages,
                max_bytes: limits.max_log_message_bytes,
                in_call: 0,
                total: 0,
                dropped: 0,
                notified: false,
            },
            stdout,
            stderr,
            deadline: None,
            timed_out: false,
        }
    }

    /// Resets the per-call state before a guest call.
    pub(crate) fn begin_call(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
        self.timed_out = false;
        self.limiter.refused = None;
        self.log.in_call = 0;
        self.log.notified = false;
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Enforces the tenant's memory cap per instance and the budgets over many instances, and
/// remembers a refusal, so a guest that aborts after a failed allocation is reported as hitting
/// the limit or budget rather than as a bare trap.
pub(crate) struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    instances: usize,
    tables: usize,
    memories: usize,
    /// This instance's linear memory, reserved in the tenant's and the process's budgets;
    /// released when the store (and so the instance's memory) is dropped. A growth granted
    /// here that then fails in wasmtime stays counted until then: over-counting is the safe
    /// side, and wasmtime's failure callback cannot tell which growth failed.
    charge: Charge,
    /// What was refused during the current call.
    pub(crate) refused: Option<Refusal>,
}

/// What the limiter refused.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// Over this instance's own limit (a description of the growth).
    Limit(String),
    /// Over a budget shared with other instances.
    Budget(OverBudget),
}

impl Limiter {
    pub(crate) fn memory_limit(&self) -> usize {
        self.memory_bytes
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.refused = Some(Refusal::Limit(format!(
                "linear memory growth from {} to {} refused (limit {})",
                human_bytes(current as u64),
                human_bytes(desired as u64),
                human_bytes(self.memory_bytes as u64)
            )));
            return Ok(false);
        }
        let more = desired.saturating_sub(current) as u64;
        if let Err(over) = self.charge.grow(more) {
            self.refused = Some(Refusal::Budget(over));
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.refused = Some(Refusal::Limit(format!(
                "table growth from {current} to {desired} elements refused (limit {})",
                self.table_elements
            )));
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

/// `1.5 MiB`-style sizes for messages.
pub(crate) fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    if n >= KIB * KIB * KIB {
        format!("{:.1} GiB", n as f64 / (KIB * KIB * KIB) as f64)
    } else if n >= KIB * KIB {
        format!("{:.1} MiB", n as f64 / (KIB * KIB) as f64)
    } else if n >= KIB {
        format!("{:.1} KiB", n as f64 / KIB as f64)
    } else {
        format!("{n} B")
    }
}

/// Caps on the `log` import, counted per call and per instance.
pub(crate) struct LogState {
    plugin: Arc<str>,
    tenant: Arc<str>,
    per_call_max: u32,
    per_instance_max: u32,
    max_bytes: usize,
    in_call: u32,
    total: u32,
    pub(crate) dropped: u64,
    /// One "dropping" notice per call, so a chatty guest cannot flood the host log that way.
    notified: bool,
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        let l = &mut self.log;
        if l.in_call >= l.per_call_max || l.total >= l.per_instance_max {
            l.dropped += 1;
            if !l.notified {
                l.notified = true;
                tracing::warn!(
                    target: "sluice::plugin",
                    plugin = %l.plugin,
                    tenant = %l.tenant,
                    "plugin log limit reached ({} per call, {} per instance); dropping further messages",
                    l.per_call_max,
                    l.per_instance_max
                );
            }
            return;
        }
        l.in_call += 1;
        l.total += 1;
        // One line, cut to size: a newline or an escape sequence in a guest's message must not
        // forge a host log record or drive the operator's terminal.
        let message = guest_text::one_line(&message, l.max_bytes);
        let (plugin, tenant) = (&*l.plugin, &*l.tenant);
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "sluice::plugin", plugin, tenant, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "sluice::plugin", plugin, tenant, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "sluice::plugin", plugin, tenant, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "sluice::plugin", plugin, tenant, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "sluice::plugin", plugin, tenant, "{message}")
            }
        }
    }
}

/// An in-memory stdout/stderr that keeps the last `cap` bytes and never fails a write.
///
/// wasmtime's `MemoryOutputPipe` traps the guest once full; a plugin that prints a lot must not
/// be killed for it, and the end of the output (where a panic message lands) is what matters.
#[derive(Clone)]
pub(crate) struct CappedPipe {
    inner: Arc<Mutex<PipeBuf>>,
}

struct PipeBuf {
    cap: usize,
    tail: VecDeque<u8>,
    discarded: u64,
}

impl CappedPipe {
    pub(crate) fn new(cap: usize) -> Self {
        CappedPipe {
            inner: Arc::new(Mutex::new(PipeBuf {
                cap,
                tail: VecDeque::new(),
                discarded: 0,
            })),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let Ok(mut b) = self.inner.lock() else {
            return;
        };
        let cap = b.cap;
        let bytes = if bytes.len() > cap {
            b.discarded += (bytes.len() - cap) as u64;
            &bytes[bytes.len() - cap..]
        } else {
            bytes
        };
        let overflow = (b.tail.len() + bytes.len()).saturating_sub(cap);
        if overflow > 0 {
            b.tail.drain(..overflow);
            b.discarded += overflow as u64;
        }
        b.tail.extend(bytes);
    }

    /// The captured text (lossy UTF-8), at most the last `max` bytes, prefixed with `…` when
    /// earlier output was dropped.
    pub(crate) fn tail(&self, max: usize) -> String {
        let Ok(b) = self.inner.lock() else {
            return String::new();
        };
        let skip = b.tail.len().saturating_sub(max);
        let bytes: Vec<u8> = b.tail.iter().skip(skip).copied().collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if skip > 0 || b.discarded > 0 {
            format!("…{text}")
        } else {
            text
        }
    }
}

/// A generous write permit: the pipe accepts anything, it just forgets the oldest bytes.
const PIPE_PERMIT: usize = 64 * 1024;

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(PIPE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_pipe_keeps_the_tail() {
        let p = CappedPipe::new(8);
        p.append(b"hello ");
        assert_eq!(p.tail(100), "hello ");
        p.append(b"world!");
        assert_eq!(p.tail(100), "…o world!");
        p.append(&[b'x'; 20]);
        assert_eq!(p.tail(100), "…xxxxxxxx");
        assert_eq!(p.tail(3), "…xxx");
    }
}
