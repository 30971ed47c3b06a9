//! `chats triggers generate <dir>|print|uninstall|check|grants <role>`: db-listenable's helpers, on this app's database.

use std::path::Path;

use db_listenable::cli::{self, TriggersCommand};
use db_listenable::ddl::CaptureConfig;
use pg_harness::Lifetime;

/// Runs one `triggers` command; `check` exits with status 1 when the database drifted.
pub async fn run(command: TriggersCommand, pg_dir: Option<&Path>) -> anyhow::Result<()> {
    // Only `check` reads the database: the others print or write files.
    let db = match command.needs_database() {
        true => Some(crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?),
        false => None,
    };
    let output = cli::triggers(&command, &CaptureConfig::default(), db.as_ref().map(|db| &db.pool)).await?;
    print!("{output}");
    if let Some(db) = db {
        db.pool.close().await;
    }
    if !output.success {
        std::process::exit(1);
    }
    Ok(())
}
