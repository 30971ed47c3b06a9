//! The command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::task::Poll;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pg_harness::Lifetime;

use crate::search::SearchIndex;
use crate::server::{self, Instance};

/// Where `chats serve` listens unless `--addr` says otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Chat API whose counters and search index follow every database change.
#[derive(Debug, Parser)]
#[command(name = "chats", version, about)]
pub struct Cli {
    /// Where the embedded PostgreSQL keeps its data (default: ./.data/pg, or
    /// PG_HARNESS_DIR). Ignored when DATABASE_URL is set.
    #[arg(long, global = true, value_name = "DIR")]
    pub pg_dir: Option<PathBuf>,

    /// This instance's data directory: its id and its search index. Each server instance
    /// on one database needs its own.
    #[arg(long, global = true, value_name = "DIR", default_value = server::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API with the processors (counters, this instance's index) until Ctrl-C / SIGTERM.
    Serve {
        /// The address to listen on (`ip:port`; port 0 picks a free one).
        #[arg(long, value_name = "IP:PORT", default_value = DEFAULT_ADDR)]
        addr: SocketAddr,
    },
    /// Apply the migrations.
    Migrate,
    /// Run the processors only (counters, this instance's index) until Ctrl-C / SIGTERM.
    Listen,
    /// Rebuild this instance's search index from the database (stop its server first, or
    /// use the API's reindex endpoint).
    Reindex,
    /// Compare the counters with the rows and this instance's index with the messages;
    /// exit 1 listing each difference.
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
    /// List every subscriber with when a runtime last announced it, or remove one that no
    /// runtime serves any more (`instances` does the same for the index subscribers).
    Subscribers {
        /// The action.
        #[command(subcommand)]
        command: db_listenable::cli::SubscribersCommand,
    },
    /// List the instances whose index subscribes to message changes, or forget one whose
    /// data directory is gone (its changes would pile up otherwise).
    Instances {
        /// The action.
        #[command(subcommand)]
        action: InstancesAction,
    },
}

/// `chats instances ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum InstancesAction {
    /// Each instance's index subscriber with its backlog.
    List,
    /// Removes instance ID's index subscriber and its pending changes.
    Forget {
        /// The instance id (from `instances list`, or `instance-id` in its data directory).
        id: String,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let pg_dir = cli.pg_dir.as_deref();
    match cli.command {
        Command::Serve { addr } => serve(addr, pg_dir, &cli.data_dir).await,
        Command::Migrate => {
            let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
            crate::migrate(&db.pool).await?;
            println!("migrations applied to {}", db.url);
            db.pool.close().await;
            Ok(())
        }
        Command::Listen => listen(pg_dir, &cli.data_dir).await,
        Command::Reindex => reindex(pg_dir, &cli.data_dir).await,
        Command::Check { json } => check(json, pg_dir, &cli.data_dir).await,
        Command::Triggers { command } => crate::triggers::run(command, pg_dir).await,
        Command::DeadLetters { command } => crate::dead_letters::run(command, pg_dir).await,
        Command::Subscribers { command } => crate::dead_letters::subscribers(command, pg_dir).await,
        Command::Instances { action } => instances(action, pg_dir).await,
    }
}

/// `chats serve`: migrates, starts the instance, serves the API until Ctrl-C or SIGTERM.
async fn serve(addr: SocketAddr, pg_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
    crate::migrate(&db.pool).await?;
    // Bind before starting the workers: a port in use fails at once, with nothing to stop.
    let socket = server::listen(addr).with_context(|| format!("could not listen on {addr}"))?;
    let local = socket.local_addr().context("could not read the listening address")?;
    let instance = Instance::start(&db.pool, data_dir, server::runtime_config()).await?;
    let (token, generated) = db_listenable::web::token_from_env_or_random(server::ADMIN_TOKEN_VAR);
    let admin = db_listenable::web::Dashboard::new(db.pool.clone())
        .credential(db_listenable::web::Credential::Bearer(token.clone()))
        .runtime(instance.runtime())
        .router()?;
    let instance = instance.with_admin(admin);
    let (path, var) = (server::ADMIN_PATH, server::ADMIN_TOKEN_VAR);
    if generated {
        println!(
            "dashboard: http://{local}{path} (token {token}: a browser asks for it as the password, any user name; \
             set {var} to choose it)"
        );
    } else {
        println!("dashboard: http://{local}{path} (token from {var})");
    }
    // Armed before the line below: whoever waits for it may send SIGTERM at once, and an
    // uninstalled handler would let the signal kill the process instead of stopping it.
    let shutdown = armed(db_listenable::runtime::shutdown_signal()).await;
    println!(
        "listening on http://{local} (chats API, instance {}, data in {}; Ctrl-C to stop)",
        instance.id(),
        data_dir.display()
    );
    instance.serve(socket, shutdown).await.context("the HTTP server failed")?;
    println!("stopped");
    db.pool.close().await;
    Ok(())
}

