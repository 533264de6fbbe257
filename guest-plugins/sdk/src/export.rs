//! The glue between a [`RowPlugin`] and the WIT `transformer` resource.
//!
//! [`export_row_plugin!`](crate::export_row_plugin) names `Adapter<YourPlugin>` as the
//! component's implementation of `sluice:plugin/transform`. Each resource instance is a
//! [`Stream`] behind a `RefCell`, because WIT resource methods take `&self` while plugins keep
//! mutable state (de-duplication sets, held rows).

use std::cell::RefCell;
use std::marker::PhantomData;

use crate::bindings::exports::sluice::plugin::transform::{Guest, GuestTransformer, Transformer};
use crate::bindings::sluice::plugin::types as wit;
use crate::plugin::{RowPlugin, Stream};

/// The component's `transform` implementation for plugin `P`.
pub struct Adapter<P>(PhantomData<fn() -> P>);

/// One `transformer` resource: a plugin instance and its schemas.
pub struct Instance<P>(RefCell<Stream<P>>);

/// The host calls one method at a time; a nested call would be a host bug, so say so.
const REENTERED: &str = "transformer called while already running (re-entrant call)";

impl<P: RowPlugin> Guest for Adapter<P> {
    type Transformer = Instance<P>;

    fn info() -> wit::PluginInfo {
        let info = P::info();
        wit::PluginInfo {
            name: info.name.to_string(),
            version: info.version.to_string(),
            description: info.description.to_string(),
        }
    }
}

impl<P: RowPlugin> GuestTransformer for Instance<P> {
    fn create(config: String, input: Vec<wit::Column>) -> Result<Transformer, String> {
        let stream = Stream::<P>::create_wit(&config, input)?;
        Ok(Transformer::new(Instance(RefCell::new(stream))))
    }

    fn output_schema(&self) -> Vec<wit::Column> {
        match self.0.try_borrow() {
            Ok(stream) => stream.output_schema_wit(),
            // Unreachable with a well-behaved host; an empty schema makes it fail loudly.
            Err(_) => Vec::new(),
        }
    }

    fn process(&self, input: wit::Batch) -> Result<wit::Output, String> {
        let mut stream = self.0.try_borrow_mut().map_err(|_| REENTERED.to_string())?;
        stream.process(input)
    }

    fn flush(&self) -> Result<wit::Output, String> {
        let mut stream = self.0.try_borrow_mut().map_err(|_| REENTERED.to_string())?;
        stream.flush()
    }
}

/// Exports a [`RowPlugin`] as the component's `sluice:plugin/transform` implementation.
///
/// ```ignore
/// struct MyPlugin;
/// impl sluice_plugin_sdk::RowPlugin for MyPlugin { /* ... */ }
/// sluice_plugin_sdk::export_row_plugin!(MyPlugin);
/// ```
///
/// Expands to nothing on non-wasm targets, so the plugin crate's unit tests build natively.
#[macro_export]
macro_rules! export_row_plugin {
    ($plugin:ty) => {
        #[cfg(target_family = "wasm")]
        const _: () = {
            type __SluiceRowPluginAdapter = $crate::export::Adapter<$plugin>;
    $crate::bindings::export!(__SluiceRowPluginAdapter with_types_in $crate::bindings);
        };
    };
}
