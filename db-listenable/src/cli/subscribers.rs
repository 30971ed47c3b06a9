//! `<app> subscribers list|remove`: find subscribers that no runtime serves any more
//! and remove them.
//!
//! Every runtime announces its subscribers in `db_listenable.subscribers.seen_at` (at
//! registration, then every
//! [`heartbeat_interval`](crate::runtime::RuntimeConfig::heartbeat_interval)). One that
//! was not announced for longer than the threshold (default
//! [`STALE_AFTER`](crate::runtime::RuntimeConfig::STALE_AFTER), 5 minutes) is stale: an
//! instance gone for good, or a processor renamed. Its cursor stays where it stopped, so
//! its backlog only grows, and the journal partitions it has not passed are kept, until
//! it is removed.
//!
//! ```no_run
//! # async fn demo(pool: sqlx::PgPool) -> Result<(), db_listenable::Error> {
//! use db_listenable::cli::{SubscribersCommand, subscribers};
//!
//! let command = SubscribersCommand::Remove { name: "search_index:old".into(), force: false, stale_after_secs: 300 };
//! print!("{}", subscribers(&pool, &command).await?); // parsed by clap in a real program
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use crate::error::Result;
use crate::runtime::{RuntimeConfig, SubscriberStats, load_stats, remove_stale_subscriber};

/// The `subscribers` subcommands.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum SubscribersCommand {
    /// List every subscriber: its table, when a runtime last announced it, its backlog,
    /// its dead letters, and whether it is stale.
    List {
        /// Seconds without an announcement after which a subscriber is stale.
        #[arg(long, default_value_t = RuntimeConfig::STALE_AFTER.as_secs())]
        stale_after_secs: u64,
    },
    /// Remove a subscriber that no runtime serves any more, with its deliveries and dead
    /// letters (when it is the last subscriber of its table, its deliveries are kept in
    /// `db_listenable.unrouted` for the table's next subscriber).
    Remove {
        /// The subscriber's name (see `subscribers list`).
        name: String,
        /// Remove it even if a runtime announced it within the threshold. That runtime
        /// then processes nothing for it until it restarts and registers it again.
        #[arg(long)]
        force: bool,
        /// Seconds without an announcement after which a subscriber may be removed.
        #[arg(long, default_value_t = RuntimeConfig::STALE_AFTER.as_secs())]
        stale_after_secs: u64,
    },
}

/// Runs one `subscribers` command and returns what to print.
///
/// # Errors
/// [`Error::NotInstalled`](crate::Error::NotInstalled) without the journal;
/// [`Error::UnknownSubscriber`](crate::Error::UnknownSubscriber) for a name no subscriber
/// has; [`Error::SubscriberInUse`](crate::Error::SubscriberInUse) when `remove` meets a
/// subscriber announced within the threshold, without `force` (nothing is removed);
/// [`Error::Database`](crate::Error::Database).
pub async fn subscribers<'a>(db: impl Into<crate::DbPool<'a>>, command: &SubscribersCommand) -> Result<String> {
    let pool = db.into();
    crate::runtime::ensure_installed(pool).await?;
    match command {
        SubscribersCommand::List { stale_after_secs } => {
            let stats = load_stats(pool).await?;
            Ok(as_table(&stats.subscribers, Duration::from_secs(*stale_after_secs)))
        }
        SubscribersCommand::Remove { name, force, stale_after_secs } => {
            let guard = (!force).then(|| Duration::from_secs(*stale_after_secs));
            let removed = remove_stale_subscriber(pool, name, guard).await?;
            let mut out = format!(
                "removed subscriber {name} (last seen {}s ago): {} pending deliveries",
                removed.seen_ago.as_secs(),
                removed.deliveries
            );
            if removed.kept_unrouted > 0 {
                let _ = write!(
                    out,
                    " ({} kept in db_listenable.unrouted: it was the last subscriber of its table)",
                    removed.kept_unrouted
                );
            }
            let _ = writeln!(out, ", {} dead letters", removed.dead_letters);
            Ok(out)
        }
    }
}

/// One line per subscriber under a header, in aligned columns.
fn as_table(subscribers: &[SubscriberStats], stale_after: Duration) -> String {
    if subscribers.is_empty() {
        return "no subscribers\n".to_owned();
    }
    let header = ["NAME", "TABLE", "SEEN", "BACKLOG", "DEAD", "STATE"].map(str::to_owned);
    let rows: Vec<[String; 6]> = subscribers
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.table.clone(),
                format!("{}s ago", s.seen_ago.as_secs()),
                (s.pending + s.in_flight + s.retrying).to_string(),
                s.dead.to_string(),
                if s.is_stale(stale_after) { "stale" } else { "live" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = [0usize; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_columns_and_marks_stale_subscribers() {
        let subscriber = |name: &str, seen: u64| SubscriberStats {
            name: name.into(),
            table: "public.items".into(),
            pending: 2,
            retrying: 1,
            dead: 4,
            seen_ago: Duration::from_secs(seen),
            ..SubscriberStats::default()
        };
        let text =
            as_table(&[subscriber("totals", 3), subscriber("search_index:gone", 7200)], Duration::from_secs(300));
        assert_eq!(
            text,
            "NAME               TABLE         SEEN       BACKLOG  DEAD  STATE\n\
             totals             public.items  3s ago     3        4     live\n\
             search_index:gone  public.items  7200s ago  3        4     stale\n"
        );
        assert_eq!(as_table(&[], Duration::from_secs(300)), "no subscribers\n");
    }
}
