//! The pure core of the built-in exchange simulator: an Econia-style matching engine
//! ([`matching`]) and Kana-style perpetual accounting ([`accounting`]).
//!
//! Everything here is synchronous, deterministic and free of I/O: the server, the synthetic
//! traders and fault injection are layered on top. Integer lots and ticks (per
//! [`MarketSpec`](perpbot_model::MarketSpec)) inside the book; exact `Decimal` money in the ledger;
//! no `f64` anywhere; bad input is an [`Abort`] carrying the same code the real contracts use
//! (reference §8.5 Kana `perpetual_core`, §8.6 Econia `market`), never a panic.
//!
//! ```
//! use perpbot_aptos::AccountAddress;
//! use perpbot_model::{Direction, Lots, MarketSpec, OrderKind, Restriction, Side, Ticks, Timestamp};
//! use perpbot_sim::matching::{MatchingBook, MatchingConfig, PlaceOrder};
//!
//! let (alice, bob) = (AccountAddress::new([1; 32]), AccountAddress::new([2; 32]));
//! let mut book = MatchingBook::new(MarketSpec::kana_apt_testnet(), MatchingConfig::default());
//! let ask = PlaceOrder::limit(alice, Side::Sell, Lots(1000), Ticks(5520));
//! let rested = book.place(&ask).unwrap();
//! assert_eq!(rested.rested, Some(Lots(1000)));
//! let buy = PlaceOrder::market(bob, Side::Buy, Lots(600));
//! let taken = book.place(&buy).unwrap();
//! assert_eq!(taken.fills[0].price, Ticks(5520));
//! assert_eq!(book.best_ask().map(|l| l.lots), Some(Lots(400)));
//! ```
//!
//! ## Accounts
//!
//! Accounts are Kana **profile addresses** ([`AccountAddress`]): on chain every order, position
//! and event is recorded under the profile, not the wallet (reference §1.3). [`profile_address`]
//! derives a wallet's profile deterministically; the [`Ledger`] creates it on
//! the first deposit.
//!
//! ## Rules this simulator had to decide (Kana leaves them unknown)
//!
//! Each rule is documented where it is implemented; the list in one place:
//!
//! * order ids: `counter << 64 | ask bit << 32 | price`, counter per book from 1, every accepted
//!   order gets one ([`matching`]);
//! * self-match: Econia's default, abort with `E_SELF_MATCH` (19); cancel-maker / cancel-taker /
//!   cancel-both are configurable ([`matching::SelfMatchBehavior`]);
//! * market orders are all-or-nothing: Kana 1007 when the book cannot fill the whole size
//!   (configurable to fill partially, [`matching::MarketShortfall`]);
//! * restriction code 2 (IOC) is refused with `E_INVALID_RESTRICTION` (18) — Kana lists only
//!   0, 1, 3 ([`matching::restriction_from_code`]);
//! * size above `max_lots` → `E_SIZE_BASE_OVERFLOW` (15) (Kana's own code for it is unknown);
//! * cancelling another account's order → `E_INVALID_USER` (24); an id not resting →
//!   `E_INVALID_MARKET_ORDER_ID` (22);
//! * not enough collateral for an order → Kana 1012; funding settles into the position's
//!   isolated margin; liquidation closes at the mark ([`accounting`]);
//! * a delegate is registered by the owner wallet with `perpetual_scripts::add_delegate(delegate,
//!   expires_at_secs)` and dropped with `remove_delegate()` — Kana's function for it is unknown
//!   ([`exchange`], [`abi`]);
//! * `withdraw_multiple_markets(amount, market_ids)` draws `amount` once from the profile's single
//!   balance; `settle_pnl(market)` has nothing to settle ([`exchange`]);
//! * gas is a model, not a metered VM: `base + per_order × orders named by the call`, charged to
//!   the sender's simulated APT balance for commits and aborts alike ([`server::GasModel`]);
//! * funding-history and deposit/withdraw records have a shape of the simulator's own (Kana's is
//!   unknown; [`server::indexer`]).

pub mod abi;
pub mod accounting;
pub mod exchange;
pub mod exchange_records;
pub mod fills;
pub mod funding;
pub mod kyan;
pub mod liquidation;
pub mod market;
pub mod matching;
pub mod orders;
pub mod server;

use std::fmt;

use perpbot_aptos::AccountAddress;
use perpbot_aptos::keys::sha3_256;
use perpbot_aptos::vm_status::{ECONIA_MAINNET, KANA_PERPS_PACKAGE};
use perpbot_aptos::{EconiaAbort, KanaAbort, KnownAbort};

pub use accounting::{Ledger, LedgerConfig};
pub use funding::{FundingModel, MarkSource};
pub use kyan::{KyanFaultTally, KyanFaults, KyanSimConfig, KyanSimHandle, KyanTruth, start};
pub use matching::{MatchingBook, MatchingConfig, PlaceOrder, PlaceResult};

/// Why the simulated contracts refused a transaction: the same abort codes the real ones use.
/// A refused transaction changes nothing (all-or-nothing, like a Move abort).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Abort {
    /// A Kana `perpetual_core` abort (1001–1014).
    Kana(KanaAbort),
    /// An Econia `market` abort (0–33).
    Econia(EconiaAbort),
}

impl Abort {
    /// The numeric abort code.
    pub fn code(&self) -> u64 {
        match self {
            Abort::Kana(k) => k.code(),
            Abort::Econia(e) => e.code(),
        }
    }

