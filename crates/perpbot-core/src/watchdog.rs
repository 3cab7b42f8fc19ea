//! The dead-man's switch for a stalled engine: if the engine task stops making progress (a
//! strategy callback that never returns, a blocking call, a livelock), a separate task cancels
//! the orders the engine last knew to be live, straight through the venue writer, within a
//! bounded time.
//!
//! The engine beats the heart from a periodic tick of its own loop, so an idle engine is not a
//! stalled one, and refreshes the list of live orders on the same tick: an order placed in the
//! last tick before a stall may be missing from the list (at most one tick's worth, 250 ms).
//! The watchdog fires once per stall and re-arms when the engine beats again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::venue::{CancelOrder, RequestOutcome, VenueRequest, VenueWriter};
use perpbot_model::MarketId;

/// How often the engine beats and the watchdog looks.
pub const TICK: Duration = Duration::from_millis(250);

/// What the engine shares with its watchdog.
#[derive(Debug)]
pub struct Heartbeat {
    origin: Instant,
    last_beat_ms: AtomicU64,
    live: Mutex<Vec<CancelOrder>>,
}

impl Heartbeat {
    /// A heart that has just beaten.
    pub fn new() -> Arc<Heartbeat> {
        Arc::new(Heartbeat {
            origin: Instant::now(),
            last_beat_ms: AtomicU64::new(0),
            live: Mutex::new(Vec::new()),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The engine is alive; these are the orders that would need cancelling if it stopped.
    pub fn beat(&self, live: Vec<CancelOrder>) {
        self.last_beat_ms.store(self.now_ms(), Ordering::Release);
        if let Ok(mut guard) = self.live.lock() {
            *guard = live;
        }
    }

    /// Time since the last beat.
    pub fn silence(&self) -> Duration {
        let last = self.last_beat_ms.load(Ordering::Acquire);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }

    fn live_orders(&self) -> Vec<CancelOrder> {
        self.live.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

/// Start the watchdog: after `stall` without a beat, cancel every order last reported live.
/// The task runs until the handle is aborted (the engine does so when it stops).
/// Its transactions go to `on_sent` (the journal's hook) outside any request.
pub fn spawn(
    heart: Arc<Heartbeat>,
    writer: Arc<dyn VenueWriter>,
    on_sent: Option<crate::venue::SentHook>,
    stall: Duration,
) -> JoinHandle<()> {
    let ctx = crate::venue::RequestContext {
        scope: None,
        on_sent,
    };
    tokio::spawn(async move {
        let mut fired = false;
        let mut tick = tokio::time::interval(TICK);
        loop {
            tick.tick().await;
            let silence = heart.silence();
            if silence < stall {
                if fired {
                    info!("engine beating again after a stall; the watchdog is re-armed");
                }
                fired = false;
                continue;
            }
            if fired {
                continue;
            }
            fired = true;
            let live = heart.live_orders();
            error!(
                silent_ms = silence.as_millis() as u64,
                orders = live.len(),
                "engine stalled: the watchdog cancels every live order directly"
            );
            for request in cancel_requests(live) {
                let market = request.market();
                match writer.execute(request, &ctx).await {
                    RequestOutcome::Accepted { .. } => {
                        info!(%market, "watchdog cancel accepted")
                    }
                    other => warn!(%market, outcome = ?other, "watchdog cancel not confirmed"),
                }
            }
        }
    })
}

/// One cancel request per market.
fn cancel_requests(live: Vec<CancelOrder>) -> Vec<VenueRequest> {
    let mut by_market: std::collections::BTreeMap<MarketId, Vec<CancelOrder>> =
        std::collections::BTreeMap::new();
    for order in live {
        by_market.entry(order.market).or_default().push(order);
    }
    by_market
        .into_iter()
        .map(|(market, cancel)| VenueRequest::Orders {
            market,
            cancel,
            place: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use perpbot_model::{ClientOrderId, Direction, Side, VenueOrderId};

    fn order(id: u64, market: u64) -> CancelOrder {
        CancelOrder {
            client_id: ClientOrderId(id),
            venue_id: Some(VenueOrderId(u128::from(id))),
            market: MarketId(market),
            side: Side::Buy,
            direction: Direction::Open,
        }
    }

    #[test]
    fn one_cancel_request_per_market() {
        let reqs = cancel_requests(vec![order(1, 1338), order(2, 1339), order(3, 1338)]);
        assert_eq!(reqs.len(), 2);
        let VenueRequest::Orders {
            market,
            cancel,
            place,
        } = &reqs[0]
        else {
            panic!("{reqs:?}")
        };
        assert_eq!(*market, MarketId(1338));
        assert_eq!(cancel.len(), 2);
        assert!(place.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn silence_grows_until_the_next_beat() {
        let heart = Heartbeat::new();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(heart.silence(), Duration::from_secs(3));
        heart.beat(vec![order(1, 1338)]);
        assert_eq!(heart.silence(), Duration::ZERO);
        assert_eq!(heart.live_orders().len(), 1);
    }
}
