//! The exchange core: books, the clients' orders, makers and their margin accounts, and the
//! events every change produces. No I/O and no clock of its own: every call takes `now`, so the
//! same calls give the same state (tests drive it directly).
//!
//! * **Accounts.** A maker's EOA `Address` owns its orders in the shared [`MatchingBook`] as an
//!   `AccountAddress` made by **left-padding the 20 bytes with 12 zero bytes** ([`account_of`]).
//!   Synthetic traders have hashed 32-byte addresses, so they never collide with a padded EOA;
//!   only makers the core has seen ([`Core::makers`]) have positions, margin and events.
//! * **Ids.** Kyan ids are 32 lower-case hex digits. The simulator's are the book's order id
//!   (`counter << 64 | ask << 32 | price`) XOR `(instrument index + 1) << 120`, unique across
//!   books and reversible ([`kyan_id`], [`book_id`]). A taker order gets an id too, and its
//!   trades' `trade_id` is that id (\[D\] order-id-vs-trade-id guide).
//! * **Margin accounts**: one per (maker, pair), numbered from 1 (`account_state`) with a
//!   UUID-shaped id (`position`/`trade`) drawn from the seeded RNG.

use std::collections::{BTreeMap, HashMap, VecDeque};

use alloy_primitives::Address;
use perpbot_aptos::AccountAddress;
use perpbot_model::{Lots, MarketId, MarketSpec, Side, Ticks, Timestamp, VenueOrderId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::Value;

use super::config::{InstrumentConfig, KyanSimConfig};
use crate::matching::{MatchingBook, MatchingConfig, SelfMatchBehavior};

/// The book account of a maker's EOA: 12 zero bytes, then the 20 address bytes.
pub fn account_of(maker: Address) -> AccountAddress {
    let mut bytes = [0u8; 32];
    bytes[12..].copy_from_slice(maker.as_slice());
    AccountAddress::new(bytes)
}

/// The EOA behind a padded book account, if it is one.
pub fn maker_of(account: AccountAddress) -> Option<Address> {
    let bytes = account.as_bytes();
    let (pad, tail) = bytes.split_at(12);
    pad.iter()
        .all(|b| *b == 0)
        .then(|| Address::from_slice(tail))
}

/// Kyan id of a book order id on instrument `inst`.
pub fn kyan_id(inst: usize, id: VenueOrderId) -> u128 {
    id.0 ^ ((inst as u128 + 1) << 120)
}

/// `(instrument index, book id)` of a Kyan id.
pub fn book_id(kid: u128) -> Option<(usize, VenueOrderId)> {
    let inst = usize::try_from(kid >> 120).ok()?.checked_sub(1)?;
    Some((inst, VenueOrderId(kid & ((1u128 << 120) - 1))))
}

/// A Kyan id as text.
pub fn hex_id(kid: u128) -> String {
    format!("{kid:032x}")
}

/// A refusal with Kyan's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// `POST_ONLY_WOULD_CROSS`, `INSUFFICIENT_MARGIN`, …
    pub code: &'static str,
    /// Human text.
    pub message: String,
}

impl Reject {
    /// A refusal.
    pub fn new(code: &'static str, message: impl Into<String>) -> Reject {
        Reject {
            code,
            message: message.into(),
        }
    }
}

/// One listed perpetual and its running prices.
#[derive(Debug, Clone)]
pub struct Instrument {
    /// Its settings.
    pub cfg: InstrumentConfig,
    /// Its book grid.
    pub spec: MarketSpec,
    /// Index price (the synthetic market's fair mid, or the start price).
    pub index: Decimal,
    /// Premium samples since the last funding settlement.
    pub premium_sum: Decimal,
    /// Number of samples.
    pub premium_n: u32,
    /// The hourly funding rate of the last settlement (0 before the first).
    pub funding_rate: Decimal,
}

/// A client's order resting on a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderInfo {
    /// Kyan id.
    pub id: u128,
    /// Owner.
    pub maker: Address,
    /// Instrument index.
    pub inst: usize,
    /// Buy (else sell).
    pub buy: bool,
    /// Price in ticks.
    pub price: Ticks,
    /// Original size in lots.
    pub lots: u64,
    /// Filled so far, in lots.
    pub filled: u64,
    /// Post-only flag.
    pub post_only: bool,
    /// Market-maker-protection flag.
    pub mmp: bool,
    /// Creation time, seconds.
    pub created_s: u64,
    /// The signature's deadline (0 under one-click).
    pub deadline: u64,
    /// The signature (empty under one-click).
    pub signature: String,
}

impl OrderInfo {
    /// Lots still resting.
    pub fn remaining(&self) -> u64 {
        self.lots.saturating_sub(self.filled)
    }
}

/// A net position on one instrument.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed lots (negative = short).
    pub lots: i128,
    /// Average entry price (exact while the quotient fits; rounded to 12 decimals).
    pub avg: Decimal,
    /// Fees paid on entries (USDC).
    pub entry_fees: Decimal,
}

