//! `<app> triggers generate <dir>`, `<app> triggers check` and `<app> triggers grants <role>`.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), db_listenable::Error> {
//! use db_listenable::cli::{TriggersCommand, check, generate, grants};
//! use db_listenable::ddl::CaptureConfig;
//!
//! let config = CaptureConfig::default();
//! let command = TriggersCommand::Check; // parsed by clap in a real program
//! match command {
//!     TriggersCommand::Generate { dir } => println!("{}", generate(&dir, &config)?),
//!     TriggersCommand::Grants { role, outbox_only } => print!("{}", grants(&role, outbox_only)),
//!     TriggersCommand::Check => {
//!         let report = check(&pool, &config).await?;
//!         print!("{report}");
//!         if !report.is_clean() {
//!             std::process::exit(1);
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use crate::ddl::{Access, CaptureConfig, grants_script};
use crate::drift::DriftReport;
use crate::error::Result;

/// The `triggers` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum TriggersCommand {
    /// Write a migration for the journal and every registered model, if the SQL changed.
    Generate {
        /// The migrations directory (e.g. `migrations`).
        dir: PathBuf,
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

/// Runs `triggers grants`: the script, ready for a SQL file or `psql`.
pub fn grants(role: &str, outbox_only: bool) -> String {
    let access = if outbox_only { Access::Outbox } else { Access::Runtime };
    grants_script(role, access).to_string()
}

/// Runs `triggers generate`: returns what a person should read.
pub fn generate(dir: &Path, config: &CaptureConfig) -> Result<String> {
    let models = crate::registry::models();
    Ok(match crate::migrations::write_migration(dir, &models, config)? {
        Some(path) => format!("wrote {} ({} models)", path.display(), models.len()),
        None => format!("capture SQL unchanged; no migration written ({} models)", models.len()),
    })
}

/// Runs `triggers check` for every registered model (on a `&PgPool`, or a
/// [`DbPool::unprepared`](crate::DbPool::unprepared) one).
pub async fn check<'a>(db: impl Into<crate::DbPool<'a>>, config: &CaptureConfig) -> Result<DriftReport> {
    crate::drift::check_sqlx(db, &crate::registry::models(), config).await
}
