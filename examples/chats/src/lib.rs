//! The chats example: a chat HTTP API whose counters and search index follow every
//! change to the database, whoever makes it.
//!
//! The seed (Rails + Go + Redis + Elasticsearch) kept counters in Redis synced hourly
//! and never indexed the Go writer's messages. Here, in the issues that build it: an
//! axum API under `/api/v1` (applications, chats, messages, partial-match search),
//! numbers assigned gaplessly in one short transaction, `chats_count` and
//! `messages_count` maintained by `db-listenable` processors from captured changes,
//! and a `tantivy` index per server instance fed the same way. Today: the schema.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/chats").await?;
//! chats::migrate(&pool).await?;
//! # Ok(()) }
//! ```

/// The database name the example uses on the embedded cluster.
pub const DATABASE_NAME: &str = "chats";

/// Applies the example's migrations (idempotent: applied ones are skipped).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}
