//! The stream helper behind `perpbot decode --venue kana` (one frame per line in, events and
//! reasons out) and the market specs it decodes with.

use std::io::{self, BufRead, Write};

use super::KanaDecoder;
use crate::wire::{MarketInfo, RestEnvelope, WireError};
use perpbot_model::{MarketId, MarketSpec, Timestamp};

/// What [`decode_lines`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeSummary {
    /// Non-blank input lines (frames).
    pub frames: u64,
    /// Events written.
    pub events: u64,
    /// Frames that could not be decoded.
    pub errors: u64,
    /// Records (or frames of topics without events) skipped, each with a reason on `err`.
    pub skipped: u64,
}

/// Decode one frame per input line: each event as one JSON line on `out`; on `err`, each
/// undecodable frame, refused record and skip as `line N: <reason>`; blank lines are ignored.
/// Nothing else is printed. Frames are
/// decoded with receive time `Timestamp(0)` (a file carries none), so events whose records have
/// no venue time get `ts` 0 and the output is reproducible.
pub fn decode_lines(
    mut input: impl BufRead,
    mut out: impl Write,
    mut err: impl Write,
    decoder: &mut KanaDecoder,
) -> io::Result<DecodeSummary> {
    let mut summary = DecodeSummary::default();
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let Ok(line) = std::str::from_utf8(&buf) else {
            summary.frames += 1;
            summary.errors += 1;
            writeln!(err, "line {line_no}: frame is not valid UTF-8")?;
            continue;
        };
        let frame = line.trim();
        if frame.is_empty() {
            continue;
        }
        summary.frames += 1;
        events.clear();
        match decoder.decode(frame, Timestamp(0), &mut events) {
            Ok(n) => {
                for event in &events {
                    serde_json::to_writer(&mut out, event)?;
                    out.write_all(b"\n")?;
                }
                for issue in decoder.last_record_issues() {
                    writeln!(err, "line {line_no}: {issue}")?;
                }
                for (reason, count) in decoder.last_skips().reasons() {
                    writeln!(err, "line {line_no}: skipped {count} record(s): {reason}")?;
                }
                summary.events += n as u64;
                summary.skipped += decoder.last_skips().total();
            }
            Err(e) => {
                summary.errors += 1;
                writeln!(err, "line {line_no}: {e}")?;
            }
        }
    }
    out.flush()?;
    err.flush()?;
    Ok(summary)
}

/// Market specs from `getMarketInfo` / `getPerpetualAssetsInfo/allMarkets` output: the REST
/// envelope `{success|status, message, data}` (with `data` a list or one object), a bare list, or
/// a single market object. An envelope whose flag is `false` is an error carrying its message;
/// an empty list gives an empty vector.
pub fn specs_from_market_info_json(text: &str) -> Result<Vec<MarketSpec>, WireError> {
    fn from_records(text: &str) -> Result<Vec<MarketSpec>, WireError> {
        match text.trim_start().as_bytes().first() {
            Some(b'[') => serde_json::from_str::<Vec<MarketInfo>>(text)?
                .iter()
                .map(MarketInfo::to_spec)
                .collect(),
            Some(b'{') => Ok(vec![serde_json::from_str::<MarketInfo>(text)?.to_spec()?]),
            _ => Err(WireError::Json(
                "expected a list or an object of market records".into(),
            )),
        }
    }
    if text.trim_start().starts_with('{') {
        let env: RestEnvelope = serde_json::from_str(text)?;
        if !env.succeeded() {
            let msg = env.message.as_ref().map_or("(no message)", |m| m.as_str());
            return Err(WireError::Rest(msg.to_owned()));
        }
        if let Some(data) = env.data {
            return from_records(data.get());
        }
    }
    from_records(text)
}

/// Built-in market specs: the one grid the reference documents exactly (testnet APT, market
/// 1338, §3.3) and — \[INF\] — the same grid under the dead G2 id 396, so that the reference's
/// raw-unit samples decode (their values fit it: 1000 lots × 6050 ticks = 6.05 USDT, §3.3).
pub fn builtin_specs() -> Vec<MarketSpec> {
    let apt = MarketSpec::kana_apt_testnet();
    let g2 = MarketSpec {
        id: MarketId(396),
        name: "APT/USDC (G2)".to_owned(),
        ..apt.clone()
    };
    vec![apt, g2]
}
