//! The Sluice plugin SDK: write a plugin's row logic against rows and values, and export it
//! as a WebAssembly component of world `sluice:plugin/plugin@0.1.0`.
//!
//! Data crosses the host boundary as columnar batches (see the WIT); the SDK turns each batch
//! into [`Row`]s for [`RowPlugin::process`] and the emitted rows back into columns. Plugins
//! that do not need rows can answer the batch directly in [`RowPlugin::process_batch`]; its
//! variable-length columns (`numeric`, `text`, `json`, `bytes`) are byte buffers with offsets,
//! read with [`wit::ColumnData::str`] and friends and written with [`VarColumnBuilder`] (see
//! [`var_column`]).
//!
//! ```
//! use sluice_plugin_sdk::{config, Column, Emit, Info, Row, RowPlugin, Value};
//!
//! /// Drops rows whose `status` column is "deleted".
//! struct SkipDeleted { status: usize }
//!
//! impl RowPlugin for SkipDeleted {
//!     fn info() -> Info {
//!         Info { name: "skip-deleted", version: "1.0.0", description: "drops deleted rows" }
//!     }
//!     fn create(_config: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
//!         Ok(SkipDeleted { status: config::column_index(input, "status", "status")? })
//!     }
//!     fn process(&mut self, row: Row, out: &mut Emit) -> Result<(), String> {
//!         if row.at(self.status).and_then(Value::as_str) != Some("deleted") {
//!             out.row(row);
//!         }
//!         Ok(())
//!     }
//! }
//! sluice_plugin_sdk::export_row_plugin!(SkipDeleted);
//! ```

/// The `wit-bindgen` output for world `plugin`; `export!` is what
/// [`export_row_plugin!`] expands to.
#[allow(clippy::all, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/sluice-plugin-0.1.0",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "sluice_plugin_sdk::bindings",
    });
}

pub mod config;
pub mod convert;
pub mod decimal;
pub mod export;
pub mod log;
pub mod plugin;
pub mod row;
pub mod testing;
pub mod value;
pub mod var_column;

pub use plugin::{Batch, BatchOutcome, Info, Output, RowPlugin, Stream};
pub use row::{Emit, Row, Schema};
pub use value::{ArrayValue, Column, DataType, RangeValue, ScalarType, Value};
pub use var_column::VarColumnBuilder;

/// The WIT types (`Batch`, `ColumnData`, `ColumnValues`, ...), for `process_batch`.
pub use bindings::sluice::plugin::types as wit;
