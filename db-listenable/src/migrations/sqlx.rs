//! sqlx's layout: `<YYYYMMDDHHMMSS>_db_listenable.sql`, one file per migration among the
//! application's own `<version>_<name>.sql` files; `sqlx::migrate!` and `sqlx migrate run`
//! apply each in one transaction.

use std::path::{Path, PathBuf};

use super::Entry;
use super::version::{current_version, next_version};
use crate::error::Result;

/// How the file is applied, for its header.
pub(super) const HOW: &str = "-- Applied by sqlx (sqlx::migrate!, sqlx migrate run) in one transaction.\n";

const SUFFIX: &str = "_db_listenable.sql";

/// The version of any sqlx migration file (also `.up.sql` / `.down.sql`).
fn version(entry: &Entry) -> Option<u64> {
    let (digits, _) = entry.name.split_once('_')?;
    (!entry.is_dir && entry.name.ends_with(".sql")).then(|| digits.parse().ok()).flatten()
}

/// The newest file this module wrote.
pub(super) fn newest_own(entries: &[Entry]) -> Option<&Path> {
    entries
        .iter()
        .filter(|entry| entry.name.ends_with(SUFFIX))
        .filter_map(|entry| Some((version(entry)?, entry.path.as_path())))
        .max()
        .map(|(_, path)| path)
}

/// Writes `text` as a migration after every existing one.
pub(super) fn write(dir: &Path, entries: &[Entry], text: &str) -> Result<PathBuf> {
    let latest = entries.iter().filter_map(version).max();
    let path = dir.join(format!("{}{SUFFIX}", next_version(current_version(), latest)));
    super::write_file(&path, text)?;
    Ok(path)
}
