//! The simulator's market data without sockets or a wall clock: its synthetic market stepped in
//! simulated time, and the frames a subscriber of `orderbook`, `recent_trades` and
//! `live_funding_rate` would have received, each with its time. `perpbot sim --record` writes them
//! as a recording, so long recordings can be made here in seconds and with no network.

use std::time::Duration;

use super::driver::step_market;
use super::indexer::{Connection, Subscription};
use super::{SimConfig, build};
use perpbot_model::clock::Clock;
use perpbot_model::{MarketId, Timestamp};

/// Step the market of `config` from `start` for `length` of simulated time and hand every frame
/// of the given markets' public topics to `emit`, in order. The same config (seed) gives the same
/// frames.
pub fn frames(
    config: SimConfig,
    start: Timestamp,
    length: Duration,
    markets: &[MarketId],
    mut emit: impl FnMut(Timestamp, &str),
) -> Result<u64, String> {
    let step = Duration::from_millis(config.synthetic.step_ms.max(1));
    let shared = build(config, Clock::starting_at(start))?;
    let mut core = shared.core();
    let mut conn = Connection::new();
    let mut count = 0u64;
    let subscribe = |conn: &mut Connection, sub: Subscription, core: &super::SimCore| {
        conn.subscribe(&core.exchange, sub, start)
    };
    let mut first = Vec::new();
    for &m in markets {
        first.extend(subscribe(&mut conn, Subscription::Orderbook(m), &core));
        first.extend(subscribe(&mut conn, Subscription::RecentTrades(m), &core));
    }
    first.extend(subscribe(&mut conn, Subscription::Funding, &core));
    for frame in first {
        emit(start, &frame);
        count += 1;
    }
    let end = start.plus(length);
    let mut now = start;
    loop {
        now = now.plus(step);
        if now > end {
            break;
        }
        let updates = step_market(&mut core, now);
        for frame in conn.pushes(&core.exchange, updates, false, now) {
            emit(now, &frame);
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_frames_and_the_market_moves() {
        let run = |seed: u64| {
            let mut config = SimConfig::default();
            config.synthetic.seed = seed;
            let mut out = Vec::new();
            let n = frames(
                config,
                Timestamp::from_secs(1_750_000_000),
                Duration::from_secs(30),
                &[MarketId(1338)],
                |t, f| out.push((t, f.to_string())),
            )
            .unwrap();
            assert_eq!(n as usize, out.len());
            out
        };
        let a = run(1);
        assert_eq!(a, run(1));
        assert_ne!(a, run(2));
        assert!(a.len() > 30, "{} frames", a.len());
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
        assert!(a.iter().any(|(_, f)| f.contains("\"orderbook\"")));
        assert!(a.iter().any(|(_, f)| f.contains("recent_trades")));
        let last = a.last().unwrap().0;
        assert!(last <= Timestamp::from_secs(1_750_000_030));
    }
}
