//! One plugin instance's lifecycle: instantiated and `create`d in a fresh store under the
//! tenant's limits, then `process` and `flush` one call at a time, each input and output checked
//! against the boundary cap and converted; a trap, timeout or limit discards the instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::types::Type;
use wasmtime::component::ResourceAny;
use wasmtime::Store;

use super::epoch::{run_guarded, Guarded};
use super::traps::{classify, Site};
use super::{LoadedPlugin, PluginRuntime};
use crate::plugins::bindings::Plugin;
use crate::plugins::convert;
use crate::plugins::copy_tuples::{self, OutputError};
use crate::plugins::guest_text::{one_line, GUEST_TEXT_MAX};
use crate::plugins::sandbox::HostState;
use crate::plugins::{Call, PluginError, Tenant};
use crate::types::batch::Batch;
use crate::types::schema::{Schema, SchemaRef};

/// A row the plugin refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the row in the input batch.
    pub row: usize,
    pub message: String,
}

impl PluginRuntime {
    /// Creates an instance of `plugin` for `tenant` and one stream of batches of `input`:
    /// instantiates it in a fresh `Store` under the tenant's limits and calls
    /// `transformer.create(config_json, input)` and `output-schema`, all within one call's
    /// time budget.
    pub async fn instantiate(
        &self,
        tenant: &Tenant,
        plugin: &Arc<LoadedPlugin>,
        config_json: &str,
        input: &Schema,
    ) -> Result<PluginInstance, PluginError> {
        let label = plugin.id();
        let wit_input = convert::schema_to_wit(input).map_err(|e| PluginError::InvalidInput {
            plugin: label.clone(),
            call: Call::Create,
            batch: None,
            message: e.to_string(),
        })?;
        let t0 = Instant::now();
        let mut store = self.new_store(tenant, &label);
        let limits = &tenant.limits;
        let site = Site {
            plugin: &label,
            call: Call::Create,
            batch: None,
            limits,
        };
        let mut instantiate_time = Duration::ZERO;
        let res = run_guarded(&mut store, limits, async |store| {
            let bindings = plugin.compiled.pre.instantiate_async(&mut *store).await?;
            instantiate_time = t0.elapsed();
            let created = bindings
                .sluice_plugin_transform()
                .transformer()
                .call_create(&mut *store, config_json, &wit_input)
                .await?;
            let out = match created {
                Ok(handle) => {
                    let schema = bindings
                        .sluice_plugin_transform()
                        .transformer()
                        .call_output_schema(&mut *store, handle)
                        .await?;
                    Ok((handle, schema))
                }
                Err(msg) => Err(msg),
            };
            Ok((bindings, out))
        })
        .await;
        let (bindings, created) = classify(&mut store, res, &site)?;
        let (handle, wit_schema) = created.map_err(|message| PluginError::Guest {
            plugin: label.clone(),
            call: Call::Create,
            batch: None,
            message: one_line(&message, GUEST_TEXT_MAX),
        })?;
        let output_schema = Arc::new(convert::schema_from_wit(wit_schema));
        Ok(PluginInstance {
            _runtime: self.clone(),
            plugin: plugin.clone(),
            tenant: tenant.clone(),
            label,
            store: Some(store),
            bindings,
            handle,
            input_schema: Arc::new(input.clone()),
            output_schema,
            copy_output: None,
            poisoned: None,
            instantiate_time,
            create_time: t0.elapsed(),
        })
    }
}

/// One plugin instance for one tenant and one stream. Not shared: calls take `&mut self`, one
/// batch at a time. Dropping it frees the instance's memory.
pub struct PluginInstance {
    /// Keeps the epoch ticker alive as long as the instance can run guest code.
    _runtime: PluginRuntime,
    plugin: Arc<LoadedPlugin>,
    tenant: Tenant,
    label: String,
    /// `None` once discarded after a trap, timeout or limit.
    store: Option<Store<HostState>>,
    bindings: Plugin,
    handle: ResourceAny,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    /// Set by [`PluginInstance::emit_copy_tuples`].
    copy_output: Option<Arc<[Type]>>,
    poisoned: Option<String>,
    instantiate_time: Duration,
    create_time: Duration,
}

