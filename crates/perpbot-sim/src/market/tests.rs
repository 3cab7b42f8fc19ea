//! Tests of the synthetic market ([`crate::market`]).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use perpbot_aptos::AccountAddress;
use perpbot_aptos::keys::sha3_256;
use perpbot_model::{Lots, MarketId, MarketSpec, Restriction, Rounding, Side, Ticks, Timestamp};

use crate::market::{
    Action, MarketAccess, Role, StepReport, SyntheticConfig, SyntheticMarket, testnet_markets,
};
use crate::{Abort, Ledger, LedgerConfig, MatchingBook, MatchingConfig, PlaceOrder};

const APT: MarketId = MarketId(1338);
const STEP_MS: u64 = 250;

type Books = BTreeMap<MarketId, MatchingBook>;

fn books_for(specs: &[MarketSpec]) -> Books {
    specs
        .iter()
        .map(|s| {
            (
                s.id,
                MatchingBook::new(s.clone(), MatchingConfig::default()),
            )
        })
        .collect()
}

fn apt_only() -> Vec<MarketSpec> {
    vec![MarketSpec::kana_apt_testnet()]
}

fn at(step: u64) -> Timestamp {
    Timestamp::from_millis(STEP_MS * step)
}

/// Run `steps` steps on fresh books; every report and the books at the end.
fn run(config: SyntheticConfig, specs: &[MarketSpec], steps: u64) -> (Vec<StepReport>, Books) {
    let mut books = books_for(specs);
    let mut market = SyntheticMarket::new(config, specs).unwrap();
    let reports = (1..=steps)
        .map(|n| market.step(at(n), &mut books))
        .collect();
    (reports, books)
}

fn digest(reports: &[StepReport]) -> [u8; 32] {
    let log: Vec<&Action> = reports.iter().flat_map(|r| &r.actions).collect();
    sha3_256(&[format!("{log:?}").as_bytes()])
}

fn all_depth(books: &Books) -> Vec<String> {
    books
        .iter()
        .map(|(id, b)| format!("{id}: {:?}", b.depth(usize::MAX)))
        .collect()
}

// ---- markets and config ----

#[test]
fn testnet_markets_have_valid_grids_and_community_minimums() {
    let specs = testnet_markets();
    let ids: Vec<u64> = specs.iter().map(|s| s.id.0).collect();
    assert_eq!(ids, vec![1338, 1339, 1340, 2387]);
    assert_eq!(specs[0], MarketSpec::kana_apt_testnet());
    let minimums = [dec!(0.5), dec!(0.0001), dec!(0.001), dec!(0.05)];
    let ticks = [dec!(0.001), dec!(1), dec!(0.1), dec!(0.01)];
    for ((spec, min), tick) in specs.iter().zip(minimums).zip(ticks) {
        spec.validate().unwrap();
        assert_eq!(spec.lots_to_size(Lots(spec.min_lots)), min, "{}", spec.name);
        assert_eq!(spec.tick_in_price(), tick, "{}", spec.name);
        // quote_precision matches the tick's decimals.
        assert_eq!(
            tick.normalize().scale(),
            spec.quote_precision,
            "{}",
            spec.name
        );
        // Built-in start prices are on the grid and far from the book's limits.
        let start = crate::market::default_start_price(spec.id).unwrap();
        let t = spec.price_to_ticks(start, Rounding::Exact).unwrap();
        assert!((1_000..=10_000_000).contains(&t.0), "{} {t}", spec.name);
    }
}

