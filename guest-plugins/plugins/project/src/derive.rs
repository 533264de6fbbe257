//! The derive expressions of `project` (see the crate doc), parsed once in `create` and
//! evaluated per row on input-schema positions.

use sluice_plugin_sdk::decimal::Decimal;
use sluice_plugin_sdk::{Column, DataType, ScalarType, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Column(usize),
    Literal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Mul,
    Add,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Concat(Vec<Part>),
    Upper(usize),
    Lower(usize),
    /// Column, operator, the number exactly (for integer/numeric columns) and as f64.
    Arith {
        column: usize,
        op: Arith,
        exact: Option<Decimal>,
        float: f64,
        float_out: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Derive {
    pub name: String,
    pub expr: Expr,
}

fn find(input: &[Column], name: &str) -> Result<usize, String> {
    input
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| format!("column \"{name}\" is not in the input"))
}

fn text_column(input: &[Column], name: &serde_json::Value, op: &str) -> Result<usize, String> {
    let name = name
        .as_str()
        .ok_or_else(|| format!("\"{op}\" takes a column name"))?;
    let i = find(input, name)?;
    match input[i].data_type {
        DataType::Scalar(ScalarType::Text | ScalarType::Json) => Ok(i),
        other => Err(format!(
            "\"{op}\" needs a text column; \"{name}\" is {other}"
        )),
    }
}

impl Derive {
    pub fn parse(item: &serde_json::Value, input: &[Column]) -> Result<Derive, String> {
        let obj = item.as_object().ok_or("each derive must be an object")?;
        let name = obj
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or("\"name\" is required (a string)")?
            .to_string();
        let ops: &serde_json::Map<String, serde_json::Value> = match obj.get("expr") {
            Some(e) => e.as_object().ok_or("\"expr\" must be an object")?,
            None => obj,
        };
        let mut found = ops.iter().filter(|(k, _)| k.as_str() != "name");
        let (op, args) = match (found.next(), found.next()) {
            (Some(one), None) => one,
            _ => {
                return Err(format!(
                    "derive \"{name}\" needs exactly one of concat, upper, lower, mul, add"
                ))
            }
        };
        let expr = match op.as_str() {
            "concat" => {
                let items = args.as_array().ok_or("\"concat\" takes a list")?;
                let mut parts = Vec::with_capacity(items.len());
                for it in items {
                    parts.push(match it {
                        serde_json::Value::String(s) => {
                            match input.iter().position(|c| &c.name == s) {
                                Some(i) => Part::Column(i),
                                None => Part::Literal(s.clone()),
                            }
                        }
                        serde_json::Value::Object(o) => match o.get("lit") {
                            Some(serde_json::Value::String(s)) => Part::Literal(s.clone()),
                            _ => return Err("a concat object must be {\"lit\": \"text\"}".into()),
                        },
                        serde_json::Value::Number(n) => Part::Literal(n.to_string()),
                        _ => return Err("concat items are column names, strings or numbers".into()),
                    });
                }
                Expr::Concat(parts)
            }
            "upper" => Expr::Upper(text_column(input, args, "upper")?),
            "lower" => Expr::Lower(text_column(input, args, "lower")?),
            "mul" | "add" => {
                let pair = args
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| format!("\"{op}\" takes [column, number]"))?;
                let col = pair[0]
                    .as_str()
                    .ok_or_else(|| format!("\"{op}\" takes [column, number]"))?;
                let column = find(input, col)?;
                let number = match &pair[1] {
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => return Err(format!("\"{op}\": the second item must be a number")),
                };
                let float: f64 = number
                    .parse()
                    .map_err(|_| format!("\"{op}\": bad number {number}"))?;
                let float_out = match input[column].data_type {
                    DataType::Scalar(ScalarType::Float32 | ScalarType::Float64) => true,
                    DataType::Scalar(
                        ScalarType::Int16
                        | ScalarType::Int32
                        | ScalarType::Int64
                        | ScalarType::Numeric,
                    ) => false,
                    other => {
                        return Err(format!(
                            "\"{op}\" needs a numeric column; \"{col}\" is {other}"
                        ))
                    }
                };
                let op = if op == "mul" { Arith::Mul } else { Arith::Add };
                Expr::Arith {
                    column,
                    op,
                    exact: Decimal::parse(&number),
                    float,
                    float_out,
                }
            }
            other => {
                return Err(format!(
                    "unknown derive \"{other}\" (expected concat, upper, lower, mul, add)"
                ))
            }
        };
        Ok(Derive { name, expr })
    }

    pub fn output_type(&self) -> ScalarType {
        match self.expr {
            Expr::Concat(_) | Expr::Upper(_) | Expr::Lower(_) => ScalarType::Text,
            Expr::Arith {
                float_out: true, ..
            } => ScalarType::Float64,
            Expr::Arith { .. } => ScalarType::Numeric,
        }
    }

    /// Evaluates on one row's input values; an error rejects the row.
    pub fn eval(&self, row: &[Value]) -> Result<Value, String> {
        let get = |i: usize| row.get(i).unwrap_or(&Value::Null);
        Ok(match &self.expr {
            Expr::Concat(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        Part::Literal(l) => s.push_str(l),
                        Part::Column(i) => push_text(&mut s, get(*i))?,
                    }
                }
                Value::Text(s)
            }
            Expr::Upper(i) => get(*i)
                .as_str()
                .map_or(Value::Null, |s| Value::Text(s.to_uppercase())),
            Expr::Lower(i) => get(*i)
                .as_str()
                .map_or(Value::Null, |s| Value::Text(s.to_lowercase())),
            Expr::Arith {
                column,
                op,
                exact,
                float,
                float_out,
            } => {
                let v = get(*column);
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let exact_in = match v {
                    Value::Numeric(s) => Decimal::parse(s),
                    other => other.as_i64().map(Decimal::from),
                };
                if let (false, Some(a), Some(b)) = (*float_out, exact_in, exact) {
                    let r = match op {
                        Arith::Mul => a.checked_mul(*b),
                        Arith::Add => a.checked_add(*b),
                    };
                    return r
                        .map(|d| Value::Numeric(d.to_string()))
                        .ok_or_else(|| "result out of range".to_string());
                }
                let a = v
                    .as_f64()
                    .ok_or_else(|| format!("{} is not a number", v.kind()))?;
                let r = match op {
                    Arith::Mul => a * float,
                    Arith::Add => a + float,
                };
                if *float_out {
                    Value::Float64(r)
                } else if r.is_nan() {
                    Value::Numeric("NaN".into())
                } else if r.is_infinite() {
                    Value::Numeric(if r > 0.0 { "Infinity" } else { "-Infinity" }.into())
                } else {
                    Value::Numeric(format!("{r}"))
                }
            }
        })
    }
}

