//! What the streams learn and the writer needs: the smart account, index prices and the
//! market-maker-protection freezes. Shared between the decoder (writer of it) and the writer.

use std::collections::HashMap;
use std::sync::Mutex;

use rust_decimal::Decimal;

/// State shared between the stream decoders and the writer (cheap locks, never held across an
/// await).
#[derive(Debug, Default)]
pub struct SharedState {
    smart_account: Mutex<Option<String>>,
    index: Mutex<HashMap<String, Decimal>>,
    /// Pair (`BTC_USDC`) → end of the MMP freeze, Unix ms.
    frozen_until: Mutex<HashMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SharedState {
    /// The smart account learned from a response, if any (\[ASSUMED\] = the EOA until then).
    pub fn smart_account(&self) -> Option<String> {
        lock(&self.smart_account).clone()
    }

    /// Remember the smart account (lower case). Returns true when it changed.
    pub fn set_smart_account(&self, address: &str) -> bool {
        let address = address.trim().to_ascii_lowercase();
        let mut g = lock(&self.smart_account);
        if g.as_deref() == Some(address.as_str()) {
            return false;
        }
        *g = Some(address);
        true
    }

    /// The last index price of a pair.
    pub fn index(&self, pair: &str) -> Option<Decimal> {
        lock(&self.index).get(pair).copied()
    }

    /// Record an index price.
    pub fn set_index(&self, pair: &str, value: Decimal) {
        lock(&self.index).insert(pair.to_string(), value);
    }

    /// Record an MMP freeze of `pair` until `until_ms` (Unix ms).
    pub fn freeze(&self, pair: &str, until_ms: u64) {
        let mut g = lock(&self.frozen_until);
        let e = g.entry(pair.to_string()).or_insert(0);
        *e = (*e).max(until_ms);
    }

    /// The freeze of `pair` still in force at `now_ms`, if any.
    pub fn frozen_until(&self, pair: &str, now_ms: u64) -> Option<u64> {
        lock(&self.frozen_until)
            .get(pair)
            .copied()
            .filter(|until| *until > now_ms)
    }
}
