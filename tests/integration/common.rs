//! Helpers shared by the integration tests that run the real binary: a scratch folder kept when a
//! test fails, and secrets written the way an operator should write them.

use std::path::{Path, PathBuf};

/// A folder under the system's temp dir, named for the test and the process; removed when the
/// test passes, kept (and named on stderr) when it fails, so its logs and journal can be read.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty folder.
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("perpbot-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Write a secret readable by its owner only (`chmod 600`), replacing any earlier one.
pub fn owner_only(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    writeln!(f, "{text}").unwrap();
}
