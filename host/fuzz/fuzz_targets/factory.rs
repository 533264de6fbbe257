//! The factory loader and planner: any text as a single factory JSON file is loaded, validated
//! (every linked service, dataset and pipeline) and every pipeline planned. Bad definitions
//! must be errors naming the object, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sluice::model::load::Factory;
use sluice::model::plan::{plan_run, validate_factory, vault_addresses_of};
use sluice::secrets::SecretBook;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(factory) = Factory::from_json_text(Path::new("fuzz/factory.json"), text) else {
        return;
    };
    let _ = validate_factory(&factory, &SecretBook::default());
    for name in factory.pipelines.keys() {
        let book = SecretBook::default();
        if let Ok(plan) = plan_run(&factory, name, &[], &book) {
            let _ = plan.summary();
            let _ = vault_addresses_of(&factory, &book);
        }
    }
});
