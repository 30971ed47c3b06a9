//! Our relations as the drain benches see them: every table of schema `db_listenable`,
//! partitions included, found through the catalog and never by name, so the figures do
//! not depend on which tables the delivery path uses. Shared by `drain.rs` and
//! `benchmarks/benches/drain_peers.rs` (included there by path).
//!
//! Two items name tables, and only they: [`NOTHING_PENDING_SQL`] and
//! [`journal_entries`]. They hold what "drained" and "written" mean for the delivery
//! path of the day: the journal read behind per-subscriber cursors, which keeps
//! processed entries until their partition is emptied whole.

use sqlx::PgPool;

/// The schema of our relations.
pub const SCHEMA: &str = "db_listenable";

/// Every table of [`SCHEMA`] that has storage (plain tables and leaf partitions;
/// partitioned parents hold nothing), quoted for SQL as `db_listenable."name"`.
pub async fn tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname)
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind = 'r'
          ORDER BY c.relname",
    )
    .bind(SCHEMA)
    .fetch_all(pool)
    .await
    .expect("list the tables of schema db_listenable")
}

/// `VACUUM (ANALYZE)` on every table of [`SCHEMA`]: what autovacuum does to a backlog
/// that built up over time, done before timing so the drain does not pay it.
pub async fn vacuum_analyze(pool: &PgPool) {
    for table in tables(pool).await {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM (ANALYZE) {table}")))
            .execute(pool)
            .await
            .unwrap_or_else(|error| panic!("vacuum {table}: {error}"));
    }
}

/// Entries in the journal, counted to check that a backlog was written as one entry
/// per change. Names the journal table: adapted with the delivery path (see the module
/// documentation).
pub async fn journal_entries(pool: &PgPool) -> u64 {
    count(pool, "changes").await
}

/// Whether nothing is left to deliver (one snapshot): no delivery, unrouted entry or dead
/// letter, and no journal entry past a subscriber's cursor (the journal keeps processed
/// entries until their partition is emptied whole).
pub const NOTHING_PENDING_SQL: &str = "SELECT NOT EXISTS (SELECT 1 FROM db_listenable.deliveries)
        AND NOT EXISTS (SELECT 1 FROM db_listenable.unrouted)
        AND NOT EXISTS (SELECT 1 FROM db_listenable.dead_letters)
        AND NOT EXISTS (
            SELECT 1 FROM db_listenable.subscribers s CROSS JOIN LATERAL db_listenable.pending_entries(s.id))";

/// Asserts that nothing is left to deliver after a drain ([`NOTHING_PENDING_SQL`]).
pub async fn assert_nothing_pending(pool: &PgPool) {
    let drained: bool =
        sqlx::query_scalar(NOTHING_PENDING_SQL).fetch_one(pool).await.expect("look for what is pending");
    assert!(drained, "nothing is pending in {SCHEMA} after the drain");
}

/// Rows in `db_listenable.<table>`.
async fn count(pool: &PgPool, table: &str) -> u64 {
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {SCHEMA}.{table}")))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("count the rows of {SCHEMA}.{table}: {error}"));
    u64::try_from(rows).expect("a count is never negative")
}
