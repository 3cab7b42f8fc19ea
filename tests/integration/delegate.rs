//! A trading key that cannot withdraw, end to end against the simulator on 127.0.0.1: the owner
//! registers a delegate with the real `perpbot delegate add`, `delegate list` shows it, the
//! delegate's writer (`delegate_for` = the owner) places three orders in one request (three
//! transactions: `delegated_scripts` has no batch place) and cancels them in one transaction
//! (`cancel_delegated_orders` takes vectors); its withdrawal is refused by the writer before
//! signing and by the chain when sent anyway; `delegate remove` makes its next order fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{TempDir, loopback_poll, owner_only, sim_bot_config};
use perpbot::aptos::types::{Identifier, ModuleId};
use perpbot::aptos::{
    AccountAddress, EntryFunction, GasConfig, NodeClient, PrivateKey, Submitter, TxnOutcome,
    encode_entry_function,
};
use perpbot::clock::Clock;
use perpbot::config::Secret;
use perpbot::model::{
    ClientOrderId, Direction, Lots, MarketId, MarketSpec, NewOrder, OrderRequest, Rounding, Side,
    Ticks,
};
use perpbot::sim::server::{SimConfig, SimHandle, start};
use perpbot::venue::kana::rest::{KanaRest, RetryPolicy};
use perpbot::venue::kana::writer::{KanaWriter, LOCAL_PACKAGE, WriterConfig};
use perpbot::venue::{CancelOrder, RequestContext, RequestOutcome, VenueRequest, VenueWriter};
use tokio::time::{Instant, sleep};

const BIN: &str = env!("CARGO_BIN_EXE_perpbot");
/// Throwaway keys for the simulator's chain (never used anywhere else).
const OWNER_KEY: &str = "0x3c1e5a7b9d0f2e4a6c8b1d3f5e7a9c0b2d4f6e8a1c3b5d7f9e0a2c4b6d8f1e3a";
const DELEGATE_KEY: &str = "0x5e2d4c6b8a0f1e3d5c7b9a2f4e6d8c0b1a3f5e7d9c2b4a6f8e0d1c3b5a7f9e2d";
const APT: MarketId = MarketId(1338);

fn address(key: &str) -> AccountAddress {
    key.parse::<PrivateKey>().unwrap().address()
}

