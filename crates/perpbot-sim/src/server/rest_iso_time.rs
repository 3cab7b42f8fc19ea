//! ISO-8601 times as the G2 `GET /getFills` takes them (`from`, `to`; reference §4.4, the
//! Python REST page's example `2024-11-21T00:00:00Z`), read into Unix seconds without a date
//! library.
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS`, optionally with a fraction (`.123`, dropped: records carry
//! whole seconds) and a zone (`Z` or `±HH:MM` / `±HHMM`; none means UTC, \[INF\]: the docs'
//! examples all carry `Z`), and a bare date `YYYY-MM-DD` (midnight UTC, \[INF\]). `T` may also
//! be a space or lower case. Anything else, and times before 1970, are refused with the reason.

/// Unix seconds of an ISO-8601 time; the reason when it is not one.
pub(super) fn unix_seconds(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let date = t.get(..10).ok_or("too short for YYYY-MM-DD")?;
    let rest = t.get(10..).unwrap_or("");
    let days = days_since_epoch(date)?;
    let (clock, zone) = if rest.is_empty() {
        (0, 0)
    } else {
        let sep = rest.get(..1).unwrap_or("");
        if !matches!(sep, "T" | "t" | " ") {
            return Err(format!("expected T after the date, got {sep:?}"));
        }
        time_of_day(rest.get(1..).unwrap_or(""))?
    };
    let secs = days
        .checked_mul(86_400)
        .and_then(|d| d.checked_add(clock))
        .and_then(|s| s.checked_sub(zone))
        .ok_or("out of range")?;
    u64::try_from(secs).map_err(|_| "before 1970".to_owned())
}

fn digits(text: &str, what: &str) -> Result<i64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what}: expected digits, got {text:?}"));
    }
    text.parse().map_err(|_| format!("{what}: out of range"))
}

fn field<'a>(text: &'a str, from: usize, to: usize, what: &str) -> Result<&'a str, String> {
    text.get(from..to).ok_or_else(|| format!("{what}: missing"))
}

/// Days from 1970-01-01 to a `YYYY-MM-DD` date (proleptic Gregorian; Howard Hinnant's
/// `days_from_civil`).
fn days_since_epoch(date: &str) -> Result<i64, String> {
    let b = date.as_bytes();
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(format!("expected YYYY-MM-DD, got {date:?}"));
    }
    let y = digits(field(date, 0, 4, "year")?, "year")?;
    let m = digits(field(date, 5, 7, "month")?, "month")?;
    let d = digits(field(date, 8, 10, "day")?, "day")?;
    if !(1..=12).contains(&m) {
        return Err(format!("month {m} is not 1..=12"));
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=month_days).contains(&d) {
        return Err(format!("day {d} is not in month {m} of {y}"));
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok(era * 146_097 + doe - 719_468)
}

/// Seconds into the day and the zone's offset east of UTC, of `HH:MM:SS[.frac][zone]`.
fn time_of_day(text: &str) -> Result<(i64, i64), String> {
    let b = text.as_bytes();
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') {
        return Err(format!("expected HH:MM:SS, got {text:?}"));
    }
    let h = digits(field(text, 0, 2, "hour")?, "hour")?;
    let m = digits(field(text, 3, 5, "minute")?, "minute")?;
    let s = digits(field(text, 6, 8, "second")?, "second")?;
    if h > 23 || m > 59 || s > 60 {
        return Err(format!("{h:02}:{m:02}:{s:02} is not a time of day"));
    }
    let mut rest = text.get(8..).unwrap_or("");
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return Err("a fraction needs digits after '.'".into());
        }
        rest = frac.get(end..).unwrap_or("");
    }
    let zone = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1) {
                Some("+") => 1,
                Some("-") => -1,
                _ => return Err(format!("expected Z or ±HH:MM, got {rest:?}")),
            };
            let z = rest.get(1..).unwrap_or("").replace(':', "");
            if z.len() != 4 {
                return Err(format!("expected ±HH:MM, got {rest:?}"));
            }
            let zh = digits(field(&z, 0, 2, "zone hour")?, "zone hour")?;
            let zm = digits(field(&z, 2, 4, "zone minute")?, "zone minute")?;
            if zh > 23 || zm > 59 {
                return Err(format!("zone {rest:?} is out of range"));
            }
            sign * (zh * 3600 + zm * 60)
        }
    };
    Ok((h * 3600 + m * 60 + s, zone))
}

#[cfg(test)]
mod tests {
    use super::unix_seconds;

    #[test]
    fn the_docs_examples_and_their_variants_read_as_unix_seconds() {
        // The Python REST page's examples (G2 `getFills`).
        assert_eq!(unix_seconds("2024-11-21T00:00:00Z"), Ok(1_732_147_200));
        assert_eq!(unix_seconds("2024-11-21T23:59:59Z"), Ok(1_732_233_599));
        assert_eq!(unix_seconds("2024-11-21T23:59:59.999Z"), Ok(1_732_233_599));
        assert_eq!(unix_seconds("2024-11-21T01:00:00+01:00"), Ok(1_732_147_200));
        assert_eq!(unix_seconds("2024-11-20T19:00:00-0500"), Ok(1_732_147_200));
        assert_eq!(unix_seconds("2024-11-21"), Ok(1_732_147_200));
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(unix_seconds("2024-02-29T00:00:00Z"), Ok(1_709_164_800));
    }

    #[test]
    fn malformed_times_are_refused_with_the_reason() {
        for bad in [
            "",
            "yesterday",
            "1732147200",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-11-21T24:00:00Z",
            "2024-11-21T00:00Z",
            "2024-11-21X00:00:00Z",
            "2024-11-21T00:00:00+5",
            "1969-12-31T23:59:59Z",
            "2024-11-21T00:00:00.Z",
        ] {
            assert!(unix_seconds(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