#[test]
fn config_defaults_are_valid_and_toml_is_strict() {
    SyntheticConfig::default().validate("sim.market").unwrap();
    let cfg: SyntheticConfig = toml::from_str(
        r#"
        seed = 7
        [price]
        volatility_per_second = 0.0002
        [markets.1338]
        start_price = "6.25"
        volatility_annual = 1.5
        [takers]
        decay_per_tick = 0.5
        informed_fraction = 0.25
        "#,
    )
    .unwrap();
    assert_eq!(cfg.seed, 7);
    assert_eq!(cfg.markets["1338"].start_price, Some(dec!(6.25)));
    assert_eq!(cfg.takers.intensity, 2.0, "unset keys keep their defaults");
    cfg.validate("sim.market").unwrap();
    let market = SyntheticMarket::new(cfg, &apt_only()).unwrap();
    assert_eq!(market.fair_mid(APT), Some(Ticks(6250)));
    assert_eq!(market.fair_mid_price(APT), Some(dec!(6.25)));

    let err = toml::from_str::<SyntheticConfig>("[takers]\nlambda = 1.0").unwrap_err();
    assert!(err.to_string().contains("lambda"), "{err}");
}

#[test]
fn validate_names_the_key() {
    let check = |edit: &dyn Fn(&mut SyntheticConfig), key: &str| {
        let mut cfg = SyntheticConfig::default();
        edit(&mut cfg);
        let err = cfg.validate("sim.market").unwrap_err();
        assert!(err.starts_with(&format!("sim.market.{key} ")), "{err}");
    };
    check(&|c| c.step_ms = 0, "step_ms");
    check(&|c| c.leverage = 0, "leverage");
    check(
        &|c| c.account_collateral = Decimal::ZERO,
        "account_collateral",
    );
    check(
        &|c| {
            c.price.volatility_annual = Some(0.5);
            c.price.volatility_per_second = Some(0.001);
        },
        "price.volatility_per_second",
    );
    check(
        &|c| c.price.volatility_annual = Some(f64::NAN),
        "price.volatility_annual",
    );
    check(
        &|c| c.price.jump_probability = 1.5,
        "price.jump_probability",
    );
    check(
        &|c| {
            c.markets.insert("1338".into(), Default::default());
            if let Some(m) = c.markets.get_mut("1338") {
                m.start_price = Some(dec!(-1));
            }
        },
        "markets.1338.start_price",
    );
    check(
        &|c| {
            c.markets.insert("apt".into(), Default::default());
        },
        "markets.apt",
    );
    check(&|c| c.liquidity.levels = 0, "liquidity.levels");
    check(
        &|c| c.liquidity.distance_ticks_min = 9,
        "liquidity.distance_ticks_min",
    );
    check(&|c| c.liquidity.size_min = 0, "liquidity.size_min");
    check(
        &|c| c.liquidity.refresh_probability = -0.1,
        "liquidity.refresh_probability",
    );
    check(&|c| c.takers.count = 0, "takers.count");
    check(&|c| c.takers.intensity = f64::INFINITY, "takers.intensity");
    check(&|c| c.takers.decay_per_tick = -1.0, "takers.decay_per_tick");
    check(&|c| c.takers.size_max = 0, "takers.size_min");
    check(
        &|c| c.takers.informed_fraction = 2.0,
        "takers.informed_fraction",
    );
}

#[test]
fn new_refuses_unpriced_duplicate_and_too_cheap_markets() {
    let mut other = MarketSpec::kana_apt_testnet();
    other.id = MarketId(99);
    let err = SyntheticMarket::new(SyntheticConfig::default(), &[other.clone()]).unwrap_err();
    assert!(
        err.contains("sim.market.markets.99.start_price is required"),
        "{err}"
    );
    let apt = MarketSpec::kana_apt_testnet();
    let err =
        SyntheticMarket::new(SyntheticConfig::default(), &[apt.clone(), apt.clone()]).unwrap_err();
    assert!(err.contains("listed twice"), "{err}");
    let mut cfg = SyntheticConfig::default();
    cfg.markets.insert("1338".into(), Default::default());
    if let Some(m) = cfg.markets.get_mut("1338") {
        m.start_price = Some(dec!(0.01)); // 10 ticks: below the LPs' depth
    }
    let err = SyntheticMarket::new(cfg, &[apt]).unwrap_err();
    assert!(err.contains("markets.1338.start_price"), "{err}");
}

