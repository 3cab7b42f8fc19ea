//! The crash test: the bot (the real `perpbot` binary, Kana client, built-in market maker) trades
//! against a standalone simulator, is killed with SIGKILL in the middle of requoting — with a
//! request journaled and not yet answered — and is restarted on the same journal against the same
//! simulator, then stopped gracefully. The simulator's own state and the journal must show no
//! duplicate order (no journaled request on chain twice, nothing on chain the journal does not
//! know, no client id requested twice) and no orphan (nothing left open for the wallet).
//!
//! It dies twice (the second run resuming from the first's journal) before the graceful run.
//! Loopback only; bounded (each wait has a deadline; the whole test takes about 15 s).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use crate::common::{TempDir, owner_only};
use perpbot::aptos::{AccountAddress, GasConfig, NodeClient, PrivateKey, Submitter};
use perpbot::clock::Clock;
use perpbot::config::Secret;
use perpbot::journal::format::read_file;
use perpbot::journal::record::{Entry, OutcomeRecord, Record, RequestRecord};
use perpbot::journal::{Fold, Scan};
use perpbot::model::{
    ClientOrderId, Lots, MarketId, MarketSpec, NewOrder, OrderRequest, Rounding, Side, Ticks,
};
use perpbot::sim::server::{SimConfig, SimHandle, TxnState, start};
use perpbot::venue::kana::rest::{KanaRest, RetryPolicy};
use perpbot::venue::kana::writer::{KanaWriter, WriterConfig};
use perpbot::venue::{RequestOutcome, ResumeToken, VenueRequest, VenueWriter};

/// A throwaway key for the simulator's chain (never used anywhere else).
const KEY: &str = "0x5f1d6a3e9b7c2d4f8a0e1b3c5d7f9a2b4c6e8f0a1b3d5e7f9c2a4b6d8e0f1a3c";

