//! The journal on its own: every record kind round-trips through the file, a torn or corrupted
//! tail is ignored and reported (and never panics), the fsync policy is honoured, the executor
//! records a request before the venue sees it, and a restart resolves what was left open instead
//! of sending it again.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal_macros::dec;

use super::format::{self, Frame, MAX_RECORD};
use super::record::*;
use super::show::{human_line, write_export, write_show};
use super::*;
use crate::executor::RateLimitConfig;
use crate::executor::testkit::Runner;
use crate::risk::{Approved, RiskConfig, RiskEngine};
use crate::venue::{CancelOrder, ResumeToken, VenueCapabilities};
use perpbot_model::{
    BookUpdate, BookUpdateKind, Direction, Event, Level, Liquidity, Lots, MarketId, MarketSpec,
    NewOrder, OrderEvent, OrderRequest, OrderStatus, OrderUpdateKind, Position, PositionSide, Side,
    Ticks, TradeId, VenueOrderId,
};

const M: MarketId = MarketId(1338);
/// Bigger than any u64: Kana order ids are u128 and must survive JSON exactly.
const BIG: u128 = u128::MAX - 7;

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("perpbot-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn session() -> SessionRecord {
    SessionRecord {
        venue: "kana".into(),
        chain_id: Some(4),
        pid: 1,
        version: "test".into(),
        carries_over: true,
        signs_before_send: true,
    }
}

fn options(sync: JournalSync) -> JournalOptions {
    JournalOptions {
        sync,
        snapshot_every: Duration::from_secs(3600),
        batch_sync_every: Duration::ZERO,
        compact_above: u64::MAX,
    }
}

fn open(path: &Path) -> Opened {
    Journal::open(path, options(JournalSync::WriteAhead), session()).unwrap()
}

fn req(id: u64, side: Side, price: u64) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId(id),
        order: NewOrder::limit(M, side, Lots(1000), Ticks(price))
            .post_only()
            .with_leverage(2),
    }
}

fn place(reqs: Vec<OrderRequest>) -> VenueRequest {
    VenueRequest::Orders {
        market: M,
        cancel: Vec::new(),
        place: reqs,
    }
}

fn cancel(id: u64, venue: Option<u128>) -> VenueRequest {
    VenueRequest::Orders {
        market: M,
        cancel: vec![CancelOrder {
            client_id: ClientOrderId(id),
            venue_id: venue.map(VenueOrderId),
            market: M,
            side: Side::Buy,
            direction: Direction::Open,
        }],
        place: Vec::new(),
    }
}

/// A transaction hash as Kana's tokens carry it (`0x` and 64 hex digits).
fn hash(n: u8) -> String {
    format!("0x{}", format!("{n:02x}").repeat(32))
}

/// A venue's token for a sent request (the journal does not read inside its state).
fn submitted(n: u8, seq: u64) -> ResumeToken {
    ResumeToken {
        handle: hash(n),
        state: serde_json::json!({"n": seq, "expires": 1_900_000_000 + seq}),
    }
}

/// Journal a transaction for request `id` the way the Kana submitter does: through the hook,
/// with the executor's request scope.
async fn sign(journal: &Journal, id: u64, tx: ResumeToken) -> Result<(), String> {
    let hook = journal.signed_hook();
    let scope = RequestScope {
        request: id,
        cancel_only: false,
    };
    hook(Some(scope), &tx)
}

fn records(path: &Path) -> Vec<Record> {
    format::read_file(path)
        .unwrap()
        .unwrap()
        .entries()
        .map(|e| e.record.clone())
        .collect()
}

fn state() -> State {
    let mut s = State::new(&[MarketSpec::kana_apt_testnet()]);
    s.set_now(Timestamp::from_secs(1));
    s.apply(&Event::Book(BookUpdate {
        market: M,
        kind: BookUpdateKind::Snapshot,
        bids: vec![Level::new(5518, 1)],
        asks: vec![Level::new(5522, 1)],
        ts: Timestamp::from_secs(1),
    }));
    s
}

fn filled_order() -> Order {
    let mut o = Order::new(req(3, Side::Sell, 5530), Timestamp::from_secs(2));
    o.apply(
        &OrderEvent::Accepted {
            venue_id: Some(VenueOrderId(BIG)),
        },
        Timestamp::from_secs(3),
    )
    .unwrap();
    o.apply(
        &OrderEvent::Fill {
            trade_id: TradeId(BIG - 1),
            lots: Lots(400),
            price: Ticks(5530),
        },
        Timestamp::from_secs(4),
    )
    .unwrap();
    o
}

