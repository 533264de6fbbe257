//! `orders-to-v2` (sink row mapper, 1.2.0): maps source orders onto the v2 table.
//!
//! Input columns (any order, types as the source has them): `id` (integer), `customer`
//! (integer), `amount` (numeric, float or integer, in currency units), `note` (text),
//! `created` (timestamp, timestamptz or date). Output columns:
//!
//! | column | type | from |
//! |---|---|---|
//! | order_id | int64 | id; a NULL id rejects the row |
//! | customer_id | int32 | customer; out of int32 range rejects the row |
//! | amount_cents | int64 | amount × 100 rounded half away from zero (exact for numeric) |
//! | note | text | note |
//! | created_at | timestamptz | created; a timestamp is taken as UTC, a date as its midnight |
//! | source | text | always `sluice` |
//!
//! Config: none. `create` fails naming any required input column that is missing.

use sluice_plugin_sdk::decimal::Decimal;
use sluice_plugin_sdk::{config, Column, Emit, Info, Row, RowPlugin, ScalarType, Value};

pub struct OrdersToV2 {
    id: usize,
    customer: usize,
    amount: usize,
    note: usize,
    created: usize,
}

/// `amount` in cents; `Err` names what is wrong with the value.
pub fn to_cents(v: &Value) -> Result<Value, String> {
    let hundred = Decimal::from(100);
    let cents = match v {
        Value::Null => return Ok(Value::Null),
        Value::Numeric(s) => Decimal::parse(s)
            .and_then(|d| d.checked_mul(hundred))
            .and_then(|d| d.to_i64())
            .ok_or_else(|| format!("amount {s} cannot be converted to cents"))?,
        Value::Money(c) => *c,
        Value::Float32(_) | Value::Float64(_) => {
            let f = v.as_f64().unwrap_or(f64::NAN) * 100.0;
            if !f.is_finite() || f.abs() >= 9.2e18 {
                return Err(format!("amount {f} cannot be converted to cents"));
            }
            f.round() as i64
        }
        other => match other.as_i64().and_then(|i| i.checked_mul(100)) {
            Some(c) => c,
            None => {
                return Err(format!(
                    "amount of type {} cannot be converted to cents",
                    other.kind()
                ))
            }
        },
    };
    Ok(Value::Int64(cents))
}

/// `created` as a UTC instant.
pub fn to_timestamptz(v: &Value) -> Result<Value, String> {
    Ok(match *v {
        Value::Null => Value::Null,
        Value::TimestampTz(t) | Value::Timestamp(t) => Value::TimestampTz(t),
        Value::Date(d) => Value::TimestampTz(match d {
            i32::MAX => i64::MAX,
            i32::MIN => i64::MIN,
            d => i64::from(d) * 86_400_000_000,
        }),
        ref other => {
            return Err(format!(
                "created of type {} is not a timestamp",
                other.kind()
            ))
        }
    })
}

impl OrdersToV2 {
    fn map(&self, row: &mut Row) -> Result<Vec<Value>, String> {
        let order_id = match row.at(self.id) {
            None | Some(Value::Null) => return Err("id is NULL".into()),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("id of type {} is not an integer", v.kind()))?,
        };
        let customer_id = match row.at(self.customer) {
            None | Some(Value::Null) => Value::Null,
            Some(v) => {
                let i = v
                    .as_i64()
                    .ok_or_else(|| format!("customer of type {} is not an integer", v.kind()))?;
                Value::Int32(
                    i32::try_from(i).map_err(|_| format!("customer {i} is out of int32 range"))?,
                )
            }
        };
        let amount_cents = to_cents(row.at(self.amount).unwrap_or(&Value::Null))?;
        let created_at = to_timestamptz(row.at(self.created).unwrap_or(&Value::Null))?;
        let note = match row.take(self.note) {
            Value::Text(s) | Value::Json(s) => Value::Text(s),
            Value::Null => Value::Null,
            other => return Err(format!("note of type {} is not text", other.kind())),
        };
        Ok(vec![
            Value::Int64(order_id),
            customer_id,
            amount_cents,
            note,
            created_at,
            Value::from("sluice"),
        ])
    }
}

