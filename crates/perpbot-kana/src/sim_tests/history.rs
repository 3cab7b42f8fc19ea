//! Funding and deposit/withdraw history (REST and WebSocket), the multi-market withdraw and
//! settle-PnL payloads, delegation registered over the wire, and determinism of the whole core
//! (driver, synthetic market, node mempool and faults) under one seed.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::server::{
    APT, config, gas, node, place, rest, run_call, run_payload, sim, wait_book, writer,
};
use crate::decode::{KanaDecoder, KanaUnits};
use crate::rest::SortOrder;
use crate::writer::{KanaWriter, WriterConfig};
use perpbot_aptos::{AccountAddress, PrivateKey, Submitter, TxnOutcome, encode_entry_function};
use perpbot_core::venue::{RequestOutcome, VenueWriter};
use perpbot_model::clock::Clock;
use perpbot_model::{Lots, MarketId, NewOrder, Side, Ticks, Timestamp};
use perpbot_sim::abi::{PERPETUAL_SCRIPTS, module_abi};
use perpbot_sim::profile_address;
use perpbot_sim::server::driver::{commit_due, step_market};
use perpbot_sim::server::indexer::{Connection, Subscription};
use perpbot_sim::server::{MempoolEntry, SimConfig, SimCore, TxnMeta, TxnState, Update};

fn committed(outcome: &TxnOutcome) -> bool {
    matches!(outcome, TxnOutcome::Committed { .. })
}