fn fill() -> Fill {
    Fill {
        market: M,
        client_id: Some(ClientOrderId(3)),
        venue_id: Some(VenueOrderId(BIG)),
        trade_id: TradeId(BIG - 1),
        side: Side::Sell,
        direction: Direction::Open,
        lots: Lots(400),
        price: Ticks(5530),
        fee: dec!(-0.0012),
        realized_pnl: dec!(1.5),
        liquidity: Liquidity::Maker,
        ts: Timestamp::from_secs(4),
    }
}

#[test]
fn every_record_kind_round_trips_through_the_file() {
    let dir = TempDir::new("round-trip");
    let path = dir.file("j");
    let opened = open(&path);
    let request = VenueRequest::Orders {
        market: M,
        cancel: vec![CancelOrder {
            client_id: ClientOrderId(1),
            venue_id: Some(VenueOrderId(BIG)),
            market: M,
            side: Side::Buy,
            direction: Direction::Close,
        }],
        place: vec![req(2, Side::Buy, 5510), req(3, Side::Sell, 5530)],
    };
    let outcomes = [
        RequestOutcome::Accepted {
            placed: vec![
                (ClientOrderId(2), Some(VenueOrderId(BIG))),
                (ClientOrderId(3), None),
            ],
        },
        RequestOutcome::rejected("Move abort: E_POST_OR_ABORT_CROSSES_SPREAD"),
        RequestOutcome::Partial {
            placed: vec![(ClientOrderId(2), Some(VenueOrderId(7)))],
            rejected: vec![(ClientOrderId(3), "too small".into())],
        },
        RequestOutcome::Ambiguous {
            reason: "timeout".into(),
            token: Some(hash(9)),
        },
    ];
    let mut written = vec![
        Record::Intent {
            intent: serde_json::to_value(Intent::CancelAll { market: Some(M) }).unwrap(),
        },
        Record::Request {
            id: 1,
            request: RequestRecord::from(&request),
        },
        Record::Request {
            id: 2,
            request: RequestRecord::from(&VenueRequest::ClosePosition {
                market: M,
                position: PositionSide::Short,
                lots: Lots(2000),
                leverage: 3,
            }),
        },
        Record::Signed(SignedRecord {
            request: Some(1),
            token: ResumeToken {
                handle: hash(1),
                state: serde_json::json!({"n": 7, "expires": 1_900_000_000u64}),
            },
        }),
    ];
    for (i, o) in outcomes.iter().enumerate() {
        written.push(Record::Outcome {
            id: 1,
            outcome: OutcomeRecord::from(o),
            at_start: i % 2 == 1,
        });
    }
    let order = filled_order();
    let mut long = Position::flat(M, PositionSide::Long, Timestamp::from_secs(5));
    long.lots = Lots(1000);
    long.entry_price = dec!(5.52);
    written.extend([
        Record::Order(OrderRecord::from(&order)),
        Record::Fill(FillRecord::from(&fill())),
        Fold::default().snapshot_with(vec![OrderRecord::from(&order)], vec![long]),
        Record::Shutdown {
            clean: false,
            left_open: vec![ClientOrderId(3)],
        },
    ]);
    for r in &written {
        opened
            .journal
            .lock()
            .append(r.clone(), Durability::Now)
            .unwrap();
    }

    let scan = format::read_file(&path).unwrap().unwrap();
    assert!(scan.torn.is_none());
    let entries: Vec<&Entry> = scan.entries().collect();
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=written.len() as u64 + 1).collect::<Vec<_>>());
    assert_eq!(entries[0].record, Record::Session(session()));
    let read: Vec<Record> = entries[1..].iter().map(|e| e.record.clone()).collect();
    assert_eq!(read, written);

    // And back to the engine's own types, exactly (128-bit ids included).
    let Record::Request { request: r, .. } = &read[1] else {
        panic!("{:?}", read[1])
    };
    assert_eq!(VenueRequest::from(r), request);
    for (i, o) in outcomes.iter().enumerate() {
        let Record::Outcome { outcome, .. } = &read[4 + i] else {
            panic!()
        };
        assert_eq!(&RequestOutcome::from(outcome), o);
    }
    let Record::Order(o) = &read[8] else { panic!() };
    assert_eq!(Order::from(o), order);
    let json = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&json);
    assert!(
        text.contains(&BIG.to_string()),
        "u128 ids stored as exact decimals"
    );

    // Every record has one human line and one JSON line.
    let (mut out, mut err) = (Vec::new(), Vec::new());
    write_show(&scan, &mut out, &mut err).unwrap();
    let shown = String::from_utf8(out).unwrap();
    assert_eq!(shown.lines().count(), written.len() + 2, "{shown}");
    assert!(shown.contains("request r1 market 1338: cancel c1 (venue"));
    assert!(shown.contains("AMBIGUOUS: timeout (resolve by 0x0909"));
    assert!(err.is_empty());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    write_export(&scan, &mut out, &mut err).unwrap();
    let exported: Vec<Entry> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(exported.len(), written.len() + 1);
    assert_eq!(&exported[1].record, &written[0]);
    assert!(human_line(entries[0]).contains("session: kana (chain 4)"));
}