// ---- determinism ----

#[test]
fn same_seed_reproduces_the_action_log_and_books() {
    let specs = testnet_markets();
    let (a, books_a) = run(SyntheticConfig::default(), &specs, 400);
    let (b, books_b) = run(SyntheticConfig::default(), &specs, 400);
    let actions = a.iter().map(|r| r.actions.len()).sum::<usize>();
    assert!(actions > 4_000, "a busy market: {actions} actions");
    assert!(a.iter().map(|r| r.fills.len()).sum::<usize>() > 400);
    assert_eq!(digest(&a), digest(&b));
    assert_eq!(a, b);
    assert_eq!(all_depth(&books_a), all_depth(&books_b));

    let other = SyntheticConfig {
        seed: 2,
        ..SyntheticConfig::default()
    };
    let (c, books_c) = run(other, &specs, 400);
    assert_ne!(digest(&a), digest(&c));
    assert_ne!(all_depth(&books_a), all_depth(&books_c));
}

#[test]
fn accounts_derive_from_the_seed_and_fund_into_the_ledger() {
    let specs = testnet_markets();
    let market = SyntheticMarket::new(SyntheticConfig::default(), &specs).unwrap();
    let again = SyntheticMarket::new(SyntheticConfig::default(), &specs).unwrap();
    assert_eq!(market.accounts(), again.accounts());
    // 5 LPs + 5 takers + 5 informed takers on each of 4 markets, all distinct.
    assert_eq!(market.accounts().len(), 60);
    let mut wallets: Vec<AccountAddress> = market.accounts().iter().map(|a| a.wallet).collect();
    wallets.sort();
    wallets.dedup();
    assert_eq!(wallets.len(), 60);
    let reseeded = SyntheticMarket::new(
        SyntheticConfig {
            seed: 9,
            ..SyntheticConfig::default()
        },
        &specs,
    )
    .unwrap();
    assert_ne!(market.accounts()[0].wallet, reseeded.accounts()[0].wallet);

    let mut ledger = Ledger::new(LedgerConfig::default());
    let profiles = market.fund(&mut ledger);
    assert_eq!(profiles.len(), 60);
    for (account, profile) in market.accounts().iter().zip(&profiles) {
        assert_eq!(account.profile, *profile);
        assert_eq!(ledger.available(*profile), dec!(1_000_000_000));
    }

    // Orders are placed under the profiles.
    let mut books = books_for(&specs);
    let mut m = market;
    let report = m.step(at(1), &mut books);
    let lps: Vec<AccountAddress> = m
        .accounts()
        .iter()
        .filter(|a| a.role == Role::LiquidityProvider)
        .map(|a| a.profile)
        .collect();
    assert!(report.actions.iter().all(|action| match action {
        Action::Place { role, account, .. } =>
            *role != Role::LiquidityProvider || lps.contains(account),
        Action::Cancel { .. } => true,
    }));
}

#[test]
fn time_must_advance_and_unknown_markets_are_refused() {
    let specs = apt_only();
    let mut books = books_for(&specs);
    let mut market = SyntheticMarket::new(SyntheticConfig::default(), &specs).unwrap();
    let first = market.step(at(1), &mut books);
    assert_eq!(first.elapsed_ns, 250_000_000);
    assert_eq!(market.next_step_at(), Some(at(2)));
    let same = market.step(at(1), &mut books);
    assert_eq!((same.elapsed_ns, same.actions.len()), (0, 0));
    let back = market.step(at(0), &mut books);
    assert_eq!(back.elapsed_ns, 0);
    let later = market.step(at(5), &mut books);
    assert_eq!(later.elapsed_ns, 1_000_000_000);

    let order = PlaceOrder::market(AccountAddress::new([1; 32]), Side::Buy, Lots(500));
    assert_eq!(
        books.place(MarketId(7), &order).unwrap_err(),
        Abort::Kana(perpbot_aptos::KanaAbort::MarketNotFound)
    );
    assert!(books.best_bid(MarketId(7)).is_none());
    assert_eq!(books.depth(MarketId(7), 5), (vec![], vec![]));
}

