//! The Parquet export read back: every level, trade and funding record, exactly.

use std::time::Duration;

use arrow_array::{Array, Float64Array, StringArray, UInt64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::write::to_parquet;
use super::*;
use crate::recording::{Manifest, Recorder, RecorderOptions};
use arrow_array::RecordBatch;
use perpbot_model::Ticks;
use perpbot_model::{MarketSpec, Timestamp};

const T0: Timestamp = Timestamp(1_750_000_000_000_000_000);

fn read(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

#[test]
fn book_levels_and_funding_come_back_exactly() {
    let dir = std::env::temp_dir().join(format!("perpbot-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("rec");
    let spec = MarketSpec::kana_apt_testnet();
    Manifest {
        venue: "kana".into(),
        markets: vec![spec.clone()],
        units: "human".into(),
        source: "test".into(),
    }
    .save(&data)
    .unwrap();
    {
        let mut rec = Recorder::new(&data, "kana", RecorderOptions::default()).unwrap();
        for i in 0..3u64 {
            let t = T0.plus(Duration::from_secs(i));
            let level = |is_ask: bool, ticks: u64| {
                format!(
                    r#"{{"is_ask":{is_ask},"last_updated":{},"market_id":"1338","price":"{}","size":"12.5"}}"#,
                    t.0 / 1_000_000_000,
                    spec.ticks_to_price(Ticks(ticks))
                )
            };
            let frame = format!(
                r#"{{"data":[{},{}],"message":"orderbook"}}"#,
                level(true, 5_510 + i),
                level(false, 5_500 + i)
            );
            rec.record(t, &frame).unwrap();
        }
        rec.record(
            T0.plus(Duration::from_secs(5)),
            r#"{"data":[{"funding_rate":"0.000125","funding_timestamp":0,"last_updated":1750000005,"market_id":"1338","transaction_timestamp":1750000005,"transaction_version":1}],"message":"live_funding_rate"}"#,
        )
        .unwrap();
        rec.record(T0.plus(Duration::from_secs(6)), "{garbage")
            .unwrap();
    }
    let out = dir.join("parquet");
    let stats = to_parquet(&data, &out, None, None).unwrap();
    assert_eq!(stats.frames, 5);
    assert_eq!(stats.decode_errors, 1);
    assert_eq!(
        (stats.book_rows, stats.trade_rows, stats.funding_rows),
        (6, 0, 1)
    );

    let book = read(&out.join("book.parquet"));
    assert_eq!(book.iter().map(RecordBatch::num_rows).sum::<usize>(), 6);
    let b = &book[0];
    let ticks = column::<UInt64Array>(b, "price_ticks");
    let sides = column::<StringArray>(b, "side");
    let lots = column::<UInt64Array>(b, "lots");
    let ts = column::<UInt64Array>(b, "ts_ns");
    assert_eq!((sides.value(0), ticks.value(0)), ("bid", 5_500));
    assert_eq!((sides.value(1), ticks.value(1)), ("ask", 5_510));
    assert_eq!(lots.value(0), 12_500, "12.5 APT in 0.001-APT lots");
    assert_eq!(ts.value(2), T0.plus(Duration::from_secs(1)).0);
    assert_eq!(column::<StringArray>(b, "kind").value(0), "snapshot");
    assert!((column::<Float64Array>(b, "price").value(0) - 5.5).abs() < 1e-12);

    let funding = read(&out.join("funding.parquet"));
    let f = &funding[0];
    assert_eq!(column::<StringArray>(f, "rate").value(0), "0.000125");
    assert_eq!(column::<UInt64Array>(f, "market").value(0), 1338);
    assert!(
        read(&out.join("trades.parquet"))
            .iter()
            .all(|b| b.num_rows() == 0 || b.column(0).is_empty())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
