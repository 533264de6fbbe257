//! The control database: tenants, factories, definitions, plugins and runs (see `control` in
//! the service design). Filled in by the control-database work.
