//! JSON shapes the simulator sends: orders, account states, positions, and the number encoding.
//!
//! **Numbers.** \[D\] sends prices and sizes as JSON numbers. A `Decimal` is written as the
//! nearest `f64` when it has at most 15 significant digits: then the shortest text of that
//! `f64` (what `serde_json` prints) *is* the decimal's own text, so nothing is lost; a value
//! with more digits is sent as a string (the client accepts both).

use alloy_primitives::Address;
use perpbot_model::Lots;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::core::{Core, OrderInfo, hex_id};

/// A decimal as an exact JSON number (or a string beyond 15 significant digits).
pub fn num(d: Decimal) -> Value {
    let d = d.normalize();
    if d.fract().is_zero()
        && let Ok(i) = i64::try_from(d.mantissa())
        && d.scale() == 0
    {
        return json!(i);
    }
    let digits = d.mantissa().unsigned_abs().to_string().len();
    if digits <= 15
        && let Ok(f) = d.to_string().parse::<f64>()
    {
        return json!(f);
    }
    json!(d.to_string())
}

impl Core {
    /// An order object \[D ws-orderbook-events, newer version\].
    pub fn order_json(&self, o: &OrderInfo, state: &str) -> Value {
        let Some(i) = self.instruments.get(o.inst) else {
            return Value::Null;
        };
        let price = i.spec.ticks_to_price(o.price);
        let contracts = i.spec.lots_to_size(Lots(o.lots));
        let filled = i.spec.lots_to_size(Lots(o.filled));
        json!({
            "instrument_name": i.cfg.name,
            "type": "good_til_cancelled",
            "order_id": hex_id(o.id),
            "order_state": state,
            "price": num(price),
            "direction": if o.buy { "buy" } else { "sell" },
            "post_only": o.post_only,
            "maker": format!("{:#x}", o.maker),
            "taker": format!("{:#x}", Address::ZERO),
            "user_id": format!("{:#x}", o.maker),
            "mmp": o.mmp,
            "liquidation": false,
            "creation_timestamp": o.created_s,
            "chain_id": self.cfg.chain_id,
            "signature_deadline": o.deadline,
            "signature": o.signature,
            "contracts": num(contracts),
            "filled_contracts": num(filled),
            "amount": num(contracts * price),
            "filled_amount": num(filled * price),
        })
    }

    /// One position entry of the `position` channel.
    fn position_entry(&self, uuid: &str, inst: usize, pos: &super::core::Position) -> Value {
        let Some(i) = self.instruments.get(inst) else {
            return Value::Null;
        };
        let size = i.spec.signed_size(pos.lots);
        json!({
            "id": format!("{uuid}:{}", i.cfg.name),
            "margin_account_id": uuid,
            "instrument_name": i.cfg.name,
            "instrument": i.cfg.name,
            "size": num(size),
            "average_price": num(pos.avg),
            "entry_fee": num(pos.entry_fees),
            "entry_fees": num(pos.entry_fees),
            "instrument_type": "perp",
            "mark_price": num(i.index),
            "current_funding_rate": num(i.funding_rate),
            "position_greeks": {"delta": num(size)},
        })
    }

    /// `account_state` data of one pair account \[D ws-account-state\], with `collateral` and
    /// `positions` \[S\].
    pub fn account_state_json(&self, maker: Address, pair: &str) -> Option<Value> {
        let acct = self.makers.get(&maker)?.accounts.get(pair)?;
        let v = self.margin(maker, pair);
        let positions: Vec<Value> = acct
            .positions
            .iter()
            .map(|(inst, p)| self.position_entry(&acct.uuid, *inst, p))
            .collect();
        Some(json!({
            "timestamp": self.now.as_millis(),
            "margin_account": acct.id,
            "pair": pair,
            "im": num(v.im),
            "mm": num(v.mm),
            "matrix_risk": num(v.mm),
            "delta_risk": 0,
            "roll_risk": 0,
            "unrealised_pnl": num(v.upnl),
            "equity": num(v.equity),
            "collateral": num(v.collateral),
            "portfolio_greeks": {"delta": num(v.delta), "gamma": 0, "vega": 0, "theta": 0, "rho": 0},
            "liquidation": !acct.positions.is_empty() && v.equity < v.mm,
            "positions": positions,
        }))
    }

    /// `position` data of one pair account \[D ws-position\]; `None` without positions.
    pub fn position_json(&self, maker: Address, pair: &str) -> Option<Value> {
        let acct = self.makers.get(&maker)?.accounts.get(pair)?;
        let base = pair.split('_').next().unwrap_or(pair);
        let positions: Vec<Value> = acct
            .positions
            .iter()
            .map(|(inst, p)| self.position_entry(&acct.uuid, *inst, p))
            .collect();
        Some(json!({"margin_account": acct.uuid, "market": base, "positions": positions}))
    }

    /// `GET /positions/{address}` margin accounts \[D getpositions\].
    pub fn positions_rest(&self, maker: Address) -> Value {
        let Some(m) = self.makers.get(&maker) else {
            return json!({"margin_accounts": []});
        };
        let accounts: Vec<Value> = m
            .accounts
            .iter()
            .map(|(pair, a)| {
                let positions: Vec<Value> = a
                    .positions
                    .iter()
                    .map(|(inst, p)| self.position_entry(&a.uuid, *inst, p))
                    .collect();
                json!({
                    "id": a.uuid,
                    "pair_id": pair,
                    "deposits": num(a.deposits),
                    "withdrawals": 0,
                    "realised_pnl": num(a.realised_pnl),
                    "accrued_funding": num(a.funding),
                    "liquidation": a.liquidated,
                    "smart_account_address": format!("{maker:#x}"),
                    "positions": positions,
                })
            })
            .collect();
        json!({"margin_accounts": accounts})
    }

    /// L2 levels `[price, amount_usd, count]` as strings, best first (public stream) \[D\].
    pub fn l2_levels(&self, inst: usize, levels: usize) -> (Vec<Value>, Vec<Value>) {
        let (Some(i), Some(book)) = (self.instruments.get(inst), self.book(inst)) else {
            return (Vec::new(), Vec::new());
        };
        let (bids, asks) = book.depth(levels);
        // Orders per level: the clients' and the synthetic traders' resting orders.
        let mut counts: std::collections::HashMap<(bool, u64), u32> = Default::default();
        for o in self.orders.values().filter(|o| o.inst == inst) {
            *counts.entry((o.buy, o.price.0)).or_default() += 1;
        }
        for (kid, (_, buy, price)) in &self.synthetic_orders {
            if super::core::book_id(*kid).is_some_and(|(x, _)| x == inst) {
                *counts.entry((*buy, price.0)).or_default() += 1;
            }
        }
        let render = |side: Vec<perpbot_model::Level>, buy: bool| -> Vec<Value> {
            side.into_iter()
                .map(|l| {
                    let n = counts.get(&(buy, l.price.0)).copied().unwrap_or(1).max(1);
                    json!([
                        i.spec.ticks_to_price(l.price).to_string(),
                        i.spec.notional(l.lots, l.price).to_string(),
                        n.to_string()
                    ])
                })
                .collect()
        };
        (render(bids, true), render(asks, false))
    }
}
