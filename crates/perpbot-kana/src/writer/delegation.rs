//! Registering and dropping a delegate ("1-Click Trading", reference §9.6) from the owner's key,
//! so a bot can trade with a key that can never withdraw.
//!
//! \[UNK\] Kana documents that one delegate per user is set, changed, extended (time-bounded) or
//! removed "by an on-chain transaction from the main wallet", but **not** the function names.
//! \[INF\] This module assumes what perpbot's simulator implements, all in one place
//! ([`DelegationFunctions::default`]):
//!
//! * `perpetual_scripts::add_delegate(delegate: address, expires_at_secs: u64)` — Unix seconds,
//!   `0` = no expiry; a second call replaces (changes or extends) the first;
//! * `perpetual_scripts::remove_delegate()`;
//! * reading the current delegate: the view function `perpetual_scripts::get_delegate(owner:
//!   address)` returning `(delegate: address, expires_at_secs: u64, active: bool)` (`0x0`: none).
//!   Kana has **no documented way** to read a delegate; only the simulator answers this.
//!
//! Module and function names can be overridden ([`DelegationFunctions`]) once Kana's real ABI
//! is known (`GET {node}/v1/accounts/{package}/module/{module}` lists a package's functions).

use std::sync::{Arc, Mutex};

use serde_json::Value;

use perpbot_aptos::AccountAddress;
use perpbot_core::venue::{RequestContext, RequestOutcome, ResumeToken, SentHook};

use super::{KanaWriter, NO_ORDERS};
use crate::payload::EntryFunctionPayload;

/// Where the delegation functions live in the Kana package (\[INF\], see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegationFunctions {
    /// Module holding all three functions (default `perpetual_scripts`).
    pub module: String,
    /// Entry function `(delegate: address, expires_at_secs: u64)` (default `add_delegate`).
    pub add: String,
    /// Entry function `()` (default `remove_delegate`).
    pub remove: String,
    /// View function `(owner: address) -> (address, u64, bool)` (default `get_delegate`).
    pub view: String,
}

impl Default for DelegationFunctions {
    fn default() -> DelegationFunctions {
        DelegationFunctions {
            module: "perpetual_scripts".into(),
            add: "add_delegate".into(),
            remove: "remove_delegate".into(),
            view: "get_delegate".into(),
        }
    }
}

/// A Move identifier: ASCII letter or `_` first, then letters, digits or `_`.
fn identifier(field: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("{field}: {name:?} is not a Move identifier"))
    }
}

impl DelegationFunctions {
    /// Check every name is a Move identifier, naming the field that is not.
    pub fn validate(&self) -> Result<(), String> {
        identifier("module", &self.module)?;
        identifier("add function", &self.add)?;
        identifier("remove function", &self.remove)?;
        identifier("view function", &self.view)
    }

    fn function(&self, package: AccountAddress, name: &str) -> String {
        format!("{package}::{}::{name}", self.module)
    }

    /// The payload registering `delegate` until `expires_at_secs` (Unix seconds, 0 = none).
    pub fn add_payload(
        &self,
        package: AccountAddress,
        delegate: AccountAddress,
        expires_at_secs: u64,
    ) -> EntryFunctionPayload {
        EntryFunctionPayload {
            function: self.function(package, &self.add),
            type_arguments: Vec::new(),
            function_arguments: vec![
                Value::String(delegate.to_string()),
                Value::String(expires_at_secs.to_string()),
            ],
        }
    }

    /// The payload dropping the sender's delegate.
    pub fn remove_payload(&self, package: AccountAddress) -> EntryFunctionPayload {
        EntryFunctionPayload {
            function: self.function(package, &self.remove),
            type_arguments: Vec::new(),
            function_arguments: Vec::new(),
        }
    }

    /// The body of an Aptos `POST /v1/view` asking for `owner`'s delegate.
    pub fn view_request(&self, package: AccountAddress, owner: AccountAddress) -> Value {
        serde_json::json!({
            "function": self.function(package, &self.view),
            "type_arguments": [],
            "arguments": [owner.to_string()],
        })
    }
}

/// `owner`'s delegate as the view function reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelegateInfo {
    /// The delegate's address.
    pub delegate: AccountAddress,
    /// Expiry in Unix seconds; `None`: no expiry.
    pub expires_at_secs: Option<u64>,
    /// Whether it may trade now (registered and not expired).
    pub active: bool,
}

