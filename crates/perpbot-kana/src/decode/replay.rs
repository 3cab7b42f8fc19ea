//! The history topics replay their recent records in every push (`trade_history` the last 20
//! fills, one of them new). Converting every replayed record only to find its key already seen
//! costs nearly all of such a frame's decoding. This memo remembers, for the records of the last
//! push, their exact text and the key they had, so a record that comes back byte for byte skips
//! its conversion: its key is looked up as if it had just been computed, and the usual repeat
//! rule decides. Anything not remembered, or whose key is not seen any more, takes the full path.
//!
//! Only records whose key is a function of their text and the decoder's fixed settings are
//! remembered (not those whose side came from the positions topic); the memo never decides on
//! its own that a record is a repeat.

use foldhash::HashMap;

use super::units::FillKey;

/// Most records remembered at once: a push replays 20; anything beyond a few pushes' worth
/// (frames that kept failing half way) is forgotten.
const CAP: usize = 1024;

/// Record texts of the last push and of the one being decoded, with their keys.
#[derive(Debug, Default)]
pub(super) struct ReplayMemo {
    last: HashMap<Box<str>, FillKey>,
    current: HashMap<Box<str>, FillKey>,
}

impl ReplayMemo {
    /// The key `record` had when it was last decoded, carried into the current push.
    pub(super) fn recall(&mut self, record: &str) -> Option<FillKey> {
        if let Some(key) = self.current.get(record) {
            return Some(*key);
        }
        let (text, key) = self.last.remove_entry(record)?;
        self.current.insert(text, key);
        Some(key)
    }

    /// Remember the key of a record decoded in full.
    pub(super) fn remember(&mut self, record: &str, key: FillKey) {
        if self.current.len() + self.last.len() >= CAP {
            self.last.clear();
            self.current.clear();
        }
        self.current.insert(record.into(), key);
    }

    /// The push is done: its records are the ones the next push will replay.
    pub(super) fn push_done(&mut self) {
        std::mem::swap(&mut self.last, &mut self.current);
        self.current.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(trade_id: u128) -> FillKey {
        FillKey {
            trade_id,
            order_id: 0,
            version: 1,
            ts_secs: 2,
            order_type: 3,
            lots: 4,
            price: 5,
        }
    }

    #[test]
    fn remembers_the_last_push_only_and_exact_texts_only() {
        let mut m = ReplayMemo::default();
        m.remember(r#"{"a":1}"#, key(1));
        m.remember(r#"{"a":2}"#, key(2));
        m.push_done();
        assert_eq!(m.recall(r#"{"a":1}"#), Some(key(1)));
        // Not the same text, not the same record.
        assert_eq!(m.recall(r#"{"a": 2}"#), None);
        m.push_done();
        // Record 1 came back in that push and is remembered; record 2 did not and is forgotten.
        assert_eq!(m.recall(r#"{"a":1}"#), Some(key(1)));
        assert_eq!(m.recall(r#"{"a":2}"#), None);
    }

    #[test]
    fn forgets_everything_rather_than_grow_past_the_cap() {
        let mut m = ReplayMemo::default();
        for i in 0..CAP as u128 + 5 {
            m.remember(&format!("{i}"), key(i));
        }
        assert!(m.current.len() + m.last.len() <= CAP);
        assert_eq!(
            m.recall(&format!("{}", CAP + 4)),
            Some(key(CAP as u128 + 4))
        );
    }
}
