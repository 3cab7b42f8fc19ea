//! `perpbot journal show|export`: a journal for people (one line per record) and for tools (one
//! JSON object per line). Reading never changes the file; a torn tail or an unreadable record is
//! reported on the error stream, and the intact records are still printed.

use std::io::{self, Write};

use perpbot_model::{ClientOrderId, OrderRequest};

use super::fold::Fold;
use super::format::{Frame, Scan};
use super::record::{CancelRecord, Entry, OutcomeRecord, Record, RequestRecord};

/// `2025-05-02T09:15:51.123Z` for milliseconds since the Unix epoch (UTC, proleptic Gregorian).
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// An enum's name as stored (`partially_filled`, `post_only`, `maker` …).
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "?".into(),
    }
}

fn venue(id: Option<u128>) -> String {
    id.map_or_else(|| "?".into(), |v| v.to_string())
}

fn place(r: &OrderRequest) -> String {
    let o = &r.order;
    let price = o
        .price
        .map_or_else(|| "market".into(), |p| format!("@{}", p.0));
    format!(
        "{} {} {} {} lots {price} {} x{}",
        r.client_id,
        name(&o.side),
        name(&o.direction),
        o.lots.0,
        name(&o.restriction),
        o.leverage
    )
}

fn cancel(c: &CancelRecord) -> String {
    format!("{} (venue {})", c.client_id, venue(c.venue_id))
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.iter().map(f).collect::<Vec<_>>().join(", ")
    }
}

fn request(r: &RequestRecord) -> String {
    match r {
        RequestRecord::Orders {
            market,
            cancel: c,
            place: p,
        } => format!(
            "market {market}: cancel {}; place {}",
            list(c, cancel),
            list(p, place)
        ),
        RequestRecord::SetTakeProfit {
            market,
            position,
            price,
        } => format!(
            "market {market}: take-profit of the {} position {}",
            name(position),
            price.map_or_else(|| "cleared".into(), |p| format!("at {}", p.0))
        ),
        RequestRecord::SetStopLoss {
            market,
            position,
            price,
        } => format!(
            "market {market}: stop-loss of the {} position {}",
            name(position),
            price.map_or_else(|| "cleared".into(), |p| format!("at {}", p.0))
        ),
        RequestRecord::ClosePosition {
            market,
            position,
            lots,
            leverage,
        } => format!(
            "market {market}: close the {} position ({} lots, x{leverage})",
            name(position),
            lots.0
        ),
    }
}

fn outcome(o: &OutcomeRecord) -> String {
    match o {
        OutcomeRecord::Accepted { placed } => format!(
            "accepted; placed {}",
            list(placed, |p| format!(
                "{} → venue {}",
                p.client_id,
                venue(p.venue_id)
            ))
        ),
        OutcomeRecord::Rejected { reason, kind } => format!("rejected ({kind:?}): {reason}"),
        OutcomeRecord::Partial { placed, rejected } => format!(
            "partial; placed {}; refused {}",
            list(placed, |p| format!(
                "{} → venue {}",
                p.client_id,
                venue(p.venue_id)
            )),
            list(rejected, |r| format!("{} ({})", r.client_id, r.reason))
        ),
        OutcomeRecord::Ambiguous { reason, token } => format!(
            "AMBIGUOUS: {reason}{}",
            token
                .as_ref()
                .map_or_else(String::new, |t| format!(" (resolve by {t})"))
        ),
    }
}

fn ids(ids: &[ClientOrderId]) -> String {
    list(ids, ToString::to_string)
}

