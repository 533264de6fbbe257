//! ADF's expression language through the public `sluice::expr` API, without PostgreSQL.
//!
//! `documented_examples` has one row per example in ADF's function reference
//! (learn.microsoft.com/azure/data-factory/control-flow-expression-language-functions) with the
//! result the documentation gives. Where the documentation's printed result is a typo or cannot
//! be what the service returns, the row holds the correct result and `doc` quotes what the page
//! prints, with the reason. A final check makes sure every function the library knows appears
//! in some row.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use sluice::expr::{
    evaluate_expression, evaluate_str, evaluate_value, function_names, parse, validate, Context,
    DateTime, ExprError, Overlay, Scope, Utc,
};

struct Row {
    expr: &'static str,
    want: Value,
    /// What the documentation prints when it differs from `want`, and why.
    doc: &'static str,
}

fn row(expr: &'static str, want: Value) -> Row {
    Row {
        expr,
        want,
        doc: "",
    }
}

fn differs(expr: &'static str, want: Value, doc: &'static str) -> Row {
    Row { expr, want, doc }
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00Z")
        .parse()
        .unwrap()
}

fn scope(now: DateTime<Utc>) -> Scope {
    let mut s = Scope::new("DocPipeline", "run-1", Default::default()).with_now(now);
    s.set_activity_output("Web1", json!({"data": {"items": [1, 2]}}));
    s.set_variable("companyName", json!("Contoso-\nCorporation"));
    s.trigger = Some(json!({"name": "Daily", "startTime": "2018-04-15T13:00:00Z"}));
    s
}

