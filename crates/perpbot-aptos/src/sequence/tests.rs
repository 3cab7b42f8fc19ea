use super::*;

#[test]
fn pipelined_allocation_is_consecutive() {
    let mut s = SequenceManager::new(11);
    let got: Vec<u64> = (0..5).map(|_| s.next()).collect();
    assert_eq!(got, vec![11, 12, 13, 14, 15]);
    assert_eq!(s.in_flight(), got);
    assert_eq!(s.peek(), 16);
    // Confirmations in any order.
    s.confirmed(12);
    s.confirmed(11);
    assert_eq!(s.in_flight(), vec![13, 14, 15]);
    s.confirmed(15);
    // A committed 15 implies 13 and 14 were consumed too.
    assert!(s.in_flight().is_empty());
    assert_eq!(s.floor(), 16);
    assert_eq!(s.next(), 16);
}

#[test]
fn new_account_starts_at_zero() {
    let mut s = SequenceManager::new(0);
    assert_eq!(s.next(), 0);
    assert_eq!(s.next(), 1);
}

#[test]
fn rejected_last_number_is_rolled_back_without_stall() {
    let mut s = SequenceManager::new(5);
    assert_eq!(s.next(), 5);
    assert_eq!(s.next(), 6);
    let gap = s.failed_before_submit(6);
    assert_eq!(
        gap,
        GapReport {
            reusable: Some(6),
            stalled: vec![]
        }
    );
    assert!(s.reusable().is_empty(), "tail rolled back, not a gap");
    assert_eq!(s.next(), 6);
    assert_eq!(s.next(), 7);
}

#[test]
fn rejected_middle_number_reports_stalled_and_is_refilled_first() {
    let mut s = SequenceManager::new(0);
    for _ in 0..4 {
        s.next();
    }
    let gap = s.failed_before_submit(1);
    assert_eq!(gap.reusable, Some(1));
    assert_eq!(gap.stalled, vec![2, 3]);
    assert_eq!(s.in_flight(), vec![0, 2, 3]);
    assert_eq!(s.reusable(), vec![1]);
    assert_eq!(s.peek(), 1);
    // The gap is filled before any fresh number is used.
    assert_eq!(s.next(), 1);
    assert_eq!(s.next(), 4);
}

#[test]
fn several_rejections_roll_back_a_contiguous_tail() {
    let mut s = SequenceManager::new(0);
    for _ in 0..4 {
        s.next();
    }
    // 2 fails first (a gap below 3), then 3 fails: 2 and 3 are now both free at the top.
    assert_eq!(s.failed_before_submit(2).stalled, vec![3]);
    assert!(s.failed_before_submit(3).stalled.is_empty());
    assert!(s.reusable().is_empty());
    assert_eq!(s.next(), 2);
}

#[test]
fn expired_numbers_are_reused() {
    let mut s = SequenceManager::new(20);
    let a = s.next();
    let b = s.next();
    let c = s.next();
    s.confirmed(a);
    // b expired; c (later expiry) is stuck behind it.
    let gap = s.expired(b);
    assert_eq!(gap.stalled, vec![c]);
    // c expires too: both free, rolled back.
    let gap = s.expired(c);
    assert!(gap.stalled.is_empty());
    assert!(s.in_flight().is_empty());
    assert_eq!(s.next(), 21);
}

#[test]
fn releasing_unknown_or_consumed_numbers_is_a_no_op() {
    let mut s = SequenceManager::new(3);
    assert_eq!(s.failed_before_submit(99).reusable, None);
    let a = s.next();
    s.confirmed(a);
    assert_eq!(s.expired(a).reusable, None);
    assert_eq!(s.next(), 4);
}

#[test]
fn too_old_recovery() {
    // We believe 5; another client already used 5..=8.
    let mut s = SequenceManager::new(5);
    let a = s.next();
    s.discard(a); // node: sequence_number_too_old
    let r = s.resync(9);
    assert_eq!(r.on_chain, 9);
    assert_eq!(r.previous_next, 6);
    assert_eq!(r.next, 9);
    assert!(r.consumed.is_empty() && r.stalled.is_empty());
    assert_eq!(s.next(), 9);
}

#[test]
fn resync_ahead_reports_consumed_in_flight_numbers() {
    let mut s = SequenceManager::new(0);
    let _ = (s.next(), s.next(), s.next()); // 0, 1, 2
    let r = s.resync(2);
    assert_eq!(r.consumed, vec![0, 1]);
    assert!(r.stalled.is_empty(), "2 is in flight and can execute");
    assert_eq!(s.in_flight(), vec![2]);
}

#[test]
fn resync_behind_detects_too_new() {
    let mut s = SequenceManager::new(0);
    let _ = (s.next(), s.next(), s.next()); // 0, 1, 2
    // 0's submit was discarded as conflicting; chain is still at 0, so 1 and 2 are too new.
    s.discard(0);
    let r = s.resync(0);
    assert_eq!(r.stalled, vec![1, 2]);
    assert!(r.consumed.is_empty());
    assert_eq!(s.reusable(), vec![0]);
    assert_eq!(s.next(), 0, "the gap is filled first");
    assert!(s.resync(0).stalled.is_empty(), "0 is in flight again");
}

#[test]
fn stale_resync_below_confirmed_floor_is_ignored() {
    let mut s = SequenceManager::new(10);
    let a = s.next();
    let b = s.next();
    s.confirmed(a);
    // A lagging node still reports 10.
    let r = s.resync(10);
    assert_eq!(r.on_chain, 11);
    assert!(r.stalled.is_empty());
    assert_eq!(s.in_flight(), vec![b]);
    assert!(s.reusable().is_empty());
    assert_eq!(s.next(), 12);
}

#[test]
fn resync_ahead_drops_reusable_numbers_below_chain() {
    let mut s = SequenceManager::new(0);
    let _ = (s.next(), s.next(), s.next());
    s.failed_before_submit(0);
    assert_eq!(s.reusable(), vec![0]);
    s.resync(5);
    assert!(s.reusable().is_empty());
    assert!(s.in_flight().is_empty());
    assert_eq!(s.next(), 5);
}
