//! `chats dead-letters list|requeue|discard`: db-listenable's helpers, on this app's database.

use std::path::Path;

use db_listenable::cli::{DeadLettersCommand, dead_letters};
use pg_harness::Lifetime;

/// Runs one `dead-letters` command and prints its result.
pub async fn run(command: DeadLettersCommand, pg_dir: Option<&Path>) -> anyhow::Result<()> {
    let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
    let output = dead_letters(&db.pool, &command).await;
    db.pool.close().await;
    print!("{}", output?);
    Ok(())
}