/// The documented examples, evaluated with the clock at "April 15, 2018 at 1:00:00 PM" as the
/// utcNow examples suppose.
fn documented_examples() -> Vec<Row> {
    vec![
        row("add(1, 1.5)", json!(2.5)),
        differs(
            "addDays('2018-03-15T13:00:00Z', 10)",
            json!("2018-03-25T13:00:00.0000000Z"),
            "\"2018-03-25T00:00:0000000Z\": loses the 13:00 and the '.' before the fraction",
        ),
        differs(
            "addDays('2018-03-15T00:00:00Z', -5)",
            json!("2018-03-10T00:00:00.0000000Z"),
            "\"2018-03-10T00:00:0000000Z\": no '.' before the fraction",
        ),
        differs(
            "addHours('2018-03-15T00:00:00Z', 10)",
            json!("2018-03-15T10:00:00.0000000Z"),
            "\"2018-03-15T10:00:0000000Z\": no '.' before the fraction",
        ),
        differs(
            "addHours('2018-03-15T15:00:00Z', -5)",
            json!("2018-03-15T10:00:00.0000000Z"),
            "\"2018-03-15T10:00:0000000Z\": no '.' before the fraction",
        ),
        row("addMinutes('2018-03-15T00:10:00Z', 10)", json!("2018-03-15T00:20:00.0000000Z")),
        row("addMinutes('2018-03-15T00:20:00Z', -5)", json!("2018-03-15T00:15:00.0000000Z")),
        row("addSeconds('2018-03-15T00:00:00Z', 10)", json!("2018-03-15T00:00:10.0000000Z")),
        row("addSeconds('2018-03-15T00:00:30Z', -5)", json!("2018-03-15T00:00:25.0000000Z")),
        row("addToTime('2018-01-01T00:00:00Z', 1, 'Day')", json!("2018-01-02T00:00:00.0000000Z")),
        row("addToTime('2018-01-01T00:00:00Z', 1, 'Day', 'D')", json!("Tuesday, January 2, 2018")),
        row("and(true, true)", json!(true)),
        row("and(false, true)", json!(false)),
        row("and(false, false)", json!(false)),
        row("and(equals(1, 1), equals(2, 2))", json!(true)),
        row("and(equals(1, 1), equals(1, 2))", json!(false)),
        row("and(equals(1, 2), equals(1, 3))", json!(false)),
        row("array('hello')", json!(["hello"])),
        row("base64('hello')", json!("aGVsbG8=")),
        differs(
            "base64ToBinary('aGVsbG8=')",
            json!("0110100001100101011011000110110001101111"),
            "\"0110000101000111...\": the bits of the base64 text itself, not of the bytes it encodes",
        ),
        row("base64ToString('aGVsbG8=')", json!("hello")),
        row("binary('hello')", json!("0110100001100101011011000110110001101111")),
        row("bool(1)", json!(true)),
        row("bool(0)", json!(false)),
        row("coalesce(null, true, false)", json!(true)),
        row("coalesce(null, 'hello', 'world')", json!("hello")),
        row("coalesce(null, null, null)", json!(null)),
        row("concat('Hello', 'World')", json!("HelloWorld")),
        row("contains('hello world', 'world')", json!(true)),
        row("contains('hello world', 'universe')", json!(false)),
        differs(
            "convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time')",
            json!("2018-01-01T00:00:00.0000000"),
            "\"2018-01-01T00:00:00Z\": the 'o' default keeps 7 fraction digits, and a converted time has no Z (as the convertTimeZone example shows)",
        ),
        row(
            "convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time', 'D')",
            json!("Monday, January 1, 2018"),
        ),
        row(
            "convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time')",
            json!("2018-01-01T00:00:00.0000000"),
        ),
        row(
            "convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time', 'D')",
            json!("Monday, January 1, 2018"),
        ),
        row(
            "convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time')",
            json!("2018-01-01T08:00:00.0000000Z"),
        ),
        row(
            "convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time', 'D')",
            json!("Monday, January 1, 2018"),
        ),
        row("createArray('h', 'e', 'l', 'l', 'o')", json!(["h", "e", "l", "l", "o"])),
        row("dataUri('hello')", json!("data:text/plain;charset=utf-8;base64,aGVsbG8=")),
        differs(
            "dataUriToBinary('data:text/plain;charset=utf-8;base64,aGVsbG8=')",
            json!("0110100001100101011011000110110001101111"),
            "\"01100100011000010111...\": the bits of the whole data URI text, not of its content",
        ),
        row("dataUriToString('data:text/plain;charset=utf-8;base64,aGVsbG8=')", json!("hello")),
        row("dayOfMonth('2018-03-15T13:27:36Z')", json!(15)),
        differs(
            "dayOfWeek('2018-03-15T13:27:36Z')",
            json!(4),
            "3: 2018-03-15 is a Thursday, which is 4 when Sunday is 0",
        ),
        row("dayOfYear('2018-03-15T13:27:36Z')", json!(74)),
        row("decodeBase64('aGVsbG8=')", json!("hello")),
        differs(
            "decodeDataUri('data:text/plain;charset=utf-8;base64,aGVsbG8=')",
            json!("0110100001100101011011000110110001101111"),
            "the bits of the whole data URI text, as for dataUriToBinary",
        ),
        differs(
            "decodeUriComponent('http%3A%2F%2Fcontoso.com')",
            json!("http://contoso.com"),
            "\"https://contoso.com\": an 's' that is not in the input",
        ),
        row("div(10, 5)", json!(2)),
        row("div(11, 5)", json!(2)),
        differs(
            "encodeUriComponent('https://contoso.com')",
            json!("https%3A%2F%2Fcontoso.com"),
            "\"http%3A%2F%2Fcontoso.com\": drops the input's 's'",
        ),
        row("empty('')", json!(true)),
        row("empty('abc')", json!(false)),
        row("endsWith('hello world', 'world')", json!(true)),
        row("endsWith('hello world', 'universe')", json!(false)),
        row("equals(true, 1)", json!(true)),
        row("equals('abc', 'abcd')", json!(false)),
        row("first('hello')", json!("h")),
        row("first(createArray(0, 1, 2))", json!(0)),
        row("float('10.333')", json!(10.333)),
        row("formatDateTime('03/15/2018 12:00:00', 'yyyy-MM-ddTHH:mm:ss')", json!("2018-03-15T12:00:00")),
        row("greater(10, 5)", json!(true)),
        row("greater('apple', 'banana')", json!(false)),
        row("greaterOrEquals(5, 5)", json!(true)),
        row("greaterOrEquals('apple', 'banana')", json!(false)),
        row("if(equals(1, 1), 'yes', 'no')", json!("yes")),
        row("indexOf('hello world', 'world')", json!(6)),
        row("int('10')", json!(10)),
        row("json('[1, 2, 3]')", json!([1, 2, 3])),
        row("json('{\"fullName\": \"Sophia Owen\"}')", json!({"fullName": "Sophia Owen"})),
        row(
            "intersection(createArray(1, 2, 3), createArray(101, 2, 1, 10), createArray(6, 8, 1, 2))",
            json!([1, 2]),
        ),
        row("join(createArray('a', 'b', 'c'), '.')", json!("a.b.c")),
        row("last('abcd')", json!("d")),
        row("last(createArray(0, 1, 2, 3))", json!(3)),
        row("lastIndexOf('hello world', 'world')", json!(6)),
        row("length('abcd')", json!(4)),
        row("length(createArray(0, 1, 2, 3))", json!(4)),
        row("less(5, 10)", json!(true)),
        row("less('banana', 'apple')", json!(false)),
        row("lessOrEquals(10, 10)", json!(true)),
        row("lessOrEquals('apply', 'apple')", json!(false)),
        row("max(1, 2, 3)", json!(3)),
        row("max(createArray(1, 2, 3))", json!(3)),
        row("min(1, 2, 3)", json!(1)),
        row("min(createArray(1, 2, 3))", json!(1)),
        row("mod(3, 2)", json!(1)),
        row("mul(1, 2)", json!(2)),
        row("mul(1.5, 2)", json!(3.0)),
        row("not(false)", json!(true)),
        row("not(true)", json!(false)),
        row("not(equals(1, 2))", json!(true)),
        row("not(equals(1, 1))", json!(false)),
        row("or(true, false)", json!(true)),
        row("or(false, false)", json!(false)),
        row("or(equals(1, 1), equals(1, 2))", json!(true)),
        row("or(equals(1, 2), equals(1, 3))", json!(false)),
        row("range(1, 4)", json!([1, 2, 3, 4])),
        row("replace('the old string', 'old', 'new')", json!("the new string")),
        row("skip(createArray(0, 1, 2, 3), 1)", json!([1, 2, 3])),
        row("split('a_b_c', '_')", json!(["a", "b", "c"])),
        row("startOfDay('2018-03-15T13:30:30Z')", json!("2018-03-15T00:00:00.0000000Z")),
        row("startOfHour('2018-03-15T13:30:30Z')", json!("2018-03-15T13:00:00.0000000Z")),
        row("startOfMonth('2018-03-15T13:30:30Z')", json!("2018-03-01T00:00:00.0000000Z")),
        row("startsWith('hello world', 'hello')", json!(true)),
        row("startsWith('hello world', 'greetings')", json!(false)),
        row("string(10)", json!("10")),
        differs(
            "string(json('{ \"name\": \"Sophie Owen\" }'))",
            json!("{\"name\":\"Sophie Owen\"}"),
            "written string( { \"name\": \"Sophie Owen\" } ) with result \"{ \\\"name\\\": \\\"Sophie Owen\\\" }\": object literals are not expression syntax, and objects print as compact JSON",
        ),
        row("sub(10.3, .3)", json!(10.0)),
        row("substring('hello world', 6, 5)", json!("world")),
        differs(
            "subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day')",
            json!("2018-01-01T00:00:00.0000000Z"),
            "\"2018-01-01T00:00:00:0000000Z\": ':' instead of '.' before the fraction",
        ),
        differs(
            "subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day', 'D')",
            json!("Monday, January 1, 2018"),
            "\"Monday, January, 1, 2018\": a stray comma",
        ),
        row("take('abcde', 3)", json!("abc")),
        row("take(createArray(0, 1, 2, 3, 4), 3)", json!([0, 1, 2])),
        // No example in the documentation: .NET's DateTime(2018, 3, 15, 13, 0, 0).Ticks.
        row("ticks('2018-03-15T13:00:00Z')", json!(636_567_156_000_000_000_i64)),
        row("toLower('Hello World')", json!("hello world")),
        row("toUpper('Hello World')", json!("HELLO WORLD")),
        row("trim(' Hello World  ')", json!("Hello World")),
        row("union(createArray(1, 2, 3), createArray(1, 2, 10, 101))", json!([1, 2, 3, 10, 101])),
        differs(
            "uriComponent('https://contoso.com')",
            json!("https%3A%2F%2Fcontoso.com"),
            "\"http%3A%2F%2Fcontoso.com\": drops the input's 's'",
        ),
        differs(
            "uriComponentToBinary('http%3A%2F%2Fcontoso.com')",
            json!("011010000111010001110100011100000011101000101111001011110110001101101111011011100111010001101111011100110110111100101110011000110110111101101101"),
            "\"0010001001101000...\": the bits of the quoted, still-encoded text",
        ),
        differs(
            "uriComponentToString('http%3A%2F%2Fcontoso.com')",
            json!("http://contoso.com"),
            "\"https://contoso.com\": an 's' that is not in the input",
        ),
        row("utcNow()", json!("2018-04-15T13:00:00.0000000Z")),
        row("utcNow('D')", json!("Sunday, April 15, 2018")),
        // The "Replacing special characters" and "Escaping single quote" examples.
        row(
            "uriComponentToString(replace(uriComponent(variables('companyName')), '%0A', ''))",
            json!("Contoso-Corporation"),
        ),
        row("concat('Baba', '''s ', 'book store')", json!("Baba's book store")),
        // Functions ADF's reference does not list but its engine shares with Logic Apps; the
        // results are those of the Logic Apps function reference.
        row("nthIndexOf('123456789123465789', '1', 1)", json!(0)),
        row("nthIndexOf('123456789123465789', '1', 2)", json!(9)),
        row("nthIndexOf('123456789123465789', '12', 1)", json!(0)),
        row("nthIndexOf('123456789123465789', '6', 4)", json!(-1)),
        row("slice('Hello World', 2)", json!("llo World")),
        row("slice('Hello World', 30)", json!("")),
        row("slice('Hello World', 10, 2)", json!("")),
        row("slice('Hello World', 2, 5)", json!("llo")),
        row("slice('Hello World', 6, 20)", json!("World")),
        row("slice('Hello World', -2)", json!("ld")),
        row("slice('Hello World', 3, -1)", json!("lo Worl")),
        row("reverse(createArray(0, 1, 2, 3))", json!([3, 2, 1, 0])),
        row("isInt('10')", json!(true)),
        row("isFloat('10,000.00')", json!(true)),
        differs(
            "decimal('1.2345678912312131')",
            json!("1.2345678912312131".parse::<f64>().unwrap()),
            "1.2345678912312131 as a .NET decimal; sluice keeps JSON numbers as 64-bit floats",
        ),
        // The system functions.
        row("pipeline().Pipeline", json!("DocPipeline")),
        row("activity('Web1').output.data.items[1]", json!(2)),
        row("variables('companyName')", json!("Contoso-\nCorporation")),
        row("trigger().name", json!("Daily")),
    ]
}

