//! The Parquet writer: a table per kind of row, flushed in batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, StringBuilder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use rust_decimal::prelude::ToPrimitive;

use super::{ExportError, ExportStats};
use crate::recording::{Manifest, RecordingReader};
use perpbot_model::{BookUpdateKind, Event, MarketSpec, Side, Timestamp};

/// Rows per record batch written.
const BATCH: usize = 64 * 1024;

fn schema(fields: &[(&str, DataType, bool)]) -> Arc<Schema> {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
            .collect::<Vec<_>>(),
    ))
}

/// One table being written: its builders flushed every [`BATCH`] rows.
struct Table {
    path: PathBuf,
    writer: ArrowWriter<std::fs::File>,
    schema: Arc<Schema>,
    rows: usize,
    u64s: Vec<UInt64Builder>,
    strings: Vec<StringBuilder>,
    floats: Vec<Float64Builder>,
    /// Column order: (kind, index into its builder list).
    order: Vec<(char, usize)>,
    total: u64,
}

impl Table {
    fn create(path: PathBuf, fields: &[(&str, DataType, bool)]) -> Result<Table, ExportError> {
        let schema = schema(fields);
        let write_err = |e: &dyn std::fmt::Display| ExportError::Write {
            path: path.clone(),
            detail: e.to_string(),
        };
        let file = std::fs::File::create(&path).map_err(|e| write_err(&e))?;
        let writer =
            ArrowWriter::try_new(file, Arc::clone(&schema), None).map_err(|e| write_err(&e))?;
        let mut order = Vec::new();
        let (mut nu, mut ns, mut nf) = (0, 0, 0);
        for (_, t, _) in fields {
            match t {
                DataType::UInt64 => {
                    order.push(('u', nu));
                    nu += 1;
                }
                DataType::Utf8 => {
                    order.push(('s', ns));
                    ns += 1;
                }
                _ => {
                    order.push(('f', nf));
                    nf += 1;
                }
            }
        }
        Ok(Table {
            path,
            writer,
            schema,
            rows: 0,
            u64s: (0..nu).map(|_| UInt64Builder::new()).collect(),
            strings: (0..ns).map(|_| StringBuilder::new()).collect(),
            floats: (0..nf).map(|_| Float64Builder::new()).collect(),
            order,
            total: 0,
        })
    }

    fn row_done(&mut self) -> Result<(), ExportError> {
        self.rows += 1;
        self.total += 1;
        if self.rows >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = self
            .order
            .iter()
            .map(|&(kind, i)| -> ArrayRef {
                match kind {
                    'u' => Arc::new(self.u64s[i].finish()),
                    's' => Arc::new(self.strings[i].finish()),
                    _ => Arc::new(self.floats[i].finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| {
            ExportError::Write {
                path: self.path.clone(),
                detail: e.to_string(),
            }
        })?;
        self.writer.write(&batch).map_err(|e| ExportError::Write {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        self.rows = 0;
        Ok(())
    }

    fn close(mut self) -> Result<u64, ExportError> {
        self.flush()?;
        let path = self.path.clone();
        self.writer.close().map_err(|e| ExportError::Write {
            path,
            detail: e.to_string(),
        })?;
        Ok(self.total)
    }
}

fn f(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// The export (see [`super::to_parquet`]).
pub(super) fn to_parquet(
    data: &Path,
    out: &Path,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<ExportStats, ExportError> {
    let manifest = Manifest::load(data)?;
    let mut decoder = manifest.decoder().map_err(ExportError::Manifest)?;
    let specs: Vec<MarketSpec> = manifest.markets.clone();
    std::fs::create_dir_all(out).map_err(|e| ExportError::Write {
        path: out.to_path_buf(),
        detail: e.to_string(),
    })?;
    use DataType::{Float64, UInt64, Utf8};
    let mut book = Table::create(
        out.join("book.parquet"),
        &[
            ("ts_ns", UInt64, false),
            ("market", UInt64, false),
            ("kind", Utf8, false),
            ("side", Utf8, false),
            ("price_ticks", UInt64, false),
            ("lots", UInt64, false),
            ("price", Float64, false),
            ("size", Float64, false),
        ],
    )?;
    let mut trades = Table::create(
        out.join("trades.parquet"),
        &[
            ("ts_ns", UInt64, false),
            ("market", UInt64, false),
            ("price_ticks", UInt64, false),
            ("lots", UInt64, false),
            ("price", Float64, false),
            ("size", Float64, false),
            ("aggressor", Utf8, true),
        ],
    )?;
    let mut funding = Table::create(
        out.join("funding.parquet"),
        &[
            ("ts_ns", UInt64, false),
            ("market", UInt64, false),
            ("rate", Utf8, false),
            ("rate_f64", Float64, false),
        ],
    )?;
    let mut stats = ExportStats::default();
    let mut events = Vec::new();
    for frame in RecordingReader::open(data, from, to)? {
        stats.frames += 1;
        events.clear();
        if decoder
            .decode(&frame.text, frame.received, &mut events)
            .is_err()
        {
            stats.decode_errors += 1;
            continue;
        }
        let ts = frame.received.0;
        for event in &events {
            match event {
                Event::Book(b) => {
                    let Some(spec) = specs.iter().find(|s| s.id == b.market) else {
                        continue;
                    };
                    let kind = match b.kind {
                        BookUpdateKind::Snapshot => "snapshot",
                        BookUpdateKind::Delta => "delta",
                    };
                    for (side, levels) in [("bid", &b.bids), ("ask", &b.asks)] {
                        for l in levels {
                            book.u64s[0].append_value(ts);
                            book.u64s[1].append_value(b.market.0);
                            book.strings[0].append_value(kind);
                            book.strings[1].append_value(side);
                            book.u64s[2].append_value(l.price.0);
                            book.u64s[3].append_value(l.lots.0);
                            book.floats[0].append_value(f(spec.ticks_to_price(l.price)));
                            book.floats[1].append_value(f(spec.lots_to_size(l.lots)));
                            book.row_done()?;
                        }
                    }
                }
                Event::Trade(t) => {
                    let Some(spec) = specs.iter().find(|s| s.id == t.market) else {
                        continue;
                    };
                    trades.u64s[0].append_value(ts);
                    trades.u64s[1].append_value(t.market.0);
                    trades.u64s[2].append_value(t.price.0);
                    trades.u64s[3].append_value(t.lots.0);
                    trades.floats[0].append_value(f(spec.ticks_to_price(t.price)));
                    trades.floats[1].append_value(f(spec.lots_to_size(t.lots)));
                    trades.strings[0].append_option(t.aggressor.map(|s| match s {
                        Side::Buy => "buy",
                        Side::Sell => "sell",
                    }));
                    trades.row_done()?;
                }
                Event::Funding(r) => {
                    funding.u64s[0].append_value(ts);
                    funding.u64s[1].append_value(r.market.0);
                    funding.strings[0].append_value(r.rate.to_string());
                    funding.floats[0].append_value(f(r.rate));
                    funding.row_done()?;
                }
                _ => {}
            }
        }
    }
    stats.book_rows = book.close()?;
    stats.trade_rows = trades.close()?;
    stats.funding_rows = funding.close()?;
    Ok(stats)
}
