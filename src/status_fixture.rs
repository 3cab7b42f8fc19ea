//! A running bot's status as the tests of its readers (dashboard, alerts) start from: one market
//! with a book, an own quote, a fill, PnL parts, limits and latency.

use rust_decimal::Decimal;

use crate::engine::Status;
use crate::engine::status::{
    Counts, FillLine, Latency, LevelLine, LimitsStatus, MarketStatus, OrderStatusLine, PnlStatus,
};
use crate::model::{ClientOrderId, Liquidity, OrderStatus, Side, Timestamp, TradingState};

/// A decimal from text.
pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The sample status (Active, position −1.5 APT, a bid of 1 at 5.498).
pub fn status() -> Status {
    let level = |p: &str, s: &str| LevelLine {
        price: dec(p),
        size: dec(s),
    };
    Status {
        strategy: "market_maker".into(),
        trading_state: TradingState::Active,
        trading_reason: None,
        disconnected_since: None,
        last_reconnect: None,
        recent_fills: vec![FillLine {
            ts: Timestamp::from_secs(1_750_000_000),
            market: "APT-USD".into(),
            side: Side::Buy,
            price: dec("5.498"),
            size: dec("1"),
            liquidity: Liquidity::Maker,
        }],
        unexplained_mismatches: 0,
        ts: Timestamp::from_secs(1_750_000_010),
        markets: vec![MarketStatus {
            market: 1338,
            name: "APT-USD".into(),
            mid: Some(dec("5.5")),
            position: dec("-1.5"),
            notional: dec("8.25"),
            volume: dec("3"),
            orders: vec![OrderStatusLine {
                client_id: ClientOrderId(7),
                side: Side::Buy,
                price: Some(dec("5.498")),
                remaining: dec("1"),
                status: OrderStatus::Open,
            }],
            bids: vec![level("5.499", "20"), level("5.498", "31")],
            asks: vec![level("5.501", "12"), level("5.502", "40")],
        }],
        pnl: PnlStatus {
            net: dec("-0.0421"),
            before_gas: dec("0.0150"),
            spread_capture: dec("0.0210"),
            inventory: dec("-0.0060"),
            fees: Decimal::ZERO,
            gas: dec("0.0571"),
            funding: Decimal::ZERO,
        },
        limits: LimitsStatus {
            window_pnl: dec("-0.0421"),
            drawdown: dec("0.05"),
            max_loss: Some(dec("100")),
            loss_headroom: Some(dec("99.9579")),
            max_drawdown: None,
            drawdown_headroom: None,
        },
        counts: Counts {
            fills: 1,
            maker_fills: 1,
            requests_sent: 12,
            orders_sent: 20,
            venue_rejections: 2,
            risk_rejections: 0,
            strategy_errors: 0,
            attributed_fills: 4,
            unattributed_fills: 1,
        },
        latency: Some(Latency {
            samples: 12,
            p50_ms: 310.0,
            p99_ms: 780.0,
        }),
        venue_rejections_by_kind: Default::default(),
        risk_rejections_by_check: Default::default(),
        stream: None,
        journal: None,
    }
}
