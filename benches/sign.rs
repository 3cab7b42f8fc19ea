//! Intent → signed transaction: what the Kana writer does with a requote between the REST reply
//! and the `POST /v1/transactions` body, step by step and end to end.
//!
//! The input is a requote of the market maker — cancel its two quotes, place a new bid and ask —
//! as the `cancelAndPlaceMultipleOrders` payload the simulator's REST serves (JSON text with the
//! arguments in on-chain units, the u128 order ids as strings), and the simulator's
//! `perpetual_scripts::cancel_and_place_multiple_orders` entry-function ABI (`sim::abi`, fetched
//! once and cached by the node client in a live run, so not timed).
//!
//! Timed steps (`sign/…`):
//! 1. `payload_parse_and_check`: `EntryFunctionPayload` from the JSON text (exact-number reader),
//!    `validate` (no `null`s) and `check_payload` (package, module, function fit the request);
//! 2. `abi_encode`: `encode_entry_function` — each JSON argument typed by the ABI, BCS-encoded;
//! 3. `bcs_raw_transaction`: the `RawTransaction` built (the call cloned into it, as
//!    `Submitter::sign_and_send` does) and its signing message (prefix ‖ BCS);
//! 4. `ed25519_sign`: the Ed25519 signature over that message;
//! 5. `signed_bytes_and_hash`: the BCS `SignedTransaction` (the submit body) and its transaction
//!    hash, as `NodeClient::submit_bcs` computes them.
//!
//! `end_to_end` runs the same path as the writer in one go: 1 → 2 → `RawTransaction` (with
//! `PrivateKey::address`) → `seal_transaction` (the signature, the submit body and the hash with
//! the raw transaction serialised once, as `Submitter` sends it).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpbot::aptos::{
    AccountAddress, EntryFunction, MoveModule, PrivateKey, RawTransaction, SignedTransaction,
    encode_entry_function, seal_transaction, sign_transaction, signing_message, transaction_hash,
};
use perpbot::sim::abi::{PERPETUAL_SCRIPTS, module_abi};
use perpbot::sim::server::config::SIM_PACKAGE;
use perpbot::venue::kana::payload::EntryFunctionPayload;
use perpbot::venue::kana::writer::{WriteAction, check_payload};

/// Expiry and gas as the embedded simulator config sets them.
const EXPIRATION_SECS: u64 = 1_746_177_781;
const CHAIN_ID: u8 = 4;

/// The REST reply for "cancel my bid and ask, place a new bid at 5.498 and ask at 5.503, 1 APT
/// each, leverage 2, post-only", in the simulator's format.
fn payload_json() -> String {
    format!(
        r#"{{"function":"{SIM_PACKAGE}::perpetual_scripts::cancel_and_place_multiple_orders","typeArguments":[],"functionArguments":["1338",["12907057702855018828273522","12907057702855018828273523"],[true,false],[true,true],[true,false],[false,false],["1000","1000"],["5498","5503"],["2","2"],3,["0","0"],["0","0"]]}}"#
    )
}

struct Inputs {
    json: String,
    abi: MoveModule,
    package: AccountAddress,
    key: PrivateKey,
}

impl Inputs {
    fn new() -> Inputs {
        let package = AccountAddress::from_hex(SIM_PACKAGE).expect("sim package");
        Inputs {
            json: payload_json(),
            abi: module_abi(package, PERPETUAL_SCRIPTS).expect("perpetual_scripts ABI"),
            package,
            key: PrivateKey::from_test_seed(1),
        }
    }

    /// Step 1.
    fn parse(&self) -> EntryFunctionPayload {
        let payload: EntryFunctionPayload =
            serde_json::from_str(&self.json).expect("payload parses");
        payload.validate().expect("no null arguments");
        check_payload(&payload, WriteAction::CancelAndPlace, self.package).expect("fits");
        payload
    }

    /// Step 2.
    fn encode(&self, payload: &EntryFunctionPayload) -> EntryFunction {
        let id = payload.function_id().expect("function id");
        encode_entry_function(
            &self.abi,
            id.function.as_str(),
            &payload.type_arguments,
            &payload.function_arguments,
        )
        .expect("encodes")
    }

    /// Step 3's transaction.
    fn raw(&self, call: &EntryFunction, sender: AccountAddress) -> RawTransaction {
        RawTransaction {
            sender,
            sequence_number: 42,
            payload: call.clone().into(),
            max_gas_amount: 10_000,
            gas_unit_price: 100,
            expiration_timestamp_secs: EXPIRATION_SECS,
            chain_id: CHAIN_ID,
        }
    }

    /// The whole path.
    fn end_to_end(&self) -> (Vec<u8>, [u8; 32]) {
        let payload = self.parse();
        let call = self.encode(&payload);
        let raw = self.raw(&call, self.key.address());
        let sealed = seal_transaction(raw, &self.key).expect("signs");
        (sealed.bytes, sealed.hash.0)
    }
}

fn steps(c: &mut Criterion) {
    let inputs = Inputs::new();
    let payload = inputs.parse();
    let call = inputs.encode(&payload);
    let sender = inputs.key.address();
    let raw = inputs.raw(&call, sender);
    let message = signing_message(&raw).expect("signing message");
    let signed: SignedTransaction = sign_transaction(raw.clone(), &inputs.key).expect("signs");
    // The end-to-end result is the one the steps build.
    let (bytes, hash) = inputs.end_to_end();
    assert_eq!(bytes, signed.to_bytes().expect("serialises"));
    assert_eq!(hash, signed.hash().expect("hash").0);

    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    group.bench_function("1_payload_parse_and_check", |b| b.iter(|| inputs.parse()));
    group.bench_function("2_abi_encode", |b| {
        b.iter(|| inputs.encode(black_box(&payload)))
    });
    group.bench_function("3_bcs_raw_transaction", |b| {
        b.iter(|| {
            let raw = inputs.raw(black_box(&call), sender);
            signing_message(&raw).expect("signing message")
        })
    });
    group.bench_function("4_ed25519_sign", |b| {
        b.iter(|| inputs.key.sign_message(black_box(&message)))
    });
    group.bench_function("5_signed_bytes_and_hash", |b| {
        b.iter(|| {
            let bytes = black_box(&signed).to_bytes().expect("serialises");
            transaction_hash(&bytes)
        })
    });
    group.bench_function("end_to_end", |b| b.iter(|| inputs.end_to_end()));
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
