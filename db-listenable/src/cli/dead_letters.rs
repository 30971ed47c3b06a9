//! `<app> dead-letters list|requeue|discard`.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), db_listenable::Error> {
//! use db_listenable::cli::{DeadLettersCommand, dead_letters};
//!
//! let command = DeadLettersCommand::List { subscriber: None, limit: 50, json: false }; // parsed by clap
//! print!("{}", dead_letters(&pool, &command).await?);
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use serde_json::json;

use crate::error::Result;
use crate::runtime::dead_letters::{self, DeadLetter};

/// The `dead-letters` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum DeadLettersCommand {
    /// List dead letters, oldest first.
    List {
        /// Only this subscriber's.
        #[arg(long)]
        subscriber: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// One JSON object per line, rows included.
        #[arg(long)]
        json: bool,
    },
    /// Give dead letters a fresh set of attempts.
    Requeue {
        /// The subscriber whose dead letters to requeue.
        subscriber: String,
        /// Only this change (its journal id); all of the subscriber's otherwise.
        #[arg(long)]
        change: Option<i64>,
    },
    /// Delete dead letters for good.
    Discard {
        /// The subscriber whose dead letters to discard.
        subscriber: String,
        /// Only this change (its journal id); all of the subscriber's otherwise.
        #[arg(long)]
        change: Option<i64>,
    },
}

/// Runs one `dead-letters` command and returns what to print.
///
/// # Errors
/// [`Error::NotInstalled`](crate::Error::NotInstalled) without the journal;
/// [`Error::UnknownSubscriber`](crate::Error::UnknownSubscriber) for a name no subscriber
/// has; [`Error::Database`](crate::Error::Database).
///
/// Takes a `&PgPool`, or a [`DbPool::unprepared`](crate::DbPool::unprepared) one behind a
/// pooler that does not track prepared statements.
pub async fn dead_letters<'a>(db: impl Into<crate::DbPool<'a>>, command: &DeadLettersCommand) -> Result<String> {
    let pool = db.into();
    crate::runtime::ensure_installed(pool).await?;
    match command {
        DeadLettersCommand::List { subscriber, limit, json } => {
            let letters = dead_letters::list(pool, subscriber.as_deref(), *limit).await?;
            Ok(if *json { as_json_lines(&letters) } else { as_text(&letters) })
        }
        DeadLettersCommand::Requeue { subscriber, change } => {
            let n = dead_letters::requeue(pool, subscriber, *change).await?;
            Ok(format!("requeued {n} dead letter(s) of {subscriber}\n"))
        }
        DeadLettersCommand::Discard { subscriber, change } => {
            let n = dead_letters::discard(pool, subscriber, *change).await?;
            Ok(format!("discarded {n} dead letter(s) of {subscriber}\n"))
        }
    }
}

fn as_text(letters: &[DeadLetter]) -> String {
    if letters.is_empty() {
        return "no dead letters\n".to_owned();
    }
    let mut out = String::new();
    for letter in letters {
        let _ = writeln!(
            out,
            "{subscriber}  change {id}  {op} {table}  after {attempts} attempt(s): {error}",
            subscriber = letter.subscriber,
            id = letter.change_id,
            op = letter.op,
            table = letter.table,
            attempts = letter.attempts,
            error = letter.last_error,
        );
    }
    out
}

fn as_json_lines(letters: &[DeadLetter]) -> String {
    let mut out = String::new();
    for letter in letters {
        let dead_at = letter.dead_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
        let line = json!({
            "subscriber": letter.subscriber,
            "change_id": letter.change_id,
            "table": letter.table,
            "op": letter.op,
            "attempts": letter.attempts,
            "last_error": letter.last_error,
            "old_row": letter.old_row,
            "new_row": letter.new_row,
            "dead_at_epoch": dead_at,
        });
        let _ = writeln!(out, "{line}");
    }
    out
}