// ---- the market's shape ----

fn assert_healthy(config: SyntheticConfig, steps: u64) {
    let specs = testnet_markets();
    let lp = config.liquidity.clone();
    let mut books = books_for(&specs);
    let mut market = SyntheticMarket::new(config, &specs).unwrap();
    let mut two_sided = 0u64;
    let mut checks = 0u64;
    for n in 1..=steps {
        let report = market.step(at(n), &mut books);
        for (id, mid) in &report.fair_mids {
            assert!(mid.0 > 0, "market {id} step {n}: mid {mid}");
        }
        for (id, book) in &books {
            checks += 1;
            if let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) {
                assert!(bid.price < ask.price, "market {id} crossed at step {n}");
                assert!(bid.price.0 >= 1);
                two_sided += 1;
            }
            // LPs replace their quotes rather than pile them up; takers never rest.
            let bound = (lp.count * lp.levels * 2) as usize;
            assert!(book.len() <= bound, "market {id}: {} orders", book.len());
        }
    }
    assert!(
        two_sided * 100 >= checks * 99,
        "LP depth on both sides: {two_sided}/{checks}"
    );
    for (id, book) in &books {
        let (bids, asks) = book.depth(usize::MAX);
        assert!(
            bids.len() >= 5 && asks.len() >= 5,
            "market {id}: {bids:?} {asks:?}"
        );
    }
}

#[test]
fn mid_stays_positive_and_books_uncrossed_with_lp_depth_on_both_sides() {
    assert_healthy(SyntheticConfig::default(), 1_500);
}

#[test]
fn a_violent_market_stays_positive_and_uncrossed() {
    let mut cfg = SyntheticConfig {
        seed: 42,
        ..SyntheticConfig::default()
    };
    cfg.price.volatility_per_second = Some(0.02);
    cfg.price.jump_probability = 0.02;
    cfg.price.jump_size = 0.1;
    cfg.takers.intensity = 20.0;
    cfg.takers.informed_fraction = 0.5;
    let specs = testnet_markets();
    let (reports, books) = run(cfg, &specs, 1_000);
    for report in &reports {
        for (_, mid) in &report.fair_mids {
            assert!(mid.0 > 0);
        }
    }
    for (id, book) in &books {
        if let (Some(bid), Some(ask)) = (book.best_bid(), book.best_ask()) {
            assert!(bid.price < ask.price, "market {id}");
        }
    }
}

// ---- flow ----

/// A passive test account that re-quotes one bid and one ask around the fair mid before every
/// step; returns, per step, the test account's fills as (taker side, lots) and the fair mid
/// after the step.
struct Probe {
    account: AccountAddress,
    books: Books,
    market: SyntheticMarket,
}

impl Probe {
    fn new(config: SyntheticConfig) -> Probe {
        let specs = apt_only();
        Probe {
            account: AccountAddress::new([0xAB; 32]),
            books: books_for(&specs),
            market: SyntheticMarket::new(config, &specs).unwrap(),
        }
    }

    /// Re-quote at `mid - bid_off` / `mid + ask_off`, then step; the probe's fills by taker side.
    fn step(&mut self, n: u64, bid_off: u64, ask_off: u64) -> (Vec<Side>, Ticks) {
        let mid = self.market.fair_mid(APT).unwrap();
        let ids = self.books.resting_orders(APT, self.account);
        for id in ids {
            self.books.cancel(APT, self.account, id).unwrap();
        }
        for (side, price) in [
            (Side::Buy, Ticks(mid.0 - bid_off)),
            (Side::Sell, Ticks(mid.0 + ask_off)),
        ] {
            let order = PlaceOrder::limit(self.account, side, Lots(100_000), price)
                .with_restriction(Restriction::PostOnly);
            // A stale LP quote may sit through the mid: then the probe skips that side.
            let _ = self.books.place(APT, &order);
        }
        let report = self.market.step(at(n), &mut self.books);
        let fills = report
            .fills
            .iter()
            .filter(|f| f.fill.maker_account == self.account)
            .map(|f| f.fill.taker_side)
            .collect();
        (fills, self.market.fair_mid(APT).unwrap())
    }
}