/// One (maker, pair) margin account.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    /// Numeric id (`account_state.margin_account`).
    pub id: u64,
    /// UUID-shaped id (`position`, `trade`).
    pub uuid: String,
    /// USDC: deposits + realised PnL − fees ± funding.
    pub collateral: Decimal,
    /// Deposits.
    pub deposits: Decimal,
    /// Realised PnL.
    pub realised_pnl: Decimal,
    /// Funding received (negative: paid).
    pub funding: Decimal,
    /// Positions by instrument index.
    pub positions: BTreeMap<usize, Position>,
    /// Liquidated at least once.
    pub liquidated: bool,
}

/// MMP settings of one (maker, pair) (\[D\] setmmpconfig).
#[derive(Debug, Clone, PartialEq)]
pub struct MmpConfig {
    /// `active` or `inactive`.
    pub active: bool,
    /// Window in seconds.
    pub interval: u64,
    /// Freeze in seconds (0: until configured again).
    pub frozen_time: u64,
    /// Options only; kept and echoed.
    pub quantity_limit: Decimal,
    /// Absolute net delta (contracts) over the window.
    pub delta_limit: Decimal,
    /// Options only; kept and echoed.
    pub vega_limit: Decimal,
}

/// MMP state of one (maker, pair).
#[derive(Debug, Clone, PartialEq)]
pub struct MmpState {
    /// The config.
    pub cfg: MmpConfig,
    /// Signed deltas (contracts) of `mmp:true` fills in the window.
    pub window: VecDeque<(Timestamp, Decimal)>,
    /// Frozen until (`Timestamp(u64::MAX)`: until reconfigured).
    pub frozen_until: Option<Timestamp>,
}

/// Everything the simulator holds about one maker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maker {
    /// Margin accounts by pair.
    pub accounts: BTreeMap<String, Account>,
    /// Heartbeat: `(timeout s, expires at)`.
    pub heartbeat: Option<(u64, Timestamp)>,
    /// MMP by pair.
    pub mmp: BTreeMap<String, MmpState>,
    /// Own fills (maker and taker records).
    pub fills: u64,
    /// Orders accepted (limit, edit replacements, market).
    pub orders_accepted: u64,
    /// Fees paid (USDC).
    pub fees_paid: Decimal,
    /// Funding paid (USDC; negative: received).
    pub funding_paid: Decimal,
    /// The last [`HISTORY_LIMIT`] own `trade` records, oldest first (`GET /v2/account_history`).
    pub history: std::collections::VecDeque<serde_json::Value>,
}

/// Trade records kept per maker for `GET /v2/account_history`.
pub const HISTORY_LIMIT: usize = 1_000;

/// A one-click session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its user.
    pub user: Address,
    /// Expiry, ms.
    pub expires_ms: u64,
}

/// One private-WebSocket event before it meets a connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Channel (`orderbook_maker`, `trade`, …).
    pub channel: &'static str,
    /// Event `type` (`post_order`, `trade`, …).
    pub kind: &'static str,
    /// `data`.
    pub data: Value,
    /// What a subscription query can match: `(query key, value)`, compared case-insensitively.
    pub attrs: Vec<(&'static str, String)>,
    /// UUID-v4-shaped `message_id` (kept across a session recovery).
    pub message_id: String,
    /// Event time, ms.
    pub at_ms: u64,
}

/// The exchange.
pub struct Core {
    /// Settings.
    pub cfg: KyanSimConfig,
    /// Listed perpetuals (index = position in config).
    pub instruments: Vec<Instrument>,
    /// One book per instrument, keyed by the instrument's id.
    pub books: BTreeMap<MarketId, MatchingBook>,
    /// The clients' resting orders by Kyan id.
    pub orders: HashMap<u128, OrderInfo>,
    /// Makers seen.
    pub makers: BTreeMap<Address, Maker>,
    /// Last accepted signature deadline per signer (every signature type shares it).
    pub last_deadline: HashMap<Address, u64>,
    /// One-click sessions by hash.
    pub sessions: HashMap<String, Session>,
    /// Events not yet published.
    pub events: Vec<Event>,
    /// Public-stream publications not yet published: `(channel, data)`.
    pub public: Vec<(String, Value)>,
    /// Each synthetic order resting, by Kyan id: (original lots, buy, price) — for
    /// `orderbook_perps` and the public L2 order counts.
    pub synthetic_orders: HashMap<u128, (u64, bool, Ticks)>,
    rng: ChaCha8Rng,
    next_account: u64,
    /// Time of the last call that changed state.
    pub now: Timestamp,
}