impl PluginInstance {
    /// The schema of the batches `process` and `flush` return.
    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// From now on return batches as binary COPY tuples encoded for columns of `targets` (the
    /// sink's types, each able to take its output column's values) instead of engine values.
    pub fn emit_copy_tuples(&mut self, targets: Arc<[Type]>) {
        self.copy_output = Some(targets);
    }

    pub fn input_schema(&self) -> SchemaRef {
        self.input_schema.clone()
    }

    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Store creation plus instantiation (before `create` ran).
    pub fn instantiate_time(&self) -> Duration {
        self.instantiate_time
    }

    /// Instantiation plus `create` and `output-schema`.
    pub fn create_time(&self) -> Duration {
        self.create_time
    }

    /// Why the instance was discarded, if it was.
    pub fn poisoned(&self) -> Option<&str> {
        self.poisoned.as_deref()
    }

    /// The last bytes the guest wrote to stderr (empty once discarded).
    pub fn stderr(&self) -> String {
        self.store
            .as_ref()
            .map(|s| s.data().stderr.tail(usize::MAX))
            .unwrap_or_default()
    }

    /// The last bytes the guest wrote to stdout (empty once discarded).
    pub fn stdout(&self) -> String {
        self.store
            .as_ref()
            .map(|s| s.data().stdout.tail(usize::MAX))
            .unwrap_or_default()
    }

    /// Log messages dropped because of the caps.
    pub fn dropped_log_messages(&self) -> u64 {
        self.store.as_ref().map_or(0, |s| s.data().log.dropped)
    }