/// One human line for a record.
pub fn human_line(entry: &Entry) -> String {
    let body = match &entry.record {
        Record::Session(s) => format!(
            "session: {} — pid {}, perpbot {}, {}, {}",
            s.venue_identity(),
            s.pid,
            s.version,
            if s.carries_over {
                "resumes earlier sessions"
            } else {
                "venue starts afresh"
            },
            if s.signs_before_send {
                "transactions journaled before sending"
            } else {
                "no transaction records"
            }
        ),
        Record::Intent { intent } => {
            let name = intent
                .get("intent")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?")
                .to_string();
            let mut fields = intent.clone();
            if let Some(map) = fields.as_object_mut() {
                map.remove("intent");
            }
            format!("intent {name} {fields}")
        }
        Record::Request { id, request: r } => format!("request r{id} {}", request(r)),
        Record::Signed(s) => format!(
            "signed {}: {} {}",
            s.request
                .map_or_else(|| "outside a request".into(), |r| format!("r{r}")),
            s.token.handle,
            s.token.state
        ),
        Record::Outcome {
            id,
            outcome: o,
            at_start,
        } => format!(
            "outcome r{id}{}: {}",
            if *at_start {
                " (resolved at start-up)"
            } else {
                ""
            },
            outcome(o)
        ),
        Record::Order(o) => format!(
            "order {}: {}, venue {}, filled {}/{}",
            o.request.client_id,
            name(&o.status),
            venue(o.venue_id),
            o.filled.0,
            o.request.order.lots.0
        ),
        Record::Fill(f) => format!(
            "fill {} (venue {}) {} {} lots @{} fee {} {} trade {}",
            f.client_id
                .map_or_else(|| "unknown order".into(), |c| c.to_string()),
            venue(f.venue_id),
            name(&f.side),
            f.lots.0,
            f.price.0,
            f.fee,
            name(&f.liquidity),
            f.trade_id
        ),
        Record::Snapshot(s) => format!(
            "snapshot: live orders {}; open requests {}; positions {}; highest client id c{}",
            list(&s.orders, |o| format!(
                "{} {} venue {}",
                o.request.client_id,
                name(&o.status),
                venue(o.venue_id)
            )),
            list(&s.open_requests, |r| format!("r{}", r.id)),
            list(&s.positions, |p| format!(
                "{} {} {} lots",
                p.market,
                name(&p.side),
                p.lots.0
            )),
            s.max_client_id
        ),
        Record::Shutdown { clean, left_open } => {
            if *clean {
                "shutdown: clean, every order confirmed closed".into()
            } else {
                format!("shutdown: ORDERS LEFT OPEN {}", ids(left_open))
            }
        }
    };
    format!("{} #{} {body}", utc(entry.ts_ms), entry.seq)
}

/// Report a torn tail and unreadable records on `err`.
fn report_damage(scan: &Scan, err: &mut impl Write) -> io::Result<()> {
    for frame in &scan.frames {
        if let Frame::Unreadable(u) = frame {
            writeln!(
                err,
                "unreadable record {} at byte {}: {}",
                u.index, u.offset, u.reason
            )?;
        }
    }
    if let Some(t) = &scan.torn {
        writeln!(err, "torn tail ignored: {t}")?;
    }
    Ok(())
}

/// `journal show`: one line per record, then what a restart would resume.
pub fn write_show(scan: &Scan, out: &mut impl Write, err: &mut impl Write) -> io::Result<()> {
    for frame in &scan.frames {
        match frame {
            Frame::Entry { entry, .. } => writeln!(out, "{}", human_line(entry))?,
            Frame::Unreadable(u) => writeln!(
                out,
                "?? unreadable record {} at byte {}: {}",
                u.index, u.offset, u.reason
            )?,
        }
    }
    let fold = Fold::from_entries(scan.entries());
    let live: Vec<String> = fold
        .orders
        .values()
        .map(|o| {
            format!(
                "{} {} venue {}",
                o.client_id(),
                name(&o.status),
                o.venue_id.map_or_else(|| "?".into(), |v| v.to_string())
            )
        })
        .collect();
    writeln!(
        out,
        "-- a restart would resume: live orders {}; unresolved requests {}; next client id c{}",
        if live.is_empty() {
            "none".into()
        } else {
            live.join(", ")
        },
        if fold.open.is_empty() {
            "none".into()
        } else {
            fold.open
                .keys()
                .map(|k| format!("r{k}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
        fold.max_client_id + 1
    )?;
    report_damage(scan, err)
}

/// `journal export`: one JSON object per record.
pub fn write_export(scan: &Scan, out: &mut impl Write, err: &mut impl Write) -> io::Result<()> {
    for entry in scan.entries() {
        let line = serde_json::to_string(entry).map_err(io::Error::other)?;
        writeln!(out, "{line}")?;
    }
    report_damage(scan, err)
}
