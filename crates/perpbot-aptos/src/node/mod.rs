//! Fullnode REST client: ledger info, accounts, gas price, module ABIs, BCS submission,
//! simulation and confirmation (aptos-transactions.md §6).
//!
//! The design and the reasons for it: `docs/design/aptos-node.md`.
//!
//! ```no_run
//! use std::time::Duration;
//! use perpbot_aptos::node::{NodeClient, TxnOutcome};
//! use perpbot_aptos::{PrivateKey, RawTransaction, encode_entry_function, sign_transaction};
//! use serde_json::json;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = NodeClient::new("http://127.0.0.1:8080/v1", Duration::from_secs(10))?;
//! let key = PrivateKey::from_test_seed(1);
//! let chain_id = node.ledger_info().await?.chain_id;
//! let account = node.account(key.address()).await?;
//! let gas = node.estimate_gas_price().await?;
//! let abi = node.module(perpbot_aptos::AccountAddress::ONE, "aptos_account").await?;
//! let call = encode_entry_function(&abi, "transfer", &[], &[json!("0x2"), json!("1000")])?;
//! let raw = RawTransaction {
//!     sender: key.address(),
//!     sequence_number: account.sequence_number,
//!     payload: call.into(),
//!     max_gas_amount: 10_000,
//!     gas_unit_price: gas.gas_estimate,
//!     expiration_timestamp_secs: 1_900_000_000,
//!     chain_id,
//! };
//! let signed = sign_transaction(raw, &key)?;
//! let pending = node.submit_bcs(&signed).await?;
//! match node.wait_for_transaction(pending.hash, 1_900_000_000, Duration::from_secs(30)).await {
//!     TxnOutcome::Committed { txn } => println!("committed at version {}", txn.version),
//!     TxnOutcome::Failed { vm_status, .. } => println!("aborted: {vm_status:?}"),
//!     TxnOutcome::Expired { .. } => println!("expired: safe to rebuild"),
//!     TxnOutcome::Unknown { reason } => println!("unknown, keep polling, do not resend: {reason}"),
//! }
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::abi::{MoveModule, MoveModuleBytecode};
use super::address::AccountAddress;
use super::error::{AptosError, clip};
use super::signing::{SealedTransaction, TransactionHash, transaction_hash};
use super::types::{Identifier, SignedTransaction};
use super::vm_status::{NodeError, NodeErrorCode, VmStatus, VmValidationCode};

/// Content type of a BCS-encoded `SignedTransaction` body (§6.4).
pub const BCS_SIGNED_TXN_CONTENT_TYPE: &str = "application/x.aptos.signed_transaction+bcs";

/// Response header carrying the node's latest ledger timestamp in microseconds.
pub const LEDGER_TIMESTAMP_HEADER: &str = "x-aptos-ledger-timestampusec";

/// Install the rustls `ring` crypto provider as the process default, once.
///
/// reqwest is built with `rustls-no-provider`, so building a client without a process-wide
/// provider fails. Safe to call any number of times; if another provider was installed first it
/// is kept.
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

// ---- errors ----

/// How a request failed below HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be established (the request was most likely never sent).
    Connect,
    /// The request timed out (it may have been sent and processed).
    Timeout,
    /// Anything else: connection reset, body read failure, … (it may have been processed).
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Other => "transport",
        })
    }
}

/// Errors from [`NodeClient`] reads (and the pre-submit stage of a submission).
///
/// For a *submission* a transport error is ambiguous; [`NodeClient::submit_bcs`] therefore never
/// returns this type directly for the POST itself but a [`SubmitError`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeClientError {
    /// The request failed below HTTP; the node may or may not have received it.
    #[error("{endpoint}: {kind} error: {reason}")]
    Transport {
        /// Method and path, e.g. `GET /accounts/0x…`.
        endpoint: String,
        /// What kind of failure.
        kind: TransportKind,
        /// Error text (with its source chain).
        reason: String,
    },
    /// The node answered with a non-success status.
    #[error("{endpoint}: HTTP {status}: {body}")]
    Http {
        /// Method and path.
        endpoint: String,
        /// HTTP status code.
        status: u16,
        /// The parsed error body (§6.1), if the body was one.
        error: Option<NodeError>,
        /// The raw body, truncated.
        body: String,
    },
    /// A success response did not have the expected shape.
    #[error("{endpoint}: cannot decode `{field}`: {reason}")]
    Decode {
        /// Method and path.
        endpoint: String,
        /// The field (or `body`) that was missing or malformed.
        field: String,
        /// What was wrong, quoting the value.
        reason: String,
    },
    /// The client could not be constructed (bad base URL, TLS setup).
    #[error("node client setup: {0}")]
    Setup(String),
    /// Local encoding failed (BCS, identifiers); nothing was sent.
    #[error(transparent)]
    Aptos(#[from] AptosError),
}

impl NodeClientError {
    /// The parsed node error body, for [`NodeClientError::Http`].
    pub fn node_error(&self) -> Option<&NodeError> {
        match self {
            NodeClientError::Http { error, .. } => error.as_ref(),
            _ => None,
        }
    }

