//! The one `bindgen!` site for the `sluice:plugin@0.1.0` world.
//!
//! Exports are generated `async` so every guest call runs on a fiber that yields back to tokio at
//! each epoch tick: a busy guest never blocks a runtime worker for longer than one tick, and the
//! tokio timeout that backs up the epoch deadline can fire. The `log` import stays synchronous
//! (it only forwards to `tracing`).

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit/sluice-plugin-0.1.0",
    exports: { default: async },
});
