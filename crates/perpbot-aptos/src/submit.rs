//! Build, sign, submit and confirm transactions for one account, with pipelined sequence numbers.
//!
//! The design and the reasons for it: `docs/design/aptos-submission.md`.
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use perpbot_aptos::node::{NodeClient, TxnOutcome};
//! use perpbot_aptos::submit::{GasConfig, Submitter};
//! use perpbot_aptos::{AccountAddress, PrivateKey, encode_entry_function};
//! use serde_json::json;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let node = NodeClient::new("http://127.0.0.1:8080/v1", Duration::from_secs(10))?;
//! let abi = node.module(AccountAddress::ONE, "aptos_account").await?;
//! let key = PrivateKey::from_test_seed(1);
//! let gas = GasConfig { max_gas_amount: 10_000, gas_unit_price: None, expiration_secs: 60 };
//! let submitter = Arc::new(Submitter::connect(node, key, gas).await?);
//!
//! let call = encode_entry_function(&abi, "transfer", &[], &[json!("0x2"), json!("1000")])?;
//! match submitter.submit(call).await {
//!     Ok(sent) => {
//!         let outcome = submitter.confirm(&sent, Duration::from_secs(30)).await;
//!         println!("{}: {outcome:?}", sent.hash);
//!     }
//!     Err(e) if e.is_ambiguous() => println!("unknown, poll {:?}; do not resend", e.hash()),
//!     Err(e) => println!("not accepted: {e}"),
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::address::AccountAddress;
use super::keys::PrivateKey;
use super::node::{NodeClient, NodeClientError, SubmitError, TxnOutcome};
use super::sequence::{GapReport, ResyncReport, SequenceManager};
use super::signing::{TransactionHash, seal_transaction};
use super::types::{EntryFunction, RawTransaction};
use super::vm_status::NodeErrorCode;

/// How long a node gas-price estimate is reused by default.
pub const DEFAULT_GAS_PRICE_TTL: Duration = Duration::from_secs(30);

/// Least time between two stall checks (account reads after an unknown or expired confirm while
/// later numbers are in flight), so polling ambiguous transactions does not hammer the node.
pub const DEFAULT_STALL_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// How many times the same signed bytes are re-posted after an ambiguous submit answer.
pub const DEFAULT_MAX_REPOSTS: u32 = 2;

/// Pause before the first re-post (the n-th waits n times this).
pub const DEFAULT_REPOST_DELAY: Duration = Duration::from_millis(100);

/// Most open transactions looked up by one pre-submit sweep (bounds the delay it adds).
const MAX_SWEEP_LOOKUPS: usize = 4;

/// Gas and expiry settings applied to every transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasConfig {
    /// Gas limit in gas units (the sender needs `max_gas_amount × gas_unit_price` octas).
    pub max_gas_amount: u64,
    /// Octas per gas unit; `None` = the node's `gas_estimate`, cached for
    /// [`DEFAULT_GAS_PRICE_TTL`].
    pub gas_unit_price: Option<u64>,
    /// Lifetime of a transaction: expiration = local time now + this many seconds.
    pub expiration_secs: u64,
}

/// A transaction the node accepted into mempool (or, from [`SubmitError::submitted`], one that
/// may have been accepted). Everything needed to confirm it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Submitted {
    /// Transaction hash to poll.
    pub hash: TransactionHash,
    /// The sequence number it carries.
    pub sequence_number: u64,
    /// Its expiration, Unix seconds (the chain's clock decides when it has passed).
    pub expiration_timestamp_secs: u64,
    /// Octas per gas unit it was signed with: its fee is `gas_used × gas_unit_price` once it
    /// commits (successfully or not).
    pub gas_unit_price: u64,
}

impl SubmitError {
    /// For [`SubmitError::Ambiguous`]: the handle to poll with [`Submitter::confirm`] (or
    /// [`NodeClient::wait_for_transaction`]). `None` for definite rejections.
    pub fn submitted(&self) -> Option<Submitted> {
        match self {
            SubmitError::Ambiguous {
                hash,
                sequence_number,
                expiration_timestamp_secs,
                gas_unit_price,
                ..
            } => Some(Submitted {
                hash: *hash,
                sequence_number: *sequence_number,
                expiration_timestamp_secs: *expiration_timestamp_secs,
                gas_unit_price: *gas_unit_price,
            }),
            _ => None,
        }
    }
}