    /// Transforms one batch. `batch_number` only labels errors. The output batch keeps the
    /// input's `bytes` (the payload read to produce it).
    pub async fn process(
        &mut self,
        batch: Batch,
        batch_number: u64,
    ) -> Result<(Batch, Vec<Rejection>), PluginError> {
        let call = Call::Process;
        let b = Some(batch_number);
        let live_schema = Arc::ptr_eq(batch.schema(), &self.input_schema)
            || **batch.schema() == *self.input_schema;
        if !live_schema {
            return Err(self.invalid_input(
                call,
                b,
                format!(
                    "the batch's columns ({}) differ from those the instance was created with ({})",
                    batch.schema().names().collect::<Vec<_>>().join(", "),
                    self.input_schema.names().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let bytes = batch.bytes;
        let rows = batch.num_rows();
        let wit_batch = match batch.raw_tuples() {
            Some(raw) => copy_tuples::tuples_to_wit(&self.input_schema, raw),
            None => convert::batch_to_wit(batch),
        }
        .map_err(|e| self.invalid_input(call, b, e.to_string()))?;
        let size = convert::batch_size(&wit_batch);
        let limit = self.tenant.limits.max_boundary_bytes;
        if size > limit {
            return Err(PluginError::InputTooLarge {
                plugin: self.label.clone(),
                batch: batch_number,
                bytes: size,
                limit,
            });
        }
        let handle = self.handle;
        let Some(store) = self.store.as_mut() else {
            return Err(self.poisoned_error());
        };
        let guest = self.bindings.sluice_plugin_transform();
        let res = run_guarded(store, &self.tenant.limits, async |store| {
            guest
                .transformer()
                .call_process(&mut *store, handle, &wit_batch)
                .await
        })
        .await;
        drop(wit_batch);
        let output = self.settle(call, b, res)?;
        let (mut out, rejected) = self.accept(call, b, output, Some(rows))?;
        out.bytes = bytes;
        Ok((out, rejected))
    }

    /// Asks for rows held back (after the last batch).
    pub async fn flush(&mut self) -> Result<(Batch, Vec<Rejection>), PluginError> {
        let call = Call::Flush;
        let handle = self.handle;
        let Some(store) = self.store.as_mut() else {
            return Err(self.poisoned_error());
        };
        let guest = self.bindings.sluice_plugin_transform();
        let res = run_guarded(store, &self.tenant.limits, async |store| {
            guest.transformer().call_flush(&mut *store, handle).await
        })
        .await;
        let output = self.settle(call, None, res)?;
        self.accept(call, None, output, None)
    }

    fn poisoned_error(&self) -> PluginError {
        PluginError::Poisoned {
            plugin: self.label.clone(),
            reason: self
                .poisoned
                .clone()
                .unwrap_or_else(|| "instance unavailable".into()),
        }
    }

    fn invalid_input(&self, call: Call, batch: Option<u64>, message: String) -> PluginError {
        PluginError::InvalidInput {
            plugin: self.label.clone(),
            call,
            batch,
            message,
        }
    }

    /// Classifies a call's outcome; a fatal one discards the instance.
    fn settle(
        &mut self,
        call: Call,
        batch: Option<u64>,
        res: Guarded<Result<crate::plugins::bindings::sluice::plugin::types::Output, String>>,
    ) -> Result<crate::plugins::bindings::sluice::plugin::types::Output, PluginError> {
        let Some(store) = self.store.as_mut() else {
            return Err(self.poisoned_error());
        };
        let site = Site {
            plugin: &self.label,
            call,
            batch,
            limits: &self.tenant.limits,
        };
        match classify(store, res, &site) {
            Ok(Ok(output)) => Ok(output),
            // The guest's own text: cut to size and kept on one line (a guest once returned
            // 100 MB, with newlines and escape sequences, into the run's JSON and stderr).
            Ok(Err(message)) => Err(PluginError::Guest {
                plugin: self.label.clone(),
                call,
                batch,
                message: one_line(&message, GUEST_TEXT_MAX),
            }),
            Err(e) => {
                self.discard(&e);
                Err(e)
            }
        }
    }

    fn discard(&mut self, e: &PluginError) {
        let first_line = e.to_string().lines().next().unwrap_or_default().to_string();
        tracing::warn!(
            target: "sluice::plugin",
            plugin = %self.label,
            tenant = %self.tenant.id,
            "discarding plugin instance: {first_line}"
        );
        self.poisoned = Some(first_line);
        self.store = None;
    }

    /// Checks the output's size and shape and converts it.
    fn accept(
        &mut self,
        call: Call,
        batch: Option<u64>,
        output: crate::plugins::bindings::sluice::plugin::types::Output,
        input_rows: Option<usize>,
    ) -> Result<(Batch, Vec<Rejection>), PluginError> {
        let size = convert::output_size(&output);
        let limit = self.tenant.limits.max_boundary_bytes;
        if size > limit {
            let e = PluginError::OutputTooLarge {
                plugin: self.label.clone(),
                call,
                batch,
                bytes: size,
                limit,
            };
            self.discard(&e);
            return Err(e);
        }
        let invalid = |message: String| PluginError::InvalidOutput {
            plugin: self.label.clone(),
            call,
            batch,
            message,
        };
        let mut rejected = Vec::with_capacity(output.rejected.len());
        for r in output.rejected {
            let row = r.row as usize;
            if let Some(n) = input_rows {
                if row >= n {
                    return Err(invalid(format!(
                        "rejected row {row}, but the input batch has {n} rows"
                    )));
                }
            }
            rejected.push(Rejection {
                row,
                message: one_line(&r.message, GUEST_TEXT_MAX),
            });
        }
        let out = match &self.copy_output {
            None => convert::batch_from_wit(&self.output_schema, output.batch)
                .map_err(|e| invalid(e.to_string()))?,
            Some(targets) => {
                match copy_tuples::wit_to_tuples(&self.output_schema, output.batch, targets) {
                    Ok(tuples) => Batch::raw(self.output_schema.clone(), tuples),
                    Err(OutputError::Invalid(e)) => return Err(invalid(e.to_string())),
                    Err(OutputError::Unwritable(e)) => {
                        return Err(PluginError::Unwritable {
                            plugin: self.label.clone(),
                            call,
                            batch,
                            message: e.to_string(),
                        })
                    }
                }
            }
        };
        Ok((out, rejected))
    }
}

impl std::fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInstance")
            .field("plugin", &self.label)
            .field("tenant", &self.tenant.id)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}
