//! Migration files for the journal and every model's capture, written only when the
//! SQL changed (the Rails original's `rake db:generate_trigger_migration`), in the layout
//! of the application's migration tool ([`MigrationFormat`]): sqlx, refinery, diesel,
//! or plain SQL to embed anywhere.
//!
//! A header records the fingerprint of the capture and the tables it covers; running
//! [`write_migration_as`] again with unchanged models writes nothing, and a model removed
//! since the last file gets its capture uninstalled. Every file starts with `SET LOCAL
//! lock_timeout` ([`crate::ddl::CaptureConfig::lock_timeout`], unless that is `None`)
//! and locks each table before touching it, so a table held by a long transaction fails the migration with an
//! error naming the table instead of blocking its writers. Each file must run in one
//! transaction, which sqlx, refinery and diesel do; plain SQL runs with `psql -1 -f`.
//!
//! ```no_run
//! use db_listenable::ddl::CaptureConfig;
//! use db_listenable::migrations::{MigrationFormat, write_migration_as};
//!
//! let models = db_listenable::registry::models();
//! let written = write_migration_as("migrations".as_ref(), MigrationFormat::Refinery, &models, &CaptureConfig::default())?;
//! if let Some(path) = written {
//!     println!("wrote {}", path.display());
//! }
//! # Ok::<(), db_listenable::Error>(())
//! ```

mod diesel;
mod header;
mod refinery;
mod sql;
mod sqlx;
mod version;

use std::path::{Path, PathBuf};

use crate::ddl::{self, CaptureConfig, Script};
use crate::error::{Error, Result};
use crate::model::{Events, Model};

/// The migration tool a generated file is laid out for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum MigrationFormat {
    /// `<YYYYMMDDHHMMSS>_db_listenable.sql`, for `sqlx::migrate!` / `sqlx migrate run`.
    #[default]
    Sqlx,
    /// `V<n>__db_listenable.sql`, `n` after the directory's highest version, for refinery.
    Refinery,
    /// `<YYYY-MM-DD-HHMMSS>_db_listenable/{up,down}.sql`, for diesel (see the module
    /// docs of `down.sql` there: the first migration's reverts to no db-listenable at
    /// all, later ones refuse).
    Diesel,
    /// `db_listenable_<YYYYMMDDHHMMSS>.sql`: plain SQL for any other tool, run in one
    /// transaction (`psql -1 -f`).
    Sql,
}

impl MigrationFormat {
    /// The header line(s) saying how a file of this format is applied.
    fn how(self) -> &'static str {
        match self {
            MigrationFormat::Sqlx => sqlx::HOW,
            MigrationFormat::Refinery => refinery::HOW,
            MigrationFormat::Diesel => diesel::HOW,
            MigrationFormat::Sql => sql::HOW,
        }
    }
}

/// The complete desired state, as one script to run in one transaction: the lock
/// timeout, the journal, then for every table the column check of each of its models and
/// the table's capture, once.
///
/// # Errors
/// [`Error::CaptureConflict`] when models of one table ask for different captures.
pub fn desired_script(models: &[Model], config: &CaptureConfig) -> Result<Script> {
    let mut script = ddl::lock_timeout_script(config.lock_timeout);
    script.extend(capture_script(models, config)?);
    Ok(script)
}

/// The desired state as the text of a first migration (header, then
/// [`desired_script`]): what `triggers print` shows, ready to embed in any tool.
///
/// # Errors
/// As [`desired_script`].
pub fn desired_text(models: &[Model], config: &CaptureConfig) -> Result<String> {
    let capture = capture_script(models, config)?;
    let mut script = ddl::lock_timeout_script(config.lock_timeout);
    let fingerprint = capture.fingerprint();
    script.extend(capture);
    Ok(format!("{}{script}", header::render(&fingerprint, &tables(models), sql::HOW)))
}

/// [`write_migration_as`] in sqlx's layout.
///
/// # Errors
/// As [`write_migration_as`].
pub fn write_migration(dir: &Path, models: &[Model], config: &CaptureConfig) -> Result<Option<PathBuf>> {
    write_migration_as(dir, MigrationFormat::Sqlx, models, config)
}

