//! Orders: limit (good-til-cancelled, post-only or crossing), market (IOC, or FOK by config,
//! bounded by `limit_price`), edit (cancel + new order with a new id), cancel by ids and cancel
//! all. Every call is all-or-nothing for the order it handles: checks first, then the book.

use alloy_primitives::Address;
use perpbot_model::{Lots, Restriction, Ticks};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::core::{Core, OrderInfo, Reject, account_of, hex_id, kyan_id};
use super::ledger::Taker;
use crate::Abort;
use crate::matching::PlaceOrder;
use perpbot_aptos::EconiaAbort;

/// A limit order, read and verified by the REST layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Owner.
    pub maker: Address,
    /// Instrument index.
    pub inst: usize,
    /// Buy (else sell).
    pub buy: bool,
    /// Price in ticks.
    pub price: Ticks,
    /// Size in lots.
    pub lots: u64,
    /// Post-only.
    pub post_only: bool,
    /// MMP flag.
    pub mmp: bool,
    /// Signature deadline (0 under one-click).
    pub deadline: u64,
    /// Signature text (empty under one-click).
    pub signature: String,
}

/// What `POST /market` did.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketOutcome {
    /// The taker order's id (= the trade id).
    pub kid: u128,
    /// Lots filled.
    pub filled: u64,
    /// Notional filled.
    pub notional: Decimal,
}

fn book_reject(e: Abort) -> Reject {
    match e {
        Abort::Econia(EconiaAbort::PostOrAbortCrossesSpread) => Reject::new(
            "POST_ONLY_WOULD_CROSS",
            "the post-only order would cross the book",
        ),
        Abort::Econia(EconiaAbort::SelfMatch) => Reject::new(
            "SELF_TRADE",
            "the order would trade with a resting order of the same maker",
        ),
        Abort::Econia(EconiaAbort::FillOrAbortNotCrossSpread)
        | Abort::Econia(EconiaAbort::MinBaseNotTraded) => Reject::new(
            "INSUFFICIENT_LIQUIDITY",
            "the market order cannot fill completely within limit_price",
        ),
        other => Reject::new("INVALID_PRICE", format!("refused by the book: {other}")),
    }
}

impl Core {
    /// The notional of an order that counts against initial margin: only the part that would
    /// grow the absolute position (\[D\]: at IMr ≥ 100 % an account can still reduce risk), so
    /// a closing order is never refused for margin.
    pub fn adding_notional(
        &self,
        maker: Address,
        inst: usize,
        buy: bool,
        lots: u64,
        price: Ticks,
    ) -> Decimal {
        let Some(i) = self.instruments.get(inst) else {
            return Decimal::ZERO;
        };
        let pos = self
            .makers
            .get(&maker)
            .and_then(|m| m.accounts.get(i.cfg.pair()))
            .and_then(|a| a.positions.get(&inst))
            .map_or(0, |p| p.lots);
        let q = if buy { lots as i128 } else { -(lots as i128) };
        let grows = (pos + q).unsigned_abs().saturating_sub(pos.unsigned_abs());
        let grows = u64::try_from(grows.min(u128::from(lots))).unwrap_or(lots);
        i.spec.notional(Lots(grows), price)
    }

    fn check_mmp_frozen(&mut self, maker: Address, pair: &str, mmp: bool) -> Result<(), Reject> {
        let now = self.now;
        if !mmp {
            return Ok(());
        }
        if let Some(st) = self.maker(maker).mmp.get_mut(pair)
            && let Some(until) = st.frozen_until
        {
            if now < until {
                return Err(Reject::new(
                    "MMP_FROZEN",
                    format!("market maker protection is frozen for {pair}"),
                ));
            }
            st.frozen_until = None;
            st.window.clear();
        }
        Ok(())
    }

