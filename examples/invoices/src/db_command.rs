//! `invoices db start|stop|url|psql`: the embedded PostgreSQL by hand.

use std::path::Path;

use anyhow::{Context, bail};
use pg_harness::{Cluster, Lifetime, Settings};

use crate::cli::DbAction;

/// Runs one `db` action.
pub async fn run(action: DbAction, data_dir: Option<&Path>) -> anyhow::Result<()> {
    let settings = Settings::from_env();
    if let Some(url) = &settings.database_url {
        match action {
            DbAction::Url => println!("{url}"),
            DbAction::Psql => psql(url)?,
            DbAction::Start | DbAction::Stop => {
                println!("DATABASE_URL is set: the embedded server is not used, nothing to {action:?}")
            }
        }
        return Ok(());
    }
    let root = pg_harness::data_root(data_dir, &settings)?;
    match action {
        DbAction::Start => {
            let db = crate::database::open(Some(&root), Lifetime::KeepRunning).await?;
            let state = if db.started_here { "started" } else { "already running" };
            println!("PostgreSQL {state}; data in {}", root.display());
            println!("{}", db.url);
        }
        DbAction::Stop => {
            if Cluster::stop_persistent(&root, &settings)? {
                println!("PostgreSQL stopped; data kept in {}", root.display());
            } else {
                println!("PostgreSQL was not running ({})", root.display());
            }
        }
        DbAction::Url => {
            if Cluster::persistent_port(&root, &settings)?.is_none() {
                bail!("the embedded server is not running; start it with `invoices db start`");
            }
            let cluster = Cluster::open_persistent(&root, &settings, Lifetime::KeepRunning)?;
            println!("{}", cluster.url(crate::DATABASE_NAME));
        }
        DbAction::Psql => {
            let db = crate::database::open(Some(&root), Lifetime::StopWhenDropped).await?;
            psql(&db.url)?;
        }
    }
    Ok(())
}

fn psql(url: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("psql")
        .arg(url)
        .status()
        .context("could not run psql (install the postgresql-client package)")?;
    if !status.success() {
        bail!("psql exited with {status}");
    }
    Ok(())
}
