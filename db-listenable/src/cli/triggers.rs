//! `<app> triggers generate <dir> [--format sqlx|refinery|diesel|sql]`, `<app> triggers print`,
//! `<app> triggers uninstall`, `<app> triggers check` and `<app> triggers grants <role>`.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), db_listenable::Error> {
//! use db_listenable::cli::{self, TriggersCommand};
//! use db_listenable::ddl::CaptureConfig;
//!
//! let command = TriggersCommand::Check; // parsed by clap in a real program
//! // Only `check` reads the database: connect only when it is needed.
//! let pool = command.needs_database().then_some(&pool);
//! let output = cli::triggers(&command, &CaptureConfig::default(), pool).await?;
//! print!("{output}");
//! if !output.success {
//!     std::process::exit(1);
//! }
//! # Ok(()) }
//! ```
//!
//! Each subcommand is also a function of its own ([`generate`], [`print()`], [`uninstall`],
//! [`grants`], [`check`]) for programs with a command line of their own.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::ddl::{Access, CaptureConfig, grants_script, uninstall_all_script};
use crate::drift::DriftReport;
use crate::error::Result;
use crate::migrations::MigrationFormat;

/// The `triggers` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum TriggersCommand {
    /// Write a migration for the journal and every registered model, if the SQL changed.
    Generate {
        /// The migrations directory (e.g. `migrations`).
        dir: PathBuf,
        /// The migration tool's layout.
        #[arg(long, value_enum, default_value_t)]
        format: MigrationFormat,
        /// How long the migration waits for a table's lock before failing: e.g. `5s`,
        /// `500ms`, or `none` to wait as long as the session's `lock_timeout` says.
        #[arg(long)]
        lock_timeout: Option<LockTimeout>,
    },
    /// Print the whole desired script (journal and every model's capture), to run in one
    /// transaction (`psql -1 -f`) or embed in any migration tool.
    Print {
        /// As for `generate`.
        #[arg(long)]
        lock_timeout: Option<LockTimeout>,
    },
    /// Print the script that removes every capture trigger, function and the
    /// `db_listenable` schema (journal included), leaving the tables and their rows.
    Uninstall {
        /// As for `generate`.
        #[arg(long)]
        lock_timeout: Option<LockTimeout>,
    },
    /// Compare the database with the code; exits non-zero on any drift.
    Check,
    /// Print the GRANT statements a role other than the journal's owner needs (to run as
    /// the journal's owner or a superuser, e.g. in a migration).
    Grants {
        /// The role, e.g. the application's login role.
        role: String,
        /// Only what pushing changesets through the journal outbox needs, not the runtime.
        #[arg(long)]
        outbox_only: bool,
    },
}

impl TriggersCommand {
    /// `base` with this command's `--lock-timeout`, if given, in place of its own.
    pub fn capture_config(&self, base: &CaptureConfig) -> CaptureConfig {
        let flag = match self {
            TriggersCommand::Generate { lock_timeout, .. }
            | TriggersCommand::Print { lock_timeout }
            | TriggersCommand::Uninstall { lock_timeout } => *lock_timeout,
            TriggersCommand::Check | TriggersCommand::Grants { .. } => None,
        };
        match flag {
            Some(LockTimeout(lock_timeout)) => CaptureConfig { lock_timeout, ..base.clone() },
            None => base.clone(),
        }
    }
}

/// A `--lock-timeout` value: a duration in `ms`, `s` or `min`, or `none` (no limit of
/// our own; [`CaptureConfig::lock_timeout`] `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTimeout(pub Option<Duration>);

impl FromStr for LockTimeout {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(LockTimeout(None));
        }
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let bad = || format!("`{text}` is not a lock timeout: write e.g. 5s, 500ms, 1min or none");
        let amount: u64 = digits.parse().map_err(|_| bad())?;
        let duration = match unit.trim() {
            "ms" => Duration::from_millis(amount),
            "s" => Duration::from_secs(amount),
            "min" => Duration::from_secs(amount.saturating_mul(60)),
            _ => return Err(bad()),
        };
        if duration.is_zero() {
            return Err(format!("`{text}` would be no timeout at all: write none for that"));
        }
        Ok(LockTimeout(Some(duration)))
    }
}

impl fmt::Display for LockTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(duration) => write!(f, "{}ms", duration.as_millis()),
        }
    }
}

/// Runs `triggers grants`: the script, ready for a SQL file or `psql`.
pub fn grants(role: &str, outbox_only: bool) -> String {
    let access = if outbox_only { Access::Outbox } else { Access::Runtime };
    grants_script(role, access).to_string()
}

/// Runs `triggers generate`: returns what a person should read.
pub fn generate(dir: &Path, format: MigrationFormat, config: &CaptureConfig) -> Result<String> {
    let models = crate::registry::models();
    Ok(match crate::migrations::write_migration_as(dir, format, &models, config)? {
        Some(path) => format!("wrote {} ({} models)", path.display(), models.len()),
        None => format!("capture SQL unchanged; no migration written ({} models)", models.len()),
    })
}

/// Runs `triggers print`: the desired script of every registered model.
pub fn print(config: &CaptureConfig) -> Result<String> {
    crate::migrations::desired_text(&crate::registry::models(), config)
}

/// Runs `triggers uninstall`: the script that removes db-listenable from a database.
pub fn uninstall(config: &CaptureConfig) -> String {
    format!(
        "-- Removes db-listenable: every capture trigger, function and the db_listenable schema\n\
         -- (undelivered changes and dead letters included). Tables and their rows stay.\n\
         -- Stop the runtime first; run in one transaction: psql -1 -f FILE.\n\n{}",
        uninstall_all_script(config.lock_timeout)
    )
}