/// Read the view function's answer (`[address, "u64", bool]`); `Ok(None)` when the delegate is
/// `0x0` (none registered). Errors name the element that is wrong.
pub fn parse_view(answer: &Value) -> Result<Option<DelegateInfo>, String> {
    let items = answer
        .as_array()
        .ok_or("view answer: not a JSON array of return values")?;
    let text = |i: usize, what: &str| {
        items
            .get(i)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("view answer[{i}] ({what}): missing or not a string"))
    };
    let delegate = AccountAddress::from_hex(text(0, "delegate")?)
        .map_err(|e| format!("view answer[0] (delegate): {e}"))?;
    let expires: u64 = text(1, "expires_at_secs")?
        .parse()
        .map_err(|e| format!("view answer[1] (expires_at_secs): {e}"))?;
    let active = items
        .get(2)
        .and_then(Value::as_bool)
        .ok_or("view answer[2] (active): missing or not a bool")?;
    if delegate == AccountAddress::ZERO {
        return Ok(None);
    }
    Ok(Some(DelegateInfo {
        delegate,
        expires_at_secs: (expires != 0).then_some(expires),
        active,
    }))
}

/// What a delegation transaction did: the outcome and the hash of the transaction sent (none
/// when it was refused before signing).
#[derive(Debug, Clone)]
pub struct DelegationReceipt {
    /// How it ended.
    pub outcome: RequestOutcome,
    /// The transaction's hash.
    pub hash: Option<String>,
}

impl KanaWriter {
    /// Register `delegate` as the trading key of this writer's (owner's) wallet until
    /// `expires_at_secs` (Unix seconds, 0 = no expiry), replacing any earlier delegate. Refused
    /// for a delegate session and for the signer's own address.
    pub async fn add_delegate(
        &self,
        functions: &DelegationFunctions,
        delegate: AccountAddress,
        expires_at_secs: u64,
    ) -> DelegationReceipt {
        if let Err(reason) = self.owner_only("register a delegate", functions) {
            return refused(reason);
        }
        if delegate == self.submitter.address() {
            return refused(
                "--delegate is the owner's own address; a delegate must be another key",
            );
        }
        if delegate == AccountAddress::ZERO {
            return refused("--delegate: 0x0 is not an account");
        }
        let payload = functions.add_payload(self.package, delegate, expires_at_secs);
        self.send_delegation(payload).await
    }

    /// Drop this writer's (owner's) delegate; its next call is refused by the chain.
    pub async fn remove_delegate(&self, functions: &DelegationFunctions) -> DelegationReceipt {
        if let Err(reason) = self.owner_only("remove a delegate", functions) {
            return refused(reason);
        }
        let payload = functions.remove_payload(self.package);
        self.send_delegation(payload).await
    }

    fn owner_only(&self, what: &str, functions: &DelegationFunctions) -> Result<(), String> {
        if self.config.delegate_for.is_some() {
            return Err(format!(
                "a delegate key cannot {what}: run this with the owner's key (no delegate_for)"
            ));
        }
        functions.validate()
    }

    async fn send_delegation(&self, payload: EntryFunctionPayload) -> DelegationReceipt {
        let sent: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&sent);
        let hook: SentHook = Arc::new(move |_, token: &ResumeToken| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(token.handle.clone());
            }
            Ok(())
        });
        let ctx = RequestContext {
            scope: None,
            on_sent: Some(hook),
        };
        let outcome = self.submit_checked(&payload, &NO_ORDERS, &ctx).await;
        let hash = sent.lock().ok().and_then(|s| s.clone());
        DelegationReceipt { outcome, hash }
    }
}

fn refused(reason: impl Into<String>) -> DelegationReceipt {
    DelegationReceipt {
        outcome: RequestOutcome::rejected(reason.into()),
        hash: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_payloads_carry_the_assumed_arguments() {
        let f = DelegationFunctions::default();
        assert!(f.validate().is_ok());
        let package = AccountAddress::from_hex("0x1").unwrap();
        let delegate = AccountAddress::from_hex("0xabc").unwrap();
        let p = f.add_payload(package, delegate, 1_700_000_000);
        assert!(p.function.ends_with("::perpetual_scripts::add_delegate"));
        assert_eq!(p.function_arguments[1], Value::String("1700000000".into()));
        let bad = DelegationFunctions {
            module: "perpetual scripts".into(),
            ..DelegationFunctions::default()
        };
        assert!(bad.validate().unwrap_err().starts_with("module"));
    }

    #[test]
    fn the_view_answer_is_read_strictly() {
        let none = serde_json::json!(["0x0", "0", false]);
        assert_eq!(parse_view(&none).unwrap(), None);
        let some = serde_json::json!(["0xabc", "1700000000", true]);
        let info = parse_view(&some).unwrap().unwrap();
        assert_eq!(info.expires_at_secs, Some(1_700_000_000));
        assert!(info.active);
        let err = parse_view(&serde_json::json!(["0xabc", 5, true])).unwrap_err();
        assert!(err.contains("expires_at_secs"), "{err}");
    }
}
