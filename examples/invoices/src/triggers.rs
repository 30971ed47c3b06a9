//! `invoices triggers generate <dir>|print|uninstall|check|grants <role>`: db-listenable's helpers, on this app's database.

use std::path::Path;

use db_listenable::cli::{TriggersCommand, check, generate, grants, print, uninstall};
use db_listenable::ddl::CaptureConfig;
use pg_harness::Lifetime;

/// Runs one `triggers` command; `check` exits with status 1 when the database drifted.
pub async fn run(command: TriggersCommand, data_dir: Option<&Path>) -> anyhow::Result<()> {
    let config = command.capture_config(&CaptureConfig::default());
    match command {
        TriggersCommand::Generate { dir, format, .. } => println!("{}", generate(&dir, format, &config)?),
        TriggersCommand::Print { .. } => print!("{}", print(&config)?),
        TriggersCommand::Uninstall { .. } => print!("{}", uninstall(&config)),
        TriggersCommand::Grants { role, outbox_only } => print!("{}", grants(&role, outbox_only)),
        TriggersCommand::Check => {
            let db = crate::database::open(data_dir, Lifetime::StopWhenDropped).await?;
            let report = check(&db.pool, &config).await?;
            print!("{report}");
            db.pool.close().await;
            if !report.is_clean() {
                drop(db);
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
