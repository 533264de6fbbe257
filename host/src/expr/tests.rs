//! Tests of the template syntax and the public API; each function family has its own tests.

use chrono::TimeZone;
use serde_json::{json, Value};

use super::*;

fn scope() -> Scope {
    let mut s = Scope::new(
        "P1",
        "run-1",
        json!({"myNumber": 42, "myString": "foo", "flag": true, "obj": {"a": {"b": [10, 20]}}, "key": "b"})
            .as_object()
            .cloned()
            .unwrap(),
    )
    .with_now(Utc.with_ymd_and_hms(2018, 4, 15, 13, 0, 0).single().unwrap());
    s.set_activity_output(
        "Look Up",
        json!({"firstRow": {"Col": 7, "name": "x"}, "value": [{"id": 1}, {"id": 2}], "count": 2}),
    );
    s.set_variable("v", json!("hello"));
    s.set_variable("n", json!(null));
    s
}

fn ev(s: &str) -> Value {
    evaluate_str(s, &scope(), "activity 'A' property 'p'").unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> ExprError {
    match evaluate_str(s, &scope(), "activity 'A' property 'p'") {
        Ok(v) => panic!("{s} gave {v}"),
        Err(e) => e,
    }
}

#[test]
fn documented_template_forms() {
    assert_eq!(ev("parameters"), json!("parameters"));
    assert_eq!(ev("parameters[1]"), json!("parameters[1]"));
    assert_eq!(ev("@@"), json!("@"));
    assert_eq!(ev(" @"), json!(" @"));
    assert_eq!(ev("@pipeline().parameters.myString"), json!("foo"));
    assert_eq!(ev("@{pipeline().parameters.myString}"), json!("foo"));
    assert_eq!(ev("@pipeline().parameters.myNumber"), json!(42));
    assert_eq!(ev("@{pipeline().parameters.myNumber}"), json!("42"));
    assert_eq!(
        ev("Answer is: @{pipeline().parameters.myNumber}"),
        json!("Answer is: 42")
    );
    assert_eq!(
        ev("@concat('Answer is: ', string(pipeline().parameters.myNumber))"),
        json!("Answer is: 42")
    );
    assert_eq!(
        ev("Answer is: @@{pipeline().parameters.myNumber}"),
        json!("Answer is: @{pipeline().parameters.myNumber}")
    );
    assert_eq!(
        ev("@concat('Baba', '''s ', 'book store')"),
        json!("Baba's book store")
    );
    assert_eq!(
        ev("{ \"type\": \"@{if(equals(1, 2), 'Blob', 'Table' )}\", \"name\": \"@{toUpper('myData')}\" }"),
        json!("{ \"type\": \"Table\", \"name\": \"MYDATA\" }")
    );
}

#[test]
fn interpolation_renders_values_as_text() {
    assert_eq!(
        ev("a=@{pipeline().parameters.obj} b=@{pipeline().parameters.flag} c=@{variables('n')}|"),
        json!("a={\"a\":{\"b\":[10,20]}} b=True c=|")
    );
    assert_eq!(ev("@{'}'}x@{'''{'}"), json!("}x'{"));
    assert_eq!(ev("mail@example.com"), json!("mail@example.com"));
    assert_eq!(ev("@@@{'a'}"), json!("@a"));
}

#[test]
fn member_access() {
    assert_eq!(ev("@pipeline().parameters.obj.a.b[1]"), json!(20));
    assert_eq!(
        ev("@pipeline().parameters.obj['a'][pipeline().parameters.key][0]"),
        json!(10)
    );
    assert_eq!(ev("@activity('Look Up').output.firstRow.col"), json!(7));
    assert_eq!(ev("@activity('Look Up').output.value[1].id"), json!(2));
    assert_eq!(
        ev("@activity('Look Up').output?.missing?.deeper"),
        json!(null)
    );
    assert_eq!(ev("@activity('Look Up').output.value?[5]"), json!(null));
    assert_eq!(ev("@pipeline().Pipeline"), json!("P1"));
    assert_eq!(ev("@pipeline().RunId"), json!("run-1"));
    assert_eq!(ev("@pipeline().TriggerType"), json!("Manual"));
    assert_eq!(ev("@variables('v')"), json!("hello"));
    assert_eq!(ev("@CONCAT('a', ToUpper('b'))"), json!("aB"));
}

#[test]
fn expression_objects_and_nested_values() {
    let v = json!({
        "a": "@pipeline().parameters.myNumber",
        "b": [{"value": "@concat('x', 'y')", "type": "Expression"}, "t@{add(1, 1)}"],
        "c": {"d": 1.5, "e": null, "f": "@@x"},
        "secret": {"type": "SecureString", "value": "@{not evaluated"}
    });
    assert_eq!(
        evaluate_value(&v, &scope(), "A").unwrap(),
        json!({"a": 42, "b": ["xy", "t2"], "c": {"d": 1.5, "e": null, "f": "@x"},
               "secret": {"type": "SecureString", "value": "@{not evaluated"}})
    );
    let e = evaluate_value(
        &json!({"x": [1, {"y": "@bogus()"}]}),
        &scope(),
        "activity 'A'",
    )
    .unwrap_err();
    assert_eq!(e.at, "activity 'A'.x[1].y");
    assert_eq!(e.position, 2);
}

#[test]
fn errors_name_location_and_position() {
    let e = err("@concat('a', substring('abc', 1, 9))");
    assert_eq!(e.position, 34);
    assert_eq!(
        e.to_string(),
        "activity 'A' property 'p': expression error at position 34 of \"@concat('a', substring('abc', 1, 9))\": substring(): the index 1 and length 9 must refer to a location within the text, which has 3 characters"
    );
    let e = err("@concat('a',");
    assert_eq!(e.position, 13);
    assert!(e.reason.contains("expected a value"), "{e}");
    let e = err("x @{pipeline().parameters.nope} y");
    assert_eq!(e.position, 26);
    assert!(e.reason.contains("property 'nope' doesn't exist, available properties are 'myNumber, myString, flag, obj, key'"), "{e}");
    let e = err("é @{bogus(1)}");
    assert_eq!(e.position, 5);
    assert_eq!(e.reason, "'bogus' is not a known function");
    let e = err("@activity('Nope').output");
    assert!(e.reason.contains("activity 'Nope'"), "{e}");
    assert_eq!(
        err("@item()").reason,
        "item() can only be used inside a ForEach activity"
    );
    assert!(err("@variables('zz')")
        .reason
        .contains("'zz' is not declared"));
    assert!(err("@dataset().x").reason.contains("dataset()"));
    assert!(err("x @{'a' ").reason.contains("no closing"));
    assert_eq!(err("x @{'a' ").position, 3);
    assert!(err("@").reason.contains("empty"));
    assert!(err("@concat('a'))").reason.contains("unexpected ')'"));
    assert!(err("@equals(1)")
        .reason
        .contains("takes 2 arguments but was given 1"));
    assert!(err("@pipeline().parameters.myNumber.x")
        .reason
        .contains("cannot read property 'x' of an Integer 42"));
    assert!(err("@createArray(1)[1]").reason.contains("out of range"));
    let e = parse("concat(1,").unwrap_err();
    assert_eq!(e.at, "");
    assert!(e.to_string().starts_with("expression error at position 10"));
}

#[test]
fn overlay_adds_item_and_dataset() {
    let base = scope();
    let item = json!({"name": "t1"});
    let ds = json!({"path": "in/"});
    let ctx = Overlay::new(&base).with_item(&item).with_dataset(&ds);
    assert_eq!(
        evaluate_str(
            "@{dataset().path}@{item().name}-@{variables('v')}",
            &ctx,
            ""
        )
        .unwrap(),
        json!("in/t1-hello")
    );
    let ls = json!({"host": "h"});
    let ctx2 = Overlay::new(&ctx).with_linked_service(&ls);
    assert_eq!(
        evaluate_str("@linkedService().host", &ctx2, "").unwrap(),
        json!("h")
    );
    assert_eq!(
        evaluate_str("@item().name", &ctx2, "").unwrap(),
        json!("t1")
    );
}

#[test]
fn validation_and_references() {
    assert!(validate(&json!({"a": ["@concat('x', activity('A').output)"]}), "p").is_ok());
    let e = validate(&json!({"a": ["ok", "@concat("]}), "p").unwrap_err();
    assert_eq!(e.at, "p.a[1]");
    assert_eq!(
        referenced_activities(
            &json!({"q": "@{activity('A').output.x} @{activity('B').output}", "r": {"value": "@activity('A').output", "type": "Expression"}})
        ),
        vec!["A".to_string(), "B".to_string()]
    );
    assert!(parse_template("plain").is_ok_and(|t| !t.has_expressions()));
    assert!(parse_template("@@x").is_ok_and(|t| t.has_expressions()));
    assert_eq!(
        evaluate_expression("add(1, 2)", &scope(), "").unwrap(),
        json!(3)
    );
}

#[test]
fn every_function_name_resolves() {
    let names = function_names();
    assert!(names.len() > 90, "{}", names.len());
    for n in names {
        assert!(
            functions::find(&n.to_ascii_lowercase()).is_some()
                || [
                    "pipeline",
                    "activity",
                    "item",
                    "variables",
                    "dataset",
                    "linkedService",
                    "trigger",
                    "if",
                    "and",
                    "or",
                    "coalesce"
                ]
                .contains(&n),
            "{n}"
        );
    }
}