#[test]
fn a_torn_or_corrupted_tail_is_ignored_reported_and_cut_off() {
    let dir = TempDir::new("torn");
    let path = dir.file("j");
    {
        let opened = open(&path);
        for id in 1..=3 {
            opened
                .journal
                .write_ahead(id, &place(vec![req(id, Side::Buy, 5500)]))
                .unwrap();
        }
    }
    let good = std::fs::read(&path).unwrap();
    let whole = format::scan(&good).unwrap();
    assert_eq!(whole.frames.len(), 4);
    let boundaries: Vec<u64> = whole
        .frames
        .iter()
        .map(|f| match f {
            Frame::Entry { offset, .. } => *offset,
            Frame::Unreadable(u) => u.offset,
        })
        .chain([good.len() as u64])
        .collect();

    // Cut anywhere: never a panic; whole records before the cut are kept, the rest reported.
    for cut in 0..=good.len() {
        let scan = format::scan(&good[..cut]).unwrap();
        let kept = boundaries.iter().filter(|b| **b <= cut as u64).count();
        let at_boundary = boundaries.contains(&(cut as u64)) || cut == 0;
        assert_eq!(
            scan.entries().count(),
            kept.saturating_sub(1),
            "cut at {cut}"
        );
        assert_eq!(scan.torn.is_none(), at_boundary, "cut at {cut}");
    }

    // A flipped byte in the last record: its checksum fails.
    let last = boundaries[3] as usize;
    let mut flipped = good.clone();
    flipped[last + 20] ^= 0x40;
    let scan = format::scan(&flipped).unwrap();
    assert_eq!(scan.entries().count(), 3);
    let torn = scan.torn.clone().unwrap();
    assert_eq!(torn.offset, last as u64);
    assert!(torn.reason.contains("checksum"), "{torn}");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    write_show(&scan, &mut out, &mut err).unwrap();
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("torn tail ignored: checksum mismatch")
    );

    // An absurd length.
    let mut huge = good.clone();
    huge[last..last + 4].copy_from_slice(&(MAX_RECORD + 1).to_le_bytes());
    assert!(
        format::scan(&huge)
            .unwrap()
            .torn
            .unwrap()
            .reason
            .contains("implausible")
    );

    // Not a journal at all, or a header torn while the file was created.
    assert!(format::scan(b"hello, world").is_err());
    assert!(format::scan(b"").unwrap().torn.is_none());
    assert_eq!(format::scan(b"PBJ").unwrap().torn.unwrap().offset, 0);

    // Opening cuts the torn tail off (keeping its bytes aside) and appends after the last good
    // record; the next read is clean.
    std::fs::write(&path, &flipped).unwrap();
    let reopened = open(&path);
    assert_eq!(reopened.torn.as_ref().unwrap().offset, last as u64);
    let kept = reopened.saved_tail.clone().unwrap();
    assert_eq!(std::fs::read(&kept).unwrap(), flipped[last..].to_vec());
    assert_eq!(
        reopened.replay.open.keys().copied().collect::<Vec<_>>(),
        vec![1, 2]
    );
    reopened
        .journal
        .write_ahead(4, &place(vec![req(4, Side::Buy, 5500)]))
        .unwrap();
    let scan = format::read_file(&path).unwrap().unwrap();
    assert!(scan.torn.is_none());
    let kinds: Vec<&str> = scan.entries().map(|e| e.record.kind()).collect();
    assert_eq!(
        kinds,
        ["session", "request", "request", "session", "request"]
    );

    // An intact record this version does not understand is not a torn tail: never cut off.
    let mut future = std::fs::read(&path).unwrap();
    future.extend(format::frame(br#"{"seq":99,"ts_ms":0,"kind":"from_the_future"}"#).unwrap());
    std::fs::write(&path, &future).unwrap();
    let Err(JournalError::Unreadable { index, .. }) =
        Journal::open(&path, options(JournalSync::WriteAhead), session())
    else {
        panic!("an unreadable record must stop the restart")
    };
    assert_eq!(index, 5);
    assert_eq!(std::fs::read(&path).unwrap(), future, "file untouched");
    let scan = format::scan(&future).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    write_show(&scan, &mut out, &mut err).unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("?? unreadable record 5")
    );
}