impl Core {
    /// A new exchange (`config` validated by the caller).
    pub fn new(cfg: KyanSimConfig, seed: u64) -> Result<Core, String> {
        let mut instruments = Vec::new();
        let mut books = BTreeMap::new();
        for inst in &cfg.instruments {
            let spec = inst.spec()?;
            let matching = MatchingConfig {
                // [ASSUMED] Kyan's self-trade rule is unknown: the taker is refused.
                self_match: SelfMatchBehavior::Abort,
                ..MatchingConfig::default()
            };
            books.insert(spec.id, MatchingBook::new(spec.clone(), matching));
            instruments.push(Instrument {
                cfg: inst.clone(),
                spec,
                index: inst.start_price,
                premium_sum: Decimal::ZERO,
                premium_n: 0,
                funding_rate: Decimal::ZERO,
            });
        }
        Ok(Core {
            cfg,
            instruments,
            books,
            orders: HashMap::new(),
            makers: BTreeMap::new(),
            last_deadline: HashMap::new(),
            sessions: HashMap::new(),
            events: Vec::new(),
            public: Vec::new(),
            synthetic_orders: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x4b59_414e),
            next_account: 1,
            now: Timestamp(0),
        })
    }

    /// A UUID-v4-shaped string from the seeded RNG.
    pub fn uuid(&mut self) -> String {
        let mut b: [u8; 16] = self.rng.random();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// 32 bytes of hex from the seeded RNG (session hashes).
    pub fn random_hash(&mut self) -> String {
        let b: [u8; 32] = self.rng.random();
        format!("0x{}", hex::encode(b))
    }

    /// Instrument index by name.
    pub fn instrument(&self, name: &str) -> Option<usize> {
        self.instruments.iter().position(|i| i.cfg.name == name)
    }

    /// The pairs listed, in config order, without repeats.
    pub fn pairs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in &self.instruments {
            let p = i.cfg.pair().to_string();
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// Record an event for every matching subscription.
    pub fn emit(
        &mut self,
        channel: &'static str,
        kind: &'static str,
        data: Value,
        attrs: Vec<(&'static str, String)>,
    ) {
        let message_id = self.uuid();
        self.events.push(Event {
            channel,
            kind,
            data,
            attrs,
            message_id,
            at_ms: self.now.as_millis(),
        });
    }

    /// The maker's state, created (and auto-funded per pair) on first sight.
    pub fn maker(&mut self, maker: Address) -> &mut Maker {
        if !self.makers.contains_key(&maker) {
            let fund = self.cfg.auto_fund_usdc;
            let mut m = Maker::default();
            for pair in self.pairs() {
                let id = self.next_account;
                self.next_account += 1;
                let uuid = self.uuid();
                m.accounts.insert(
                    pair.clone(),
                    Account {
                        id,
                        uuid: uuid.clone(),
                        collateral: fund,
                        deposits: fund,
                        realised_pnl: Decimal::ZERO,
                        funding: Decimal::ZERO,
                        positions: BTreeMap::new(),
                        liquidated: false,
                    },
                );
                if !fund.is_zero() {
                    let addr = format!("{maker:#x}");
                    let data = serde_json::json!({
                        "margin_account_id": uuid,
                        "smart_account_address": addr,
                        "amount": super::wire::num(fund),
                        "action_seq": id,
                        "action": "deposit",
                        "symbol": "USDC",
                    });
                    self.emit(
                        "transfer",
                        "deposit",
                        data,
                        vec![
                            ("account", addr),
                            ("symbol", "USDC".into()),
                            ("type", "deposit".into()),
                        ],
                    );
                }
            }
            self.makers.insert(maker, m);
        }
        self.makers.entry(maker).or_default()
    }

    /// The book of instrument `inst`.
    pub fn book(&self, inst: usize) -> Option<&MatchingBook> {
        self.books.get(&self.instruments.get(inst)?.spec.id)
    }

    /// Mutable book of instrument `inst`.
    pub fn book_mut(&mut self, inst: usize) -> Option<&mut MatchingBook> {
        let id = self.instruments.get(inst)?.spec.id;
        self.books.get_mut(&id)
    }

    /// The maker's open orders, optionally on one instrument, oldest first.
    pub fn open_orders(&self, maker: Address, inst: Option<usize>) -> Vec<&OrderInfo> {
        let mut v: Vec<&OrderInfo> = self
            .orders
            .values()
            .filter(|o| o.maker == maker && inst.is_none_or(|i| o.inst == i))
            .collect();
        v.sort_by_key(|o| (o.inst, o.id & ((1u128 << 120) - 1)));
        v
    }

    /// The mark price of an instrument (its index, \[ASSUMED\]).
    pub fn mark(&self, inst: usize) -> Decimal {
        self.instruments
            .get(inst)
            .map(|i| i.index)
            .unwrap_or_default()
    }

    /// Book side of a buy/sell.
    pub fn side(buy: bool) -> Side {
        if buy { Side::Buy } else { Side::Sell }
    }

    /// Lots → contracts.
    pub fn contracts(&self, inst: usize, lots: u64) -> Decimal {
        self.instruments
            .get(inst)
            .map(|i| i.spec.lots_to_size(Lots(lots)))
            .unwrap_or_default()
    }

    /// Ticks → price.
    pub fn price(&self, inst: usize, ticks: Ticks) -> Decimal {
        self.instruments
            .get(inst)
            .map(|i| i.spec.ticks_to_price(ticks))
            .unwrap_or_default()
    }
}

impl Core {
    /// Instrument names, optionally of one base (`BTC`).
    pub fn instrument_names(&self, market: Option<&str>) -> Vec<String> {
        self.instruments
            .iter()
            .filter(|i| market.is_none_or(|m| i.cfg.base().eq_ignore_ascii_case(m)))
            .map(|i| i.cfg.name.clone())
            .collect()
    }
}
