//! What both soaks (Kana's and Kyan's) use: a tap on the venue's event stream that counts
//! connection changes and keeps what arrives after the engine stopped, the risk limits the
//! sampler checks, and a lock that survives a panicked holder.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::model::{ConnectionState, Event, MarketId};
use crate::risk::RiskConfig;

/// Lock a mutex; a poisoned one (a panicked holder) is taken as it is: the soak reports, it
/// does not trade.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The tap on the venue stream
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
pub(super) struct Tap {
    pub(super) events: u64,
    pub(super) reconnects: u64,
    pub(super) resyncs: u64,
    pub(super) disconnects: u64,
    pub(super) ended: bool,
    /// Events that arrived after the engine stopped reading (bounded).
    pub(super) leftovers: Vec<Event>,
}

/// Most events kept after the engine stopped.
const MAX_LEFTOVERS: usize = 100_000;

/// Forward `events` to a new channel, counting connection changes; once the receiving end is
/// gone, keep what still arrives for the final state.
pub(super) fn tap(
    mut events: mpsc::Receiver<Event>,
) -> (
    mpsc::Receiver<Event>,
    Arc<Mutex<Tap>>,
    tokio::task::JoinHandle<()>,
) {
    // One slot: at most one event can be lost between the engine's last read and its exit.
    let (tx, rx) = mpsc::channel(1);
    let seen = Arc::new(Mutex::new(Tap::default()));
    let shared = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        let mut engine_open = true;
        while let Some(event) = events.recv().await {
            {
                let mut t = lock(&shared);
                t.events += 1;
                if let Event::Connection(c) = &event {
                    match c.state {
                        ConnectionState::Reconnecting => t.reconnects += 1,
                        ConnectionState::Resynced => t.resyncs += 1,
                        ConnectionState::Disconnected => t.disconnects += 1,
                        ConnectionState::Connected => {}
                    }
                }
            }
            let left = if engine_open {
                match tx.send(event).await {
                    Ok(()) => None,
                    Err(mpsc::error::SendError(event)) => {
                        engine_open = false;
                        Some(event)
                    }
                }
            } else {
                Some(event)
            };
            if let Some(event) = left {
                let mut t = lock(&shared);
                if t.leftovers.len() < MAX_LEFTOVERS {
                    t.leftovers.push(event);
                }
            }
        }
        lock(&shared).ended = true;
    });
    (rx, seen, task)
}

/// The limits the sampler checks, resolved per market.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub(super) size: BTreeMap<MarketId, Decimal>,
    pub(super) notional: Decimal,
    pub(super) total: Decimal,
    pub(super) leverage: u32,
    pub(super) open_orders: usize,
}

impl Limits {
    pub(super) fn of(risk: &RiskConfig) -> Limits {
        let size = risk
            .markets
            .iter()
            .filter_map(|(k, l)| Some((MarketId(k.parse().ok()?), l.max_position_size?)))
            .collect();
        Limits {
            size,
            notional: risk.max_position_notional,
            total: risk.max_total_notional,
            leverage: risk.max_leverage,
            open_orders: risk.max_open_orders,
        }
    }
}
