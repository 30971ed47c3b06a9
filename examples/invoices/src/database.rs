//! Opening the example's database: `DATABASE_URL`, or the embedded cluster.

use std::path::Path;

use anyhow::Context;
use pg_harness::{AppDatabase, Lifetime, Settings};
use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

/// An open database: the pool, its URL, and the server guard that keeps an embedded
/// server running while this value lives.
#[derive(Debug)]
pub struct Database {
    /// Connections for the application.
    pub pool: PgPool,
    /// The URL, for printing and for `psql`.
    pub url: String,
    /// Whether the server comes from the embedded cluster (not `DATABASE_URL`).
    pub embedded: bool,
    /// Whether this program started the embedded server (it stops again at exit).
    pub started_here: bool,
    /// The embedded cluster's directory.
    pub data_dir: Option<std::path::PathBuf>,
    _server: AppDatabase,
}

/// Opens the `invoices` database; `lifetime` says whether an embedded server started
/// here stops when the program ends.
pub async fn open(data_dir: Option<&Path>, lifetime: Lifetime) -> anyhow::Result<Database> {
    open_with(data_dir, lifetime, false).await
}

/// [`open`], connecting as a client of a pooler in transaction mode when `behind_pooler`:
/// without sqlx's `extra_float_digits` startup parameter, which PgBouncer refuses unless
/// told to ignore it (see OPERATIONS.md, "Connection poolers").
pub async fn open_with(data_dir: Option<&Path>, lifetime: Lifetime, behind_pooler: bool) -> anyhow::Result<Database> {
    let settings = Settings::from_env();
    let server = AppDatabase::open(crate::DATABASE_NAME, data_dir, &settings, lifetime)
        .await
        .context("could not open the invoices database")?;
    let url = server.url().to_owned();
    let mut options = PgConnectOptions::from_str(&url).with_context(|| format!("invalid database URL {url}"))?;
    if behind_pooler {
        options = options.extra_float_digits(None);
    }
    let pool = PgPool::connect_with(options).await.with_context(|| format!("could not connect to {url}"))?;
    Ok(Database {
        pool,
        url,
        embedded: server.cluster().is_embedded(),
        started_here: server.cluster().started_here(),
        data_dir: server.cluster().root().map(Path::to_path_buf),
        _server: server,
    })
}