/// Told about a transaction after it is signed and before it is sent (its locally computed
/// hash, sequence number, expiry and gas price), so a write-ahead journal can record what may
/// reach the chain before it can ([`Submitter::submit_with`]). An `Err` stops the send: the
/// transaction is not submitted and the submission fails as [`SubmitError::NotSubmitted`] (its
/// number becomes reusable).
pub type BeforeSend<'a> = dyn Fn(&Submitted) -> Result<(), String> + Send + Sync + 'a;

/// Signs and submits entry-function transactions for the key's (legacy Ed25519) address.
pub struct Submitter {
    node: NodeClient,
    key: PrivateKey,
    chain_id: u8,
    gas: GasConfig,
    gas_price_ttl: Duration,
    stall_check_interval: Duration,
    max_reposts: u32,
    repost_delay: Duration,
    /// `None` until the account's sequence number has been read.
    seq: Mutex<Option<SequenceManager>>,
    /// Last node gas estimate and when it was read.
    gas_cache: Mutex<Option<(u64, Instant)>>,
    /// When the last stall check started (a plain mutex: held only to read and set it).
    last_stall_check: std::sync::Mutex<Option<Instant>>,
    /// Transactions that may be in mempool (accepted, or ambiguous at submit), by sequence
    /// number, until they are settled by [`confirm`](Self::confirm). Lets a submission sweep
    /// out dead ones (rule 1) and keeps a late report about an old transaction from freeing a
    /// number that a newer transaction holds now (see [`Self::settle_expired`]).
    open: std::sync::Mutex<BTreeMap<u64, Submitted>>,
}

impl fmt::Debug for Submitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submitter")
            .field("node", &self.node)
            .field("sender", &self.key.address())
            .field("chain_id", &self.chain_id)
            .field("gas", &self.gas)
            .finish_non_exhaustive()
    }
}

