//! refinery's layout: `V<n>__db_listenable.sql`, where `n` is the next integer after the
//! highest version in the directory (refinery's versions are small integers, shared by
//! versioned `V` and unversioned `U` files). refinery applies each in one transaction.

use std::path::{Path, PathBuf};

use super::Entry;
use crate::error::{Error, Result};

/// How the file is applied, for its header.
pub(super) const HOW: &str = "-- Applied by refinery (Runner::run / run_async) in one transaction.\n";

const SUFFIX: &str = "__db_listenable.sql";

/// The version of any refinery migration (`V1__name.sql`, `U2__name.rs`, ...).
fn version(entry: &Entry) -> Option<u32> {
    let rest = entry.name.strip_prefix(['V', 'v', 'U', 'u'])?;
    let (digits, _) = rest.split_once("__")?;
    (!entry.is_dir).then(|| digits.parse().ok()).flatten()
}

/// The newest file this module wrote.
pub(super) fn newest_own(entries: &[Entry]) -> Option<&Path> {
    entries
        .iter()
        .filter(|entry| entry.name.starts_with('V') && entry.name.ends_with(SUFFIX))
        .filter_map(|entry| Some((version(entry)?, entry.path.as_path())))
        .max()
        .map(|(_, path)| path)
}

/// Writes `text` as the next version.
pub(super) fn write(dir: &Path, entries: &[Entry], text: &str) -> Result<PathBuf> {
    let next = match entries.iter().filter_map(version).max() {
        None => 1,
        // refinery reads versions as i32 unless built with `int8-versions`.
        Some(latest) if latest >= i32::MAX as u32 => {
            return Err(Error::MigrationVersion {
                dir: dir.to_path_buf(),
                reason: format!("refinery version {latest} is the highest an i32 holds"),
            });
        }
        Some(latest) => latest + 1,
    };
    let path = dir.join(format!("V{next}{SUFFIX}"));
    super::write_file(&path, text)?;
    Ok(path)
}
