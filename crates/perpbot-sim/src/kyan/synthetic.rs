//! The synthetic traders' view of the exchange ([`SyntheticAccess`]): their orders go through
//! the same books, their trades with clients are settled like any other, and their orders show
//! on `orderbook_perps` like clients' (`post_order`, `update_order`, `cancel_order`).
//!
//! It also keeps where each synthetic order rests, so the public L2 levels carry true order
//! counts.
//!
//! **\[ASSUMED\]** a synthetic order's `maker` is the last 20 bytes of its 32-byte account, with
//! no signature; it is never a client address (clients are left-padded, synthetic accounts are
//! hashes).

use perpbot_aptos::AccountAddress;
use perpbot_model::{Level, Lots, MarketId, Side, Ticks, VenueOrderId};
use serde_json::{Value, json};

use super::core::{Core, hex_id, kyan_id};
use super::ledger::Taker;
use super::wire::num;
use crate::Abort;
use crate::market::MarketAccess;
use crate::matching::{CancelledOrder, Match, PlaceOrder, PlaceResult};

/// A synthetic order as an order object.
struct BookOrder {
    inst: usize,
    kid: u128,
    account: AccountAddress,
    buy: bool,
    price: Ticks,
    original: u64,
    remaining: u64,
}

impl Core {
    fn book_order_json(&self, o: &BookOrder, state: &str) -> Value {
        let Some(i) = self.instruments.get(o.inst) else {
            return Value::Null;
        };
        let bytes = o.account.as_bytes();
        let maker = format!("0x{}", hex::encode(bytes.get(12..).unwrap_or(bytes)));
        let price = i.spec.ticks_to_price(o.price);
        let contracts = i.spec.lots_to_size(Lots(o.original));
        let filled = i
            .spec
            .lots_to_size(Lots(o.original.saturating_sub(o.remaining)));
        json!({
            "instrument_name": i.cfg.name,
            "type": "good_til_cancelled",
            "order_id": hex_id(o.kid),
            "order_state": state,
            "price": num(price),
            "direction": if o.buy { "buy" } else { "sell" },
            "post_only": true,
            "maker": maker,
            "taker": "0x0000000000000000000000000000000000000000",
            "user_id": maker,
            "mmp": false,
            "liquidation": false,
            "creation_timestamp": self.now.as_secs(),
            "chain_id": self.cfg.chain_id,
            "signature_deadline": 0,
            "signature": "",
            "contracts": num(contracts),
            "filled_contracts": num(filled),
            "amount": num(contracts * price),
            "filled_amount": num(filled * price),
        })
    }

    fn perps_event(&mut self, kind: &'static str, o: &BookOrder, state: &str) {
        let data = self.book_order_json(o, state);
        let Some(i) = self.instruments.get(o.inst) else {
            return;
        };
        let attrs = vec![
            ("instrument_name", i.cfg.name.clone()),
            ("pair", i.cfg.pair().to_string()),
            ("direction", if o.buy { "buy" } else { "sell" }.to_string()),
        ];
        self.emit("orderbook_perps", kind, json!([data]), attrs);
    }

    /// `update_order` for a synthetic maker's fill.
    pub fn synthetic_fill_event(&mut self, inst: usize, f: &Match) {
        let kid = kyan_id(inst, f.maker_order_id);
        let remaining = f.maker_remaining.0;
        let original = self
            .synthetic_orders
            .get(&kid)
            .map_or(remaining + f.lots.0, |o| o.0);
        if remaining == 0 {
            self.synthetic_orders.remove(&kid);
        }
        let o = BookOrder {
            inst,
            kid,
            account: f.maker_account,
            buy: f.taker_side == Side::Sell,
            price: f.price,
            original,
            remaining,
        };
        let state = if remaining == 0 { "filled" } else { "open" };
        self.perps_event("update_order", &o, state);
    }
}

/// The synthetic traders' access to the books.
pub struct SyntheticAccess<'a>(pub &'a mut Core);

impl SyntheticAccess<'_> {
    fn inst(&self, market: MarketId) -> Option<usize> {
        self.0.instruments.iter().position(|i| i.spec.id == market)
    }
}

impl MarketAccess for SyntheticAccess<'_> {
    fn place(&mut self, market: MarketId, order: &PlaceOrder) -> Result<PlaceResult, Abort> {
        let inst = self
            .inst(market)
            .ok_or(Abort::Kana(perpbot_aptos::KanaAbort::MarketNotFound))?;
        let result = self.0.books.place(market, order)?;
        let kid = kyan_id(inst, result.order_id);
        if let (Some(rested), Some(price)) = (result.rested, order.price) {
            self.0
                .synthetic_orders
                .insert(kid, (order.lots.0, order.side == Side::Buy, price));
            let o = BookOrder {
                inst,
                kid,
                account: order.account,
                buy: order.side == Side::Buy,
                price,
                original: order.lots.0,
                remaining: rested.0,
            };
            self.0.perps_event("post_order", &o, "open");
        }
        let t = Taker {
            account: order.account,
            kid,
            limit: order.price.map(|p| self.0.price(inst, p)),
            liquidation: false,
        };
        self.0.settle_fills(inst, &t, &result.fills);
        Ok(result)
    }

    fn cancel(
        &mut self,
        market: MarketId,
        account: AccountAddress,
        order_id: VenueOrderId,
    ) -> Result<CancelledOrder, Abort> {
        let cancelled = self.0.books.cancel(market, account, order_id)?;
        if let Some(inst) = self.inst(market) {
            let kid = kyan_id(inst, order_id);
            self.0.synthetic_orders.remove(&kid);
            let c = &cancelled.order;
            let o = BookOrder {
                inst,
                kid,
                account,
                buy: c.side == Side::Buy,
                price: c.price,
                original: c.original_lots.0,
                remaining: c.lots.0,
            };
            self.0.perps_event("cancel_order", &o, "cancelled");
        }
        Ok(cancelled)
    }

    fn best_bid(&self, market: MarketId) -> Option<Level> {
        self.0.books.best_bid(market)
    }

    fn best_ask(&self, market: MarketId) -> Option<Level> {
        self.0.books.best_ask(market)
    }

    fn depth(&self, market: MarketId, max_levels: usize) -> (Vec<Level>, Vec<Level>) {
        self.0.books.depth(market, max_levels)
    }

    fn resting_orders(&self, market: MarketId, account: AccountAddress) -> Vec<VenueOrderId> {
        self.0.books.resting_orders(market, account)
    }
}