/// `chats listen`: the processors without the API.
async fn listen(pg_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
    crate::migrate(&db.pool).await?;
    let instance = Instance::start(&db.pool, data_dir, server::runtime_config()).await?;
    let shutdown = armed(db_listenable::runtime::shutdown_signal()).await;
    println!("listening for changes to chats and messages on {} (instance {}; Ctrl-C to stop)", db.url, instance.id());
    shutdown.await;
    instance.shutdown().await;
    println!("stopped");
    db.pool.close().await;
    Ok(())
}

/// `chats reindex`: rebuilds the index in `data_dir` from the database.
async fn reindex(pg_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
    let dir = server::index_dir(data_dir);
    let (index, _) = SearchIndex::open_or_create(&dir).with_context(|| {
        format!("could not open the index in {} (is a server running on it? use its reindex endpoint)", dir.display())
    })?;
    let count = index.rebuild(&db.pool, None).await?;
    println!("indexed {count} messages in {}", dir.display());
    db.pool.close().await;
    Ok(())
}

/// `chats check`: exits with status 1 when something differs.
async fn check(json: bool, pg_dir: Option<&Path>, data_dir: &Path) -> anyhow::Result<()> {
    let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
    let index = SearchIndex::open_read_only(&server::index_dir(data_dir));
    let report = crate::check::run(&db.pool, index).await?;
    db.pool.close().await;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for mismatch in &report.counters {
            println!("{}: counter says {} but there are {}", mismatch.what, mismatch.stored, mismatch.actual);
        }
        for line in &report.index {
            println!("index: {line}");
        }
        if report.is_clean() {
            println!(
                "{} messages checked: every counter and the index of {} match",
                report.messages,
                data_dir.display()
            );
        }
    }
    if !report.is_clean() {
        drop(db);
        std::process::exit(1);
    }
    Ok(())
}

/// `chats instances list|forget`.
async fn instances(action: InstancesAction, pg_dir: Option<&Path>) -> anyhow::Result<()> {
    let db = crate::database::open(pg_dir, Lifetime::StopWhenDropped).await?;
    match action {
        InstancesAction::List => {
            let stats = db_listenable::runtime::load_stats(&db.pool).await?;
            for subscriber in &stats.subscribers {
                if let Some(id) = subscriber.name.strip_prefix(crate::instance::SEARCH_PREFIX) {
                    println!(
                        "{id}: {} pending, {} retrying, {} dead",
                        subscriber.pending + subscriber.in_flight,
                        subscriber.retrying,
                        subscriber.dead
                    );
                }
            }
        }
        InstancesAction::Forget { id } => {
            let name = crate::instance::search_subscriber(&id);
            if db_listenable::runtime::remove_subscriber(&db.pool, &name).await? {
                println!("forgot instance {id}");
            } else {
                println!("no instance {id}");
            }
        }
    }
    db.pool.close().await;
    Ok(())
}

/// Polls `signal` once, so that its handlers are installed now rather than when the
/// server first polls it (`shutdown_signal` registers them lazily), and returns it.
async fn armed<F>(signal: F) -> impl std::future::Future<Output = ()> + Send + 'static
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut signal = Box::pin(signal);
    let fired = std::future::poll_fn(|cx| Poll::Ready(signal.as_mut().poll(cx).is_ready())).await;
    // A completed future must not be polled again.
    async move {
        if !fired {
            signal.await;
        }
    }
}
