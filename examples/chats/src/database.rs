//! Opening the example's database: `DATABASE_URL`, or the embedded cluster.

use std::path::Path;

use anyhow::Context;
use pg_harness::{AppDatabase, Lifetime, Settings};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Connections the server keeps at most: concurrent number assignments queue on the
/// parent row anyway, so more connections would only wait there.
pub const MAX_CONNECTIONS: u32 = 16;

/// An open database: the pool, its URL, and the server guard that keeps an embedded
/// server running while this value lives.
#[derive(Debug)]
pub struct Database {
    /// Connections for the application.
    pub pool: PgPool,
    /// The URL, for printing.
    pub url: String,
    /// The embedded cluster's directory (`None` with `DATABASE_URL`).
    pub pg_dir: Option<std::path::PathBuf>,
    _server: AppDatabase,
}

/// Opens the `chats` database (`pg_dir`: the embedded cluster's directory, default
/// `./.data/pg`); `lifetime` says whether an embedded server started here stops when the
/// program ends.
pub async fn open(pg_dir: Option<&Path>, lifetime: Lifetime) -> anyhow::Result<Database> {
    let settings = Settings::from_env();
    let server = AppDatabase::open(crate::DATABASE_NAME, pg_dir, &settings, lifetime)
        .await
        .context("could not open the chats database")?;
    let url = server.url().to_owned();
    let pool = connect(&url).await?;
    Ok(Database { pool, url, pg_dir: server.cluster().root().map(Path::to_path_buf), _server: server })
}

/// A pool on `url` sized for the server.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect(url)
        .await
        .with_context(|| format!("could not connect to {url}"))
}
