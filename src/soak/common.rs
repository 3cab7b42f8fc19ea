//! What both soaks (Kana's and Kyan's) use: a tap on the venue's event stream that counts
//! connection changes and keeps what arrives after the engine stopped, the risk limits the
//! sampler checks and the check itself, and a lock that survives a panicked holder.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rust_decimal::Decimal;
use tokio::sync::mpsc;

use crate::model::{ConnectionState, Event, MarketId};
use crate::risk::RiskConfig;

use super::{Breach, RiskSeen};

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

/// One position as the simulator holds it, in the terms the limits use.
pub(super) struct Held {
    /// How the report names it (`market/side`, or the instrument).
    pub(super) key: String,
    pub(super) market: MarketId,
    /// Base coins, unsigned.
    pub(super) size: Decimal,
    /// Quote, unsigned.
    pub(super) notional: Decimal,
    /// Where the venue has a per-position leverage.
    pub(super) leverage: Option<u32>,
}

/// Most breaches a report keeps (the count of breached samples is kept whole).
const MAX_BREACHES_KEPT: usize = 20;

/// One sample of the simulator's view of the bot against the limits: the largest sizes and
/// notionals seen, resting orders (also during the settle), and every limit over.
pub(super) fn check_sample(
    held: &[Held],
    open_orders: usize,
    limits: &Limits,
    at: u64,
    settling: bool,
    seen: &mut RiskSeen,
) {
    seen.samples += 1;
    seen.max_open_orders = seen.max_open_orders.max(open_orders);
    if settling {
        seen.max_open_orders_in_settle = seen.max_open_orders_in_settle.max(open_orders);
    }
    let mut breaches = Vec::new();
    let mut breach = |limit: String, value: String, max: String| {
        breaches.push(Breach {
            at_secs: at,
            limit,
            value,
            max,
        })
    };
    let mut total = Decimal::ZERO;
    for h in held {
        let key = &h.key;
        total += h.notional;
        let max_size = seen.max_size.entry(key.clone()).or_default();
        *max_size = (*max_size).max(h.size);
        let max_notional = seen.max_notional.entry(key.clone()).or_default();
        *max_notional = (*max_notional).max(h.notional);
        if let Some(limit) = limits.size.get(&h.market)
            && h.size > *limit
        {
            breach(
                format!("risk.markets.{}.max_position_size ({key})", h.market),
                h.size.to_string(),
                limit.to_string(),
            );
        }
        if h.notional > limits.notional {
            breach(
                format!("risk.max_position_notional ({key})"),
                h.notional.round_dp(6).to_string(),
                limits.notional.to_string(),
            );
        }
        if let Some(leverage) = h.leverage
            && leverage > limits.leverage
        {
            breach(
                format!("risk.max_leverage ({key})"),
                leverage.to_string(),
                limits.leverage.to_string(),
            );
        }
    }
    seen.max_total_notional = seen.max_total_notional.max(total);
    if total > limits.total {
        breach(
            "risk.max_total_notional".into(),
            total.round_dp(6).to_string(),
            limits.total.to_string(),
        );
    }
    if open_orders > limits.open_orders {
        breach(
            "risk.max_open_orders".into(),
            open_orders.to_string(),
            limits.open_orders.to_string(),
        );
    }
    if !breaches.is_empty() {
        seen.breached_samples += 1;
        let room = MAX_BREACHES_KEPT.saturating_sub(seen.breaches.len());
        seen.breaches.extend(breaches.into_iter().take(room));
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn limits() -> Limits {
        Limits {
            size: BTreeMap::from([(MarketId(1), dec!(2))]),
            notional: dec!(100),
            total: dec!(150),
            leverage: 5,
            open_orders: 4,
        }
    }

    fn held(size: Decimal, notional: Decimal, leverage: Option<u32>) -> Held {
        Held {
            key: "1/long".into(),
            market: MarketId(1),
            size,
            notional,
            leverage,
        }
    }

    #[test]
    fn a_sample_within_the_limits_records_maxima_and_no_breach() {
        let mut seen = RiskSeen::default();
        check_sample(
            &[held(dec!(1), dec!(50), Some(5))],
            4,
            &limits(),
            3,
            true,
            &mut seen,
        );
        assert_eq!((seen.samples, seen.breached_samples), (1, 0));
        assert_eq!(seen.max_size["1/long"], dec!(1));
        assert_eq!(seen.max_total_notional, dec!(50));
        assert_eq!(
            (seen.max_open_orders, seen.max_open_orders_in_settle),
            (4, 4)
        );
    }

    #[test]
    fn every_limit_over_is_named_and_the_kept_breaches_are_capped() {
        let mut seen = RiskSeen::default();
        let over = [
            held(dec!(3), dec!(120), Some(6)),
            held(dec!(1), dec!(40), None),
        ];
        check_sample(&over, 5, &limits(), 7, false, &mut seen);
        let named: Vec<&str> = seen.breaches.iter().map(|b| b.limit.as_str()).collect();
        assert_eq!(
            named,
            [
                "risk.markets.1.max_position_size (1/long)",
                "risk.max_position_notional (1/long)",
                "risk.max_leverage (1/long)",
                "risk.max_total_notional",
                "risk.max_open_orders",
            ]
        );
        assert_eq!(seen.max_open_orders_in_settle, 0, "not settling");
        for _ in 0..10 {
            check_sample(&over, 5, &limits(), 8, false, &mut seen);
        }
        assert_eq!(
            (seen.breached_samples, seen.breaches.len()),
            (11, MAX_BREACHES_KEPT)
        );
    }
}