#[test]
fn taker_arrivals_decay_exponentially_with_distance() {
    // No LPs, a still mid: the probe's ask at δ = 1 tick and bid at δ = 20 ticks are the only
    // quotes, so every taker arrival is one fill of one of them.
    let mut cfg = SyntheticConfig {
        seed: 11,
        ..SyntheticConfig::default()
    };
    cfg.liquidity.count = 0;
    cfg.price.volatility_per_second = Some(0.0);
    cfg.price.jump_probability = 0.0;
    cfg.takers.decay_per_tick = 0.1;
    cfg.takers.informed_fraction = 0.0;
    let k = cfg.takers.decay_per_tick;
    let mut probe = Probe::new(cfg);
    let (mut near, mut far) = (0u64, 0u64);
    let steps = 8_000;
    for n in 1..=steps {
        let (fills, mid) = probe.step(n, 20, 1);
        assert_eq!(mid, Ticks(5500));
        for side in fills {
            match side {
                Side::Buy => near += 1,
                Side::Sell => far += 1,
            }
        }
    }
    // λ(1)·T = 2·e^(−0.1)·2000 s ≈ 3620 expected.
    let expected_near = 2.0 * (-k).exp() * (steps as f64 * 0.25);
    assert!(
        (near as f64 - expected_near).abs() < 0.1 * expected_near,
        "near {near} vs {expected_near}"
    );
    let ratio = far as f64 / near as f64;
    let expected = (-k * 19.0).exp();
    assert!(near > 4 * far, "near {near}, far {far}");
    assert!(
        (ratio / expected - 1.0).abs() < 0.25,
        "ratio {ratio:.4} vs e^(−kΔδ) = {expected:.4} (near {near}, far {far})"
    );
}

/// The probe's mean adverse move: over its fills, the fair mid's change over the next step,
/// signed against the probe (up after it sold, down after it bought), in ticks.
fn adverse_move(informed_fraction: f64) -> (f64, usize) {
    let mut cfg = SyntheticConfig {
        seed: 5,
        ..SyntheticConfig::default()
    };
    cfg.liquidity.count = 3;
    cfg.price.volatility_per_second = Some(0.002); // ≈ 5.5 ticks per step at 5.5
    cfg.price.jump_probability = 0.0;
    cfg.takers.intensity = 4.0;
    cfg.takers.informed_fraction = informed_fraction;
    let mut probe = Probe::new(cfg);
    let (mut sum, mut count) = (0.0, 0usize);
    let mut pending: Vec<Side> = Vec::new();
    let mut last_mid = probe.market.fair_mid(APT).unwrap();
    for n in 1..=6_000 {
        let (fills, mid) = probe.step(n, 1, 1);
        let change = mid.0 as f64 - last_mid.0 as f64;
        for side in pending.drain(..) {
            // Taker bought = the probe sold: a rise is adverse.
            sum += match side {
                Side::Buy => change,
                Side::Sell => -change,
            };
            count += 1;
        }
        pending = fills;
        last_mid = mid;
    }
    (sum / count as f64, count)
}

#[test]
fn informed_takers_adversely_select_passive_quotes() {
    let (informed, n_informed) = adverse_move(0.5);
    let (uninformed, n_uninformed) = adverse_move(0.0);
    assert!(n_informed > 1_000 && n_uninformed > 1_000);
    assert!(
        informed > 1.0,
        "with informed flow the mid moves against a filled quote: {informed:.3} ticks"
    );
    assert!(
        uninformed.abs() < 0.5,
        "without it, no drift after fills: {uninformed:.3} ticks"
    );
    assert!(informed > uninformed + 1.0);
}
