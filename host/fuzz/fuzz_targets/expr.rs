//! The expression lexer, parser and evaluator: any text as a template (`@expr`, `@{...}`
//! interpolation, plain text) is parsed, and what parses is evaluated in a scope holding
//! parameters, an activity output, variables and a ForEach item, with a fixed clock.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use sluice::expr::{parse, parse_template, validate, DateTime, Scope, Utc};

fn scope() -> Scope {
    let mut params = Map::new();
    params.insert("name".into(), json!("orders"));
    params.insert("count".into(), json!(3));
    params.insert("list".into(), json!([1, "two", {"three": 3.5}]));
    let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let mut s = Scope::new("fuzz", "run-1", params).with_now(now);
    s.set_activity_output(
        "Lookup",
        json!({"firstRow": {"id": 7, "at": "2024-01-02T03:04:05Z"}, "value": [1, 2]}),
    );
    s.set_variable("v", json!("text"));
    s.set_variable("arr", json!([true, null, 2]));
    s.item = Some(json!({"table": "t", "n": -1}));
    s.dataset = Some(json!({"folder": "in"}));
    s.linked_service = Some(json!({"host": "h"}));
    s
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse(text);
    let _ = validate(&Value::String(text.to_string()), "fuzz");
    if let Ok(t) = parse_template(text) {
        let _ = t.evaluate(&scope(), "fuzz");
    }
});
