//! The [`RowPlugin`] trait and [`Stream`], which drives one plugin instance over WIT batches.
//!
//! `Stream` holds everything except the WIT resource handle, so the whole path (config
//! parsing, batch to rows, the plugin, rows to batch) runs in native unit tests too; the
//! export glue in `export.rs` is a thin shell around it.

use std::sync::Arc;

use crate::bindings::sluice::plugin::types as wit;
use crate::convert::{batch_to_rows, column_from_wit, column_to_wit, rows_to_batch};
use crate::row::{Emit, Row, Schema};
use crate::value::{Column, Value};

/// What `sluice plugin inspect` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
}

/// The WIT batch, for [`RowPlugin::process_batch`].
pub type Batch = wit::Batch;
/// The WIT output (a batch and its rejections), for [`RowPlugin::process_batch`].
pub type Output = wit::Output;

impl wit::Output {
    /// An output of `batch` with no rejection.
    pub fn from_batch(batch: wit::Batch) -> wit::Output {
        wit::Output {
            batch,
            rejected: Vec::new(),
        }
    }
}

/// What [`RowPlugin::process_batch`] did with a batch.
pub enum BatchOutcome {
    /// The plugin handled the batch itself: this is the output.
    Done(Output),
    /// The plugin gives the batch back, to be processed row by row.
    Rows(Batch),
}

/// A plugin's row logic. Export it with [`export_row_plugin!`](crate::export_row_plugin).
///
/// One instance serves one stream: `create` once, then `process` for each row of each batch,
/// then `flush` once. Returning `Err` fails the batch (and the activity) with the message;
/// to refuse a single row, call [`Emit::reject`] instead.
///
/// ```
/// use sluice_plugin_sdk::{Column, Emit, Info, Row, RowPlugin, Value};
///
/// /// Upper-cases one column.
/// struct Upper { column: String }
///
/// impl RowPlugin for Upper {
///     fn info() -> Info {
///         Info { name: "upper", version: "1.0.0", description: "Upper-cases a column" }
///     }
///     fn create(config: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
///         let column = sluice_plugin_sdk::config::required_str(config, "column")?.to_string();
///         sluice_plugin_sdk::config::column_index(input, &column, "column")?;
///         Ok(Upper { column })
///     }
///     fn process(&mut self, mut row: Row, out: &mut Emit) -> Result<(), String> {
///         if let Some(Value::Text(s)) = row.get_mut(&self.column) {
///             *s = s.to_uppercase();
///         }
///         out.row(row);
///         Ok(())
///     }
/// }
/// // In the plugin crate (compiled for wasm32-wasip2):
/// // sluice_plugin_sdk::export_row_plugin!(Upper);
/// ```
pub trait RowPlugin: Sized + 'static {
    /// Name, version and description; called without an instance.
    fn info() -> Info;

    /// Builds an instance from the pipeline's JSON config (`{}` when none was given) and the
    /// input columns. Validate everything here, so a bad config fails before any row moves;
    /// name the offending config key or column in the error.
    fn create(config: &serde_json::Value, input: &[Column]) -> Result<Self, String>;

    /// The columns of the rows this plugin emits; called once, right after `create`.
    /// Default: the input columns unchanged.
    fn output_schema(&self, input: &[Column]) -> Vec<Column> {
        input.to_vec()
    }

    /// Handles one input row: emit zero, one or several rows, or reject it.
    fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String>;

    /// Called once after the last batch, to emit rows held back. Default: nothing.
    fn flush(&mut self, out: &mut Emit) -> Result<(), String> {
        let _ = out;
        Ok(())
    }

    /// A fast path that sees the whole columnar batch before any row conversion: return
    /// [`BatchOutcome::Done`] to answer it directly (an identity plugin passes it straight
    /// through), or [`BatchOutcome::Rows`] to give it back to `process`. Default: rows.
    fn process_batch(&mut self, batch: Batch) -> Result<BatchOutcome, String> {
        Ok(BatchOutcome::Rows(batch))
    }
}

/// One plugin instance with its schemas: what the WIT `transformer` resource holds.
pub struct Stream<P> {
    plugin: P,
    input: Arc<Schema>,
    output: Vec<Column>,
}

impl<P: RowPlugin> Stream<P> {
    /// Parses `config` (empty or `null` means `{}`) and creates the plugin.
    pub fn create(config: &str, input: Vec<Column>) -> Result<Stream<P>, String> {
        let config: serde_json::Value = if config.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(config).map_err(|e| format!("config is not valid JSON: {e}"))?
        };
        let config = match config {
            serde_json::Value::Null => serde_json::Value::Object(Default::default()),
            c @ serde_json::Value::Object(_) => c,
            other => {
                return Err(format!(
                    "config must be a JSON object, got {}",
                    crate::config::json_kind(&other)
                ))
            }
        };
        let plugin = P::create(&config, &input)?;
        let output = plugin.output_schema(&input);
        Ok(Stream {
            plugin,
            input: Arc::new(Schema::new(input)),
            output,
        })
    }

    /// Same as [`create`](Self::create), from WIT columns.
    pub fn create_wit(config: &str, input: Vec<wit::Column>) -> Result<Stream<P>, String> {
        Self::create(config, input.into_iter().map(column_from_wit).collect())
    }

    pub fn input_schema(&self) -> &Schema {
        &self.input
    }

    pub fn output_schema(&self) -> &[Column] {
        &self.output
    }

    pub fn output_schema_wit(&self) -> Vec<wit::Column> {
        self.output.iter().map(column_to_wit).collect()
    }

    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// Transforms one WIT batch.
    pub fn process(&mut self, batch: Batch) -> Result<Output, String> {
        let batch = match self.plugin.process_batch(batch)? {
            BatchOutcome::Done(out) => return Ok(out),
            BatchOutcome::Rows(batch) => batch,
        };
        let rows = batch_to_rows(batch, self.input.len())?;
        self.process_rows(rows)
    }

    /// Transforms rows already in `Value` form (what [`process`](Self::process) does after
    /// conversion; handy in tests).
    pub fn process_rows(&mut self, rows: Vec<Vec<Value>>) -> Result<Output, String> {
        let mut out = Emit::with_capacity(rows.len());
        for (i, values) in rows.into_iter().enumerate() {
            let index = u32::try_from(i).map_err(|_| "input batch too large".to_string())?;
            out.current = Some(index);
            let row = Row::new(Arc::clone(&self.input), values, index);
            self.plugin.process(row, &mut out)?;
        }
        self.finish(out)
    }

    /// Emits what the plugin held back, after the last batch.
    pub fn flush(&mut self) -> Result<Output, String> {
        let mut out = Emit::default();
        self.plugin.flush(&mut out)?;
        self.finish(out)
    }

    fn finish(&self, out: Emit) -> Result<Output, String> {
        if let Some(message) = out.misplaced_reject {
            return Err(format!(
                "reject() was called outside of process (there is no input row to reject): {message}"
            ));
        }
        let batch = rows_to_batch(out.rows, &self.output)?;
        let rejected = out
            .rejected
            .into_iter()
            .map(|(row, message)| wit::Rejection { row, message })
            .collect();
        Ok(Output { batch, rejected })
    }
}
