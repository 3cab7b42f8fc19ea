//! Who may do what: the API key, one-click sessions, EIP-712 signatures recovered against the
//! named signer, and the signature-deadline window with its per-signer monotonic counter.
//!
//! * Deadline window: `max(now, last + 1) ≤ deadline ≤ now + 30 s` (\[D\] §3.6; one counter per
//!   signer shared by every signature type). **\[ASSUMED\]** a `POST /session` signature may be
//!   up to [`SESSION_DEADLINE_AHEAD_SECS`] ahead (\[D\]'s example uses now+300, \[S\]'s now+3600)
//!   and does not advance the counter: otherwise such a session would lock the maker's order
//!   signatures out until that far deadline.
//! * `MMPConfigUpdate` is not among `perpbot-kyan`'s typed messages; it is defined here with
//!   \[D\]'s nine fields (the \[S\] six-field variant is **not** accepted).

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolStruct, sol};
use axum::http::{HeaderMap, StatusCode};
use perpbot_kyan::signing::{TypedMessage, domain, recover};
use serde_json::json;

use super::core::Core;
use super::parse::{Refusal, refuse};

/// How far ahead an order (or cancel, heartbeat, MMP) signature deadline may be (\[D\]: ~30 s).
pub const MAX_DEADLINE_AHEAD_SECS: u64 = 30;
/// How far ahead a session signature deadline may be **\[ASSUMED\]**.
pub const SESSION_DEADLINE_AHEAD_SECS: u64 = 3_600;
/// Lifetime of a one-click session (\[S\]: 24 h).
pub const SESSION_TTL_MS: u64 = 24 * 3_600 * 1_000;

sol! {
    /// `POST /mmp_config` as \[D\] setmmpconfig signs it (nine fields).
    #[derive(Debug, PartialEq, Eq)]
    struct MMPConfigUpdate {
        address smartAccountAddress;
        string pairSymbol;
        string status;
        uint256 interval;
        uint256 frozenTime;
        uint256 quantityLimit;
        uint256 deltaLimit;
        uint256 vegaLimit;
        uint256 deadline;
    }
}

/// The signing hash of an MMP config update.
pub fn mmp_signing_hash(m: &MMPConfigUpdate, chain_id: u64, contract: Address) -> B256 {
    m.eip712_signing_hash(&domain(chain_id, contract))
}

/// 401 unless `x-apikey` is the simulator's key.
pub fn check_key(headers: &HeaderMap, key: &str) -> Result<(), Refusal> {
    let given = headers.get("x-apikey").and_then(|v| v.to_str().ok());
    if given != Some(key) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "x-apikey missing or not valid",
        ));
    }
    Ok(())
}

/// The `x-one-click` header, if any.
pub fn one_click_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-one-click")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Check a one-click session for `signer`.
pub fn check_session(core: &Core, hash: &str, signer: Address) -> Result<(), Refusal> {
    let now_ms = core.now.as_millis();
    match core.sessions.get(hash) {
        Some(s) if s.user == signer && s.expires_ms > now_ms => Ok(()),
        Some(s) if s.user != signer => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION",
            "the one-click session belongs to another address",
        )),
        _ => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION",
            "the one-click session is unknown or expired",
        )),
    }
}

/// Refuse a signature that does not recover to `signer`.
pub fn check_signature(
    digest: B256,
    signature: &[u8],
    signer: Address,
    what: &str,
) -> Result<(), Refusal> {
    // [ASSUMED] the code name: INVALID_SIGNATURE is not in [S]'s list.
    if recover(digest, signature).ok() != Some(signer) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_SIGNATURE",
            format!("{what}: the signature is not the signer's"),
        ));
    }
    Ok(())
}

/// Accept a request signed once (heartbeat, cancels, market order, MMP config): the signature
/// must recover to `signer` and the deadline must lie in the window above the last one
/// accepted, which it then becomes.
pub fn accept_signed(
    core: &mut Core,
    digest: B256,
    signature: &[u8],
    signer: Address,
    deadline: u64,
    what: &str,
) -> Result<(), Refusal> {
    check_signature(digest, signature, signer, what)?;
    let accepted = check_deadline(
        core,
        signer,
        U256::from(deadline),
        None,
        MAX_DEADLINE_AHEAD_SECS,
        what,
    )?;
    core.last_deadline.insert(signer, accepted);
    Ok(())
}

/// How a single-signature request proves its signer: the one-click session named in its
/// `x-one-click` header, or its own signature and deadline.
pub enum Proof {
    Session(String),
    Signed { signature: Vec<u8>, deadline: u64 },
}

impl Proof {
    /// Check the proof for `signer`: the session must be theirs and alive, or the signature of
    /// `message(deadline)` must be theirs with the deadline in the window ([`accept_signed`]).
    pub fn check(
        &self,
        core: &mut Core,
        chain: (u64, Address),
        signer: Address,
        what: &str,
        message: impl FnOnce(U256) -> Result<TypedMessage, Refusal>,
    ) -> Result<(), Refusal> {
        match self {
            Proof::Session(hash) => check_session(core, hash, signer),
            Proof::Signed {
                signature,
                deadline,
            } => {
                let digest =
                    message(U256::from(*deadline))?.signing_hash(&domain(chain.0, chain.1));
                accept_signed(core, digest, signature, signer, *deadline, what)
            }
        }
    }
}

/// Check `deadline` for `signer` given the deadlines already accepted in this request
/// (`pending`, the last one). `ahead` is the window's upper bound.
pub fn check_deadline(
    core: &Core,
    signer: Address,
    deadline: U256,
    pending: Option<u64>,
    ahead: u64,
    what: &str,
) -> Result<u64, Refusal> {
    let now = core.now.as_secs();
    let deadline = u64::try_from(deadline).unwrap_or(u64::MAX);
    // **[ASSUMED]** Within one request (a `POST /limit` batch) an order's deadline may equal the
    // previous order's: whether Kyan wants them strictly increasing there too is not
    // documented, so both are accepted. Across requests it must pass the last one accepted.
    let floor = match pending {
        Some(previous) => previous,
        None => core
            .last_deadline
            .get(&signer)
            .copied()
            .unwrap_or(0)
            .saturating_add(1),
    };
    let min = now.max(floor);
    let max = now.saturating_add(ahead);
    if deadline < min || deadline > max {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            json!({
                "error": "SIGNATURE_DEADLINE_INVALID",
                "message": if min > max {
                    format!("{what}: signature_deadline {deadline}: no deadline is left: it must be above the last one accepted ({}) and at most now + {ahead} s ({max}); sign fewer requests a second, or use a one-click session", min.saturating_sub(1))
                } else {
                    format!("{what}: signature_deadline {deadline} is outside [{min}, {max}]")
                },
                "serverTime": now,
                "minTimestamp": min,
                "maxTimestamp": max,
                "givenTimestamp": deadline,
            }),
        ));
    }
    Ok(deadline)
}