impl Submitter {
    /// A submitter for `key` on chain `chain_id`. The account's sequence number is read lazily on
    /// the first submission (or by [`resync`](Self::resync)).
    pub fn new(node: NodeClient, key: PrivateKey, chain_id: u8, gas: GasConfig) -> Self {
        Self {
            node,
            key,
            chain_id,
            gas,
            gas_price_ttl: DEFAULT_GAS_PRICE_TTL,
            stall_check_interval: DEFAULT_STALL_CHECK_INTERVAL,
            max_reposts: DEFAULT_MAX_REPOSTS,
            repost_delay: DEFAULT_REPOST_DELAY,
            seq: Mutex::new(None),
            gas_cache: Mutex::new(None),
            last_stall_check: std::sync::Mutex::new(None),
            open: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// Read the chain id (`GET /v1`) and the account's sequence number, then build the
    /// submitter.
    pub async fn connect(
        node: NodeClient,
        key: PrivateKey,
        gas: GasConfig,
    ) -> Result<Self, NodeClientError> {
        let chain_id = node.ledger_info().await?.chain_id;
        let s = Self::new(node, key, chain_id, gas);
        s.resync().await?;
        Ok(s)
    }

    /// Replace how long a node gas estimate is reused.
    pub fn with_gas_price_ttl(mut self, ttl: Duration) -> Self {
        self.gas_price_ttl = ttl;
        self
    }

    /// Replace the least time between two stall checks (default
    /// [`DEFAULT_STALL_CHECK_INTERVAL`]; zero checks after every unknown or expired confirm).
    pub fn with_stall_check_interval(mut self, interval: Duration) -> Self {
        self.stall_check_interval = interval;
        self
    }

    /// Replace how often the same signed bytes are re-posted after an ambiguous submit answer
    /// (default [`DEFAULT_MAX_REPOSTS`]; zero never re-posts) and the pause before the first.
    pub fn with_reposts(mut self, max_reposts: u32, delay: Duration) -> Self {
        self.max_reposts = max_reposts;
        self.repost_delay = delay;
        self
    }

    /// The sending address (`key.address()`).
    pub fn address(&self) -> AccountAddress {
        self.key.address()
    }

    /// The chain id put in every transaction.
    pub fn chain_id(&self) -> u8 {
        self.chain_id
    }

    /// The node client.
    pub fn node(&self) -> &NodeClient {
        &self.node
    }

    /// Sequence numbers handed out and not yet resolved (pending, ambiguous), ascending.
    pub async fn in_flight(&self) -> Vec<u64> {
        self.seq
            .lock()
            .await
            .as_ref()
            .map(SequenceManager::in_flight)
            .unwrap_or_default()
    }

    /// Read the account's on-chain sequence number and reconcile the local numbers with it
    /// ([`SequenceManager::resync`]). Use it when pending transactions make no progress: a
    /// non-empty [`ResyncReport::stalled`] means they are "too new" behind a gap.
    pub async fn resync(&self) -> Result<ResyncReport, NodeClientError> {
        let on_chain = self.read_sequence_number().await?;
        let mut guard = self.seq.lock().await;
        let manager = guard.get_or_insert_with(|| SequenceManager::new(on_chain));
        let report = manager.resync(on_chain);
        drop(guard);
        log_resync(&report);
        Ok(report)
    }

    /// Build, sign and submit a transaction calling `payload`.
    ///
    /// On `sequence_number_too_old` it refetches the account number and rebuilds once. It never
    /// resubmits after an ambiguous response: [`SubmitError::Ambiguous`] is returned with the
    /// hash (see [`SubmitError::submitted`]).
    pub async fn submit(&self, payload: EntryFunction) -> Result<Submitted, SubmitError> {
        self.submit_with(payload, &|_| Ok(())).await
    }

    /// [`submit`](Self::submit), telling `before_send` about each signed transaction before its
    /// bytes leave (see [`BeforeSend`]). The caller passes it per call, so which request a
    /// transaction belongs to is in the caller's hands, not in shared state.
    pub async fn submit_with(
        &self,
        payload: EntryFunction,
        before_send: &BeforeSend<'_>,
    ) -> Result<Submitted, SubmitError> {
        let gas_unit_price = self.gas_unit_price().await?;
        self.sweep_dead().await;
        let seq = self.allocate().await?;
        let first = self
            .sign_and_send(&payload, seq, gas_unit_price, before_send)
            .await;
        let Err(SubmitError::SequenceTooOld { hash, .. }) = &first else {
            if let Err(e) = &first {
                self.settle_rejected(seq, e).await;
            }
            return first;
        };
        // Too old: this transaction was not accepted, so a rebuild cannot duplicate it.
        info!(%hash, sequence_number = seq, "sequence number too old; resyncing and rebuilding once");
        self.with_manager(|m| m.discard(seq)).await;
        let on_chain = match self.read_sequence_number().await {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "cannot refetch the sequence number after a too-old rejection");
                return first;
            }
        };
        let retry_seq = {
            let mut guard = self.seq.lock().await;
            let manager = guard.get_or_insert_with(|| SequenceManager::new(on_chain));
            let report = manager.resync(on_chain);
            let n = manager.next();
            drop(guard);
            log_resync(&report);
            n
        };
        let second = self
            .sign_and_send(&payload, retry_seq, gas_unit_price, before_send)
            .await;
        if let Err(e) = &second {
            self.settle_rejected(retry_seq, e).await;
        }
        second
    }

