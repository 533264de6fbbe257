//! What workers count for `/metrics` (the `metrics` facade; the server's Prometheus recorder
//! renders them): runs by tenant and status, rows and bytes copied, plugin traps and timeouts.

use serde_json::Value;

/// The counters of one run, labelled with its tenant.
#[derive(Clone)]
pub struct RunMetrics {
    tenant: String,
}

impl RunMetrics {
    pub fn new(tenant: &str) -> Self {
        RunMetrics {
            tenant: tenant.to_string(),
        }
    }

    /// A run ended with `status`.
    pub fn run_finished(&self, status: &str) {
        metrics::counter!("sluice_runs_total", "tenant" => self.tenant.clone(), "status" => status.to_string())
            .increment(1);
    }

    /// An activity ended: a copy adds its rows and bytes, a plugin failure its kind.
    pub fn activity_finished(&self, record: &Value) {
        let output = &record["output"];
        if let Some(rows) = output["rowsCopied"].as_u64() {
            metrics::counter!("sluice_rows_copied_total", "tenant" => self.tenant.clone())
                .increment(rows);
        }
        if let Some(bytes) = output["dataWritten"].as_u64() {
            metrics::counter!("sluice_bytes_copied_total", "tenant" => self.tenant.clone())
                .increment(bytes);
        }
        let message = record["error"]["message"].as_str().unwrap_or_default();
        for (needle, kind) in [(" trapped in ", "trap"), (" timed out in ", "timeout")] {
            if message.contains("plugin") && message.contains(needle) {
                metrics::counter!("sluice_plugin_failures_total", "tenant" => self.tenant.clone(), "kind" => kind)
                    .increment(1);
            }
        }
    }
}