impl RowPlugin for OrdersToV2 {
    fn info() -> Info {
        Info {
            name: "orders-to-v2",
            version: env!("CARGO_PKG_VERSION"),
            description: "Sink row mapper: orders to the v2 schema",
        }
    }

    fn create(cfg: &serde_json::Value, input: &[Column]) -> Result<Self, String> {
        config::check_keys(cfg, &[])?;
        let find = |name: &str| {
            input.iter().position(|c| c.name == name).ok_or_else(|| {
                let names: Vec<&str> = input.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "required input column \"{name}\" is missing (input columns: {})",
                    names.join(", ")
                )
            })
        };
        Ok(OrdersToV2 {
            id: find("id")?,
            customer: find("customer")?,
            amount: find("amount")?,
            note: find("note")?,
            created: find("created")?,
        })
    }

    fn output_schema(&self, _input: &[Column]) -> Vec<Column> {
        vec![
            Column::new("order_id", ScalarType::Int64),
            Column::new("customer_id", ScalarType::Int32),
            Column::new("amount_cents", ScalarType::Int64),
            Column::new("note", ScalarType::Text),
            Column::new("created_at", ScalarType::TimestampTz),
            Column::new("source", ScalarType::Text),
        ]
    }

    fn process(&mut self, mut row: Row, out: &mut Emit) -> Result<(), String> {
        match self.map(&mut row) {
            Ok(values) => out.values(values),
            Err(e) => out.reject(e),
        }
        Ok(())
    }
}

sluice_plugin_sdk::export_row_plugin!(OrdersToV2);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::testing;

    fn cols() -> Vec<Column> {
        vec![
            Column::new("id", ScalarType::Int32),
            Column::new("customer", ScalarType::Int64),
            Column::new("amount", ScalarType::Numeric),
            Column::new("note", ScalarType::Text),
            Column::new("created", ScalarType::Timestamp),
        ]
    }

    #[test]
    fn maps_and_rejects() {
        let rows = vec![
            vec![
                Value::Int32(7),
                Value::Int64(42),
                Value::Numeric("12.345".into()),
                Value::from("hi"),
                Value::Timestamp(5),
            ],
            vec![
                Value::Null,
                Value::Int64(1),
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            vec![
                Value::Int32(8),
                Value::Int64(1 << 40),
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            vec![
                Value::Int32(9),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        ];
        let out = testing::run::<OrdersToV2>("{}", cols(), rows).unwrap();
        assert_eq!(
            out.rows,
            vec![
                vec![
                    Value::Int64(7),
                    Value::Int32(42),
                    Value::Int64(1235),
                    Value::from("hi"),
                    Value::TimestampTz(5),
                    Value::from("sluice")
                ],
                vec![
                    Value::Int64(9),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::Null,
                    Value::from("sluice")
                ],
            ]
        );
        assert_eq!(
            out.rejected.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(out.rejected[0].1.contains("id is NULL"));
    }

    #[test]
    fn cents_and_timestamps() {
        assert_eq!(to_cents(&Value::Float64(0.125)), Ok(Value::Int64(13)));
        assert_eq!(
            to_cents(&Value::Numeric("-0.005".into())),
            Ok(Value::Int64(-1))
        );
        assert_eq!(to_cents(&Value::Int32(3)), Ok(Value::Int64(300)));
        assert!(to_cents(&Value::Numeric("NaN".into())).is_err());
        assert_eq!(
            to_timestamptz(&Value::Date(1)),
            Ok(Value::TimestampTz(86_400_000_000))
        );
    }

    #[test]
    fn missing_column() {
        let mut c = cols();
        c.remove(2);
        let e = testing::run::<OrdersToV2>("{}", c, vec![]).unwrap_err();
        assert!(e.contains("\"amount\""), "{e}");
    }
}