    /// The HTTP status, for [`NodeClientError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            NodeClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for failures worth retrying for a read: transport errors, 5xx and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            NodeClientError::Transport { .. } => true,
            NodeClientError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Why a BCS submission did not produce a [`PendingSubmission`].
///
/// Only [`SubmitError::Ambiguous`] may have reached mempool. Every other variant is definite: the
/// node did not accept *this* transaction.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// Timeout, transport failure or 5xx (other than 507): the node **may** have accepted the
    /// transaction. Do not resend; poll `hash` until committed or expired.
    #[error(
        "submission of {hash} (sequence number {sequence_number}) is ambiguous, poll before acting: {reason}"
    )]
    Ambiguous {
        /// What happened.
        reason: String,
        /// The locally computed transaction hash to poll.
        hash: TransactionHash,
        /// The transaction's sequence number.
        sequence_number: u64,
        /// The transaction's expiration (Unix seconds): after the chain passes it, not-found
        /// means not executed.
        expiration_timestamp_secs: u64,
        /// Octas per gas unit the transaction was signed with (what its gas costs if it
        /// commits).
        gas_unit_price: u64,
    },
    /// The sequence number was already used (`sequence_number_too_old`, or `vm_error` with
    /// `vm_error_code` 3): refetch the account's number and rebuild. This transaction was not
    /// accepted.
    #[error("{hash} rejected: sequence number {sequence_number} is too old: {message}")]
    SequenceTooOld {
        /// Hash of the rejected transaction.
        hash: TransactionHash,
        /// The rejected sequence number.
        sequence_number: u64,
        /// The node's message.
        message: String,
    },
    /// HTTP 507 `mempool_is_full`: not accepted; retry later.
    #[error("{hash} not accepted: mempool is full: {message}")]
    MempoolFull {
        /// Hash of the rejected transaction.
        hash: TransactionHash,
        /// The node's message.
        message: String,
    },
    /// Any other 4xx: a definite rejection (validation failure, bad input, conflicting mempool
    /// entry, rate limit, …).
    #[error("{hash} rejected (HTTP {status}, {code}, vm_error_code {vm_error_code:?}): {message}")]
    Rejected {
        /// Hash of the rejected transaction.
        hash: TransactionHash,
        /// HTTP status.
        status: u16,
        /// The node's `error_code` (`Other("http_<status>")` when the body was not an error body).
        code: NodeErrorCode,
        /// The node's message (or the raw body, truncated).
        message: String,
        /// `vm_error_code` for validation failures (see [`VmValidationCode`]).
        vm_error_code: Option<u64>,
    },
    /// Nothing was sent: local encoding failed, or a read needed to build the transaction
    /// (account, gas price, …) failed.
    #[error("not submitted: {0}")]
    NotSubmitted(#[from] NodeClientError),
}

impl SubmitError {
    /// The transaction hash, when a transaction was built.
    pub fn hash(&self) -> Option<TransactionHash> {
        match self {
            SubmitError::Ambiguous { hash, .. }
            | SubmitError::SequenceTooOld { hash, .. }
            | SubmitError::MempoolFull { hash, .. }
            | SubmitError::Rejected { hash, .. } => Some(*hash),
            SubmitError::NotSubmitted(_) => None,
        }
    }

    /// True if the transaction may be in mempool (resolve by polling, never by resending).
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, SubmitError::Ambiguous { .. })
    }

    /// The validation status of a `vm_error` rejection.
    pub fn validation_code(&self) -> Option<VmValidationCode> {
        match self {
            SubmitError::Rejected {
                vm_error_code: Some(c),
                ..
            } => Some(VmValidationCode::from_code(*c)),
            _ => None,
        }
    }
}

impl From<AptosError> for SubmitError {
    fn from(e: AptosError) -> Self {
        SubmitError::NotSubmitted(NodeClientError::Aptos(e))
    }
}

// ---- response types ----

/// `GET /v1` (ledger info).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerInfo {
    /// The chain id to put in transactions.
    pub chain_id: u8,
    /// Latest ledger version, if reported.
    pub ledger_version: Option<u64>,
    /// Timestamp of the latest ledger version, microseconds since the Unix epoch.
    pub ledger_timestamp_usecs: u64,
}

/// `GET /v1/accounts/{address}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// The next sequence number the account will execute (0 for an account that does not exist
    /// yet).
    pub sequence_number: u64,
    /// The account's authentication key (its own address for a non-existent account, §6.2).
    pub authentication_key: [u8; 32],
    /// False when the node answered 404 `account_not_found`.
    pub exists: bool,
}

/// `GET /v1/estimate_gas_price` (octas per gas unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasEstimate {
    /// The price to use normally.
    pub gas_estimate: u64,
    /// Lower price for transactions that can wait, if reported.
    pub deprioritized_gas_estimate: Option<u64>,
    /// Higher price for urgent transactions, if reported.
    pub prioritized_gas_estimate: Option<u64>,
}

/// Accepted by the node (HTTP 202): the transaction is in mempool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSubmission {
    /// The hash to poll (the node's, which equals the locally computed one).
    pub hash: TransactionHash,
}

/// One simulated execution (`POST /v1/transactions/simulate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulationResult {
    /// Whether execution would succeed.
    pub success: bool,
    /// The raw `vm_status` text.
    pub vm_status: String,
    /// Gas units used.
    pub gas_used: u64,
}

impl SimulationResult {
    /// `vm_status` parsed (Move abort codes etc.).
    pub fn status(&self) -> VmStatus {
        VmStatus::parse(&self.vm_status)
    }
}

/// A committed user transaction (from `by_hash`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedTxn {
    /// Ledger version it was committed at.
    pub version: u64,
    /// Whether execution succeeded.
    pub success: bool,
    /// The raw `vm_status` text (`Executed successfully`, `Move abort in …`).
    pub vm_status: String,
    /// Gas units used.
    pub gas_used: u64,
    /// Emitted events, as JSON.
    pub events: Vec<Value>,
    /// The sender's sequence number it consumed.
    pub sequence_number: u64,
}

/// Result of one `GET /v1/transactions/by_hash/{hash}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnLookup {
    /// In mempool, not yet committed.
    Pending,
    /// Committed (successfully or not).
    Committed(CommittedTxn),
    /// 404: not yet propagated, dropped, or expired.
    NotFound,
}

