//! `perpbot kyan …`: Kyan tools. `kyan sign <TYPE> --message '<json>'` signs one EIP-712 typed
//! message with the key from `PERPBOT_KYAN_PRIVATE_KEY` or `--key-file` and prints
//! `{"digest": "0x…", "signature": "0x…"}` — what Kyan's `signature` fields carry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow};

use crate::config::SecretSource;
use crate::outln;
use crate::venue::kyan::signing::{
    KyanSigner, TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT, domain, message_json,
};

/// The environment variable the key is read from when no `--key-file` is given.
pub const KEY_ENV: &str = "PERPBOT_KYAN_PRIVATE_KEY";

/// Kyan subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KyanCommand {
    /// Sign one EIP-712 typed message and print its digest and signature as JSON.
    Sign(SignArgs),
}

/// Options of `kyan sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The type: UserLimitOrder, UserEditOrder, UserMarketOrder, CancelOrdersType,
    /// CancelAllOrdersType, OneClickSignature or HeartbeatType.
    #[arg(value_name = "TYPE")]
    pub ty: String,
    /// The message as JSON: EIP-712 field names, integers as decimal strings, addresses as 0x
    /// hex, nested structs as objects.
    #[arg(long)]
    pub message: String,
    /// File holding the secp256k1 private key (hex; owner-only). Default: the environment
    /// variable PERPBOT_KYAN_PRIVATE_KEY.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Chain id of the signing domain (421614: Arbitrum Sepolia, Kyan's staging).
    #[arg(long, default_value_t = TESTNET_CHAIN_ID)]
    pub chain_id: u64,
    /// Verifying contract of the signing domain (default on chain 421614: Kyan's staging proxy;
    /// required on any other chain).
    #[arg(long)]
    pub verifying_contract: Option<String>,
}

/// Run a `kyan` subcommand.
pub fn run(command: KyanCommand) -> Result<ExitCode> {
    match command {
        KyanCommand::Sign(args) => sign(&args),
    }
}

fn sign(args: &SignArgs) -> Result<ExitCode> {
    let message = message_json::parse(&args.ty, &args.message).map_err(|e| anyhow!("{e}"))?;
    let contract = match &args.verifying_contract {
        Some(text) => text
            .parse()
            .map_err(|_| anyhow!("--verifying-contract: {text:?} is not an address"))?,
        None if args.chain_id == TESTNET_CHAIN_ID => TESTNET_VERIFYING_CONTRACT,
        // Kyan's mainnet contract is not documented (reference §14): no default is guessed.
        None => {
            return Err(anyhow!(
                "--verifying-contract: required for chain id {} (only staging's, {}, has a default)",
                args.chain_id,
                TESTNET_CHAIN_ID
            ));
        }
    };
    let source = match &args.key_file {
        Some(path) => SecretSource {
            env: None,
            file: Some(path.clone()),
        },
        None => SecretSource {
            env: Some(KEY_ENV.into()),
            file: None,
        },
    };
    let key_name = if args.key_file.is_some() {
        "--key-file"
    } else {
        KEY_ENV
    };
    let secret = source.load(key_name).map_err(anyhow::Error::msg)?;
    let signer = KyanSigner::from_hex(secret.expose()).context(key_name)?;
    let digest = message.signing_hash(&domain(args.chain_id, contract));
    let signature = signer.sign_digest(digest);
    let out = serde_json::json!({
        "digest": format!("{digest:#x}"),
        "signature": format!("0x{}", hex::encode(signature)),
    });
    outln!("{out}")?;
    Ok(ExitCode::SUCCESS)
}
