//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Invoice totals kept true under direct SQL edits.
#[derive(Debug, Parser)]
#[command(name = "invoices", version, about)]
pub struct Cli {
    /// Where the embedded PostgreSQL keeps its data (default: ./.data/pg, or PG_HARNESS_DIR).
    /// Ignored when DATABASE_URL is set.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// What to do; without a command, run the demo.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the demo: invoices, a listener, direct SQL edits, totals corrected (the default).
    Demo,
    /// Apply the migrations.
    Migrate,
    /// Add sample customers, products and invoices (through the invoicing changeset).
    Seed {
        /// How many invoices to create.
        #[arg(long, default_value_t = 3)]
        invoices: u32,
    },
    /// Run the listener: keep totals true and deliver outbox events until Ctrl-C / SIGTERM.
    Listen {
        /// `DATABASE_URL` is a pooler in transaction mode (PgBouncer): poll instead of
        /// LISTEN, send statements unprepared, and leave migrations to a direct connection.
        #[arg(long)]
        behind_pooler: bool,
    },
    /// Serve the JSON HTTP API, with the listener, until Ctrl-C / SIGTERM.
    Serve {
        /// The address to listen on (`ip:port`; port 0 picks a free one).
        #[arg(long, value_name = "IP:PORT", default_value = crate::serve::DEFAULT_ADDR)]
        addr: SocketAddr,
    },
    /// Recompute every total from its items; exit 1 listing each mismatch.
    Check {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Generate the capture migration, or check the database against the code.
    Triggers {
        /// The action.
        #[command(subcommand)]
        command: db_listenable::cli::TriggersCommand,
    },
    /// List, requeue or discard the changes processors gave up on.
    DeadLetters {
        /// The action.
        #[command(subcommand)]
        command: db_listenable::cli::DeadLettersCommand,
    },
    /// List the subscribers with when a runtime last announced each, or remove one that
    /// no runtime serves any more (its deliveries would keep filling up).
    Subscribers {
        /// The action.
        #[command(subcommand)]
        command: db_listenable::cli::SubscribersCommand,
    },
    /// Manage the embedded PostgreSQL server.
    Db {
        /// The action.
        #[command(subcommand)]
        action: DbAction,
    },
}

/// `invoices db ...`.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DbAction {
    /// Start the embedded server and leave it running.
    Start,
    /// Stop the embedded server.
    Stop,
    /// Print the connection URL of the running server's `invoices` database.
    Url,
    /// Open `psql` on the `invoices` database (starting the server for the session).
    Psql,
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli.data_dir.as_deref();
    match cli.command.unwrap_or(Command::Demo) {
        Command::Demo => crate::demo::run(data_dir).await,
        Command::Migrate => {
            let database = crate::database::open(data_dir, pg_harness::Lifetime::StopWhenDropped).await?;
            crate::migrate(&database.pool).await?;
            println!("migrations applied to {}", database.url);
            Ok(())
        }
        Command::Seed { invoices } => crate::seed::run(invoices, data_dir).await,
        Command::Listen { behind_pooler } => crate::listener::listen(data_dir, behind_pooler).await,
        Command::Serve { addr } => crate::serve::run(addr, data_dir).await,
        Command::Check { json } => crate::check::run(json, data_dir).await,
        Command::Triggers { command } => crate::triggers::run(command, data_dir).await,
        Command::DeadLetters { command } => crate::dead_letters::run(command, data_dir).await,
        Command::Subscribers { command } => crate::dead_letters::subscribers(command, data_dir).await,
        Command::Db { action } => crate::db_command::run(action, data_dir).await,
    }
}