/// Final (or given-up) result of [`NodeClient::wait_for_transaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Committed and executed successfully.
    Committed {
        /// The committed transaction.
        txn: CommittedTxn,
    },
    /// Committed but execution failed (the sequence number and gas are consumed).
    Failed {
        /// `txn.vm_status` parsed.
        vm_status: VmStatus,
        /// The committed transaction.
        txn: CommittedTxn,
    },
    /// The chain's time passed the expiration (plus margin) and the transaction is not committed:
    /// it will never execute; its sequence number is free again.
    Expired {
        /// The ledger timestamp (µs) that proved it.
        ledger_timestamp_usecs: u64,
    },
    /// Gave up waiting (or could not read the node) while the transaction might still execute.
    /// AMBIGUOUS: do not resend; poll again later.
    Unknown {
        /// Why the outcome is unknown.
        reason: String,
    },
}

/// Polling schedule of [`NodeClient::wait_for_transaction`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollConfig {
    /// First delay between polls.
    pub initial_interval: Duration,
    /// Multiplier applied after each poll, in percent (150 = ×1.5).
    pub backoff_percent: u32,
    /// Upper bound of the delay.
    pub max_interval: Duration,
    /// How far past `expiration_timestamp_secs` the ledger must be before not-found / pending
    /// counts as expired.
    ///
    /// Aptos's prologue refuses a transaction once the block timestamp reaches its expiration,
    /// and block timestamps only grow, so a node whose ledger is past the expiration and does
    /// not have the transaction committed proves it dead. The margin only covers a lookup and
    /// its ledger timestamp not being read from one snapshot (a block with the transaction and
    /// a later one committing in between): one second of ledger time is far more than one
    /// request takes. It is not a safety factor against clock skew (the chain's clock is the
    /// only one used). Every second of margin is a second more that a dead transaction's
    /// number blocks all later ones (the sequence-gap cascade), hence small.
    pub expiry_margin: Duration,
    /// Ask the node's long-poll `transactions/wait_by_hash`, which answers a pending transaction
    /// only when it commits (or after about a second), so the commit is known at once rather
    /// than at the next poll. A node without the route falls back to polling `by_hash`.
    pub long_poll: bool,
}

impl Default for PollConfig {
    /// 200 ms × 1.5 up to 2 s; 1 s expiry margin.
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_millis(200),
            backoff_percent: 150,
            max_interval: Duration::from_secs(2),
            expiry_margin: Duration::from_secs(1),
            long_poll: true,
        }
    }
}

// ---- the client ----

/// A raw response: status, ledger time header, body.
struct RawResponse {
    status: StatusCode,
    ledger_timestamp_usecs: Option<u64>,
    body: Vec<u8>,
}

/// Client for one fullnode's REST API. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct NodeClient {
    http: reqwest::Client,
    base: String,
    poll: PollConfig,
    modules: Mutex<HashMap<(AccountAddress, String), Arc<MoveModule>>>,
}