    /// Place a limit order; the answer is the order object (`open`, or `filled` when it filled
    /// completely as taker).
    pub fn place_limit(&mut self, o: NewOrder) -> Result<Value, Reject> {
        let inst = self
            .instruments
            .get(o.inst)
            .ok_or_else(|| Reject::new("INVALID_INSTRUMENT", "no such instrument"))?;
        let spec = inst.spec.clone();
        let pair = inst.cfg.pair().to_string();
        self.maker(o.maker);
        self.check_mmp_frozen(o.maker, &pair, o.mmp)?;
        let notional = self.adding_notional(o.maker, o.inst, o.buy, o.lots, o.price);
        self.check_margin(o.maker, &pair, notional, Decimal::ZERO)?;
        let restriction = if o.post_only {
            Restriction::PostOnly
        } else {
            Restriction::None
        };
        let req = PlaceOrder::limit(
            account_of(o.maker),
            Core::side(o.buy),
            Lots(o.lots),
            o.price,
        )
        .with_restriction(restriction);
        let book = self
            .book_mut(o.inst)
            .ok_or_else(|| Reject::new("INVALID_INSTRUMENT", "no such book"))?;
        let result = book.place(&req).map_err(book_reject)?;
        let filled: u64 = result.fills.iter().map(|f| f.lots.0).sum();
        let kid = kyan_id(o.inst, result.order_id);
        let info = OrderInfo {
            id: kid,
            maker: o.maker,
            inst: o.inst,
            buy: o.buy,
            price: o.price,
            lots: o.lots,
            filled,
            post_only: o.post_only,
            mmp: o.mmp,
            created_s: self.now.as_secs(),
            deadline: o.deadline,
            signature: o.signature,
        };
        self.maker(o.maker).orders_accepted += 1;
        let limit = Some(spec.ticks_to_price(o.price));
        if result.rested.is_some() {
            self.orders.insert(kid, info.clone());
            let data = self.order_json(&info, "open");
            self.book_event("post_order", &info, data);
        }
        let taker = Taker {
            account: account_of(o.maker),
            kid,
            limit,
            liquidation: false,
        };
        self.settle_fills(o.inst, &taker, &result.fills);
        let state = if result.rested.is_some() {
            "open"
        } else {
            "filled"
        };
        Ok(self.order_json(&info, state))
    }

    /// A market order: fills within `limit_price`; IOC drops the rest, FOK refuses unless it
    /// all fills.
    pub fn place_market(
        &mut self,
        taker: Address,
        inst: usize,
        buy: bool,
        lots: u64,
        limit: Ticks,
    ) -> Result<MarketOutcome, Reject> {
        let i = self
            .instruments
            .get(inst)
            .ok_or_else(|| Reject::new("INVALID_INSTRUMENT", "no such instrument"))?;
        let spec = i.spec.clone();
        let pair = i.cfg.pair().to_string();
        self.maker(taker);
        let notional = self.adding_notional(taker, inst, buy, lots, limit);
        self.check_margin(taker, &pair, notional, Decimal::ZERO)?;
        let restriction = if self.cfg.market_fok {
            Restriction::FillOrAbort
        } else {
            Restriction::None
        };
        let req = PlaceOrder::limit(account_of(taker), Core::side(buy), Lots(lots), limit)
            .with_restriction(restriction);
        let account = account_of(taker);
        let book = self
            .book_mut(inst)
            .ok_or_else(|| Reject::new("INVALID_INSTRUMENT", "no such book"))?;
        // IOC: the limit order's resting remainder is cancelled in the same transaction.
        let result = book
            .atomically(|b| {
                let r = b.place(&req)?;
                if r.rested.is_some() {
                    b.cancel(account, r.order_id)?;
                }
                Ok(r)
            })
            .map_err(book_reject)?;
        let kid = kyan_id(inst, result.order_id);
        let filled: u64 = result.fills.iter().map(|f| f.lots.0).sum();
        let notional_filled = result
            .fills
            .iter()
            .map(|f| spec.notional(f.lots, f.price))
            .sum();
        self.maker(taker).orders_accepted += 1;
        let t = Taker {
            account,
            kid,
            limit: Some(spec.ticks_to_price(limit)),
            liquidation: false,
        };
        self.settle_fills(inst, &t, &result.fills);
        Ok(MarketOutcome {
            kid,
            filled,
            notional: notional_filled,
        })
    }

