//! Opening the example's database: `DATABASE_URL`, or the embedded cluster.

use std::path::Path;

use anyhow::Context;
use pg_harness::{AppDatabase, Lifetime, Settings};
use sqlx::PgPool;

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
    let settings = Settings::from_env();
    let server = AppDatabase::open(crate::DATABASE_NAME, data_dir, &settings, lifetime)
        .await
        .context("could not open the invoices database")?;
    let url = server.url().to_owned();
    let pool = PgPool::connect(&url).await.with_context(|| format!("could not connect to {url}"))?;
    Ok(Database {
        pool,
        url,
        embedded: server.cluster().is_embedded(),
        started_here: server.cluster().started_here(),
        data_dir: server.cluster().root().map(Path::to_path_buf),
        _server: server,
    })
}