    /// Wait for `submitted` to be committed or expire ([`NodeClient::wait_for_transaction`]) and
    /// update the sequence numbers: committed (success or failure) consumes the number, expired
    /// frees it, unknown leaves it in flight. An unknown or expired outcome while higher numbers
    /// are in flight triggers a stall check (see the module docs).
    ///
    /// This is also how an *ambiguous* transaction must be resolved later (with a short
    /// `max_wait`): going around it would leave the number in flight for ever, and every later
    /// transaction would wait behind it.
    pub async fn confirm(&self, submitted: &Submitted, max_wait: Duration) -> TxnOutcome {
        let outcome = self
            .node
            .wait_for_transaction(
                submitted.hash,
                submitted.expiration_timestamp_secs,
                max_wait,
            )
            .await;
        let seq = submitted.sequence_number;
        match &outcome {
            TxnOutcome::Committed { .. } | TxnOutcome::Failed { .. } => {
                self.forget_open_through(seq);
                self.with_manager(|m| m.confirmed(seq)).await;
            }
            TxnOutcome::Expired { .. } => {
                self.settle_expired(submitted).await;
                self.check_for_stall(seq).await;
            }
            TxnOutcome::Unknown { .. } => self.check_for_stall(seq).await,
        }
        outcome
    }

    /// A transaction carrying `seq` was seen committed (successfully or not) by a lookup outside
    /// [`confirm`](Self::confirm): the number and every lower one are consumed.
    pub async fn observe_committed(&self, seq: u64) {
        self.forget_open_through(seq);
        self.with_manager(|m| m.confirmed(seq)).await;
    }

    /// `submitted` is dead (its expiration passed by the chain's clock, not committed): free its
    /// number, but only if the number is still held by *this* transaction. A second report about
    /// the same transaction (the sweep settled it, then the executor resolves it) must not free
    /// the number again: by then a newer transaction may carry it, and freeing it would hand it
    /// out a third time while the newer one can still commit.
    async fn settle_expired(&self, submitted: &Submitted) {
        let seq = submitted.sequence_number;
        let ours = {
            let Ok(mut open) = self.open.lock() else {
                return;
            };
            if open.get(&seq).is_some_and(|o| o.hash == submitted.hash) {
                open.remove(&seq);
                true
            } else {
                false
            }
        };
        if !ours {
            debug!(hash = %submitted.hash, sequence_number = seq, "expired again or superseded; number left as it is");
            return;
        }
        if let Some(gap) = self.with_manager(|m| m.expired(seq)).await {
            log_gap(submitted.hash, &gap, "expired");
        }
    }

    /// Rule 1 (detect a hole quickly): before handing out a number, look once at every open
    /// transaction whose expiration has passed by the local clock (a cheap pre-filter; the
    /// verdict is the node's, by ledger time, in [`NodeClient::wait_for_transaction`]). A dead
    /// one frees its number at once, so the transaction being built fills the hole instead of
    /// queueing behind it until the executor's back-off gets round to resolving it. A committed
    /// one consumes its number. Anything else is left alone.
    async fn sweep_dead(&self) {
        let now = unix_now();
        let floor = self.with_manager(|m| m.floor()).await.unwrap_or(0);
        let due: Vec<Submitted> = {
            let Ok(mut open) = self.open.lock() else {
                return;
            };
            // Numbers below the floor are consumed: nothing to learn about them here.
            *open = open.split_off(&floor);
            open.values()
                .filter(|o| o.expiration_timestamp_secs < now)
                .take(MAX_SWEEP_LOOKUPS)
                .copied()
                .collect()
        };
        for o in due {
            let outcome = self
                .node
                .wait_for_transaction(o.hash, o.expiration_timestamp_secs, Duration::ZERO)
                .await;
            match outcome {
                TxnOutcome::Committed { .. } | TxnOutcome::Failed { .. } => {
                    self.forget_open_through(o.sequence_number);
                    self.with_manager(|m| m.confirmed(o.sequence_number)).await;
                }
                TxnOutcome::Expired { .. } => {
                    info!(hash = %o.hash, sequence_number = o.sequence_number, "dead transaction found before signing; its number is reused");
                    self.settle_expired(&o).await;
                }
                TxnOutcome::Unknown { .. } => {}
            }
        }
    }

    /// Committed at `seq`: it and every lower number are consumed, so nothing open there.
    fn forget_open_through(&self, seq: u64) {
        if let Ok(mut open) = self.open.lock() {
            *open = open.split_off(&seq.saturating_add(1));
        }
    }

