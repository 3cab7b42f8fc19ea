//! The Kana venue's collateral as [`Event::Balance`]: the WebSocket indexer streams no balance,
//! so the documented balance endpoints are read — when the session starts, on a timer, and
//! shortly after the stream shows a fill or a deposit or withdrawal (anything that moves
//! collateral). Risk checks each opening order's margin against the figure; a strategy reads it
//! from its `Context`.
//!
//! `available` is `GET /getProfileBalanceSnapshot` (§4.1.3: the trading profile's available
//! balance; \[INF\] net of the margin of positions and resting orders, as the simulator's is).
//! `total` is `GET /getNetProfileBalance` (§4.1.4: available plus closed positions' unsettled
//! balances) \[INF\]: Kana documents no figure that adds the margin in use, so `total` is the
//! nearest one it gives, and nothing in the bot decides on it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::rest::KanaRest;
use perpbot_aptos::AccountAddress;
use perpbot_model::clock::Clock;
use perpbot_model::{Balance, Event};

/// When the balance is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalancePolling {
    /// Between reads when nothing happens.
    pub interval: Duration,
    /// From a fill or a transfer on the stream to the read (several close together make one
    /// read; the indexer needs a moment to count them \[INF\]).
    pub after_activity: Duration,
}

impl Default for BalancePolling {
    fn default() -> BalancePolling {
        BalancePolling {
            interval: Duration::from_secs(10),
            after_activity: Duration::from_millis(500),
        }
    }
}

/// Whether a live frame moves collateral: a fill or a deposit/withdrawal record. A substring
/// test on the raw text, so it costs next to nothing on the book pushes it is also handed.
pub fn moves_collateral(frame: &str) -> bool {
    frame.contains("trade_history\"") || frame.contains("\"deposit_withdraw_history\"")
}

/// Read the balance of `wallet`'s profile now, then every `polling.interval`, and
/// `polling.after_activity` after each `wake`; send each reading on `events`. Stops when the
/// receiver is gone. A failed read is logged and retried at the next turn: the last figure stands
/// meanwhile.
pub fn spawn(
    rest: Arc<KanaRest>,
    wallet: AccountAddress,
    clock: Clock,
    polling: BalancePolling,
    wake: Arc<Notify>,
    events: mpsc::Sender<Event>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures: u64 = 0;
        loop {
            // Dated when the read starts: an order placed while it is in flight counts as not
            // yet in the figure (risk then reserves its margin once more, the safe way).
            let ts = clock.now();
            match read(&rest, wallet).await {
                Ok((available, total)) => {
                    failures = 0;
                    debug!(%available, %total, "Kana balance read");
                    let event = Event::Balance(Balance {
                        available,
                        total,
                        ts,
                    });
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    failures += 1;
                    warn!(error = %e, failures, "Kana balance not read; the last figure stands");
                }
            }
            tokio::select! {
                () = events.closed() => return,
                () = tokio::time::sleep(polling.interval) => {}
                () = wake.notified() => {
                    tokio::select! {
                        () = events.closed() => return,
                        () = tokio::time::sleep(polling.after_activity) => {}
                    }
                }
            }
        }
    })
}

async fn read(
    rest: &KanaRest,
    wallet: AccountAddress,
) -> Result<(rust_decimal::Decimal, rust_decimal::Decimal), crate::rest::KanaRestError> {
    let available = rest.profile_balance_snapshot(wallet).await?;
    let total = rest.net_profile_balance(wallet).await?;
    Ok((available, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_transfers_wake_the_reader_and_books_do_not() {
        assert!(moves_collateral(
            r#"{"data":[{"fee":"0"}],"message":"trade_history"}"#
        ));
        assert!(moves_collateral(
            r#"{"data":{"fee":"0"},"message":"live_trade_history"}"#
        ));
        assert!(moves_collateral(
            r#"{"data":[],"message":"deposit_withdraw_history"}"#
        ));
        assert!(!moves_collateral(
            r#"{"data":[{"is_ask":true}],"message":"orderbook"}"#
        ));
        assert!(!moves_collateral(
            r#"{"data":[],"message":"recent_trades"}"#
        ));
    }
}