async fn sim() -> SimHandle {
    let mut c = SimConfig {
        block_latency_ms: 30,
        ..SimConfig::default()
    };
    c.synthetic.step_ms = 30;
    start(c, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap()
}

fn rest(h: &SimHandle) -> KanaRest {
    KanaRest::new(
        &h.rest_url,
        Some(Secret::new("sim".into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap()
}

/// A config in `dir` named `name` signing with `key`; `extra` goes into `[venue.kana]`.
fn config(dir: &Path, h: &SimHandle, name: &str, key: &str, extra: &str) -> PathBuf {
    let key_file = format!("{name}.key");
    owner_only(&dir.join(&key_file), key);
    sim_bot_config(dir, h, &format!("{name}.toml"), &key_file, extra, "")
}

fn node(h: &SimHandle) -> NodeClient {
    let poll = loopback_poll();
    NodeClient::new(&h.node_url, Duration::from_secs(5))
        .unwrap()
        .with_poll_config(poll)
}

fn submitter(h: &SimHandle, key: &str) -> Arc<Submitter> {
    let gas = GasConfig {
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 30,
    };
    Arc::new(Submitter::new(node(h), key.parse().unwrap(), 4, gas))
}

/// The delegate's writer: the delegate's key trading for the owner.
async fn delegate_writer(h: &SimHandle) -> (KanaWriter, MarketSpec) {
    let rest = Arc::new(rest(h));
    let spec = rest.market_spec(APT).await.unwrap();
    let config = WriterConfig {
        confirm_timeout: Duration::from_secs(5),
        max_batch: 10,
        delegate_for: Some(address(OWNER_KEY)),
    };
    let w = KanaWriter::new(rest, submitter(h, DELEGATE_KEY), vec![spec.clone()], config);
    (w, spec)
}

async fn best_bid(h: &SimHandle, spec: &MarketSpec) -> Ticks {
    let rest = rest(h);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = rest.market_price(APT).await.unwrap();
        if let (Some(bid), Some(_)) = (p.best_bid, p.best_ask) {
            return spec.price_to_ticks(bid, Rounding::Exact).unwrap();
        }
        assert!(Instant::now() < deadline, "no two-sided book");
        sleep(Duration::from_millis(30)).await;
    }
}

async fn open_orders(h: &SimHandle) -> usize {
    rest(h)
        .open_orders(address(OWNER_KEY), None)
        .await
        .unwrap()
        .len()
}

async fn perpbot(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout_ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn bids(bid: Ticks, n: u64) -> Vec<OrderRequest> {
    (0..n)
        .map(|i| OrderRequest {
            client_id: ClientOrderId(i + 1),
            order: NewOrder::limit(APT, Side::Buy, Lots(1000), Ticks(bid.0 - 100 - i))
                .post_only()
                .with_leverage(2),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_delegate_trades_for_the_owner_but_cannot_withdraw_and_removal_stops_it() {
    let dir = TempDir::new("delegate-e2e");
    let h = sim().await;
    let owner = address(OWNER_KEY);
    let delegate = address(DELEGATE_KEY);
    let owner_cfg = config(&dir.0, &h, "owner", OWNER_KEY, "");
    let delegate_cfg = config(
        &dir.0,
        &h,
        "delegate",
        DELEGATE_KEY,
        &format!("delegate_for = \"{owner}\""),
    );
    let owner_path = owner_cfg.display().to_string();
    let delegate_path = delegate_cfg.display().to_string();

    // A delegate's config cannot register a delegate.
    let refused = perpbot(&[
        "delegate",
        "add",
        "--config",
        &delegate_path,
        "--delegate",
        &delegate.to_string(),
    ])
    .await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("owner's key"));

    // The owner registers the delegate for 30 days.
    let added = stdout_ok(
        &perpbot(&[
            "delegate",
            "add",
            "--config",
            &owner_path,
            "--delegate",
            &delegate.to_string(),
            "--expires-in",
            "30d",
        ])
        .await,
    );
    assert!(added.contains(&format!("registered {delegate}")), "{added}");
    assert!(added.contains("transaction 0x"), "{added}");
    assert!(!added.contains(OWNER_KEY.trim_start_matches("0x")));

    // `list` shows it, from the owner's config and from the delegate's (its delegate_for).
    for cfg in [&owner_path, &delegate_path] {
        let listed = stdout_ok(&perpbot(&["delegate", "list", "--config", cfg]).await);
        assert!(
            listed.contains(&format!("delegate   {delegate} (active)")),
            "{listed}"
        );
        assert!(listed.contains("expires at Unix time"), "{listed}");
        assert!(listed.contains("[UNK] on Kana"), "{listed}");
    }

    // The delegate session is not atomic and places one order per transaction.
    let (w, spec) = delegate_writer(&h).await;
    let caps = w.capabilities();
    assert!(!caps.atomic_replace);
    assert_eq!(caps.max_batch, 1);

    // Three orders in one request: three transactions, all resting on the owner's profile.
    let bid = best_bid(&h, &spec).await;
    let place = bids(bid, 3);
    let outcome = w
        .execute(
            VenueRequest::Orders {
                market: APT,
                cancel: vec![],
                place: place.clone(),
            },
            &RequestContext::none(),
        )
        .await;
    let RequestOutcome::Accepted { placed } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(placed.len(), 3);
    assert_eq!(open_orders(&h).await, 3);
    assert_eq!(w.tx_costs().transactions, 3);

    // Cancel all three in one transaction.
    let cancel: Vec<CancelOrder> = placed
        .iter()
        .map(|(id, venue_id)| CancelOrder {
            client_id: *id,
            venue_id: Some(venue_id.expect("the simulator's events carry order ids")),
            market: APT,
            side: Side::Buy,
            direction: Direction::Open,
        })
        .collect();
    let outcome = w
        .execute(
            VenueRequest::Orders {
                market: APT,
                cancel,
                place: vec![],
            },
            &RequestContext::none(),
        )
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    assert_eq!(open_orders(&h).await, 0);
    assert_eq!(
        w.tx_costs().transactions,
        4,
        "three cancels, one transaction"
    );

    // The writer refuses the delegate's withdrawal before signing.
    let before = rest(&h).profile_balance_snapshot(owner).await.unwrap();
    let sent_before = w.tx_costs().transactions;
    match w.withdraw(owner, APT, rust_decimal::Decimal::ONE).await {
        RequestOutcome::Rejected { reason, .. } => {
            assert!(reason.contains("cannot withdraw"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.tx_costs().transactions, sent_before, "nothing was signed");

    // Sent anyway, the chain refuses it: delegated_scripts has no withdrawal at all …
    let package = AccountAddress::from_hex(LOCAL_PACKAGE).unwrap();
    let s = submitter(&h, DELEGATE_KEY);
    let mut args = vec![owner.as_bytes().to_vec()];
    args.push(1338u64.to_le_bytes().to_vec());
    args.push(1_000_000u64.to_le_bytes().to_vec());
    let delegated_withdraw = EntryFunction {
        module: ModuleId {
            address: package,
            name: Identifier::new("delegated_scripts").unwrap(),
        },
        function: Identifier::new("withdraw").unwrap(),
        ty_args: vec![],
        args,
    };
    refused_by_chain(&s, delegated_withdraw).await;
    // … and the direct withdrawal acts for the signer's own profile, never the owner's: asking
    // for more than the delegate's own profile holds aborts.
    let abi = node(&h).module(package, "perpetual_scripts").await.unwrap();
    let direct = encode_entry_function(
        &abi,
        "withdraw",
        &[],
        &[
            serde_json::json!("1338"),
            serde_json::json!("1000000000000000"),
        ],
    )
    .unwrap();
    refused_by_chain(&s, direct).await;
    let after = rest(&h).profile_balance_snapshot(owner).await.unwrap();
    assert_eq!(before, after, "the owner's collateral did not move");

    // Removal: `list` shows none, and the delegate's next order fails on chain.
    let removed = stdout_ok(&perpbot(&["delegate", "remove", "--config", &owner_path]).await);
    assert!(
        removed.contains(&format!("removed the delegate of {owner}")),
        "{removed}"
    );
    assert!(removed.contains("transaction 0x"), "{removed}");
    let listed = stdout_ok(&perpbot(&["delegate", "list", "--config", &owner_path]).await);
    assert!(listed.contains("delegate   none"), "{listed}");
    let outcome = w
        .execute(
            VenueRequest::Orders {
                market: APT,
                cancel: vec![],
                place: bids(bid, 1),
            },
            &RequestContext::none(),
        )
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Rejected { .. }),
        "{outcome:?}"
    );
    assert_eq!(open_orders(&h).await, 0);
}

/// `call` signed by `s` does not commit successfully: refused at submission or aborted.
async fn refused_by_chain(s: &Submitter, call: EntryFunction) {
    match s.submit(call).await {
        Err(_) => {}
        Ok(sub) => match s.confirm(&sub, Duration::from_secs(5)).await {
            TxnOutcome::Failed { .. } => {}
            other => panic!("the chain accepted it: {other:?}"),
        },
    }
}