/// The text form of a value inside `concat`.
fn push_text(s: &mut String, v: &Value) -> Result<(), String> {
    use std::fmt::Write;
    let r = match v {
        Value::Null => Ok(()),
        Value::Text(t) | Value::Json(t) | Value::Numeric(t) => {
            s.push_str(t);
            Ok(())
        }
        Value::Bool(b) => write!(s, "{b}"),
        Value::Float32(f) => write!(s, "{f}"),
        Value::Float64(f) => write!(s, "{f}"),
        other => match other.as_i64() {
            Some(i) => write!(s, "{i}"),
            None => return Err(format!("cannot concat a {} value", other.kind())),
        },
    };
    r.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> Vec<Column> {
        vec![
            Column::new("n", ScalarType::Int32),
            Column::new("f", ScalarType::Float64),
            Column::new("d", ScalarType::Numeric),
            Column::new("s", ScalarType::Text),
        ]
    }

    fn eval(item: serde_json::Value, row: &[Value]) -> Value {
        Derive::parse(&item, &input()).unwrap().eval(row).unwrap()
    }

    #[test]
    fn expressions() {
        let row = [
            Value::Int32(3),
            Value::Float64(1.5),
            Value::Numeric("0.1".into()),
            Value::from("Ab"),
        ];
        assert_eq!(
            eval(json!({"name": "x", "mul": ["n", 2]}), &row),
            Value::Numeric("6".into())
        );
        assert_eq!(
            eval(json!({"name": "x", "add": ["d", 0.2]}), &row),
            Value::Numeric("0.3".into())
        );
        assert_eq!(
            eval(json!({"name": "x", "expr": {"mul": ["f", 2]}}), &row),
            Value::Float64(3.0)
        );
        assert_eq!(
            eval(json!({"name": "x", "lower": "s"}), &row),
            Value::from("ab")
        );
        assert_eq!(
            eval(
                json!({"name": "x", "concat": ["s", "-", {"lit": "n"}, "n", 7]}),
                &row
            ),
            Value::from("Ab-n37")
        );
        let nulls = [Value::Null, Value::Null, Value::Null, Value::Null];
        assert_eq!(
            eval(json!({"name": "x", "add": ["n", 1]}), &nulls),
            Value::Null
        );
        assert_eq!(
            eval(json!({"name": "x", "upper": "s"}), &nulls),
            Value::Null
        );
        assert_eq!(
            eval(json!({"name": "x", "concat": ["s", "!"]}), &nulls),
            Value::from("!")
        );
    }

    #[test]
    fn parse_errors() {
        for (item, needle) in [
            (json!({"name": "x", "upper": "n"}), "text column"),
            (json!({"name": "x", "mul": ["s", 2]}), "numeric column"),
            (json!({"name": "x", "mul": ["zz", 2]}), "\"zz\""),
            (json!({"name": "x", "pow": ["n", 2]}), "pow"),
            (json!({"name": "x"}), "exactly one"),
            (json!({"concat": []}), "name"),
        ] {
            let e = Derive::parse(&item, &input()).unwrap_err();
            assert!(e.contains(needle), "{item}: {e}");
        }
    }
}