/// Writes a new migration into `dir`, laid out for `format`, when the capture differs
/// from the newest db-listenable migration of that format there. Returns the new file
/// (for diesel, the new directory), or `None` when nothing changed. The lock timeout is
/// not part of the comparison: changing it alone writes nothing.
///
/// # Errors
/// [`Error::CaptureConflict`] as [`desired_script`]; [`Error::Io`] when the directory
/// cannot be read or written; [`Error::MigrationHeader`] when the newest generated file
/// was edited beyond recognition; [`Error::MigrationVersion`] when no version fits after
/// the existing ones.
pub fn write_migration_as(
    dir: &Path,
    format: MigrationFormat,
    models: &[Model],
    config: &CaptureConfig,
) -> Result<Option<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(Error::io("create the migrations directory", dir))?;
    let capture = capture_script(models, config)?;
    let fingerprint = capture.fingerprint();
    let entries = entries(dir)?;
    let newest = match format {
        MigrationFormat::Sqlx => sqlx::newest_own(&entries).map(Path::to_path_buf),
        MigrationFormat::Refinery => refinery::newest_own(&entries).map(Path::to_path_buf),
        MigrationFormat::Diesel => diesel::newest_own(&entries),
        MigrationFormat::Sql => sql::newest_own(&entries).map(Path::to_path_buf),
    };
    let previous = newest.as_deref().map(header::read).transpose()?;
    if previous.as_ref().is_some_and(|p| p.fingerprint == fingerprint) {
        return Ok(None);
    }
    let mut script = ddl::lock_timeout_script(config.lock_timeout);
    if let Some(previous) = &previous {
        for (schema, table) in &previous.tables {
            if !models.iter().any(|m| m.schema == schema && m.table == table) {
                script.extend(ddl::uninstall_script(&removed_model(schema, table)));
            }
        }
    }
    script.extend(capture);
    let text = format!("{}{script}", header::render(&fingerprint, &tables(models), format.how()));
    let path = match format {
        MigrationFormat::Sqlx => sqlx::write(dir, &entries, &text)?,
        MigrationFormat::Refinery => refinery::write(dir, &entries, &text)?,
        MigrationFormat::Diesel => {
            diesel::write(dir, &entries, &text, &diesel::down_script(previous.is_none(), config.lock_timeout))?
        }
        MigrationFormat::Sql => sql::write(dir, &entries, &text)?,
    };
    Ok(Some(path))
}

/// The journal, then every table's column checks and capture: what the fingerprint covers.
fn capture_script(models: &[Model], config: &CaptureConfig) -> Result<Script> {
    let mut script = ddl::journal_script();
    for group in crate::registry::by_table(models) {
        if let Some(conflict) = crate::registry::capture_conflict(&group) {
            return Err(conflict);
        }
        for model in &group {
            script.extend(ddl::column_check(model));
        }
        script.extend(ddl::install_script(&group[0], config));
    }
    Ok(script)
}

/// `(schema, table)` of every model, sorted, once each.
fn tables(models: &[Model]) -> Vec<(&'static str, &'static str)> {
    let mut tables: Vec<(&str, &str)> = models.iter().map(|m| (m.schema, m.table)).collect();
    tables.sort_unstable();
    tables.dedup();
    tables
}

/// A stand-in for a model that no longer exists: uninstalling needs only its names.
fn removed_model(schema: &str, table: &str) -> Model {
    // The names must live as long as a Model requires; leaking two short strings once per
    // removed table in a code generator is cheaper than a second, owned Model type.
    Model {
        rust_name: "(removed)",
        schema: Box::leak(schema.to_owned().into_boxed_str()),
        table: Box::leak(table.to_owned().into_boxed_str()),
        key: &[],
        columns: &[],
        quiet: &[],
        exclude: &[],
        events: Events::DEFAULT,
    }
}

/// One file or directory in the migrations directory.
struct Entry {
    name: String,
    path: PathBuf,
    is_dir: bool,
}

/// Everything in `dir`, for the formats to find their own files and the versions taken.
fn entries(dir: &Path) -> Result<Vec<Entry>> {
    let read = Error::io("read the migrations directory", dir);
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(Error::io("read the migrations directory", dir))?;
        let path = entry.path();
        entries.push(Entry { name: entry.file_name().to_string_lossy().into_owned(), is_dir: path.is_dir(), path });
    }
    Ok(entries)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::io("write the migration", path))
}