#[test]
fn the_watchdogs_transaction_never_waits_long_for_a_stuck_journal() {
    let dir = TempDir::new("watchdog");
    let path = dir.file("j");
    let journal = open(&path).journal;
    let hook = journal.signed_hook();
    // Outside any request (the watchdog) and with the journal free: recorded, request-less.
    hook(None, &submitted(1, 7)).unwrap();
    assert!(
        records(&path)
            .iter()
            .any(|r| matches!(r, Record::Signed(s) if s.request.is_none()))
    );
    // With the journal held (an engine stuck inside a write), the hook gives up after a short
    // wait and lets the cancel go unrecorded.
    let held = journal.lock();
    let started = std::time::Instant::now();
    let other = std::thread::spawn(move || hook(None, &submitted(2, 8)));
    let result = other.join().unwrap();
    assert!(result.is_ok());
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
    let signed = records(&path)
        .into_iter()
        .filter(|r| matches!(r, Record::Signed(_)))
        .count();
    assert_eq!(signed, 1, "the second went unrecorded");
}

#[test]
fn fsync_policy_is_honoured_and_write_ahead_records_survive_a_reopen() {
    let dir = TempDir::new("fsync");
    for (sync, after_request, after_outcome, after_step) in [
        (JournalSync::WriteAhead, 1, 0, 1),
        (JournalSync::EveryRecord, 1, 1, 0),
        (JournalSync::None, 0, 0, 0),
    ] {
        let path = dir.file(&format!("{sync:?}"));
        let opened = Journal::open(&path, options(sync), session()).unwrap();
        let journal = opened.journal;
        let base = journal.stats().fsyncs;
        journal
            .write_ahead(5, &place(vec![req(5, Side::Buy, 5500)]))
            .unwrap();
        assert_eq!(journal.stats().fsyncs - base, after_request, "{sync:?}");

        // Before write_ahead returned, the record was in the file: another reader (a restart
        // after a crash, with this handle never closed) finds the request unresolved.
        let again = Journal::open(&path, options(sync), session()).unwrap();
        let open = again.replay.open.get(&5).expect("the journaled request");
        assert!(
            matches!(&open.request, VenueRequest::Orders { place, .. } if place[0].client_id == ClientOrderId(5))
        );
        assert_eq!(
            again.replay.orders.get(&ClientOrderId(5)).map(|o| o.status),
            Some(OrderStatus::PendingNew)
        );
        drop(again);

        let base = journal.stats().fsyncs;
        journal.record_outcome(5, &RequestOutcome::Accepted { placed: vec![] });
        assert_eq!(journal.stats().fsyncs - base, after_outcome, "{sync:?}");
        // Batched records are fsynced by the engine's periodic step (interval zero here).
        let base = journal.stats().fsyncs;
        journal.after_step(&state());
        assert_eq!(journal.stats().fsyncs - base, after_step, "{sync:?}");
    }
}

#[test]
fn live_orders_on_a_lasting_venue_are_never_dropped_by_a_run_elsewhere() {
    let dir = TempDir::new("venue");
    let path = dir.file("j");
    open(&path)
        .journal
        .write_ahead(1, &place(vec![req(1, Side::Buy, 5500)]))
        .unwrap();
    // The embedded simulator (or testnet) on this journal would forget the live order: refused.
    let sim = SessionRecord {
        venue: "sim".into(),
        carries_over: false,
        ..session()
    };
    let testnet = SessionRecord {
        chain_id: Some(2),
        ..session()
    };
    for other in [sim.clone(), testnet] {
        let Err(JournalError::WrongVenue { journaled, .. }) =
            Journal::open(&path, options(JournalSync::WriteAhead), other)
        else {
            panic!("a run elsewhere must be refused")
        };
        assert_eq!(journaled, "kana (chain 4)");
    }
    // The same venue resumes it.
    assert_eq!(open(&path).replay.open.len(), 1);

    // What a simulator session leaves is never carried into a later session.
    let sim_path = dir.file("sim");
    let first = Journal::open(&sim_path, options(JournalSync::WriteAhead), sim.clone()).unwrap();
    first
        .journal
        .write_ahead(1, &place(vec![req(1, Side::Buy, 5500)]))
        .unwrap();
    let later = open(&sim_path);
    assert!(later.replay.open.is_empty() && later.replay.orders.is_empty());
    assert_eq!(later.replay.max_client_id, 1, "ids still count up");
}

