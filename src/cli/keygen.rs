//! `perpbot keygen`: a fresh Ed25519 key in an owner-only key file, and its account address.
//!
//! The key is 32 bytes from the operating system's CSPRNG (`OsRng`), written as one AIP-80
//! line (`ed25519-priv-0x…`), the first form the key loaders read (`private_key = { file = … }`
//! in a config, [`super::read_key_file`] for `tx sign`). The file is created with mode 0600 and
//! is never overwritten unless `--force` is given; then the new key replaces the old file
//! atomically (written beside it, then renamed over it). Only the address and the public key are
//! printed: the secret never reaches standard output or the log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use zeroize::Zeroizing;

use crate::aptos::PrivateKey;
use crate::outln;

/// Options of `keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Key file to write (created owner-only, mode 0600).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file (the old key is lost unless you kept a copy).
    #[arg(long)]
    pub force: bool,
}

/// Generate the key, write it, print its address.
pub fn keygen(args: &KeygenArgs) -> Result<ExitCode> {
    let key = PrivateKey::from_seed_bytes(*random_seed()?);
    write_key_file(&args.out, &key, args.force)?;
    outln!("wrote     {} (mode 600)", args.out.display())?;
    outln!("address   {}", key.address())?;
    outln!("public    {}", key.public_key())?;
    outln!(
        "use it:   private_key = {{ file = \"{}\" }} under [venue.kana]",
        args.out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// 32 bytes from the OS's CSPRNG, wiped when dropped.
fn random_seed() -> Result<Zeroizing<[u8; 32]>> {
    use rand::TryRngCore;
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng
        .try_fill_bytes(seed.as_mut_slice())
        .map_err(|e| anyhow::anyhow!("the operating system's random generator failed: {e}"))?;
    if seed.iter().all(|b| *b == 0) {
        bail!(
            "the operating system's random generator returned only zeros; refusing to make a key from it"
        );
    }
    Ok(seed)
}

/// Write `key` as one AIP-80 line to `path`, owner-only. Without `force` an existing file is an
/// error (checked atomically by the create). With it, the key goes to a fresh temporary file in
/// the same folder first and is renamed over `path`, so a crash never leaves half a key.
pub fn write_key_file(path: &Path, key: &PrivateKey, force: bool) -> Result<()> {
    let text = Zeroizing::new(format!("{}\n", key.to_aip80_secret().as_str()));
    if !force {
        let mut file = create_owner_only(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} exists; refusing to overwrite a key file (pass --force to replace it)",
                    path.display()
                )
            } else {
                anyhow::anyhow!("cannot create key file {}: {e}", path.display())
            }
        })?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing key file {}", path.display()))?;
        return Ok(());
    }
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("--out {}: not a file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let written = create_owner_only(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot write key file {}: {e}", path.display());
    }
    Ok(())
}

/// Create a new file readable and writable by its owner only; fails if it exists.
fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