impl fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeClient")
            .field("base", &self.base)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl NodeClient {
    /// A client for `base_url` (ending in `/v1`, e.g. `https://api.testnet.aptoslabs.com/v1`),
    /// with `timeout` per request.
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, NodeClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(NodeClientError::Setup(format!(
                "base URL {:?} must start with http:// or https://",
                clip(base_url)
            )));
        }
        ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| NodeClientError::Setup(error_chain(&e)))?;
        Ok(Self {
            http,
            base,
            poll: PollConfig::default(),
            modules: Mutex::new(HashMap::new()),
        })
    }

    /// Replace the polling schedule of [`wait_for_transaction`](Self::wait_for_transaction).
    pub fn with_poll_config(mut self, poll: PollConfig) -> Self {
        self.poll = poll;
        self
    }

    /// The base URL (without trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The polling schedule in use.
    pub fn poll_config(&self) -> PollConfig {
        self.poll
    }

    /// `GET /v1`: chain id and ledger time.
    pub async fn ledger_info(&self) -> Result<LedgerInfo, NodeClientError> {
        let endpoint = "GET /".to_owned();
        let resp = self.get("").await?;
        let v = success_json(&endpoint, resp)?;
        let chain_id = field_u64(&endpoint, &v, "chain_id")?;
        let chain_id =
            u8::try_from(chain_id).map_err(|_| decode(&endpoint, "chain_id", chain_id))?;
        Ok(LedgerInfo {
            chain_id,
            ledger_version: opt_field_u64(&endpoint, &v, "ledger_version")?,
            ledger_timestamp_usecs: field_u64(&endpoint, &v, "ledger_timestamp")?,
        })
    }

    /// `GET /v1/accounts/{address}`. A 404 `account_not_found` is a new account: sequence number
    /// 0 and authentication key = address (§6.2). \[INF\]: as the SDKs do; the reference marks
    /// it unverified against a live node. If wrong, the first submission is refused as too old
    /// and the submitter rereads the account and rebuilds once.
    pub async fn account(&self, address: AccountAddress) -> Result<AccountInfo, NodeClientError> {
        let path = format!("/accounts/{address}");
        let endpoint = format!("GET {path}");
        let resp = self.get(&path).await?;
        if resp.status == StatusCode::NOT_FOUND
            && parse_node_error(&resp.body)
                .is_some_and(|e| e.error_code == NodeErrorCode::AccountNotFound)
        {
            debug!(%address, "account not found: sequence number 0");
            return Ok(AccountInfo {
                sequence_number: 0,
                authentication_key: address.to_bytes(),
                exists: false,
            });
        }
        let v = success_json(&endpoint, resp)?;
        let sequence_number = field_u64(&endpoint, &v, "sequence_number")?;
        let key_text = field_str(&endpoint, &v, "authentication_key")?;
        let authentication_key = AccountAddress::from_hex(key_text)
            .map_err(|_| decode(&endpoint, "authentication_key", key_text))?
            .to_bytes();
        Ok(AccountInfo {
            sequence_number,
            authentication_key,
            exists: true,
        })
    }

    /// `GET /v1/estimate_gas_price`.
    pub async fn estimate_gas_price(&self) -> Result<GasEstimate, NodeClientError> {
        let path = "/estimate_gas_price";
        let endpoint = format!("GET {path}");
        let v = success_json(&endpoint, self.get(path).await?)?;
        Ok(GasEstimate {
            gas_estimate: field_u64(&endpoint, &v, "gas_estimate")?,
            deprioritized_gas_estimate: opt_field_u64(&endpoint, &v, "deprioritized_gas_estimate")?,
            prioritized_gas_estimate: opt_field_u64(&endpoint, &v, "prioritized_gas_estimate")?,
        })
    }

    /// `GET /v1/accounts/{address}/module/{name}` → the ABI, fetched once per `(address, name)`
    /// and cached for the life of the client (module ABIs change only on upgrade).
    pub async fn module(
        &self,
        address: AccountAddress,
        name: &str,
    ) -> Result<Arc<MoveModule>, NodeClientError> {
        let name = Identifier::new(name)?;
        let key = (address, name.as_str().to_owned());
        if let Some(m) = self.modules.lock().await.get(&key) {
            return Ok(Arc::clone(m));
        }
        let path = format!("/accounts/{address}/module/{}", name.as_str());
        let endpoint = format!("GET {path}");
        let resp = self.get(&path).await?;
        let body = success_body(&endpoint, resp)?;
        let module: MoveModuleBytecode =
            serde_json::from_slice(&body).map_err(|e| decode(&endpoint, "abi", e))?;
        let abi = module
            .abi
            .ok_or_else(|| decode(&endpoint, "abi", "module has no ABI"))?;
        let abi = Arc::new(abi);
        // Two concurrent misses both fetch; the first insert wins (not a hot path).
        let mut cache = self.modules.lock().await;
        Ok(Arc::clone(cache.entry(key).or_insert(abi)))
    }

    /// `POST /v1/transactions` with the BCS body. See [`SubmitError`] for how every response is
    /// classified; only [`SubmitError::Ambiguous`] may have reached mempool.
    pub async fn submit_bcs(
        &self,
        signed: &SignedTransaction,
    ) -> Result<PendingSubmission, SubmitError> {
        let bytes = signed.to_bytes()?;
        let hash = transaction_hash(&bytes);
        self.submit_signed_bytes(signed, bytes, hash).await
    }

    /// [`NodeClient::submit_bcs`] for a transaction already serialised and hashed (no second
    /// serialisation or SHA3 of the same transaction).
    pub async fn submit_sealed(
        &self,
        sealed: &SealedTransaction,
    ) -> Result<PendingSubmission, SubmitError> {
        self.submit_signed_bytes(&sealed.signed, sealed.bytes.clone(), sealed.hash)
            .await
    }

    async fn submit_signed_bytes(
        &self,
        signed: &SignedTransaction,
        bytes: Vec<u8>,
        hash: TransactionHash,
    ) -> Result<PendingSubmission, SubmitError> {
        let sequence_number = signed.raw_txn.sequence_number;
        let expiration_timestamp_secs = signed.raw_txn.expiration_timestamp_secs;
        let gas_unit_price = signed.raw_txn.gas_unit_price;
        let ambiguous = |reason: String| SubmitError::Ambiguous {
            reason,
            hash,
            sequence_number,
            expiration_timestamp_secs,
            gas_unit_price,
        };
        let endpoint = "POST /transactions";
        debug!(%hash, sequence_number, "submitting transaction");
        let resp = match self.post_bcs("/transactions", bytes, endpoint).await {
            Ok(r) => r,
            Err(e) => {
                warn!(%hash, sequence_number, error = %e, "submission ambiguous");
                return Err(ambiguous(e.to_string()));
            }
        };
        let status = resp.status;
        let error = parse_node_error(&resp.body);
        let message = || match &error {
            Some(e) => e.message.clone(),
            None => clip(&String::from_utf8_lossy(&resp.body)),
        };
        if status.is_success() {
            let node_hash = serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("hash").and_then(Value::as_str).map(str::to_owned))
                .and_then(|h| h.parse::<TransactionHash>().ok());
            let hash = match node_hash {
                Some(h) if h != hash => {
                    warn!(local = %hash, node = %h, "node reports a different transaction hash; tracking the node's");
                    h
                }
                _ => hash,
            };
            debug!(%hash, sequence_number, "transaction accepted into mempool");
            return Ok(PendingSubmission { hash });
        }
        let code = error.as_ref().map(|e| e.error_code.clone());
        let err = if status == StatusCode::INSUFFICIENT_STORAGE
            || code == Some(NodeErrorCode::MempoolIsFull)
        {
            SubmitError::MempoolFull {
                hash,
                message: message(),
            }
        } else if status.is_client_error() {
            let too_old = error.as_ref().is_some_and(|e| {
                e.error_code == NodeErrorCode::SequenceNumberTooOld
                    || e.validation_code() == Some(VmValidationCode::SequenceNumberTooOld)
            });
            if too_old {
                SubmitError::SequenceTooOld {
                    hash,
                    sequence_number,
                    message: message(),
                }
            } else {
                SubmitError::Rejected {
                    hash,
                    status: status.as_u16(),
                    code: code.unwrap_or_else(|| {
                        NodeErrorCode::Other(format!("http_{}", status.as_u16()))
                    }),
                    message: message(),
                    vm_error_code: error.as_ref().and_then(|e| e.vm_error_code),
                }
            }
        } else {
            ambiguous(format!("HTTP {}: {}", status.as_u16(), message()))
        };
        warn!(%hash, sequence_number, error = %err, "submission not accepted");
        Err(err)
    }

    /// `POST /v1/transactions/simulate` with the BCS body. The transaction must carry an invalid
    /// signature ([`SignedTransaction::for_simulation`]); the node rejects simulations whose
    /// signature verifies.
    pub async fn simulate(
        &self,
        signed: &SignedTransaction,
    ) -> Result<SimulationResult, NodeClientError> {
        let endpoint = "POST /transactions/simulate";
        let resp = self
            .post_bcs("/transactions/simulate", signed.to_bytes()?, endpoint)
            .await?;
        let v = success_json(endpoint, resp)?;
        let first = v
            .as_array()
            .and_then(|a| a.first())
            .ok_or_else(|| decode(endpoint, "body", "expected a non-empty JSON array"))?;
        Ok(SimulationResult {
            success: field_bool(endpoint, first, "success")?,
            vm_status: field_str(endpoint, first, "vm_status")?.to_owned(),
            gas_used: field_u64(endpoint, first, "gas_used")?,
        })
    }

    /// `GET /v1/transactions/by_hash/{hash}`: pending, committed, or not found.
    pub async fn transaction_by_hash(
        &self,
        hash: TransactionHash,
    ) -> Result<TxnLookup, NodeClientError> {
        self.lookup(hash, false).await.map(|(l, _)| l)
    }

    /// Poll `by_hash` until the transaction is committed, provably expired, or `max_wait` has
    /// elapsed (→ [`TxnOutcome::Unknown`]: ambiguous, never resend on it).
    ///
    /// `expiration_timestamp_secs` is the transaction's own expiration. A not-found or pending
    /// transaction counts as expired only once the *ledger* time (from the response header, or
    /// `GET /v1`) is past it plus [`PollConfig::expiry_margin`]. Transport errors, 5xx and 429 are
    /// retried; other unexpected responses end the wait as `Unknown`.
    pub async fn wait_for_transaction(
        &self,
        hash: TransactionHash,
        expiration_timestamp_secs: u64,
        max_wait: Duration,
    ) -> TxnOutcome {
        let start = Instant::now();
        let deadline_usecs = expiration_timestamp_secs
            .saturating_mul(1_000_000)
            .saturating_add(u64::try_from(self.poll.expiry_margin.as_micros()).unwrap_or(u64::MAX));
        let mut delay = self.poll.initial_interval;
        let mut polls = 0u32;
        let mut long_poll = self.poll.long_poll;
        loop {
            polls = polls.saturating_add(1);
            let asked = Instant::now();
            let looked = if long_poll {
                match self.lookup(hash, true).await {
                    // A node without the route (404 that is not "transaction not found"): poll.
                    Err(NodeClientError::Http { status: 404, .. }) => {
                        debug!(%hash, "the node has no wait_by_hash; polling by_hash");
                        long_poll = false;
                        self.lookup(hash, false).await
                    }
                    other => other,
                }
            } else {
                self.lookup(hash, false).await
            };
            let state = match looked {
                Ok((TxnLookup::Committed(txn), _)) => {
                    // The caller logs the outcome (once, with what it meant).
                    return if txn.success {
                        TxnOutcome::Committed { txn }
                    } else {
                        let vm_status = VmStatus::parse(&txn.vm_status);
                        TxnOutcome::Failed { vm_status, txn }
                    };
                }
                Ok((lookup, ledger)) => {
                    let ledger = match ledger {
                        Some(t) => Some(t),
                        None => self
                            .ledger_info()
                            .await
                            .ok()
                            .map(|l| l.ledger_timestamp_usecs),
                    };
                    if let Some(t) = ledger
                        && t > deadline_usecs
                    {
                        info!(%hash, ledger_timestamp_usecs = t, ?lookup, "transaction expired");
                        return TxnOutcome::Expired {
                            ledger_timestamp_usecs: t,
                        };
                    }
                    // The node held a pending transaction's request as long as it would: ask
                    // again at once (an answer faster than a poll interval was no long poll).
                    if long_poll
                        && lookup == TxnLookup::Pending
                        && asked.elapsed() >= self.poll.initial_interval
                        && start.elapsed() < max_wait
                    {
                        continue;
                    }
                    match lookup {
                        TxnLookup::Pending => "pending".to_owned(),
                        _ => "not found".to_owned(),
                    }
                }
                Err(e) if e.is_retryable() => format!("last poll failed: {e}"),
                Err(e) => {
                    warn!(%hash, error = %e, "cannot poll transaction");
                    return TxnOutcome::Unknown {
                        reason: format!("polling {hash} failed: {e}"),
                    };
                }
            };
            let elapsed = start.elapsed();
            if elapsed >= max_wait {
                warn!(%hash, polls, "gave up waiting; outcome unknown");
                return TxnOutcome::Unknown {
                    reason: format!(
                        "{hash} still {state} after {polls} polls in {elapsed:?} (expires at {expiration_timestamp_secs})"
                    ),
                };
            }
            tokio::time::sleep(delay.min(max_wait.saturating_sub(elapsed))).await;
            delay = delay
                .saturating_mul(self.poll.backoff_percent)
                .checked_div(100)
                .unwrap_or(delay)
                .min(self.poll.max_interval);
        }
    }

    /// One `by_hash` poll (or `wait_by_hash` long poll), with the ledger timestamp header of the
    /// response.
    async fn lookup(
        &self,
        hash: TransactionHash,
        wait: bool,
    ) -> Result<(TxnLookup, Option<u64>), NodeClientError> {
        let route = if wait { "wait_by_hash" } else { "by_hash" };
        let path = format!("/transactions/{route}/{hash}");
        let endpoint = format!("GET {path}");
        let resp = self.get(&path).await?;
        let ledger = resp.ledger_timestamp_usecs;
        if resp.status == StatusCode::NOT_FOUND {
            // 404 transaction_not_found; a 404 without an error body (wrong base URL) is an error.
            return match parse_node_error(&resp.body) {
                Some(e) if e.error_code == NodeErrorCode::TransactionNotFound => {
                    Ok((TxnLookup::NotFound, ledger))
                }
                _ => Err(http_error(&endpoint, &resp)),
            };
        }
        let v = success_json(&endpoint, resp)?;
        let is_pending = v.get("type").and_then(Value::as_str) == Some("pending_transaction");
        if is_pending || v.get("success").is_none() {
            return Ok((TxnLookup::Pending, ledger));
        }
        let events = match v.get("events") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(other) => return Err(decode(&endpoint, "events", other)),
        };
        let txn = CommittedTxn {
            version: field_u64(&endpoint, &v, "version")?,
            success: field_bool(&endpoint, &v, "success")?,
            vm_status: field_str(&endpoint, &v, "vm_status")?.to_owned(),
            gas_used: field_u64(&endpoint, &v, "gas_used")?,
            events,
            sequence_number: field_u64(&endpoint, &v, "sequence_number")?,
        };
        Ok((TxnLookup::Committed(txn), ledger))
    }

    async fn get(&self, path: &str) -> Result<RawResponse, NodeClientError> {
        let endpoint = format!("GET {}", if path.is_empty() { "/" } else { path });
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .header(ACCEPT, "application/json");
        send(req, &endpoint).await
    }

    async fn post_bcs(
        &self,
        path: &str,
        body: Vec<u8>,
        endpoint: &str,
    ) -> Result<RawResponse, NodeClientError> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, BCS_SIGNED_TXN_CONTENT_TYPE)
            .header(ACCEPT, "application/json")
            .body(body);
        send(req, endpoint).await
    }
}