    /// The Move constant name (`E_SELF_MATCH`).
    pub fn name(&self) -> &'static str {
        match self {
            Abort::Kana(k) => k.name(),
            Abort::Econia(e) => e.name(),
        }
    }

    /// As the abort-table lookup of [`perpbot_aptos::MoveAbort::known`] would report it.
    pub fn known(&self) -> KnownAbort {
        match self {
            Abort::Kana(k) => KnownAbort::Kana(*k),
            Abort::Econia(e) => KnownAbort::Econia(*e),
        }
    }

    /// The `vm_status` string a node prints for this abort, e.g.
    /// `Move abort in 0xc0deb00c…::market: E_SELF_MATCH(0x13): self match with abort behaviour`.
    /// [`perpbot_aptos::VmStatus::parse`] reads it back to the same abort.
    pub fn vm_status(&self) -> String {
        let (address, module, description) = match self {
            Abort::Kana(k) => (KANA_PERPS_PACKAGE, "perpetual_core", k.description()),
            Abort::Econia(e) => (ECONIA_MAINNET, "market", e.description()),
        };
        format!(
            "Move abort in {}::{module}: {}(0x{:x}): {description}",
            address.to_hex_long(),
            self.name(),
            self.code()
        )
    }
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abort::Kana(k) => write!(f, "Kana {} ({})", k.name(), k.code()),
            Abort::Econia(e) => write!(f, "Econia {} ({})", e.name(), e.code()),
        }
    }
}

impl std::error::Error for Abort {}

impl From<KanaAbort> for Abort {
    fn from(k: KanaAbort) -> Abort {
        Abort::Kana(k)
    }
}

impl From<EconiaAbort> for Abort {
    fn from(e: EconiaAbort) -> Abort {
        Abort::Econia(e)
    }
}

/// Why an order left the book without filling, as Econia's `user::CancelOrderEvent.reason`
/// (reference §8.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// 1: evicted (price-time priority too low). Not produced: the simulated book is unbounded.
    Eviction,
    /// 2: the unfilled part of an immediate-or-cancel order.
    ImmediateOrCancel,
    /// 3: cancelled by its owner.
    ManualCancel,
    /// 4: maximum quote traded. Not produced.
    MaxQuoteTraded,
    /// 5: the book ran out of liquidity (market order remainder when partial fills are allowed).
    NotEnoughLiquidity,
    /// 6: a resting order cancelled because its owner's taker order reached it.
    SelfMatchMaker,
    /// 7: a taker order cancelled because it reached its owner's resting order.
    SelfMatchTaker,
    /// 8: too small to fill a lot. Not produced (sizes are whole lots).
    TooSmallToFillLot,
    /// 9: the limit price was violated. Not produced.
    ViolatedLimitPrice,
}

impl CancelReason {
    /// Econia's numeric reason.
    pub fn code(self) -> u8 {
        match self {
            CancelReason::Eviction => 1,
            CancelReason::ImmediateOrCancel => 2,
            CancelReason::ManualCancel => 3,
            CancelReason::MaxQuoteTraded => 4,
            CancelReason::NotEnoughLiquidity => 5,
            CancelReason::SelfMatchMaker => 6,
            CancelReason::SelfMatchTaker => 7,
            CancelReason::TooSmallToFillLot => 8,
            CancelReason::ViolatedLimitPrice => 9,
        }
    }
}

/// Seed of the simulated profile object (not Kana's, which is unknown).
const PROFILE_SEED: &[u8] = b"perpbot_sim::profile";

/// Aptos object-address scheme tag for a seed-derived object.
const OBJECT_FROM_SEED: u8 = 0xFE;

/// The simulated trade-profile address of `wallet`: an Aptos named-object address,
/// `sha3_256(wallet ‖ seed ‖ 0xFE)`, so it is stable and distinct from the wallet like Kana's
/// (whose seed is unknown; the real address cannot be reproduced). A wallet has one profile.
pub fn profile_address(wallet: &AccountAddress) -> AccountAddress {
    AccountAddress::new(sha3_256(&[
        wallet.as_bytes(),
        PROFILE_SEED,
        &[OBJECT_FROM_SEED],
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use perpbot_aptos::VmStatus;

    #[test]
    fn abort_vm_status_round_trips_through_the_parser() {
        for abort in [
            Abort::Econia(EconiaAbort::SelfMatch),
            Abort::Econia(EconiaAbort::PostOrAbortCrossesSpread),
            Abort::Kana(KanaAbort::InsufficientLiquidityInOrderbook),
        ] {
            let VmStatus::MoveAbort(parsed) = VmStatus::parse(&abort.vm_status()) else {
                panic!("not an abort: {}", abort.vm_status());
            };
            assert_eq!(parsed.known(), abort.known());
            assert_eq!(parsed.code, abort.code());
        }
        assert_eq!(
            Abort::Econia(EconiaAbort::SelfMatch).to_string(),
            "Econia E_SELF_MATCH (19)"
        );
    }

    #[test]
    fn profile_address_is_stable_and_not_the_wallet() {
        let w = AccountAddress::new([7; 32]);
        assert_eq!(profile_address(&w), profile_address(&w));
        assert_ne!(profile_address(&w), w);
        assert_ne!(
            profile_address(&w),
            profile_address(&AccountAddress::new([8; 32]))
        );
    }
}
