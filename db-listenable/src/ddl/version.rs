//! The journal schema's version: which layout of `db_listenable` is installed, and which
//! code can run against it.
//!
//! Every install or upgrade records a row in `db_listenable.schema_versions`: the layout's
//! version and the oldest version of the code that still runs against it. The current
//! layout is the greatest version recorded; an older script run again (an old release's
//! migration replayed) adds nothing newer and so never lowers it.
//!
//! Versions:
//! - **1**: the layout before versions were recorded (`tests/snapshots/journal_v1.sql`).
//!   A journal without `schema_versions` is version 1.
//! - **2**: adds `schema_versions`, and `tables.capture`: what each table's installed
//!   capture provides ([`super::CaptureManifest`]). Code of version 1 runs against it
//!   unchanged.
//! - **3**: the journal is partitioned and read behind per-subscriber cursors
//!   ([`super::cursor`], [`super::partitions`]) instead of routed into `deliveries`; the
//!   upgrade moves the old journal's entries into the new one and gives every subscriber
//!   a cursor at its start. Only code of version 3 runs against it.
//!
//! Upgrades are part of [`super::journal_script`], so the generated migration brings any
//! earlier layout (and an empty database) to [`SCHEMA_VERSION`]: its statements are
//! idempotent (`IF NOT EXISTS`, `OR REPLACE`), and a later layout that alters an existing
//! table adds its own idempotent step (`ALTER TABLE ... ADD COLUMN IF NOT EXISTS`) to
//! that script, before [`record_version`]. `tests/runtime/versions.rs` installs the
//! frozen version 1, upgrades it and compares the catalog with a fresh install.

use super::journal::journal_object;

/// The journal layout this code creates and needs.
pub const SCHEMA_VERSION: i32 = 3;

/// The oldest code version that runs against [`SCHEMA_VERSION`]'s layout. Version 3 reads
/// the journal behind cursors and no longer routes it, so code of versions 1 and 2 (which
/// routes) cannot run against it: it refuses to start (version 2) and an instance already
/// running gets an error from the routing function that is gone, while it still finishes
/// the deliveries it holds (see "Upgrades and rolling deploys" in OPERATIONS.md).
pub const COMPATIBLE_FROM: i32 = 3;

/// An installed journal's version, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchemaVersion {
    /// The layout's version.
    pub version: i32,
    /// The oldest code version that runs against it.
    pub compatible_from: i32,
}

impl SchemaVersion {
    /// The layout before versions were recorded (a journal without `schema_versions`).
    pub const V1: SchemaVersion = SchemaVersion { version: 1, compatible_from: 1 };

    /// What this code installs.
    pub const CURRENT: SchemaVersion = SchemaVersion { version: SCHEMA_VERSION, compatible_from: COMPATIBLE_FROM };

    /// Whether this code (of [`SCHEMA_VERSION`]) runs against the installed layout: an
    /// older one lacks what the code uses, a newer one must declare this code compatible.
    ///
    /// # Errors
    /// [`crate::Error::SchemaOutdated`] for an older layout (apply the migration of
    /// `triggers generate`); [`crate::Error::SchemaTooNew`] for a newer one that does not
    /// run this code's version (upgrade the library).
    ///
    /// ```
    /// use db_listenable::ddl::{SCHEMA_VERSION, SchemaVersion};
    ///
    /// assert!(SchemaVersion::CURRENT.check().is_ok());
    /// assert!(SchemaVersion::V1.check().is_err());
    /// let newer = SchemaVersion { version: SCHEMA_VERSION + 1, compatible_from: SCHEMA_VERSION };
    /// assert!(newer.check().is_ok());
    /// ```
    pub fn check(self) -> crate::Result<()> {
        if self.version < SCHEMA_VERSION {
            return Err(crate::Error::SchemaOutdated { installed: self.version, required: SCHEMA_VERSION });
        }
        if self.compatible_from > SCHEMA_VERSION {
            return Err(crate::Error::SchemaTooNew {
                installed: self.version,
                compatible_from: self.compatible_from,
                known: SCHEMA_VERSION,
            });
        }
        Ok(())
    }
}

/// Whether the journal and its version table exist. Two boolean columns.
pub const JOURNAL_TABLES_SQL: &str = "SELECT pg_catalog.to_regclass('db_listenable.changes') IS NOT NULL, \
     pg_catalog.to_regclass('db_listenable.schema_versions') IS NOT NULL";

/// The installed version (`version`, `compatible_from`), run only when
/// `schema_versions` exists; no row reads as [`SchemaVersion::V1`].
pub const SCHEMA_VERSION_SQL: &str =
    "SELECT version, compatible_from FROM db_listenable.schema_versions ORDER BY version DESC LIMIT 1";

/// The installed journal's version from what [`JOURNAL_TABLES_SQL`] and
/// [`SCHEMA_VERSION_SQL`] returned: `None` without a journal.
pub fn installed_version(journal: bool, recorded: Option<(i32, i32)>) -> Option<SchemaVersion> {
    journal.then(|| {
        recorded.map_or(SchemaVersion::V1, |(version, compatible_from)| SchemaVersion { version, compatible_from })
    })
}

/// `schema_versions`, one row per layout installed (with when).
pub(crate) fn versions_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (
    version integer PRIMARY KEY CHECK (version > 0),
    compatible_from integer NOT NULL CHECK (compatible_from BETWEEN 1 AND version),
    installed_at timestamptz NOT NULL DEFAULT now()
)",
        journal_object("schema_versions")
    )
}

/// Records [`SchemaVersion::CURRENT`]: the last statement of the journal script, so the
/// version is recorded only by a script that got through every upgrade step.
pub(crate) fn record_version() -> String {
    format!(
        "INSERT INTO {} (version, compatible_from) VALUES ({SCHEMA_VERSION}, {COMPATIBLE_FROM}) \
         ON CONFLICT (version) DO NOTHING",
        journal_object("schema_versions")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn older_layouts_are_refused_newer_ones_only_when_they_say_so() {
        assert!(matches!(SchemaVersion::V1.check(), Err(Error::SchemaOutdated { installed: 1, required: 3 })));
        let compatible = SchemaVersion { version: 4, compatible_from: 3 };
        assert!(compatible.check().is_ok());
        let incompatible = SchemaVersion { version: 4, compatible_from: 4 };
        assert!(matches!(
            incompatible.check(),
            Err(Error::SchemaTooNew { installed: 4, compatible_from: 4, known: 3 })
        ));
    }

    #[test]
    fn a_journal_without_a_recorded_version_is_version_1() {
        assert_eq!(installed_version(false, None), None);
        assert_eq!(installed_version(true, None), Some(SchemaVersion::V1));
        assert_eq!(installed_version(true, Some((3, 3))), Some(SchemaVersion::CURRENT));
    }
}