/// What a `triggers` subcommand produced: the text to print, and whether the program
/// should exit successfully (`check` fails when the database differs from the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggersOutput {
    /// What to print, ending in a newline.
    pub text: String,
    /// `false` when the program should exit non-zero.
    pub success: bool,
}

impl fmt::Display for TriggersOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TriggersCommand {
    /// Whether running it reads the database (`check`); the others only print or write
    /// files, so an application can run them without `DATABASE_URL` (in CI, at build time).
    pub fn needs_database(&self) -> bool {
        matches!(self, TriggersCommand::Check)
    }
}

/// Runs any `triggers` subcommand with the application's capture configuration (its
/// `--lock-timeout` applied): one call in place of a `match` over the commands.
///
/// `pool` is needed only when [`TriggersCommand::needs_database`] says so.
///
/// # Errors
/// [`Error::NoDatabase`](crate::Error::NoDatabase) for `check` without a pool; the
/// errors of [`generate`], [`print()`] and [`check`].
pub async fn triggers(
    command: &TriggersCommand,
    config: &CaptureConfig,
    pool: Option<&sqlx::PgPool>,
) -> Result<TriggersOutput> {
    let config = command.capture_config(config);
    let done = |text: String| TriggersOutput { success: true, text: with_newline(text) };
    Ok(match command {
        TriggersCommand::Generate { dir, format, .. } => done(generate(dir, *format, &config)?),
        TriggersCommand::Print { .. } => done(print(&config)?),
        TriggersCommand::Uninstall { .. } => done(uninstall(&config)),
        TriggersCommand::Grants { role, outbox_only } => done(grants(role, *outbox_only)),
        TriggersCommand::Check => {
            let pool = pool.ok_or(crate::Error::NoDatabase { command: "triggers check" })?;
            let report = check(pool, &config).await?;
            TriggersOutput { success: report.is_clean(), text: with_newline(report.to_string()) }
        }
    })
}

fn with_newline(mut text: String) -> String {
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Runs `triggers check` for every registered model (on a `&PgPool`, or a
/// [`DbPool::unprepared`](crate::DbPool::unprepared) one).
pub async fn check<'a>(db: impl Into<crate::DbPool<'a>>, config: &CaptureConfig) -> Result<DriftReport> {
    crate::drift::check_sqlx(db, &crate::registry::models(), config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn check_without_a_database_is_refused_and_the_rest_needs_none() {
        let config = CaptureConfig::default();
        assert!(TriggersCommand::Check.needs_database());
        let refused = triggers(&TriggersCommand::Check, &config, None).await;
        assert!(matches!(refused, Err(crate::Error::NoDatabase { command: "triggers check" })), "{refused:?}");
        let grants = TriggersCommand::Grants { role: "app".to_owned(), outbox_only: true };
        assert!(!grants.needs_database());
        let output = triggers(&grants, &config, None).await.expect("grants need no database");
        assert!(output.success && output.text.ends_with(";\n"), "{output:?}");
        assert!(output.text.contains(r#"TO "app""#), "{output:?}");
    }

    #[test]
    fn lock_timeouts_parse() {
        assert_eq!("5s".parse(), Ok(LockTimeout(Some(Duration::from_secs(5)))));
        assert_eq!("250ms".parse(), Ok(LockTimeout(Some(Duration::from_millis(250)))));
        assert_eq!("2min".parse(), Ok(LockTimeout(Some(Duration::from_secs(120)))));
        assert_eq!("None".parse(), Ok(LockTimeout(None)));
        for bad in ["", "5", "5h", "s", "0s", "-1s"] {
            assert!(bad.parse::<LockTimeout>().is_err(), "{bad}");
        }
    }

    #[derive(Debug, clap::Parser)]
    struct App {
        #[command(subcommand)]
        triggers: TriggersCommand,
    }

    #[test]
    fn generate_defaults_to_sqlx_and_takes_a_format_and_a_timeout() {
        use clap::Parser;
        let parse = |args: &[&str]| App::try_parse_from([&["app"], args].concat()).map(|app| app.triggers);
        assert_eq!(
            parse(&["generate", "migrations"]).expect("parses"),
            TriggersCommand::Generate { dir: "migrations".into(), format: MigrationFormat::Sqlx, lock_timeout: None }
        );
        assert_eq!(
            parse(&["generate", "m", "--format", "diesel", "--lock-timeout", "none"]).expect("parses"),
            TriggersCommand::Generate {
                dir: "m".into(),
                format: MigrationFormat::Diesel,
                lock_timeout: Some(LockTimeout(None))
            }
        );
        assert_eq!(parse(&["uninstall"]).expect("parses"), TriggersCommand::Uninstall { lock_timeout: None });
        assert!(parse(&["generate", "m", "--format", "flyway"]).is_err());
        assert!(parse(&["print", "--lock-timeout", "soon"]).is_err());
    }

    #[test]
    fn the_flag_overrides_the_configuration() {
        let command = TriggersCommand::Print { lock_timeout: Some(LockTimeout(None)) };
        assert_eq!(command.capture_config(&CaptureConfig::default()).lock_timeout, None);
        let base = CaptureConfig { lock_timeout: Some(Duration::from_secs(1)), ..CaptureConfig::default() };
        assert_eq!(TriggersCommand::Check.capture_config(&base), base);
    }
}
