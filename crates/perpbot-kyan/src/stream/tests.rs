//! The public stream against a mock Centrifugo server on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use perpbot_model::clock::Clock;
use perpbot_model::{ConnectionState, Event, Level, MarketId};

use super::*;
use crate::config::FeeFields;
use crate::decode::MarketEntry;
use crate::state::SharedState;

#[tokio::test]
async fn subscribes_with_recover_answers_pings_decodes_and_resubscribes_after_a_drop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/stream/websocket", listener.local_addr().unwrap());
    let btc = MarketEntry::new(
        MarketId(1),
        "BTC_USDC-PERPETUAL",
        rust_decimal::Decimal::ONE,
        rust_decimal::Decimal::new(1, 4),
    )
    .unwrap();
    let decoder = KyanDecoder::new(
        vec![btc],
        FeeFields::Amount,
        Arc::new(SharedState::default()),
    );
    let chans = all_channels(
        &["BTC_USDC-PERPETUAL".to_string()],
        &["BTC_USDC".to_string()],
    );
    let (tx, mut rx) = mpsc::channel(64);
    let mut config = StreamConfig::new(&url);
    config.backoff_initial = Duration::from_millis(10);
    let (_task, stats) = spawn(config, chans, decoder, tx, Clock::system());

    for round in 0..2 {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let mut subs = Vec::new();
        while subs.len() < 5 {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                panic!("closed")
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v.get("connect").is_some() {
                ws.send(Message::text(json!({"id":v["id"],"connect":{"client":"c","version":"sim","ping":25,"pong":true}}).to_string())).await.unwrap();
            } else {
                assert_eq!(v["subscribe"]["recover"], true);
                subs.push(v);
            }
        }
        let names: Vec<&str> = subs
            .iter()
            .map(|s| s["subscribe"]["channel"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"l2:perps:BTC_USDC-PERPETUAL")
                && names.contains(&"market:index_price:BTC_USDC"),
            "{names:?}"
        );
        let l2 = subs
            .iter()
            .find(|s| s["subscribe"]["channel"] == "l2:perps:BTC_USDC-PERPETUAL")
            .unwrap();
        if round == 1 {
            // After the drop, the subscription asks to recover from where it was.
            assert_eq!(l2["subscribe"]["epoch"], "e1");
        }
        // The reply carries the cached snapshot; then a ping and a push in one frame.
        let book =
            json!({"timestamp":1,"bids":[["65000","650","1"]],"asks":[["65001","6500.1","2"]]});
        ws.send(Message::text(json!({"id":l2["id"],"subscribe":{"recoverable":true,"epoch":"e1","offset":7,"publications":[{"data":book,"offset":7}]}}).to_string())).await.unwrap();
        let push = json!({"push":{"channel":"trades_perp:BTC_USDC-PERPETUAL","pub":{"data":["65000","0.001",1],"offset":8}}});
        ws.send(Message::text(format!("{{}}\n{push}")))
            .await
            .unwrap();
        let pong = loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => break t.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(pong, "{}");
        let mut got_book = false;
        let mut got_trade = false;
        while !(got_book && got_trade) {
            match tokio::time::timeout(Duration::from_secs(3), rx.recv())
                .await
                .unwrap()
                .unwrap()
            {
                Event::Book(b) => {
                    assert_eq!(b.bids, vec![Level::new(65_000, 100)]);
                    got_book = true;
                }
                Event::Trade(t) => {
                    assert_eq!(t.lots.0, 10);
                    got_trade = true;
                }
                Event::Connection(c) => {
                    let expected: &[ConnectionState] = if round == 0 {
                        &[ConnectionState::Connected]
                    } else {
                        &[ConnectionState::Reconnecting, ConnectionState::Resynced]
                    };
                    assert!(expected.contains(&c.state), "{c:?}");
                }
                _ => {}
            }
        }
        // Drop the connection: the client comes back and subscribes again.
        ws.close(None).await.unwrap();
    }
    assert_eq!(
        stats.reconnects.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(stats.pings.load(std::sync::atomic::Ordering::Relaxed) >= 2);
}