fn bot_config(dir: &Path, sim: &SimHandle) -> PathBuf {
    owner_only(&dir.join("api_key"), "sim");
    owner_only(&dir.join("key"), KEY);
    let text = format!(
        r#"markets = [1338]

[venue]
kind = "kana"

[venue.kana]
network = "local"
rest_url = "{rest}"
ws_url = "{ws}"
node_url = "{node}"
chain_id = 4
api_key = {{ file = "{dir}/api_key" }}
private_key = {{ file = "{dir}/key" }}
gas_unit_price = 100
expiration_secs = 3
confirm_timeout_ms = 2500
request_timeout_ms = 3000

[strategy]
name = "market_maker"

[strategy.params]
market = 1338
order_size = "1"
max_inventory = "5"
requote_tolerance_ticks = 0
min_requote_ms = 100
max_quote_age_ms = 300
leverage = 2

[risk]
max_order_notional = "1000"
max_position_notional = "5000"
max_total_notional = "10000"
max_leverage = 5
price_band_bps = 300
max_open_orders = 10
max_loss = "200"
stale_book_ms = 3000

[rate_limits]
orders_per_second = 20
order_burst = 40
cancels_per_second = 20
cancel_burst = 40
resolve_delay_ms = 200

[engine]
shutdown_timeout_ms = 8000
status_interval_ms = 0
journal = "{dir}/bot.journal"
journal_resolve_timeout_ms = 25000
"#,
        rest = sim.rest_url,
        ws = sim.ws_url,
        node = sim.node_url,
        dir = dir.display(),
    );
    let path = dir.join("bot.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_bot(config: &Path, log: &Path, extra: &[&str]) -> Child {
    let out = File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    Command::new(env!("CARGO_BIN_EXE_perpbot"))
        .args(["--log-level", "info", "run", "--config"])
        .arg(config)
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("PERPBOT_PRIVATE_KEY")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the perpbot binary starts")
}

fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn wait_exit(child: &mut Child, within: Duration, log: &Path) -> ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the bot did not stop within {within:?}; its log:\n{}",
                log_of(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scan(journal: &Path) -> Scan {
    match read_file(journal) {
        Ok(Ok(scan)) => scan,
        _ => Scan::default(),
    }
}

/// What the journal said when a run was killed.
struct Kill {
    fold: Fold,
}

/// The requote the bot is in the middle of: a journaled replace (cancels and places) whose
/// transaction was signed at least `signed_for` ago and has no outcome yet.
fn requote_in_flight(entries: &[Entry], signed_for: Duration) -> Option<u64> {
    let fold = Fold::from_entries(entries);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    fold.open
        .values()
        .filter(|r| {
            matches!(&r.request, VenueRequest::Orders { cancel, place, .. }
                if !cancel.is_empty() && !place.is_empty())
        })
        .find(|r| {
            entries.iter().any(|e| {
                matches!(&e.record, Record::Signed(s) if s.request == Some(r.id))
                    && now_ms.saturating_sub(e.ts_ms) >= signed_for.as_millis() as u64
            })
        })
        .map(|r| r.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_killed_mid_requote_resumes_from_its_journal_with_no_duplicate_and_no_orphan() {
    let dir = TempDir::new("crash");
    let mut sim_config = SimConfig {
        block_latency_ms: 150,
        ..SimConfig::default()
    };
    sim_config.synthetic.step_ms = 50;
    let sim = start(sim_config, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .expect("the simulator starts on loopback");
    let config = bot_config(&dir.0, &sim);
    let journal = dir.0.join("bot.journal");
    let wallet: AccountAddress = KEY.parse::<PrivateKey>().unwrap().address();

    // 1. Twice: trade until several requotes are done and one is on its way to the chain, then
    //    SIGKILL. The second run starts by resuming from the first one's journal, then dies too.
    //    The first dies as soon as a requote's transaction is journaled (most often before it
    //    reached the node: the restart must find it expired), the second once one has had 60 ms
    //    to reach the node (most often in the mempool: the restart must find it committed).
    let mut kills: Vec<Kill> = Vec::new();
    let mut second_refused = false;
    for (round, signed_for) in [(1, Duration::ZERO), (2, Duration::from_millis(60))] {
        let log = dir.0.join(format!("run{round}.log"));
        let mut bot = spawn_bot(&config, &log, &[]);
        let after = kills.last().map_or(0, |k| k.fold.last_seq);
        let deadline = Instant::now() + Duration::from_secs(30);
        let during = loop {
            let entries: Vec<Entry> = scan(&journal).entries().cloned().collect();
            let own = entries
                .iter()
                .filter(|e| e.seq > after && matches!(e.record, Record::Request { .. }))
                .count();
            // While it trades, a second bot on the same journal is refused at start-up: two
            // writers would interleave records and each resume the other's orders.
            if round == 1 && own >= 1 && !second_refused {
                let log2 = dir.0.join("second.log");
                let mut second = spawn_bot(&config, &log2, &["--duration", "3"]);
                let status = wait_exit(&mut second, Duration::from_secs(20), &log2);
                let out = log_of(&log2);
                assert!(
                    !status.success(),
                    "a second bot ran on a journal in use:\n{out}"
                );
                assert!(out.contains("in use by another perpbot process"), "{out}");
                second_refused = true;
            }
            if own >= 6
                && let Some(id) = requote_in_flight(&entries, signed_for)
            {
                bot.kill().expect("SIGKILL");
                break id;
            }
            if let Some(status) = bot.try_wait().unwrap() {
                panic!("run {round} exited by itself ({status}):\n{}", log_of(&log));
            }
            assert!(
                Instant::now() < deadline,
                "run {round}: no requote in flight within 30 s; log:\n{}",
                log_of(&log)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        bot.wait().unwrap();
        let fold = Fold::from_entries(scan(&journal).entries());
        // The request may still have been answered between the look at the journal and the
        // signal's delivery; then the crash is an ordinary one, still with orders to resume.
        if !fold.open.contains_key(&during) {
            eprintln!("run {round}: r{during} was answered just before the kill landed");
        }
        assert!(
            !fold.orders.is_empty(),
            "orders were live when run {round} died (candidates for orphans)"
        );
        if round == 2 {
            assert!(
                log_of(&log).contains("journal recovery done"),
                "run 2 resumed from run 1"
            );
        }
        eprintln!(
            "run {round} killed during r{during}; open: {:?}; live: {:?}",
            fold.open.keys().collect::<Vec<_>>(),
            fold.orders
                .values()
                .map(|o| (o.client_id(), o.status))
                .collect::<Vec<_>>()
        );
        kills.push(Kill { fold });
    }

    assert!(second_refused, "the journal lock was checked");

    // 2. Restart on the same journal against the same simulator; stop it gracefully.
    let log3 = dir.0.join("run3.log");
    let mut bot = spawn_bot(&config, &log3, &["--duration", "4"]);
    let status = wait_exit(&mut bot, Duration::from_secs(45), &log3);
    let out3 = log_of(&log3);
    assert!(
        status.success(),
        "the restarted bot stops cleanly ({status}):\n{out3}"
    );
    assert!(out3.contains("open orders left  none"), "{out3}");
    assert!(out3.contains("journal recovery done"), "{out3}");
    for line in out3.lines().filter(|l| l.contains("journal")) {
        eprintln!("run 3: {line}");
    }

    let entries: Vec<Entry> = scan(&journal).entries().cloned().collect();
    let sessions: Vec<u64> = entries
        .iter()
        .filter(|e| matches!(e.record, Record::Session(_)))
        .map(|e| e.seq)
        .collect();
    assert_eq!(sessions.len(), 3, "three runs on one journal");

    for (kill, restart_seq) in kills.iter().zip(&sessions[1..]) {
        // Every request the killed process left open was settled at the next start, none resent.
        for id in kill.fold.open.keys() {
            assert!(
                entries.iter().any(|e| e.seq > *restart_seq
                    && matches!(e.record, Record::Outcome { id: i, at_start: true, .. } if i == *id)),
                "r{id} resolved at start-up"
            );
            assert!(
                !entries.iter().any(|e| e.seq > *restart_seq
                    && matches!(&e.record, Record::Signed(s) if s.request == Some(*id))),
                "r{id} was never signed again"
            );
        }
        // New client ids start above every id of the killed process.
        for e in entries.iter().filter(|e| e.seq > *restart_seq) {
            if let Record::Request {
                request: RequestRecord::Orders { place, .. },
                ..
            } = &e.record
            {
                for p in place {
                    assert!(
                        p.client_id.0 > kill.fold.max_client_id,
                        "{} reuses an id of a killed process",
                        p.client_id
                    );
                }
            }
        }
    }

    // The key never reaches the journal (nor does any other secret: it holds no field for one).
    let raw = String::from_utf8_lossy(&std::fs::read(&journal).unwrap()).to_lowercase();
    assert!(
        !raw.contains(&KEY[2..]),
        "the private key is in the journal"
    );

    // Request ids and client ids are never reused.
    let mut request_ids = HashSet::new();
    let mut placed: BTreeMap<u64, u64> = BTreeMap::new(); // client id → request id
    for e in &entries {
        if let Record::Request { id, request } = &e.record {
            assert!(request_ids.insert(*id), "request id r{id} used twice");
            if let RequestRecord::Orders { place, .. } = request {
                for p in place {
                    let before = placed.insert(p.client_id.0, *id);
                    assert!(
                        before.is_none(),
                        "client id {} requested twice",
                        p.client_id
                    );
                }
            }
        }
    }
    assert!(
        entries
            .iter()
            .any(|e| e.seq > sessions[2] && matches!(e.record, Record::Request { .. })),
        "the last run traded"
    );

    // The simulator's truth: every transaction of the wallet is a journaled one, and no
    // journaled request reached the chain twice.
    let mut hashes: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for e in &entries {
        if let Record::Signed(s) = &e.record {
            hashes.insert(s.token.handle.clone(), s.request);
        }
    }
    let rest = KanaRest::new(
        &sim.rest_url,
        Some(Secret::new("sim".into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap();
    let profile = AccountAddress::from_hex(&rest.profile_address(wallet).await.unwrap()).unwrap();
    let open_orders = rest.open_orders(wallet, None).await.unwrap();
    {
        let core = sim.shared.core();
        let mut committed_per_request: BTreeMap<u64, usize> = BTreeMap::new();
        let mut orders_placed_on_chain = 0usize;
        for (hash, meta) in &core.txn_meta {
            if meta.sender != wallet {
                continue;
            }
            let Some(TxnState::Committed { success, .. }) = core.txns.get(hash) else {
                continue;
            };
            let request = hashes.get(hash).unwrap_or_else(|| {
                panic!("transaction {hash} of the wallet is not in the journal")
            });
            if let Some(id) = request {
                *committed_per_request.entry(*id).or_default() += 1;
                if *success {
                    orders_placed_on_chain += placed.values().filter(|r| **r == *id).count();
                }
            }
        }
        for (id, n) in &committed_per_request {
            assert_eq!(*n, 1, "request r{id} committed {n} times");
        }
        // Each order the exchange ever created for the wallet comes from exactly one journaled
        // place of a committed request (post-only quotes never rest twice per client id).
        let history = core.exchange.order_history(profile);
        let distinct: BTreeSet<_> = history.iter().map(|o| o.order_id).collect();
        assert_eq!(distinct.len(), history.len());
        assert_eq!(
            history.len(),
            orders_placed_on_chain,
            "orders on the exchange vs journaled places of committed requests"
        );
        // No orphan: nothing of the wallet rests on the exchange.
        let resting = core.exchange.open_orders(profile, None);
        if !resting.is_empty() {
            // Name them by client id, from the journal.
            let mut client_of: BTreeMap<u128, String> = BTreeMap::new();
            for e in &entries {
                match &e.record {
                    Record::Order(o) => {
                        if let Some(v) = o.venue_id {
                            client_of.insert(v, format!("{} (#{})", o.request.client_id, e.seq));
                        }
                    }
                    Record::Outcome {
                        outcome: OutcomeRecord::Accepted { placed, .. },
                        id,
                        ..
                    } => {
                        for p in placed {
                            if let Some(v) = p.venue_id {
                                client_of
                                    .entry(v)
                                    .or_insert(format!("{} (r{id})", p.client_id));
                            }
                        }
                    }
                    _ => {}
                }
            }
            let named: Vec<String> = resting
                .iter()
                .map(|o| {
                    format!(
                        "venue {} = {} at {:?}",
                        o.order_id,
                        client_of
                            .get(&o.order_id.0)
                            .map_or("unknown to the journal", String::as_str),
                        o.timestamp
                    )
                })
                .collect();
            panic!("orphaned orders: {named:?}");
        }
    }
    assert_eq!(open_orders.len(), 0, "getOpenOrders for the wallet");
    sim.stop();
}

/// A Kana writer for `key` against `sim`, as a fresh process would build it.
async fn kana_writer(sim: &SimHandle, key: PrivateKey) -> (KanaWriter, MarketSpec) {
    let rest = Arc::new(
        KanaRest::new(
            &sim.rest_url,
            Some(Secret::new("sim".into())),
            Duration::from_secs(5),
            RetryPolicy::none(),
        )
        .unwrap(),
    );
    let spec = rest.market_spec(MarketId(1338)).await.unwrap();
    let poll = crate::common::loopback_poll();
    let node = NodeClient::new(&sim.node_url, Duration::from_secs(5))
        .unwrap()
        .with_poll_config(poll);
    let gas = GasConfig {
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 2,
    };
    let submitter = Arc::new(Submitter::new(node, key, 4, gas));
    let config = WriterConfig {
        confirm_timeout: Duration::from_millis(300),
        max_batch: 10,
        delegate_for: None,
    };
    (
        KanaWriter::new(rest, submitter, vec![spec.clone()], config),
        spec,
    )
}

/// A quiet bid below the synthetic book, once it is two-sided.
async fn quiet_bid(sim: &SimHandle, spec: &MarketSpec, client_id: u64) -> VenueRequest {
    let rest = KanaRest::new(
        &sim.rest_url,
        Some(Secret::new("sim".into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let bid = loop {
        let p = rest.market_price(MarketId(1338)).await.unwrap();
        if let (Some(bid), Some(_)) = (p.best_bid, p.best_ask) {
            break spec.price_to_ticks(bid, Rounding::Exact).unwrap();
        }
        assert!(Instant::now() < deadline, "no two-sided book");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    VenueRequest::Orders {
        market: MarketId(1338),
        cancel: Vec::new(),
        place: vec![OrderRequest {
            client_id: ClientOrderId(client_id),
            order: NewOrder::limit(
                MarketId(1338),
                Side::Buy,
                Lots(1000),
                Ticks(bid.0.saturating_sub(50).max(1)),
            )
            .post_only()
            .with_leverage(2),
        }],
    }
}

/// A process signs a transaction (the journal hook records it), the node accepts it and loses
/// it, and the process dies. A new process that only asks by hash would wait for ever (without
/// the expiry, not found is not proof); one that adopts the journaled transaction learns it
/// expired, frees its sequence number, and its next order commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_lost_by_a_dead_process_resolves_as_expired_once_adopted() {
    let mut config = SimConfig {
        block_latency_ms: 30,
        ..SimConfig::default()
    };
    config.synthetic.step_ms = 30;
    config.faults.tx_lose_probability = 1.0;
    let sim = start(config, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap();
    let key = PrivateKey::from_seed_bytes([77u8; 32]);

    // The process that dies: its hook saw the transaction before it left.
    let journaled: Arc<Mutex<Vec<ResumeToken>>> = Arc::default();
    let seen = Arc::clone(&journaled);
    let hook: perpbot::venue::SentHook = Arc::new(move |_scope, token: &ResumeToken| {
        seen.lock().unwrap().push(token.clone());
        Ok(())
    });
    let ctx = perpbot::venue::RequestContext {
        scope: None,
        on_sent: Some(hook),
    };
    let (dead, spec) = kana_writer(&sim, key.clone()).await;
    let request = quiet_bid(&sim, &spec, 1).await;
    let first = dead.execute(request.clone(), &ctx).await;
    assert!(
        matches!(first, RequestOutcome::Ambiguous { .. }),
        "{first:?}"
    );
    drop(dead);
    let token = journaled.lock().unwrap()[0].clone();
    let tx = perpbot::venue::kana::writer::submitted_from_token(&token).unwrap();
    sim.shared.core().config.faults.tx_lose_probability = 0.0;

    // Its successor, from the journal.
    let (successor, _) = kana_writer(&sim, key.clone()).await;
    let handle = tx.hash.to_string();
    let expired_at = Duration::from_secs(tx.expiration_timestamp_secs);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    while now() <= expired_at + Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let blind = successor.resolve(&request, Some(&handle)).await;
    assert!(
        matches!(blind, RequestOutcome::Ambiguous { .. }),
        "by hash alone, past its expiry, still unknown: {blind:?}"
    );
    successor.adopt(&token);
    let adopted = successor.resolve(&request, Some(&handle)).await;
    assert!(
        matches!(&adopted, RequestOutcome::Rejected { reason, .. } if reason.contains("expired")),
        "{adopted:?}"
    );
    let next = successor
        .execute(
            quiet_bid(&sim, &spec, 2).await,
            &perpbot::venue::RequestContext::none(),
        )
        .await;
    assert!(
        matches!(next, RequestOutcome::Accepted { .. }),
        "the next order commits: {next:?}"
    );
    sim.stop();
}

/// `perpbot journal show|export` on a journal whose last record was torn by a crash: every
/// intact record is printed, the tear is reported on stderr, the exit code is 0, and the file is
/// left as it was.
#[test]
fn journal_show_and_export_report_a_torn_tail_and_succeed() {
    use perpbot::journal::record::SessionRecord;
    use perpbot::journal::{Journal, JournalOptions};
    let dir = TempDir::new("show");
    let path = dir.0.join("torn.journal");
    let session = SessionRecord {
        venue: "kana".into(),
        chain_id: Some(4),
        pid: 1,
        version: "test".into(),
        carries_over: true,
        signs_before_send: true,
    };
    let journal = Journal::open(&path, JournalOptions::default(), session)
        .unwrap()
        .journal;
    let request = VenueRequest::Orders {
        market: MarketId(1338),
        cancel: Vec::new(),
        place: vec![OrderRequest {
            client_id: ClientOrderId(1),
            order: NewOrder::limit(MarketId(1338), Side::Buy, Lots(1000), Ticks(5500)),
        }],
    };
    journal.write_ahead(1, &request).unwrap();
    drop(journal);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"']);
    std::fs::write(&path, &bytes).unwrap();

    let run = |what: &str, path: &Path| {
        Command::new(env!("CARGO_BIN_EXE_perpbot"))
            .args(["journal", what, "--journal"])
            .arg(path)
            .output()
            .unwrap()
    };
    let show = run("show", &path);
    assert!(show.status.success(), "{show:?}");
    let out = String::from_utf8(show.stdout).unwrap();
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("request r1 market 1338: cancel none; place c1 buy open 1000 lots @5500"));
    assert!(out.contains("unresolved requests r1"), "{out}");
    let err = String::from_utf8(show.stderr).unwrap();
    assert!(err.contains("torn tail ignored"), "{err}");

    let export = run("export", &path);
    assert!(export.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["kind"], "request");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "reading changes nothing"
    );

    let missing = run("show", &dir.0.join("nope.journal"));
    assert!(!missing.status.success(), "a missing file is an error");
}
