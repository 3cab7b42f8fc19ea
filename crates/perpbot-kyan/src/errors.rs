//! Kyan's error answers: `{"error": "<CODE>", "message": "…"}` with HTTP 4xx (reference §6.1
//! \[D\]), the codes \[S\] lists, their venue-neutral [`RefusalKind`], and what a
//! `SIGNATURE_DEADLINE_INVALID` tells about the server's clock (`serverTime` \[S\]).
//!
//! Tolerant by design: an unknown code is kept as text and refused as `Other`; a body that is not
//! JSON, or names no code, is still an error with the HTTP status and the text.

use perpbot_core::venue::RefusalKind;
use serde_json::Value;

/// One error answer of Kyan's REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KyanError {
    /// HTTP status.
    pub status: u16,
    /// The `error` code (`INSUFFICIENT_MARGIN`, …); empty when the body names none.
    pub code: String,
    /// The human message (or the raw body, clipped, when it is not JSON).
    pub message: String,
    /// `serverTime` of a `SIGNATURE_DEADLINE_INVALID`, in the unit the server sent.
    pub server_time: Option<u64>,
}

impl std::fmt::Display for KyanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code.as_str() {
            "" => write!(f, "HTTP {}: {}", self.status, self.message),
            code => write!(f, "HTTP {} {code}: {}", self.status, self.message),
        }
    }
}

impl KyanError {
    /// Read an error answer.
    pub fn parse(status: u16, body: &str) -> KyanError {
        let clipped = || body.chars().take(300).collect::<String>();
        let Ok(v) = serde_json::from_str::<Value>(body) else {
            return KyanError {
                status,
                code: String::new(),
                message: clipped(),
                server_time: None,
            };
        };
        let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        // \[INF\] The code is `error` in the documented body; `code` is accepted as well.
        let code = text("error").or_else(|| text("code")).unwrap_or_default();
        let message = text("message").unwrap_or_else(clipped);
        // \[S\] serverTime sits next to the code; some clients nest details under `data`.
        let server_time = ["serverTime", "server_time"].iter().find_map(|k| {
            v.get(*k)
                .or_else(|| v.get("data").and_then(|d| d.get(*k)))
                .and_then(|t| t.as_u64().or_else(|| t.as_str()?.parse().ok()))
        });
        KyanError {
            status,
            code,
            message,
            server_time,
        }
    }

    /// What kind of refusal it is, for the executor and strategies.
    pub fn kind(&self) -> RefusalKind {
        match self.code.as_str() {
            "INSUFFICIENT_MARGIN" => RefusalKind::InsufficientMargin,
            "POST_ONLY_WOULD_CROSS" => RefusalKind::PostOnlyWouldCross,
            "ORDER_NOT_FOUND" => RefusalKind::UnknownOrder,
            "RATE_LIMIT_EXCEEDED" => RefusalKind::RateLimited,
            "SIGNATURE_DEADLINE_INVALID" => RefusalKind::Expired,
            _ if self.status == 429 => RefusalKind::RateLimited,
            _ => RefusalKind::Other,
        }
    }

    /// Whether the outcome of the request is unknown (it may have taken effect): a server error
    /// (5xx). Resolved by reading open orders, never by resending.
    pub fn is_ambiguous(&self) -> bool {
        self.status >= 500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_and_listed_codes_map_to_refusal_kinds() {
        let e = KyanError::parse(
            400,
            r#"{"error":"MIN_INCREMENT_PRICE_VIOLATION","message":"Min price increment requirement violated for ETH_USDC-PERPETUAL. Price: 2500.15, Must be divisible by: 0.1"}"#,
        );
        assert_eq!(e.code, "MIN_INCREMENT_PRICE_VIOLATION");
        assert_eq!(e.kind(), RefusalKind::Other);
        assert!(e.to_string().contains("Must be divisible by: 0.1"), "{e}");
        for (code, kind) in [
            ("INSUFFICIENT_MARGIN", RefusalKind::InsufficientMargin),
            ("POST_ONLY_WOULD_CROSS", RefusalKind::PostOnlyWouldCross),
            ("ORDER_NOT_FOUND", RefusalKind::UnknownOrder),
            ("RATE_LIMIT_EXCEEDED", RefusalKind::RateLimited),
            ("SIGNATURE_DEADLINE_INVALID", RefusalKind::Expired),
        ] {
            let body = format!(r#"{{"error":"{code}","message":"x"}}"#);
            assert_eq!(KyanError::parse(400, &body).kind(), kind, "{code}");
        }
        assert_eq!(
            KyanError::parse(429, "slow down").kind(),
            RefusalKind::RateLimited
        );
    }

    #[test]
    fn the_server_clock_is_read_from_a_deadline_error_and_odd_bodies_stay_errors() {
        let e = KyanError::parse(
            400,
            r#"{"error":"SIGNATURE_DEADLINE_INVALID","message":"deadline","serverTime":1700000050,"minTimestamp":1700000050,"maxTimestamp":1700000080,"givenTimestamp":1700000000}"#,
        );
        assert_eq!(e.server_time, Some(1_700_000_050));
        let nested = KyanError::parse(
            400,
            r#"{"code":"SIGNATURE_DEADLINE_INVALID","data":{"serverTime":"1700000050123"}}"#,
        );
        assert_eq!(nested.code, "SIGNATURE_DEADLINE_INVALID");
        assert_eq!(nested.server_time, Some(1_700_000_050_123));
        let html = KyanError::parse(502, "<html>bad gateway</html>");
        assert_eq!(html.code, "");
        assert!(html.is_ambiguous());
        assert!(html.to_string().contains("bad gateway"));
        assert!(!e.is_ambiguous());
    }
}
