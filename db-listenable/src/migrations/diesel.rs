//! diesel's layout: a directory `<YYYY-MM-DD-HHMMSS>_db_listenable/` holding `up.sql` and
//! `down.sql`, versioned like `diesel migration generate` does; `diesel migration run`
//! (or `diesel_migrations`' `MigrationHarness`) applies each in one transaction.
//!
//! # What `down.sql` does
//!
//! The first capture migration in a directory is reverted by removing db-listenable
//! altogether ([`crate::ddl::uninstall_all_script`]): that is what existed before it,
//! and it drops the journal with any undelivered changes. A later one cannot be reverted
//! faithfully: the previous capture depends on the models of the code that generated it,
//! and the journal may have been upgraded since. Its `down.sql` fails with an error that
//! says so and what to do instead (generate from the older code, or uninstall), rather
//! than pretending to succeed.

use std::path::{Path, PathBuf};

use super::Entry;
use super::version::{current_version, dashed, next_version, undashed};
use crate::ddl::{Script, uninstall_all_script};
use crate::error::{Error, Result};

/// How the files are applied, for the header of `up.sql`.
pub(super) const HOW: &str = "-- Applied by diesel (diesel migration run, MigrationHarness) in one transaction.\n\
     -- down.sql of the first such migration removes db-listenable; later ones refuse.\n";

const NAME: &str = "_db_listenable";

/// `(version, directory)` of a diesel migration directory.
fn version(entry: &Entry) -> Option<&str> {
    let (version, _) = entry.name.split_once('_')?;
    entry.is_dir.then_some(version)
}

/// The `up.sql` of the newest migration this module wrote.
pub(super) fn newest_own(entries: &[Entry]) -> Option<PathBuf> {
    entries
        .iter()
        .filter(|entry| entry.name.ends_with(NAME))
        .filter_map(|entry| Some((version(entry)?, &entry.path)))
        .max()
        .map(|(_, path)| path.join("up.sql"))
}

/// The `down.sql` for a migration (see the module docs).
pub(super) fn down_script(first: bool, lock_timeout: Option<std::time::Duration>) -> String {
    if first {
        return format!(
            "-- Reverting the first db-listenable migration removes db-listenable: every capture\n\
             -- trigger, function and the db_listenable schema (undelivered changes included).\n\n{}",
            uninstall_all_script(lock_timeout)
        );
    }
    let mut script = Script::new();
    script.push(
        "DO $db_listenable$\nBEGIN\n    RAISE EXCEPTION 'db-listenable: a capture migration other than the first cannot be reverted'\n        \
         USING ERRCODE = 'feature_not_supported',\n              \
         HINT = 'Generate a new migration from the code you want to return to (triggers generate), \
         or remove db-listenable (triggers uninstall).';\nEND\n$db_listenable$",
    );
    format!("-- This capture migration cannot be reverted; see the error below.\n\n{script}")
}

/// Writes `up.sql` and `down.sql` into a new migration directory after every existing one.
pub(super) fn write(dir: &Path, entries: &[Entry], up: &str, down: &str) -> Result<PathBuf> {
    let versions: Vec<&str> = entries.iter().filter_map(version).collect();
    let version = dashed(next_version(current_version(), versions.iter().filter_map(|v| undashed(v)).max()));
    // diesel orders versions as strings: refuse rather than write one that sorts first.
    if let Some(later) = versions.iter().find(|v| **v >= version.as_str()) {
        return Err(Error::MigrationVersion {
            dir: dir.to_path_buf(),
            reason: format!("the existing version {later} sorts after {version}, the next diesel-style version"),
        });
    }
    let path = dir.join(format!("{version}{NAME}"));
    std::fs::create_dir(&path).map_err(Error::io("create the migration directory", &path))?;
    super::write_file(&path.join("up.sql"), up)?;
    super::write_file(&path.join("down.sql"), down)?;
    Ok(path)
}
