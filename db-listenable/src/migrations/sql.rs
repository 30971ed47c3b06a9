//! Plain SQL to embed anywhere: `db_listenable_<YYYYMMDDHHMMSS>.sql`, named so that no
//! migration tool picks the files up by accident and they sort in the order to run them.
//! Whoever runs them runs each in one transaction (`psql -1 -f`, or inside the tool's
//! own transaction): the lock timeout is transaction-local.

use std::path::{Path, PathBuf};

use super::Entry;
use super::version::{current_version, next_version};
use crate::error::Result;

/// How the file is applied, for its header.
pub(super) const HOW: &str = "-- Run it in ONE transaction (psql -1 -f FILE, or inside your migration tool's\n\
     -- transaction): the lock timeout below holds for that transaction only.\n";

const PREFIX: &str = "db_listenable_";

fn version(entry: &Entry) -> Option<u64> {
    let digits = entry.name.strip_prefix(PREFIX)?.strip_suffix(".sql")?;
    (!entry.is_dir).then(|| digits.parse().ok()).flatten()
}

/// The newest file this module wrote.
pub(super) fn newest_own(entries: &[Entry]) -> Option<&Path> {
    entries.iter().filter_map(|entry| Some((version(entry)?, entry.path.as_path()))).max().map(|(_, path)| path)
}

/// Writes `text` after every earlier file of ours.
pub(super) fn write(dir: &Path, entries: &[Entry], text: &str) -> Result<PathBuf> {
    let latest = entries.iter().filter_map(version).max();
    let path = dir.join(format!("{PREFIX}{}.sql", next_version(current_version(), latest)));
    super::write_file(&path, text)?;
    Ok(path)
}
