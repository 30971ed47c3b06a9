//! `chats`: the chat API server and its operator commands (see the `chats` crate docs).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pg_harness::{AppDatabase, Lifetime, Settings};

/// Chat API whose counters and search index follow every database change.
#[derive(Debug, Parser)]
#[command(name = "chats", version, about)]
struct Cli {
    /// Where the embedded PostgreSQL keeps its data (default: ./.data/pg, or PG_HARNESS_DIR).
    /// Ignored when DATABASE_URL is set.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply the migrations.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Migrate => {
            let database = AppDatabase::open(
                chats::DATABASE_NAME,
                cli.data_dir.as_deref(),
                &Settings::from_env(),
                Lifetime::StopWhenDropped,
            )
            .await
            .context("could not open the chats database")?;
            let pool = sqlx::PgPool::connect(database.url()).await.context("could not connect")?;
            chats::migrate(&pool).await?;
            println!("migrations applied to {}", database.url());
            pool.close().await;
        }
    }
    Ok(())
}