/// Funding payments of a position are served by `getFundingHistory`, newest first by default,
/// with `order`, `offset`, `limit` and `marketId`.
#[tokio::test]
async fn funding_history_is_served_with_order_offset_and_limit() {
    let mut c = config();
    // An interval the keeper never reaches while the test runs: only the test settles funding.
    const INTERVAL: u64 = 100 * 86_400;
    c.exchange.funding_interval_secs = INTERVAL;
    let h = sim(c).await;
    let (_, ask) = wait_book(&h).await;
    let key = PrivateKey::from_seed_bytes([41; 32]);
    let w = writer(&h, key.clone(), 30).await;
    let buy = NewOrder::limit(APT, Side::Buy, Lots(1000), Ticks(ask.0 + 100)).with_leverage(2);
    let outcome = w
        .execute(place(buy), &perpbot_core::venue::RequestContext::none())
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let profile = profile_address(&key.address());
    let start = h.shared.clock.now();
    {
        let mut core = h.shared.core();
        assert!(!core.exchange.positions(profile).is_empty(), "long");
        core.exchange
            .tick(start.plus(Duration::from_secs(INTERVAL + 1)));
        core.exchange
            .tick(start.plus(Duration::from_secs(2 * INTERVAL + 1)));
    }
    let r = rest(&h, "sim");
    let all = r
        .funding_history(key.address(), None, None, None, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:#?}");
    let ts = |v: &Value| v["timestamp"].as_u64().unwrap_or_default();
    assert!(ts(&all[0]) > ts(&all[1]), "newest first by default");
    for f in &all {
        assert_eq!(f["market_id"], "1338");
        assert_eq!(f["trade_side"], true);
        assert_eq!(f["funding_rate"], "0.0001");
        assert_eq!(f["address"], profile.to_hex_long());
        let amount = f["amount"].as_str().unwrap_or_default();
        assert!(amount.starts_with('-'), "a long pays: {amount}");
    }
    let oldest = r
        .funding_history(key.address(), None, None, Some(1), Some(SortOrder::Asc))
        .await
        .unwrap();
    assert_eq!(oldest.len(), 1);
    assert_eq!(ts(&oldest[0]), ts(&all[1]));
    let second = r
        .funding_history(key.address(), Some(APT), Some(1), Some(1), None)
        .await
        .unwrap();
    assert_eq!(second, vec![all[1].clone()]);
    let other = r
        .funding_history(key.address(), Some(MarketId(1339)), None, None, None)
        .await
        .unwrap();
    assert!(other.is_empty());
    h.stop();
}

/// Deposits (the first-sight auto-funding included) and withdrawals — single and multi-market,
/// made from REST payloads — are listed by `getDepositAndWithdrawHistory` and pushed on the
/// `deposit_withdraw_history` topic; `settlePnl` commits and changes nothing.
#[tokio::test]
async fn deposits_and_withdrawals_are_served_over_rest_and_websocket() {
    let h = sim(config()).await;
    let key = PrivateKey::from_seed_bytes([42; 32]);
    let wallet = key.address();
    let profile = profile_address(&wallet);
    let r = rest(&h, "sim");
    let served = r.profile_address(wallet).await.unwrap();
    assert_eq!(AccountAddress::from_hex(&served).unwrap(), profile);

    // The topic over the wire: the auto-funding deposit at once, later records as they happen.
    let (mut ws, _) = tokio_tungstenite::connect_async(h.ws_url.as_str())
        .await
        .unwrap();
    let subscribe = json!({"topic": "deposit_withdraw_history", "address": profile.to_hex_long()});
    ws.send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let mut next_frame = async || -> Value {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(3), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if let Message::Text(t) = msg {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    };
    let first = next_frame().await;
    assert_eq!(first["message"], "deposit_withdraw_history");
    assert_eq!(first["data"].as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first["data"][0]["type"], "deposit");
    assert_eq!(first["data"][0]["amount"], "10000");

    let w = writer(&h, key.clone(), 30).await;
    let outcome = w.withdraw(wallet, APT, dec!(2)).await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let pushed = next_frame().await;
    assert_eq!(pushed["data"].as_array().map(Vec::len), Some(1), "{pushed}");
    assert_eq!(pushed["data"][0]["type"], "withdraw");
    assert_eq!(pushed["data"][0]["market_id"], "1338");

    let multi = r
        .withdraw_multiple_markets(wallet, dec!(1), &[APT, MarketId(1339)])
        .await
        .unwrap();
    assert!(
        multi
            .function
            .ends_with("::perpetual_scripts::withdraw_multiple_markets")
    );
    assert_eq!(
        multi.function_arguments,
        [json!("1000000"), json!(["1338", "1339"])]
    );
    assert!(committed(&run_payload(&h, &key, &multi).await));
    let settle = r.settle_pnl(wallet, APT).await.unwrap();
    assert!(committed(&run_payload(&h, &key, &settle).await));
    let deposit = r.deposit(wallet, dec!(5)).await.unwrap();
    assert!(committed(&run_payload(&h, &key, &deposit).await));

    let history = r.deposit_withdraw_history(wallet).await.unwrap();
    let summary: Vec<(String, String, Value)> = history
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap_or_default().to_owned(),
                t["amount"].as_str().unwrap_or_default().to_owned(),
                t["market_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("deposit".into(), "10000".into(), Value::Null),
            ("withdraw".into(), "2".into(), json!("1338")),
            ("withdraw".into(), "1".into(), Value::Null),
            ("deposit".into(), "5".into(), Value::Null),
        ]
    );
    assert_eq!(history[2]["market_ids"], json!(["1338", "1339"]));
    assert!(
        history
            .iter()
            .all(|t| t["address"] == profile.to_hex_long())
    );
    let balance = r.profile_balance_snapshot(wallet).await.unwrap();
    assert_eq!(balance, dec!(10002), "10000 − 2 − 1 + 5");

    // Every frame of the topic goes through the real decoder without an error.
    let mut decoder = KanaDecoder::new(config().markets, KanaUnits::Auto).unwrap();
    let mut conn = Connection::new();
    let frames = {
        let core = h.shared.core();
        let sub = Subscription::DepositWithdrawHistory(profile);
        let mut frames = conn.subscribe(&core.exchange, sub, h.shared.clock.now());
        frames.extend(conn.pushes(
            &core.exchange,
            [Update::Account(profile)],
            false,
            h.shared.clock.now(),
        ));
        frames
    };
    assert_eq!(frames.len(), 1, "nothing new, no push: {frames:?}");
    let mut events = Vec::new();
    decoder
        .decode(&frames[0], h.shared.clock.now(), &mut events)
        .unwrap();
    h.stop();
}

fn delegate_writer(
    h: &perpbot_sim::server::SimHandle,
    rest: Arc<crate::rest::KanaRest>,
    spec: perpbot_model::MarketSpec,
    delegate: PrivateKey,
    owner: AccountAddress,
) -> KanaWriter {
    let submitter = Arc::new(Submitter::new(node(h), delegate, 4, gas(30)));
    KanaWriter::new(
        rest,
        submitter,
        vec![spec],
        WriterConfig {
            confirm_timeout: Duration::from_secs(3),
            max_batch: 10,
            delegate_for: Some(owner),
        },
    )
}

/// The owner registers a delegate with a signed transaction (`add_delegate`), the delegate then
/// trades for the owner through the real client's delegated path, and `remove_delegate` ends
/// it.
#[tokio::test]
async fn a_delegate_registered_over_the_wire_trades_for_the_owner() {
    let h = sim(config()).await;
    let (bid, _) = wait_book(&h).await;
    let owner = PrivateKey::from_seed_bytes([43; 32]);
    let delegate = PrivateKey::from_seed_bytes([44; 32]);
    let r = Arc::new(rest(&h, "sim"));
    r.profile_address(owner.address()).await.unwrap(); // the owner's profile is funded
    let spec = r.market_spec(APT).await.unwrap();
    let w = delegate_writer(&h, r, spec, delegate.clone(), owner.address());
    let quote = || {
        NewOrder::limit(
            APT,
            Side::Buy,
            Lots(1000),
            Ticks(bid.0.saturating_sub(60).max(1)),
        )
        .post_only()
        .with_leverage(2)
    };
    let refused = w
        .execute(place(quote()), &perpbot_core::venue::RequestContext::none())
        .await;
    let RequestOutcome::Rejected { reason, .. } = &refused else {
        panic!("{refused:?}");
    };
    assert!(reason.contains("E_NOT_KANA(0x3e9)"), "{reason}");

    let grant = [json!(delegate.address().to_string()), json!("0")];
    let outcome = run_call(&h, &owner, PERPETUAL_SCRIPTS, "add_delegate", &grant).await;
    assert!(committed(&outcome), "{outcome:?}");
    let accepted = w
        .execute(place(quote()), &perpbot_core::venue::RequestContext::none())
        .await;
    let RequestOutcome::Accepted { placed, .. } = &accepted else {
        panic!("{accepted:?}");
    };
    let id = placed.first().and_then(|p| p.1).expect("venue id");
    let owner_profile = profile_address(&owner.address());
    {
        let core = h.shared.core();
        let open = core.exchange.open_orders(owner_profile, Some(APT));
        assert_eq!(open.iter().map(|o| o.order_id).collect::<Vec<_>>(), [id]);
        let delegates = core
            .exchange
            .open_orders(profile_address(&delegate.address()), None);
        assert!(delegates.is_empty(), "the delegate trades for the owner");
        assert!(
            core.apt_octas(delegate.address()) < core.apt_octas(owner.address()),
            "the delegate pays the gas of its transactions"
        );
    }

    let outcome = run_call(&h, &owner, PERPETUAL_SCRIPTS, "remove_delegate", &[]).await;
    assert!(committed(&outcome), "{outcome:?}");
    let again = w
        .execute(place(quote()), &perpbot_core::venue::RequestContext::none())
        .await;
    assert!(
        matches!(&again, RequestOutcome::Rejected { reason, .. } if reason.contains("E_NOT_KANA")),
        "{again:?}"
    );
    h.stop();
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

const T0: u64 = 1_750_000_000;

/// Queue a signed-and-verified-equivalent transaction straight into the mempool (the node's
/// checks are covered elsewhere; this drives the commit path deterministically).
fn enqueue(
    core: &mut SimCore,
    n: u64,
    sender: AccountAddress,
    seq: u64,
    call: perpbot_aptos::EntryFunction,
    now_us: u64,
) {
    let hash = format!("0x{n:064x}");
    let meta = TxnMeta {
        sender,
        sequence_number: seq,
        max_gas_amount: 10_000,
        gas_unit_price: 100,
        expiration_secs: T0 + 3_600,
    };
    core.txn_meta.insert(hash.clone(), meta);
    core.txns.insert(
        hash.clone(),
        TxnState::Pending {
            due_usecs: now_us + 250_000,
        },
    );
    core.mempool.push(MempoolEntry { hash, meta, call });
}

/// What a run leaves behind, in a comparable form.
#[derive(Debug, PartialEq)]
struct Outcome {
    books: Vec<(
        MarketId,
        Vec<perpbot_model::Level>,
        Vec<perpbot_model::Level>,
    )>,
    trades: Vec<perpbot_sim::exchange::TradeRecord>,
    txns: Vec<(String, TxnState)>,
    positions: Vec<perpbot_sim::exchange::PositionRecord>,
    injected: perpbot_sim::server::FaultTally,
}

/// 120 steps of 250 ms: the driver's commits and market steps, and a trader crossing the
/// spread every tenth step, with injected aborts drawing from the fault stream.
fn run(seed: u64) -> Outcome {
    let mut c = SimConfig::default();
    c.synthetic.seed = seed;
    c.faults.seed = seed;
    c.faults.tx_abort_probability = 0.3;
    let shared =
        perpbot_sim::server::build(c, Clock::starting_at(Timestamp::from_secs(T0))).unwrap();
    let mut core = shared.core();
    let trader = AccountAddress::new([45; 32]);
    let abi = module_abi(core.package, PERPETUAL_SCRIPTS).unwrap();
    let mut seq = 0;
    for step in 0..120u64 {
        let now = Timestamp::from_millis(T0 * 1_000 + step * 250);
        if step == 0 {
            perpbot_sim::server::driver::auto_fund(&mut core, trader, now);
        }
        if step % 10 == 5 {
            let buy = step % 20 == 5;
            let book = core.exchange.book(APT);
            let touch = if buy {
                book.and_then(|b| b.best_ask())
            } else {
                book.and_then(|b| b.best_bid())
            };
            if let Some(level) = touch {
                let args = [
                    json!("1338"),
                    json!(buy),
                    json!(false),
                    json!("500"),
                    json!(level.price.0.to_string()),
                    json!("2"),
                    json!(0),
                    json!("0"),
                    json!("0"),
                ];
                let call = encode_entry_function(&abi, "place_limit_order", &[], &args).unwrap();
                enqueue(&mut core, step, trader, seq, call, now.0 / 1_000);
                seq += 1;
            }
        }
        commit_due(&mut core, now);
        step_market(&mut core, now);
    }
    let markets: Vec<MarketId> = core.exchange.markets().collect();
    let books = markets
        .iter()
        .filter_map(|m| {
            let (bids, asks) = core.exchange.depth(*m, usize::MAX)?;
            Some((*m, bids, asks))
        })
        .collect();
    let trades = markets
        .iter()
        .flat_map(|m| core.exchange.market_trades(*m).cloned().collect::<Vec<_>>())
        .collect();
    let mut txns: Vec<(String, TxnState)> = core
        .txns
        .iter()
        .map(|(h, s)| (h.clone(), s.clone()))
        .collect();
    txns.sort_by(|a, b| a.0.cmp(&b.0));
    Outcome {
        books,
        trades,
        txns,
        positions: core.exchange.positions(profile_address(&trader)),
        injected: core.injected,
    }
}

#[test]
fn two_simulators_with_one_seed_make_the_same_books_and_trades() {
    let (a, b) = (run(7), run(7));
    assert!(!a.trades.is_empty(), "the run must trade to prove anything");
    assert!(
        a.books
            .iter()
            .any(|(_, bids, asks)| !bids.is_empty() && !asks.is_empty())
    );
    assert!(
        a.txns
            .iter()
            .any(|(_, s)| matches!(s, TxnState::Committed { success: true, .. }))
    );
    assert!(
        a.injected.tx_aborts > 0,
        "faults drawn too: {:?}",
        a.injected
    );
    assert_eq!(a, b);
    let other = run(8);
    assert_ne!(a.trades, other.trades, "another seed, another market");
}

#[tokio::test]
async fn the_wallet_balance_moves_with_deposits_and_withdrawals() {
    let h = sim(config()).await;
    let key = PrivateKey::from_seed_bytes([43; 32]);
    let wallet = key.address();
    let r = rest(&h, "sim");
    let balance = async || r.wallet_account_balance(wallet).await.unwrap();
    let trading = async || r.profile_balance_snapshot(wallet).await.unwrap();
    assert_eq!(balance().await, dec!(10000), "auto-funded wallet");
    let profile_before = trading().await;

    let w = writer(&h, key.clone(), 30).await;
    let outcome = w.withdraw(wallet, APT, dec!(2.5)).await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        balance().await,
        dec!(10002.5),
        "a withdrawal pays into the wallet"
    );
    assert_eq!(trading().await, profile_before - dec!(2.5));

    let deposit = r.deposit(wallet, dec!(7)).await.unwrap();
    assert!(committed(&run_payload(&h, &key, &deposit).await));
    assert_eq!(
        balance().await,
        dec!(9995.5),
        "a deposit draws on the wallet"
    );
    assert_eq!(trading().await, profile_before + dec!(4.5));

    // More than the wallet holds: refused, nothing moves.
    let too_much = r.deposit(wallet, dec!(20000)).await.unwrap();
    assert!(!committed(&run_payload(&h, &key, &too_much).await));
    assert_eq!(balance().await, dec!(9995.5));
    assert_eq!(trading().await, profile_before + dec!(4.5));
}