fn check(rows: &[Row], ctx: &dyn Context) -> Vec<String> {
    let mut failures = Vec::new();
    for r in rows {
        match evaluate_expression(r.expr, ctx, "row") {
            Ok(got) if got == r.want => {}
            Ok(got) => failures.push(format!(
                "{}\n    want {}\n    got  {}{}",
                r.expr,
                r.want,
                got,
                if r.doc.is_empty() {
                    String::new()
                } else {
                    format!("\n    (documentation prints {})", r.doc)
                }
            )),
            Err(e) => failures.push(format!("{}\n    error {e}", r.expr)),
        }
    }
    failures
}

#[test]
fn documented_examples_give_the_documented_results() {
    let failures = check(&documented_examples(), &scope(at(2018, 4, 15, 13)));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn documented_examples_with_their_own_clock() {
    // "Suppose the current timestamp is 2018-03-01T00:00:00.0000000Z."
    let future = vec![
        row(
            "getFutureTime(5, 'Day')",
            json!("2018-03-06T00:00:00.0000000Z"),
        ),
        row(
            "getFutureTime(5, 'Day', 'D')",
            json!("Tuesday, March 6, 2018"),
        ),
    ];
    // "Suppose the current timestamp is 2018-02-01T00:00:00.0000000Z."
    let past = vec![
        row(
            "getPastTime(5, 'Day')",
            json!("2018-01-27T00:00:00.0000000Z"),
        ),
        row(
            "getPastTime(5, 'Day', 'D')",
            json!("Saturday, January 27, 2018"),
        ),
    ];
    let mut failures = check(&future, &scope(at(2018, 3, 1, 0)));
    failures.extend(check(&past, &scope(at(2018, 2, 1, 0))));
    // ForEach's item(), a dataset's and a linked service's parameters.
    let base = scope(at(2018, 4, 15, 13));
    let (item, ds, ls) = (
        json!({"n": 1}),
        json!({"path": "in/"}),
        json!({"host": "db"}),
    );
    let ctx = Overlay::new(&base)
        .with_item(&item)
        .with_dataset(&ds)
        .with_linked_service(&ls);
    failures.extend(check(
        &[
            row("item().n", json!(1)),
            row("dataset().path", json!("in/")),
            row("linkedService().host", json!("db")),
        ],
        &ctx,
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn documented_examples_with_random_or_unsupported_results() {
    let ctx = scope(at(2018, 4, 15, 13));
    for _ in 0..50 {
        let r = evaluate_expression("rand(1, 5)", &ctx, "").unwrap();
        assert!((1..5).contains(&r.as_i64().unwrap()), "{r}");
    }
    let g = evaluate_expression("guid('P')", &ctx, "").unwrap();
    let g = g.as_str().unwrap();
    assert!(
        g.len() == 38 && g.starts_with('(') && g.ends_with(')') && g.matches('-').count() == 4,
        "{g}"
    );
    let g = evaluate_expression("guid()", &ctx, "").unwrap();
    assert_eq!(g.as_str().unwrap().len(), 36);
    // XML is not supported: the error says so.
    for e in [
        "json(xml('<?xml version=\"1.0\"?> <root> <person id=''1''> <name>Sophia Owen</name> <occupation>Engineer</occupation> </person> </root>'))",
        "xml(json('{ \"name\": \"Sophia Owen\" }'))",
        "xpath(xml(json('{\"a\": 1}')), 'sum(/produce/item/count)')",
    ] {
        let err = evaluate_expression(e, &ctx, "").unwrap_err();
        assert!(err.reason.contains("not supported"), "{err}");
    }
}

#[test]
fn every_function_has_a_row() {
    let mut rows: Vec<&str> = documented_examples().iter().map(|r| r.expr).collect();
    rows.extend([
        "getFutureTime(5, 'Day')",
        "getPastTime(5, 'Day')",
        "item()",
        "dataset()",
        "linkedService()",
        "rand(1, 5)",
        "guid('P')",
        "xml('a')",
        "xpath('a', 'b')",
    ]);
    let mut called = BTreeSet::new();
    for r in rows {
        parse(r).unwrap().visit_calls(&mut |name, _| {
            called.insert(name.to_ascii_lowercase());
        });
    }
    let missing: Vec<&str> = function_names()
        .into_iter()
        .filter(|n| !called.contains(&n.to_ascii_lowercase()))
        .collect();
    assert!(missing.is_empty(), "functions without a row: {missing:?}");
}

fn eval(s: &str) -> Result<Value, ExprError> {
    let mut ctx = scope(at(2018, 4, 15, 13));
    ctx.pipeline["parameters"] = json!({"myNumber": 42, "myString": "foo", "cfg": {"tables": [{"name": "a b"}], "k": "tables"}});
    evaluate_str(
        s,
        &ctx,
        "activity 'Copy1' property 'typeProperties.source.query'",
    )
}

#[test]
fn syntax_as_documented() {
    let cases = [
        ("parameters", json!("parameters")),
        ("parameters[1]", json!("parameters[1]")),
        ("@@", json!("@")),
        (" @", json!(" @")),
        ("@pipeline().parameters.myString", json!("foo")),
        ("@{pipeline().parameters.myString}", json!("foo")),
        ("@pipeline().parameters.myNumber", json!(42)),
        ("@{pipeline().parameters.myNumber}", json!("42")),
        ("Answer is: @{pipeline().parameters.myNumber}", json!("Answer is: 42")),
        (
            "@concat('Answer is: ', string(pipeline().parameters.myNumber))",
            json!("Answer is: 42"),
        ),
        (
            "Answer is: @@{pipeline().parameters.myNumber}",
            json!("Answer is: @{pipeline().parameters.myNumber}"),
        ),
        (
            "{ \"type\": \"@{if(equals(1, 2), 'Blob', 'Table' )}\", \"name\": \"@{toUpper('myData')}\" }",
            json!("{ \"type\": \"Table\", \"name\": \"MYDATA\" }"),
        ),
        ("@concat('Test_', formatDateTime(utcnow(), 'yyyy-dd-MM'))", json!("Test_2018-15-04")),
        // Interpolating non-strings: JSON text for arrays and objects, True/False for booleans.
        ("n=@{createArray(1, 'a')} o=@{json('{\"k\": null}')} b=@{equals(1, 1)}", json!("n=[1,\"a\"] o={\"k\":null} b=True")),
        // Member access: nested, [] with an expression, ?. and ?[ on missing members.
        ("@pipeline().parameters.cfg.tables[0]['name']", json!("a b")),
        ("@pipeline().parameters.cfg[pipeline().parameters.cfg.k][0].name", json!("a b")),
        ("@pipeline().parameters.cfg?.missing?.deeper", json!(null)),
        ("@pipeline().parameters.cfg.tables?[3]", json!(null)),
        ("@coalesce(pipeline().parameters?.nope, 'default')", json!("default")),
        // '' inside string literals, and braces inside strings in @{...}.
        ("@{'it''s'} {ok}", json!("it's {ok}")),
        ("x@{concat('}', '{')}y", json!("x}{y")),
        // Case-insensitive function names and keywords.
        ("@IF(TRUE, Concat('a', 'b'), NULL)", json!("ab")),
    ];
    for (s, want) in cases {
        assert_eq!(eval(s).unwrap_or_else(|e| panic!("{e}")), want, "{s}");
    }
}

#[test]
fn expression_objects_and_whole_definitions() {
    let ctx = scope(at(2018, 4, 15, 13));
    let def = json!({
        "query": {"value": "SELECT * FROM t WHERE d > '@{addDays(utcNow(), -1, 'yyyy-MM-dd')}'", "type": "Expression"},
        "items": {"value": "@range(0, 3)", "type": "Expression"},
        "nested": [{"a": "@activity('Web1').output.data"}, 5, null, "plain"],
    });
    assert_eq!(
        evaluate_value(&def, &ctx, "activity 'A'").unwrap(),
        json!({
            "query": "SELECT * FROM t WHERE d > '2018-04-14'",
            "items": [0, 1, 2],
            "nested": [{"a": {"items": [1, 2]}}, 5, null, "plain"],
        })
    );
    let bad = json!({"source": {"query": {"value": "@concat('a', 'b'", "type": "Expression"}}});
    let e = validate(&bad, "activity 'A' typeProperties").unwrap_err();
    assert_eq!(e.at, "activity 'A' typeProperties.source.query");
    assert_eq!(e.position, 17);
}

#[test]
fn errors_name_the_activity_property_and_position() {
    let cases = [
        // (expression, position, reason contains)
        ("@concat('a', 'b'", 17, "expected ',' or ')'"),
        ("@concat('a' 'b')", 13, "expected ',' or ')'"),
        ("@concat('a)", 9, "unterminated string literal"),
        (
            "@pipeline().parameters.nope",
            23,
            "property 'nope' doesn't exist",
        ),
        (
            "x @{pipeline().parameters.myNumber.x} y",
            35,
            "cannot read property 'x' of an Integer 42",
        ),
        (
            "@substring('abc', 1, 5)",
            22,
            "must refer to a location within the text",
        ),
        (
            "@add(1, 'two')",
            9,
            "the second argument must be a number, but it is a String 'two'",
        ),
        (
            "@formatDateTime('not a date')",
            17,
            "'not a date' is not a valid timestamp",
        ),
        ("@nosuch(1)", 2, "'nosuch' is not a known function"),
        ("@equals(1)", 2, "takes 2 arguments but was given 1"),
        ("@if('yes', 1, 2)", 5, "expects a boolean"),
        (
            "@pipeline().parameters.cfg.tables[1]",
            35,
            "array index 1 is out of range",
        ),
        ("@activity('Nope').output", 2, "activity 'Nope'"),
        ("@item()", 2, "inside a ForEach"),
        ("@foo", 2, "'foo' is not a value"),
        ("@", 2, "empty"),
        ("x @{1", 3, "no closing '}'"),
    ];
    for (s, pos, reason) in cases {
        let e = eval(s).map(|v| panic!("{s} gave {v}")).unwrap_err();
        assert_eq!(e.position, pos, "{s}: {e}");
        assert!(e.reason.contains(reason), "{s}: {e}");
        assert_eq!(e.expression, s);
        assert!(
            e.to_string().starts_with(&format!(
                "activity 'Copy1' property 'typeProperties.source.query': expression error at position {pos} of \"{s}\": "
            )),
            "{e}"
        );
    }
}