#[test]
fn a_large_journal_is_compacted_to_what_a_restart_needs_and_the_old_one_kept() {
    let dir = TempDir::new("compact");
    let path = dir.file("j");
    let small = JournalOptions {
        compact_above: 4096,
        ..options(JournalSync::WriteAhead)
    };
    let journal = Journal::open(&path, small, session()).unwrap().journal;
    let mut st = state();
    let accepted = |placed| RequestOutcome::Accepted { placed };
    // 30 quotes: 27 placed and cancelled, 2 resting, the last one's request unanswered.
    let mut rid = 0;
    for id in 1..=30u64 {
        let venue_id = Some(VenueOrderId(u128::from(id) + BIG / 2));
        rid += 1;
        journal
            .write_ahead(rid, &place(vec![req(id, Side::Buy, 5500)]))
            .unwrap();
        st.track_new_order(req(id, Side::Buy, 5500));
        if id == 30 {
            break;
        }
        journal.record_outcome(rid, &accepted(vec![(ClientOrderId(id), venue_id)]));
        st.apply_order_event(ClientOrderId(id), &OrderEvent::Accepted { venue_id });
        if id <= 27 {
            rid += 1;
            journal
                .write_ahead(rid, &cancel(id, venue_id.map(|v| v.0)))
                .unwrap();
            st.apply_order_event(ClientOrderId(id), &OrderEvent::CancelRequested);
            journal.record_outcome(rid, &accepted(Vec::new()));
            st.apply_order_event(ClientOrderId(id), &OrderEvent::Cancelled);
        }
    }
    let big = std::fs::metadata(&path).unwrap().len();
    assert!(big > 4096);
    let old = std::fs::read(&path).unwrap();
    let before = Fold::from_entries(format::scan(&old).unwrap().entries());

    journal.checkpoint(&st);
    let kinds: Vec<&str> = records(&path).iter().map(Record::kind).collect();
    assert_eq!(kinds, ["session", "snapshot"]);
    assert!(std::fs::metadata(&path).unwrap().len() < big);
    let archive = dir.file(&format!("j.1-{}", before.last_seq));
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        old,
        "the old file is kept whole"
    );

    // Appending goes on in the new file, and a restart finds exactly what it would have found.
    journal
        .write_ahead(rid + 1, &place(vec![req(31, Side::Sell, 5530)]))
        .unwrap();
    let again = open(&path).replay;
    assert_eq!(before.open.keys().copied().collect::<Vec<_>>(), vec![rid]);
    assert_eq!(
        again.open.keys().copied().collect::<Vec<_>>(),
        vec![rid, rid + 1]
    );
    let live = |f: &Fold| f.orders.keys().map(|c| c.0).collect::<Vec<_>>();
    assert_eq!(live(&before), vec![28, 29, 30]);
    assert_eq!(live(&again), vec![28, 29, 30, 31]);
    assert_eq!(
        again.orders[&ClientOrderId(28)].venue_id,
        Some(VenueOrderId(28 + BIG / 2))
    );
    assert_eq!((again.max_client_id, again.max_request_id), (31, rid + 1));
    let seqs: Vec<u64> = format::read_file(&path)
        .unwrap()
        .unwrap()
        .entries()
        .map(|e| e.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(seqs[0], before.last_seq + 1, "numbering goes on");
}

/// A writer that answers from a script by token and records every call.
#[derive(Default)]
struct FakeWriter {
    executed: Mutex<Vec<VenueRequest>>,
    resolved: Mutex<Vec<Option<String>>>,
    adopted: Mutex<Vec<ResumeToken>>,
    answers: Mutex<Vec<(String, VecDeque<RequestOutcome>)>>,
    /// When set, `execute` notes whether the journal already held the request's first order.
    journal: Option<PathBuf>,
    journaled_first: Mutex<Vec<bool>>,
}

impl FakeWriter {
    fn answer(&self, token: &str, outcomes: Vec<RequestOutcome>) {
        self.answers
            .lock()
            .unwrap()
            .push((token.to_string(), outcomes.into()));
    }
}

#[async_trait]
impl VenueWriter for FakeWriter {
    fn capabilities(&self) -> VenueCapabilities {
        VenueCapabilities {
            atomic_replace: true,
            max_batch: 8,
            client_order_ids: true,
            one_restriction_per_batch: true,
            position_triggers: true,
            closing_orders: true,
            net_positions: false,
        }
    }