// ---- helpers ----

async fn send(
    req: reqwest::RequestBuilder,
    endpoint: &str,
) -> Result<RawResponse, NodeClientError> {
    let transport = |e: reqwest::Error| NodeClientError::Transport {
        endpoint: endpoint.to_owned(),
        kind: if e.is_timeout() {
            TransportKind::Timeout
        } else if e.is_connect() {
            TransportKind::Connect
        } else {
            TransportKind::Other
        },
        reason: error_chain(&e),
    };
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    let ledger_timestamp_usecs = ledger_timestamp(resp.headers());
    let body = resp.bytes().await.map_err(transport)?.to_vec();
    Ok(RawResponse {
        status,
        ledger_timestamp_usecs,
        body,
    })
}

fn ledger_timestamp(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(LEDGER_TIMESTAMP_HEADER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `e` and its sources, joined with `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn parse_node_error(body: &[u8]) -> Option<NodeError> {
    serde_json::from_slice(body).ok()
}

fn http_error(endpoint: &str, resp: &RawResponse) -> NodeClientError {
    NodeClientError::Http {
        endpoint: endpoint.to_owned(),
        status: resp.status.as_u16(),
        error: parse_node_error(&resp.body),
        body: clip(&String::from_utf8_lossy(&resp.body)),
    }
}

fn success_body(endpoint: &str, resp: RawResponse) -> Result<Vec<u8>, NodeClientError> {
    if resp.status.is_success() {
        Ok(resp.body)
    } else {
        Err(http_error(endpoint, &resp))
    }
}

fn success_json(endpoint: &str, resp: RawResponse) -> Result<Value, NodeClientError> {
    let body = success_body(endpoint, resp)?;
    serde_json::from_slice(&body).map_err(|e| decode(endpoint, "body", e))
}

fn decode(endpoint: &str, field: &str, reason: impl fmt::Display) -> NodeClientError {
    NodeClientError::Decode {
        endpoint: endpoint.to_owned(),
        field: field.to_owned(),
        reason: clip(&reason.to_string()),
    }
}

fn field<'a>(endpoint: &str, v: &'a Value, name: &str) -> Result<&'a Value, NodeClientError> {
    v.get(name).ok_or_else(|| decode(endpoint, name, "missing"))
}

/// A u64 sent as a decimal string (the node's convention for ≥64-bit integers) or as a JSON
/// number (gas estimates, chain id).
fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn field_u64(endpoint: &str, v: &Value, name: &str) -> Result<u64, NodeClientError> {
    let x = field(endpoint, v, name)?;
    value_u64(x).ok_or_else(|| decode(endpoint, name, format!("{x} is not a u64")))
}

fn opt_field_u64(endpoint: &str, v: &Value, name: &str) -> Result<Option<u64>, NodeClientError> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => value_u64(x)
            .map(Some)
            .ok_or_else(|| decode(endpoint, name, format!("{x} is not a u64"))),
    }
}

fn field_str<'a>(endpoint: &str, v: &'a Value, name: &str) -> Result<&'a str, NodeClientError> {
    let x = field(endpoint, v, name)?;
    x.as_str()
        .ok_or_else(|| decode(endpoint, name, format!("{x} is not a string")))
}

fn field_bool(endpoint: &str, v: &Value, name: &str) -> Result<bool, NodeClientError> {
    let x = field(endpoint, v, name)?;
    x.as_bool()
        .ok_or_else(|| decode(endpoint, name, format!("{x} is not a bool")))
}

/// A fake fullnode on 127.0.0.1 for this module's and [`super::submit`]'s tests.
/// A scriptable fake Aptos node on loopback, for tests (the `testkit` feature).
#[cfg(any(test, feature = "testkit"))]
#[allow(missing_docs)]
pub mod fake_node {
    use std::collections::{HashMap, VecDeque};
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, HeaderValue, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::{get, post};
    use serde_json::{Value, json};

    use super::{BCS_SIGNED_TXN_CONTENT_TYPE, LEDGER_TIMESTAMP_HEADER};
    use crate::address::AccountAddress;
    use crate::signing::{TransactionHash, verify_signed_transaction};

    /// Scripted answer to the next `POST /v1/transactions`.
    #[derive(Clone, Debug)]
    pub enum SubmitReply {
        /// 202 with the PendingTransaction JSON.
        Accept,
        /// This status and body.
        Error(u16, Value),
        /// Sleep, then accept (for client timeouts).
        Delay(Duration),
    }

    /// Scripted answer to `GET /v1/transactions/by_hash/…` (the last one repeats).
    #[derive(Clone, Debug)]
    pub enum LookupReply {
        Pending,
        NotFound,
        Committed { success: bool, vm_status: String },
    }

    /// One submission the fake node received (with a valid signature).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Received {
        pub hash: TransactionHash,
        pub sequence_number: u64,
        pub sender_matches_key: bool,
        pub expiration_timestamp_secs: u64,
        pub gas_unit_price: u64,
        /// The decoded entry function (what the signer authorised).
        pub function: crate::types::EntryFunction,
    }

    pub struct Inner {
        pub chain_id: u8,
        pub ledger_usecs: u64,
        /// Added to the ledger time on each by_hash request.
        pub ledger_step_usecs: u64,
        pub accounts: HashMap<AccountAddress, u64>,
        pub gas: Value,
        pub modules: HashMap<(AccountAddress, String), Value>,
        pub submit_replies: VecDeque<SubmitReply>,
        pub lookup_replies: VecDeque<LookupReply>,
        pub received: Vec<Received>,
        pub account_requests: usize,
        pub module_requests: usize,
        pub lookup_requests: usize,
        pub simulate_requests: usize,
        pub gas_requests: usize,
    }

    impl Default for Inner {
        fn default() -> Self {
            Self {
                chain_id: 4,
                ledger_usecs: 1_700_000_000_000_000,
                ledger_step_usecs: 0,
                accounts: HashMap::new(),
                gas: json!({"deprioritized_gas_estimate": 100, "gas_estimate": 100, "prioritized_gas_estimate": 150}),
                modules: HashMap::new(),
                submit_replies: VecDeque::new(),
                lookup_replies: VecDeque::new(),
                received: Vec::new(),
                account_requests: 0,
                module_requests: 0,
                lookup_requests: 0,
                simulate_requests: 0,
                gas_requests: 0,
            }
        }
    }

    type Shared = Arc<Mutex<Inner>>;

    /// Millisecond polling with a 2 s expiry margin, so waits finish well under a second.
    pub fn fast_poll() -> super::PollConfig {
        super::PollConfig {
            initial_interval: Duration::from_millis(2),
            backoff_percent: 150,
            max_interval: Duration::from_millis(10),
            expiry_margin: Duration::from_secs(2),
            // The fake node serves `by_hash` only; its tests count those polls.
            long_poll: false,
        }
    }

    pub struct FakeNode {
        pub state: Shared,
        pub base: String,
    }

    impl FakeNode {
        pub async fn start(inner: Inner) -> FakeNode {
            let state: Shared = Arc::new(Mutex::new(inner));
            let app = Router::new()
                .route("/v1", get(index))
                .route("/v1/accounts/{addr}", get(account))
                .route("/v1/accounts/{addr}/module/{name}", get(module))
                .route("/v1/estimate_gas_price", get(gas))
                .route("/v1/transactions", post(submit))
                .route("/v1/transactions/simulate", post(simulate))
                .route("/v1/transactions/by_hash/{hash}", get(by_hash))
                .with_state(Arc::clone(&state));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                axum::serve(listener, app).await.unwrap();
            });
            FakeNode {
                state,
                base: format!("http://{addr}/v1"),
            }
        }

        pub fn lock(&self) -> MutexGuard<'_, Inner> {
            self.state.lock().unwrap()
        }
    }

    fn reply(inner: &Inner, status: u16, body: Value) -> Response {
        let mut resp = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
        let h = resp.headers_mut();
        h.insert(
            LEDGER_TIMESTAMP_HEADER,
            HeaderValue::from_str(&inner.ledger_usecs.to_string()).unwrap(),
        );
        h.insert(
            "x-aptos-chain-id",
            HeaderValue::from_str(&inner.chain_id.to_string()).unwrap(),
        );
        resp
    }

    fn node_error(code: &str, message: &str, vm: Option<u64>) -> Value {
        json!({"message": message, "error_code": code, "vm_error_code": vm})
    }

    async fn index(State(s): State<Shared>) -> Response {
        let i = s.lock().unwrap();
        let body = json!({
            "chain_id": i.chain_id, "epoch": "7", "ledger_version": "1234",
            "oldest_ledger_version": "0", "ledger_timestamp": i.ledger_usecs.to_string(),
            "node_role": "full_node", "block_height": "99"
        });
        reply(&i, 200, body)
    }

    async fn account(State(s): State<Shared>, Path(addr): Path<String>) -> Response {
        let mut i = s.lock().unwrap();
        i.account_requests += 1;
        let Ok(a) = AccountAddress::from_hex(&addr) else {
            return reply(&i, 400, node_error("invalid_input", "bad address", None));
        };
        match i.accounts.get(&a) {
            Some(n) => {
                let body =
                    json!({"sequence_number": n.to_string(), "authentication_key": a.to_string()});
                reply(&i, 200, body)
            }
            None => reply(
                &i,
                404,
                node_error(
                    "account_not_found",
                    &format!("Account not found: {addr}"),
                    None,
                ),
            ),
        }
    }

    async fn module(
        State(s): State<Shared>,
        Path((addr, name)): Path<(String, String)>,
    ) -> Response {
        let mut i = s.lock().unwrap();
        i.module_requests += 1;
        let a = AccountAddress::from_hex(&addr).unwrap();
        match i.modules.get(&(a, name)).cloned() {
            Some(abi) => reply(&i, 200, json!({"bytecode": "0x00", "abi": abi})),
            None => reply(
                &i,
                404,
                node_error("module_not_found", "Module not found", None),
            ),
        }
    }

    async fn gas(State(s): State<Shared>) -> Response {
        let mut i = s.lock().unwrap();
        i.gas_requests += 1;
        let body = i.gas.clone();
        reply(&i, 200, body)
    }

    async fn submit(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
        let delay = {
            let mut i = s.lock().unwrap();
            if headers.get("content-type").and_then(|v| v.to_str().ok())
                != Some(BCS_SIGNED_TXN_CONTENT_TYPE)
            {
                return reply(
                    &i,
                    415,
                    node_error("web_framework_error", "bad content type", None),
                );
            }
            let v = match verify_signed_transaction(&body) {
                Ok(v) => v,
                Err(e) => {
                    return reply(&i, 400, node_error("vm_error", &e.to_string(), Some(1)));
                }
            };
            let raw = &v.signed.raw_txn;
            let seq = raw.sequence_number;
            i.received.push(Received {
                hash: v.hash,
                sequence_number: seq,
                sender_matches_key: v.sender_matches_key,
                expiration_timestamp_secs: raw.expiration_timestamp_secs,
                gas_unit_price: raw.gas_unit_price,
                function: raw.payload.entry_function().clone(),
            });
            let on_chain = i.accounts.get(&raw.sender).copied().unwrap_or(0);
            if seq < on_chain {
                return reply(
                    &i,
                    400,
                    node_error("sequence_number_too_old", "Sequence number too old", None),
                );
            }
            let pending = json!({
                "type": "pending_transaction", "hash": v.hash.to_string(),
                "sender": raw.sender.to_string(), "sequence_number": seq.to_string(),
                "max_gas_amount": raw.max_gas_amount.to_string(),
                "gas_unit_price": raw.gas_unit_price.to_string(),
                "expiration_timestamp_secs": raw.expiration_timestamp_secs.to_string(),
            });
            match i.submit_replies.pop_front().unwrap_or(SubmitReply::Accept) {
                SubmitReply::Accept => return reply(&i, 202, pending),
                SubmitReply::Error(status, body) => return reply(&i, status, body),
                SubmitReply::Delay(d) => (d, pending),
            }
        };
        tokio::time::sleep(delay.0).await;
        let i = s.lock().unwrap();
        reply(&i, 202, delay.1)
    }

    async fn simulate(State(s): State<Shared>, body: Bytes) -> Response {
        let mut i = s.lock().unwrap();
        i.simulate_requests += 1;
        if verify_signed_transaction(&body).is_ok() {
            return reply(
                &i,
                400,
                node_error(
                    "invalid_input",
                    "Simulated transactions must not have a valid signature",
                    None,
                ),
            );
        }
        let body = json!([{"type": "user_transaction", "success": false, "gas_used": "12",
            "vm_status": "Move abort in 0x1::coin: EINSUFFICIENT_BALANCE(0x10006): not enough",
            "hash": format!("0x{}", "0".repeat(64))}]);
        reply(&i, 200, body)
    }

    async fn by_hash(State(s): State<Shared>, Path(hash): Path<String>) -> Response {
        let mut i = s.lock().unwrap();
        i.lookup_requests += 1;
        i.ledger_usecs += i.ledger_step_usecs;
        let Ok(h) = hash.parse::<TransactionHash>() else {
            return reply(&i, 400, node_error("invalid_input", "bad hash", None));
        };
        let seq = i
            .received
            .iter()
            .find(|r| r.hash == h)
            .map_or(0, |r| r.sequence_number);
        let next = if i.lookup_replies.len() > 1 {
            i.lookup_replies.pop_front()
        } else {
            i.lookup_replies.front().cloned()
        };
        match next.unwrap_or(LookupReply::NotFound) {
            LookupReply::NotFound => reply(
                &i,
                404,
                node_error(
                    "transaction_not_found",
                    &format!("Transaction not found by Transaction hash({hash})"),
                    None,
                ),
            ),
            LookupReply::Pending => {
                let body = json!({"type": "pending_transaction", "hash": hash, "sequence_number": seq.to_string()});
                reply(&i, 200, body)
            }
            LookupReply::Committed { success, vm_status } => {
                let body = json!({
                    "type": "user_transaction", "version": "1010733903", "hash": hash,
                    "success": success, "vm_status": vm_status, "gas_used": "57",
                    "sequence_number": seq.to_string(), "timestamp": i.ledger_usecs.to_string(),
                    "events": [{"type": "0x1::transaction_fee::FeeStatement", "data": {"total_charge_gas_units": "57"}}],
                    "changes": []
                });
                reply(&i, 200, body)
            }
        }
    }
}

#[cfg(test)]
mod tests;
