//! Which of Kana's documented shapes the simulator speaks where the docs' generations disagree
//! (reference §0, §4.4, §7.4, §7.6): timestamps as numbers (G4 hosts) or strings (the G2
//! samples), a position's side as `trade_side` (REST, and presumably the G4 WebSocket) or
//! `is_long` (the old WebSocket), fill records with or without `order_id` / `trade_side`
//! (no documented fill sample has either; the simulator's records add them by default), and
//! order records with or without `trade_side` (no documented order sample has it either).
//!
//! The records are built in one shape and reshaped on the way out, in one place, so the
//! WebSocket pushes and the REST answers always agree: a client that reads a fill from both must
//! recognise it as the same fill.

use serde::Deserialize;
use serde_json::Value;

/// How timestamps are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampForm {
    /// Unix seconds as JSON numbers (G4 hosts).
    #[default]
    Number,
    /// Unix seconds as decimal strings (the G2 samples).
    String,
}

/// The field naming a position's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSideField {
    /// `trade_side` (REST §4.4.2).
    #[default]
    TradeSide,
    /// `is_long` (the old WebSocket sample, §7.4).
    IsLong,
}

/// The shape of the simulator's records (`[venue.sim.wire]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WireShape {
    /// `timestamp` / `last_updated` as numbers or strings.
    pub timestamps: TimestampForm,
    /// A position's side as `trade_side` or `is_long`.
    pub position_side: PositionSideField,
    /// Fill records carry `order_id` and `trade_side`. Every documented fill sample lacks both,
    /// and a client must attribute such fills by themselves; `false` sends that shape.
    ///
    /// The same holds for `trade_side` on open-order and order-history records (reference
    /// §4.4.1, §4.4.3, §7.4: no documented order sample has it; the side follows from
    /// `order_type`), so `false` leaves it out of those too: `false` is the documented
    /// samples' shape of every record, `true` the simulator's richer one.
    pub fill_order_ids: bool,
}

impl Default for WireShape {
    fn default() -> WireShape {
        WireShape {
            timestamps: TimestampForm::Number,
            position_side: PositionSideField::TradeSide,
            fill_order_ids: true,
        }
    }
}

/// The kinds of record whose shape the generations disagree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A fill: `trade_history`, `live_trade_history`, `recent_trades`, REST trade queries.
    Fill,
    /// A position.
    Position,
    /// An order: `open_orders`, `order_history`, `live_order_history`, REST order queries.
    Order,
    /// Anything else with timestamps (book levels, funding, transfers).
    Other,
}

impl Record {
    /// The record kind of a WebSocket topic's records.
    pub fn of_topic(topic: &str) -> Record {
        match topic {
            "trade_history" | "live_trade_history" | "recent_trades" => Record::Fill,
            "positions" => Record::Position,
            "open_orders" | "order_history" | "live_order_history" => Record::Order,
            _ => Record::Other,
        }
    }
}

impl WireShape {
    /// The shape the simulator always built its records in: nothing to change.
    fn is_native(&self) -> bool {
        *self == WireShape::default()
    }

    /// Reshape one record in place.
    pub fn reshape(&self, record: Record, v: &mut Value) {
        let Some(obj) = v.as_object_mut() else {
            return;
        };
        if self.timestamps == TimestampForm::String {
            for key in ["timestamp", "last_updated"] {
                if let Some(slot) = obj.get_mut(key)
                    && let Some(n) = slot.as_u64()
                {
                    *slot = Value::String(n.to_string());
                }
            }
        }
        match record {
            Record::Fill if !self.fill_order_ids => {
                obj.remove("order_id");
                obj.remove("trade_side");
            }
            Record::Order if !self.fill_order_ids => {
                obj.remove("trade_side");
            }
            Record::Position if self.position_side == PositionSideField::IsLong => {
                if let Some(side) = obj.remove("trade_side") {
                    obj.insert("is_long".into(), side);
                }
            }
            _ => {}
        }
    }

    /// Reshape every record of a `{"data": …, "message": topic}` frame; the frame as it was
    /// when nothing changes (the native shape) or it is not of that form.
    pub fn reshape_frame(&self, frame: String) -> String {
        if self.is_native() {
            return frame;
        }
        let Ok(mut v) = serde_json::from_str::<Value>(&frame) else {
            return frame;
        };
        let record = match v.get("message").and_then(Value::as_str) {
            Some(topic) => Record::of_topic(topic),
            None => return frame,
        };
        match v.get_mut("data") {
            Some(Value::Array(records)) => {
                for r in records {
                    self.reshape(record, r);
                }
            }
            Some(r @ Value::Object(_)) => self.reshape(record, r),
            _ => return frame,
        }
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn documented_g2() -> WireShape {
        WireShape {
            timestamps: TimestampForm::String,
            position_side: PositionSideField::IsLong,
            fill_order_ids: false,
        }
    }

    #[test]
    fn the_native_shape_leaves_frames_byte_for_byte() {
        let frame = r#"{"data":[{"order_id":"5","timestamp":1}],"message":"trade_history"}"#;
        assert_eq!(WireShape::default().reshape_frame(frame.into()), frame);
    }

    #[test]
    fn the_g2_shape_is_the_documented_one() {
        let shape = documented_g2();
        let fill = r#"{"data":[{"order_id":"5","trade_side":true,"timestamp":1739788459,"last_updated":1739788459,"trade_id":"7"}],"message":"trade_history"}"#;
        let v: Value = serde_json::from_str(&shape.reshape_frame(fill.into())).unwrap();
        assert_eq!(
            v["data"][0],
            json!({"timestamp": "1739788459", "last_updated": "1739788459", "trade_id": "7"})
        );
        let position = r#"{"data":[{"trade_side":false,"size":"1"}],"message":"positions"}"#;
        let v: Value = serde_json::from_str(&shape.reshape_frame(position.into())).unwrap();
        assert_eq!(v["data"][0], json!({"is_long": false, "size": "1"}));
        // One record as the data (live topics), and other topics' timestamps.
        let live = r#"{"data":{"order_id":"5","timestamp":3},"message":"live_trade_history"}"#;
        let v: Value = serde_json::from_str(&shape.reshape_frame(live.into())).unwrap();
        assert_eq!(v["data"], json!({"timestamp": "3"}));
        let orders = r#"{"data":[{"order_id":"5","last_updated":4,"trade_side":true}],"message":"open_orders"}"#;
        let v: Value = serde_json::from_str(&shape.reshape_frame(orders.into())).unwrap();
        // Order records lose the side flag no documented order sample has.
        assert_eq!(v["data"][0], json!({"order_id": "5", "last_updated": "4"}));
    }

    #[test]
    fn the_config_names_each_setting() {
        let shape: WireShape = toml::from_str(
            "timestamps = \"string\"\nposition_side = \"is_long\"\nfill_order_ids = false",
        )
        .unwrap();
        assert_eq!(shape, documented_g2());
        let err = toml::from_str::<WireShape>("timestamps = \"iso\"").unwrap_err();
        assert!(err.to_string().contains("iso"), "{err}");
    }
}
