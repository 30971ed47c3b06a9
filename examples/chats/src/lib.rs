//! The chats example: a chat HTTP API whose counters and search index follow every
//! change to the database, whoever makes it.
//!
//! The seed (Rails + Go + Redis + Elasticsearch) kept counters in Redis synced hourly,
//! could lose numbers when a creation failed, and never indexed the Go writer's
//! messages. Here:
//!
//! - **Numbers** ([`numbers`]): chat and message numbers are assigned in the creating
//!   transaction from a counter column on the parent, so they are gapless and unique
//!   under any concurrency, in any number of processes, and in the response at once.
//! - **Counters** ([`counters`]): `chats_count` and `messages_count` are recomputed by
//!   `db-listenable` processors from captured changes of [`model::Chat`] and
//!   [`model::Message`]: rows written by `psql` or another program are counted too.
//! - **Search** ([`search`]): each server instance keeps a `tantivy` index (n-grams, for
//!   partial matching) in its data directory, fed by its own subscriber to message
//!   changes, rebuilt from the database when missing or corrupt.
//! - **API** ([`api`]): axum, JSON, under `/api/v1`, documented by an OpenAPI document
//!   generated from the code (`/api-docs/openapi.json`, `/api-docs`).
//!
//! # Commands
//!
//! Without `DATABASE_URL`, every command uses the embedded PostgreSQL in `./.data/pg`
//! (`--pg-dir` to move it). `--data-dir` (default `./.data/chats-index`) is the
//! instance's own directory: its id and its index; give each instance its own.
//!
//! | Command | |
//! |---|---|
//! | `chats serve --addr 127.0.0.1:3000 --data-dir DIR` | the API and the processors, until SIGTERM / Ctrl-C |
//! | `chats listen --data-dir DIR` | the processors only |
//! | `chats migrate` | apply the migrations (schema and capture triggers) |
//! | `chats reindex --data-dir DIR` | rebuild an instance's index (server stopped) |
//! | `chats check --data-dir DIR` | counters against rows, index against messages; exit 1 on a difference |
//! | `chats triggers generate DIR` / `check` | write the capture migration / compare the database with the code |
//! | `chats dead-letters list` / `requeue` / `discard` | changes a processor gave up on |
//! | `chats instances list` / `forget ID` | index subscribers of instances, e.g. to drop one whose directory is gone |
//!
//! An instance rebuilds its index from the database at start when the index is missing,
//! corrupt, never completely built (a rebuild that failed or was interrupted), or its
//! subscriber unknown to the database; `POST .../chats/{number}/reindex` rebuilds one
//! chat's documents while serving. Every rebuild is all or nothing: it commits once at
//! the end, and a failure or cancellation before that rolls the index writer back, so
//! nothing it deleted is lost ([`search::writer`]).
//!
//! The API bounds what one request costs (details in [`api`]): search queries of at
//! most 200 characters (422), a search that would check over 1000 non-matching messages
//! refused (400), and reindexes limited per application (429 with `Retry-After`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/chats").await?;
//! chats::migrate(&pool).await?;
//! let instance = chats::server::Instance::start(&pool, "./.data/chats-index".as_ref(), chats::server::runtime_config()).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! instance.serve(listener, db_listenable::runtime::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

pub mod api;
pub mod check;
pub mod cli;
pub mod counters;
pub mod database;
pub mod dead_letters;
pub mod instance;
pub mod model;
pub mod numbers;
pub mod search;
pub mod server;
pub mod tokens;
pub mod triggers;

/// The database name the example uses on the embedded cluster.
pub const DATABASE_NAME: &str = "chats";

/// Applies the example's migrations (idempotent: applied ones are skipped).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}