    async fn execute(
        &self,
        request: VenueRequest,
        _ctx: &crate::venue::RequestContext,
    ) -> RequestOutcome {
        if let Some(path) = &self.journal {
            let wanted = match &request {
                VenueRequest::Orders { place, cancel, .. } => place
                    .first()
                    .map(|p| p.client_id)
                    .or(cancel.first().map(|c| c.client_id)),
                _ => None,
            };
            let found = records(path).iter().any(|r| match r {
                Record::Request {
                    request: RequestRecord::Orders { place, cancel, .. },
                    ..
                } => {
                    place.iter().any(|p| Some(p.client_id) == wanted)
                        || cancel.iter().any(|c| Some(c.client_id) == wanted)
                }
                _ => false,
            });
            self.journaled_first.lock().unwrap().push(found);
        }
        self.executed.lock().unwrap().push(request.clone());
        let placed = match &request {
            VenueRequest::Orders { place, .. } => place
                .iter()
                .map(|r| {
                    (
                        r.client_id,
                        Some(VenueOrderId(u128::from(r.client_id.0) + 1000)),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        RequestOutcome::Accepted { placed }
    }

    async fn resolve(&self, _request: &VenueRequest, token: Option<&str>) -> RequestOutcome {
        self.resolved
            .lock()
            .unwrap()
            .push(token.map(str::to_string));
        let mut answers = self.answers.lock().unwrap();
        let scripted = answers
            .iter_mut()
            .find(|(t, _)| Some(t.as_str()) == token)
            .and_then(|(_, q)| {
                if q.len() > 1 {
                    q.pop_front()
                } else {
                    q.front().cloned()
                }
            });
        scripted.unwrap_or(RequestOutcome::Ambiguous {
            reason: "not found".into(),
            token: token.map(str::to_string),
        })
    }

    fn adopt(&self, tx: &ResumeToken) {
        self.adopted.lock().unwrap().push(tx.clone());
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_resolves_what_was_left_open_instead_of_resending_it() {
    let dir = TempDir::new("restart");
    let path = dir.file("j");
    {
        let first = open(&path).journal;
        // r1: two quotes, signed and sent; the process died before the outcome.
        first
            .write_ahead(
                1,
                &place(vec![req(1, Side::Buy, 5510), req(2, Side::Sell, 5530)]),
            )
            .unwrap();
        sign(&first, 1, submitted(1, 10)).await.unwrap();
        // r2: written, never signed: it never left the process.
        first
            .write_ahead(2, &place(vec![req(3, Side::Buy, 5509)]))
            .unwrap();
        // r3 placed c4 (accepted); r4 cancels it, signed, no outcome.
        first
            .write_ahead(3, &place(vec![req(4, Side::Buy, 5505)]))
            .unwrap();
        first.record_outcome(
            3,
            &RequestOutcome::Accepted {
                placed: vec![(ClientOrderId(4), Some(VenueOrderId(BIG)))],
            },
        );
        first.write_ahead(4, &cancel(4, Some(BIG))).unwrap();
        sign(&first, 4, submitted(4, 11)).await.unwrap();
        // r5: ambiguous at the time, still being resolved when the process died.
        first
            .write_ahead(5, &place(vec![req(6, Side::Sell, 5540)]))
            .unwrap();
        sign(&first, 5, submitted(5, 12)).await.unwrap();
        first.record_outcome(
            5,
            &RequestOutcome::Ambiguous {
                reason: "timeout".into(),
                token: Some(hash(5)),
            },
        );
        // The process is killed: nothing more is written (the handle is simply dropped).
    }

    let restart = open(&path);
    let replay = restart.replay;
    assert_eq!(
        replay.open.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 4, 5]
    );
    assert_eq!(replay.max_client_id, 6);
    assert_eq!(replay.max_request_id, 5);
    let status = |id| replay.orders.get(&ClientOrderId(id)).map(|o| o.status);
    assert_eq!(status(1), Some(OrderStatus::PendingNew));
    assert_eq!(status(4), Some(OrderStatus::PendingCancel));
    assert_eq!(status(6), Some(OrderStatus::Unknown));

    let writer = FakeWriter::default();
    writer.answer(
        &hash(1),
        vec![RequestOutcome::Accepted {
            placed: vec![
                (ClientOrderId(1), Some(VenueOrderId(BIG - 10))),
                (ClientOrderId(2), Some(VenueOrderId(BIG - 11))),
            ],
        }],
    );
    writer.answer(&hash(4), vec![RequestOutcome::Accepted { placed: vec![] }]);
    writer.answer(
        &hash(5),
        vec![
            RequestOutcome::Ambiguous {
                reason: "pending".into(),
                token: Some(hash(5)),
            },
            RequestOutcome::rejected("transaction expired"),
        ],
    );
    let mut state = state();
    let report = restart
        .journal
        .recover(replay, &mut state, &writer, Duration::from_secs(30))
        .await;

    assert!(writer.executed.lock().unwrap().is_empty(), "nothing resent");
    let adopted: Vec<(String, u64)> = writer
        .adopted
        .lock()
        .unwrap()
        .iter()
        .map(|t| (t.handle.clone(), t.state["n"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(adopted, vec![(hash(1), 10), (hash(4), 11), (hash(5), 12)]);
    assert_eq!(
        writer.adopted.lock().unwrap()[0].state["expires"].as_u64(),
        Some(1_900_000_010)
    );
    let asked = writer.resolved.lock().unwrap().clone();
    assert!(!asked.contains(&None), "every question by hash: {asked:?}");
    assert_eq!(asked.iter().filter(|t| **t == Some(hash(5))).count(), 2);
    assert_eq!(report.never_sent, vec![2]);
    assert_eq!(
        report.resolved,
        vec![(1, "accepted"), (4, "accepted"), (5, "rejected")]
    );
    assert!(report.unresolved.is_empty());
    assert_eq!(report.restored, vec![ClientOrderId(1), ClientOrderId(2)]);
    assert_eq!(report.max_client_id, 6);
    assert_eq!(
        state.order_status(ClientOrderId(1)),
        Some(OrderStatus::Open)
    );
    assert_eq!(
        state.client_id_for(VenueOrderId(BIG - 11)),
        Some(ClientOrderId(2))
    );
    for gone in [3, 6] {
        assert_eq!(state.order_status(ClientOrderId(gone)), None, "c{gone}");
    }
    // c4 ended during the recovery (its cancel committed): tracked as ended, so its venue id
    // stays known and a stale venue snapshot listing it cannot give it to a new look-alike.
    assert_eq!(
        state.order_status(ClientOrderId(4)),
        Some(OrderStatus::Cancelled)
    );
    assert_eq!(state.live_order_count(None), 2);
    state.track_new_order(req(7, Side::Buy, 5505));
    state.apply(&Event::OpenOrders(perpbot_model::OpenOrdersSnapshot {
        market: None,
        orders: vec![perpbot_model::OpenOrderInfo {
            market: M,
            venue_id: VenueOrderId(BIG),
            side: Side::Buy,
            direction: Direction::Open,
            price: Ticks(5505),
            total: Lots(1000),
            remaining: Lots(1000),
            leverage: 2,
            updated_at: Timestamp::from_secs(1),
        }],
        ts: Timestamp::from_secs(1),
    }));
    assert_eq!(
        state.order_status(ClientOrderId(7)),
        Some(OrderStatus::PendingNew),
        "the new order is not taken for the cancelled one"
    );

    // What was settled is journaled: a further restart has nothing to ask about.
    let at_start: Vec<u64> = records(&path)
        .iter()
        .filter_map(|r| match r {
            Record::Outcome {
                id, at_start: true, ..
            } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(at_start, vec![2, 1, 4, 5]);
    let third = open(&path);
    assert!(third.replay.open.is_empty());
    assert_eq!(
        third.replay.orders.keys().copied().collect::<Vec<_>>(),
        vec![ClientOrderId(1), ClientOrderId(2)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_the_venue_cannot_answer_stays_unknown_and_is_not_resent() {
    let dir = TempDir::new("unresolved");
    let path = dir.file("j");
    {
        let first = open(&path).journal;
        first
            .write_ahead(1, &place(vec![req(1, Side::Buy, 5510)]))
            .unwrap();
        sign(&first, 1, submitted(1, 3)).await.unwrap();
    }
    let restart = open(&path);
    let writer = FakeWriter::default();
    let mut state = state();
    let report = restart
        .journal
        .recover(restart.replay, &mut state, &writer, Duration::from_secs(5))
        .await;
    assert_eq!(report.unresolved, vec![1]);
    assert!(writer.executed.lock().unwrap().is_empty());
    assert!(
        writer.resolved.lock().unwrap().len() > 2,
        "asked again and again"
    );
    assert_eq!(
        state.order_status(ClientOrderId(1)),
        Some(OrderStatus::Unknown),
        "tracked, of unknown existence, for reconciliation"
    );
    // Still open in the journal: the next restart asks again.
    assert_eq!(
        open(&path).replay.open.keys().copied().collect::<Vec<_>>(),
        vec![1]
    );
}

/// Approve through the real risk check (the only way to get an [`Approved`]).
fn approve(intent: Intent, state: &State) -> Approved {
    RiskEngine::new(RiskConfig::default())
        .check(intent, state)
        .approved
        .expect("approved")
}

#[tokio::test]
async fn the_executor_journals_a_request_before_the_venue_sees_it_and_refuses_to_place_unjournaled()
{
    let dir = TempDir::new("executor");
    let path = dir.file("j");
    let journal = open(&path).journal;
    let writer = Arc::new(FakeWriter {
        journal: Some(path.clone()),
        ..FakeWriter::default()
    });
    let mut exec = Runner::new(writer.clone(), RateLimitConfig::default());
    exec.exec.set_journal(journal.clone(), 41);
    let mut state = state();

    let r = req(7, Side::Buy, 5510);
    state.track_new_order(r.clone());
    let a = approve(Intent::Place(r), &state);
    exec.dispatch(vec![a], &mut state);
    exec.settle(&mut state).await;
    assert_eq!(*writer.journaled_first.lock().unwrap(), vec![true]);
    let ids: Vec<u64> = records(&path)
        .iter()
        .filter_map(|r| match r {
            Record::Request { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![42], "request ids continue after the journal's");
    assert!(
        records(&path)
            .iter()
            .any(|r| matches!(r, Record::Intent { .. }))
    );
    assert!(
        records(&path)
            .iter()
            .any(|r| matches!(r, Record::Outcome { id: 42, .. }))
    );
    // The outcome already says c7 rests with venue id 1007: no order record needed for that.
    journal.after_step(&state);
    assert!(!records(&path).iter().any(|r| matches!(r, Record::Order(_))));
    // A change no outcome carries (a partial fill from the venue's stream) is recorded.
    state.apply_order_event(
        ClientOrderId(7),
        &OrderEvent::Fill {
            trade_id: TradeId(1),
            lots: Lots(400),
            price: Ticks(5510),
        },
    );
    journal.after_step(&state);
    assert!(records(&path).iter().any(|r| matches!(r, Record::Order(o) if o.status == OrderStatus::PartiallyFilled && o.venue_id == Some(1007) && o.filled == Lots(400))));

    // The journal stops recording: a replace's places are refused, its cancel still goes.
    journal.lock().broken = Some("disk full".into());
    let quote = req(8, Side::Buy, 5511);
    state.track_new_order(quote.clone());
    let replace = approve(
        Intent::ReplaceQuotes {
            market: M,
            cancel: vec![ClientOrderId(7)],
            place: vec![quote],
        },
        &state,
    );
    exec.dispatch(vec![replace], &mut state);
    let events = exec.settle(&mut state).await;
    let sent = writer.executed.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    assert!(sent[1].is_cancel_only(), "{sent:?}");
    assert_eq!(
        state.order_status(ClientOrderId(8)),
        Some(OrderStatus::Rejected)
    );
    assert_eq!(
        state.order_status(ClientOrderId(7)),
        Some(OrderStatus::Cancelled)
    );
    assert!(events.iter().any(|e| matches!(e, Event::Order(u) if matches!(&u.kind, OrderUpdateKind::Rejected { reason } if reason.contains("write-ahead journal")))));

    // The same rule between signing and sending: a placing transaction is held back, a cancel's
    // is not.
    assert!(sign(&journal, 50, submitted(2, 1)).await.is_err());
    let hook = journal.signed_hook();
    let cancel_scope = RequestScope {
        request: 51,
        cancel_only: true,
    };
    assert!(hook(Some(cancel_scope), &submitted(3, 2)).is_ok());
}

#[test]
fn a_refusal_keeps_its_kind_and_an_older_journal_reads_as_other() {
    use crate::venue::RefusalKind;
    let gone = RequestOutcome::Rejected {
        reason: "no such order".into(),
        kind: RefusalKind::UnknownOrder,
    };
    let json = serde_json::to_string(&OutcomeRecord::from(&gone)).unwrap();
    let back: OutcomeRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(RequestOutcome::from(&back), gone);
    let old: OutcomeRecord =
        serde_json::from_str(r#"{"outcome":"rejected","reason":"E_SOMETHING"}"#).unwrap();
    assert_eq!(
        RequestOutcome::from(&old),
        RequestOutcome::rejected("E_SOMETHING")
    );
}

#[test]
fn an_accepted_outcome_of_an_older_journal_with_a_cost_still_reads() {
    let old: OutcomeRecord =
        serde_json::from_str(r#"{"outcome":"accepted","placed":[],"cost":"0.0042"}"#).unwrap();
    assert_eq!(
        RequestOutcome::from(&old),
        RequestOutcome::Accepted { placed: vec![] }
    );
}
