//! `chats dead-letters list|requeue|discard` and `chats subscribers list|remove`:
//! db-listenable's operations commands, on this app's database.

use std::path::Path;

use db_listenable::cli::{DeadLettersCommand, SubscribersCommand, dead_letters};
use pg_harness::Lifetime;

/// Runs one `dead-letters` command and prints its result.
pub async fn run(command: DeadLettersCommand, pg_dir: Option<&Path>) -> anyhow::Result<()> {
    print_on(pg_dir, async |pool| dead_letters(pool, &command).await).await
}

/// Runs one `subscribers` command and prints its result (a refused removal is an error:
/// exit 1 with the reason).
pub async fn subscribers(command: SubscribersCommand, pg_dir: Option<&Path>) -> anyhow::Result<()> {
    print_on(pg_dir, async |pool| db_listenable::cli::subscribers(pool, &command).await).await
}

/// Opens the database, runs `command` on it, closes it, and prints what it returned.
async fn print_on(
    pg_dir: Option<&Path>,
    command: impl AsyncFnOnce(&sqlx::PgPool) -> db_listenable::Result<String>,
) -> anyhow::Result<()> {
    let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
    let output = command(&db.pool).await;
    db.pool.close().await;
    print!("{}", output?);
    Ok(())
}