    /// Remove one resting order of `maker` (book and records) and emit `cancel_order`.
    pub fn cancel_one(&mut self, maker: Address, kid: u128) -> Result<OrderInfo, Reject> {
        let info = self
            .orders
            .get(&kid)
            .filter(|o| o.maker == maker)
            .cloned()
            .ok_or_else(|| {
                Reject::new(
                    "ORDER_NOT_FOUND",
                    format!("order {} is not open", hex_id(kid)),
                )
            })?;
        let vid = super::core::book_id(kid)
            .map(|(_, v)| v)
            .ok_or_else(|| Reject::new("ORDER_NOT_FOUND", "bad id"))?;
        if let Some(book) = self.book_mut(info.inst) {
            book.cancel(account_of(maker), vid)
                .map_err(|_| Reject::new("ORDER_NOT_FOUND", "not resting"))?;
        }
        self.orders.remove(&kid);
        let data = self.order_json(&info, "cancelled");
        self.book_event("cancel_order", &info, data);
        Ok(info)
    }

    /// Cancel by ids: `(cancelled, not found)` as Kyan ids in request order.
    pub fn cancel_ids(&mut self, maker: Address, ids: &[u128]) -> (Vec<u128>, Vec<u128>) {
        let (mut done, mut missing) = (Vec::new(), Vec::new());
        for id in ids {
            match self.cancel_one(maker, *id) {
                Ok(_) => done.push(*id),
                Err(_) => missing.push(*id),
            }
        }
        if !done.is_empty() {
            for pair in self.pairs() {
                self.account_state_event(maker, &pair);
            }
        }
        (done, missing)
    }

    /// Cancel every open order of `maker` matching `keep` (all when it returns true).
    pub fn cancel_where(&mut self, maker: Address, pred: impl Fn(&OrderInfo) -> bool) -> Vec<u128> {
        let ids: Vec<u128> = self
            .open_orders(maker, None)
            .into_iter()
            .filter(|o| pred(o))
            .map(|o| o.id)
            .collect();
        self.cancel_ids(maker, &ids).0
    }

    /// Edit: the old order is cancelled and a new one placed with the new size and price (same
    /// flags, new id). Checked first (ownership, post-only cross, margin), so a refused edit
    /// leaves the old order resting.
    pub fn edit(
        &mut self,
        maker: Address,
        kid: u128,
        price: Ticks,
        lots: u64,
        deadline: u64,
        signature: String,
    ) -> Result<Value, Reject> {
        let old = self
            .orders
            .get(&kid)
            .filter(|o| o.maker == maker)
            .cloned()
            .ok_or_else(|| {
                Reject::new(
                    "ORDER_NOT_FOUND",
                    format!("order {} is not open", hex_id(kid)),
                )
            })?;
        let (spec, pair) = match self.instruments.get(old.inst) {
            Some(i) => (i.spec.clone(), i.cfg.pair().to_string()),
            None => return Err(Reject::new("INVALID_INSTRUMENT", "no such instrument")),
        };
        if old.post_only
            && let Some(book) = self.book(old.inst)
        {
            let best = if old.buy {
                book.best_ask()
            } else {
                book.best_bid()
            };
            if best.is_some_and(|l| {
                if old.buy {
                    l.price <= price
                } else {
                    l.price >= price
                }
            }) {
                return Err(Reject::new(
                    "POST_ONLY_WOULD_CROSS",
                    "the edited post-only order would cross the book",
                ));
            }
        }
        if old.mmp {
            self.check_mmp_frozen(maker, &pair, true)?;
        }
        let freed = spec.notional(Lots(old.remaining()), old.price);
        let adding = self.adding_notional(maker, old.inst, old.buy, lots, price);
        self.check_margin(maker, &pair, adding, freed)?;
        self.cancel_one(maker, kid)?;
        let mut v = self.place_limit(NewOrder {
            maker,
            inst: old.inst,
            buy: old.buy,
            price,
            lots,
            post_only: old.post_only,
            mmp: old.mmp,
            deadline,
            signature,
        })?;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("old_order_id".into(), json!(hex_id(kid)));
        }
        Ok(v)
    }
}