    /// Note a transaction that may be in mempool.
    fn remember_open(&self, submitted: Submitted) {
        if let Ok(mut open) = self.open.lock() {
            open.insert(submitted.sequence_number, submitted);
        }
    }

    /// After `seq` ended unknown or expired: if higher numbers are in flight, they may be stuck
    /// behind a gap ("too new"). Re-read the account (rate-limited) and adopt its number, which
    /// makes the gap reusable so the next submission fills it.
    async fn check_for_stall(&self, seq: u64) {
        let ahead = self
            .with_manager(|m| m.in_flight().last().is_some_and(|&top| top > seq))
            .await
            .unwrap_or(false);
        if !ahead || !self.stall_check_due() {
            return;
        }
        match self.resync().await {
            Ok(report) if !report.stalled.is_empty() => warn!(
                gap = report.on_chain,
                stalled = ?report.stalled,
                "transactions are stuck behind an unfilled sequence number; the next submission \
                 takes it"
            ),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "stall check: cannot read the account's sequence number"),
        }
    }

    /// Whether a stall check may run now (and, if so, mark it as run).
    fn stall_check_due(&self) -> bool {
        let Ok(mut last) = self.last_stall_check.lock() else {
            return true;
        };
        let now = Instant::now();
        if last.is_some_and(|at| now.saturating_duration_since(at) < self.stall_check_interval) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// [`submit`](Self::submit) then [`confirm`](Self::confirm). An ambiguous submission is
    /// resolved by polling its hash, so it ends in `Ok` with whatever the chain says (including
    /// [`TxnOutcome::Unknown`]); only definite rejections are `Err`.
    pub async fn submit_and_confirm(
        &self,
        payload: EntryFunction,
        max_wait: Duration,
    ) -> Result<(Submitted, TxnOutcome), SubmitError> {
        let submitted = match self.submit(payload).await {
            Ok(s) => s,
            Err(e) => match e.submitted() {
                Some(s) => s,
                None => return Err(e),
            },
        };
        let outcome = self.confirm(&submitted, max_wait).await;
        Ok((submitted, outcome))
    }

    // ---- internals ----

    async fn sign_and_send(
        &self,
        payload: &EntryFunction,
        sequence_number: u64,
        gas_unit_price: u64,
        before_send: &BeforeSend<'_>,
    ) -> Result<Submitted, SubmitError> {
        let expiration_timestamp_secs = unix_now().saturating_add(self.gas.expiration_secs);
        let raw = RawTransaction {
            sender: self.key.address(),
            sequence_number,
            payload: payload.clone().into(),
            max_gas_amount: self.gas.max_gas_amount,
            gas_unit_price,
            expiration_timestamp_secs,
            chain_id: self.chain_id,
        };
        let sealed = seal_transaction(raw, &self.key)?;
        let about = Submitted {
            hash: sealed.hash,
            sequence_number,
            expiration_timestamp_secs,
            gas_unit_price,
        };
        before_send(&about).map_err(|reason| {
            SubmitError::NotSubmitted(NodeClientError::Setup(format!(
                "transaction {} not sent: {reason}",
                about.hash
            )))
        })?;
        let mut result = self.node.submit_sealed(&sealed).await;
        // Rule 2: an ambiguous answer (5xx, timeout) is followed by re-posting the *same signed
        // bytes*. They have the same hash, so the node either accepts them (once: a mempool
        // holds a transaction once, and a chain executes a hash at most once) or refuses them;
        // no second order can come of it. A re-post refused for any reason stays ambiguous: the
        // first post may have been accepted and even committed (then "too old" is the
        // transaction's own commit), so a refusal proves nothing and only polling settles it.
        let mut reposts = 0;
        while reposts < self.max_reposts
            && matches!(result, Err(SubmitError::Ambiguous { .. }))
            && expiration_timestamp_secs > unix_now()
        {
            reposts += 1;
            tokio::time::sleep(self.repost_delay.saturating_mul(reposts)).await;
            match self.node.submit_sealed(&sealed).await {
                Ok(p) => {
                    info!(hash = %p.hash, sequence_number, reposts, "re-posted the same transaction after an ambiguous answer; accepted");
                    result = Ok(p);
                }
                Err(e @ SubmitError::Ambiguous { .. }) => result = Err(e),
                Err(e) => {
                    // `result` keeps the earlier ambiguous error.
                    warn!(error = %e, sequence_number, "re-post refused; the first post stays ambiguous");
                    break;
                }
            }
        }
        let submitted = |hash| Submitted {
            hash,
            sequence_number,
            expiration_timestamp_secs,
            gas_unit_price,
        };
        match result {
            Ok(pending) => {
                let sent = submitted(pending.hash);
                self.remember_open(sent);
                Ok(sent)
            }
            Err(e) => {
                if let Some(h) = e.submitted() {
                    self.remember_open(h);
                }
                Err(e)
            }
        }
    }

    /// Update the numbers after a failed submission of `seq`.
    async fn settle_rejected(&self, seq: u64, err: &SubmitError) {
        match err {
            // May be in mempool: stays in flight until confirmed or expired.
            SubmitError::Ambiguous { .. } => {}
            // Taken by another transaction: never reuse.
            SubmitError::SequenceTooOld { .. }
            | SubmitError::Rejected {
                code: NodeErrorCode::InvalidTransactionUpdate,
                ..
            } => {
                self.with_manager(|m| m.discard(seq)).await;
            }
            // Definitely not in mempool: reusable.
            SubmitError::Rejected { .. }
            | SubmitError::MempoolFull { .. }
            | SubmitError::NotSubmitted(_) => {
                if let Some(gap) = self.with_manager(|m| m.failed_before_submit(seq)).await
                    && let Some(hash) = err.hash()
                {
                    log_gap(hash, &gap, "rejected");
                }
            }
        }
    }

    /// Hand out the next number, reading the account first if this is the first use.
    async fn allocate(&self) -> Result<u64, SubmitError> {
        if let Some(m) = self.seq.lock().await.as_mut() {
            return Ok(m.next());
        }
        let on_chain = self.read_sequence_number().await?;
        let mut guard = self.seq.lock().await;
        Ok(guard
            .get_or_insert_with(|| SequenceManager::new(on_chain))
            .next())
    }

    async fn with_manager<T>(&self, f: impl FnOnce(&mut SequenceManager) -> T) -> Option<T> {
        self.seq.lock().await.as_mut().map(f)
    }

    async fn read_sequence_number(&self) -> Result<u64, NodeClientError> {
        let info = self.node.account(self.key.address()).await?;
        if info.exists && info.authentication_key != self.key.public_key().authentication_key() {
            warn!(
                sender = %self.key.address(),
                "the account's authentication key is not this key's: transactions will fail INVALID_AUTH_KEY"
            );
        }
        debug!(sender = %self.key.address(), sequence_number = info.sequence_number, "read account sequence number");
        Ok(info.sequence_number)
    }

    async fn gas_unit_price(&self) -> Result<u64, NodeClientError> {
        if let Some(p) = self.gas.gas_unit_price {
            return Ok(p);
        }
        if let Some((price, at)) = *self.gas_cache.lock().await
            && at.elapsed() < self.gas_price_ttl
        {
            return Ok(price);
        }
        let price = self.node.estimate_gas_price().await?.gas_estimate;
        *self.gas_cache.lock().await = Some((price, Instant::now()));
        Ok(price)
    }
}

/// Local wall-clock time, Unix seconds.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn log_gap(hash: TransactionHash, gap: &GapReport, what: &str) {
    if gap.stalled.is_empty() {
        debug!(%hash, reusable = ?gap.reusable, "{what}: sequence number reusable");
    } else {
        warn!(
            %hash,
            reusable = ?gap.reusable,
            stalled = ?gap.stalled,
            "{what}: later transactions wait behind the gap until it is refilled or they expire"
        );
    }
}

fn log_resync(report: &ResyncReport) {
    if report.stalled.is_empty() {
        debug!(?report, "sequence numbers resynced");
    } else {
        warn!(
            ?report,
            "sequence numbers resynced: in-flight transactions are too new"
        );
    }
}

#[cfg(test)]
mod tests;
