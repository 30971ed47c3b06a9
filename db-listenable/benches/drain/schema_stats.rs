//! What a drain does to our relations, read from PostgreSQL's statistics and catalog
//! over every relation of schema `db_listenable` (see `our_relations`): index entries
//! read per index scan, vacuum runs, total size; and switching autovacuum off on them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::our_relations::SCHEMA;

/// Cumulative index and vacuum counters of every relation of [`SCHEMA`] at one moment.
#[derive(Debug, Default)]
pub struct StatsSnapshot {
    /// Per index (by oid): index scans and index entries read.
    indexes: HashMap<i64, (i64, i64)>,
    /// Per table (by oid): autovacuum and autoanalyze runs.
    tables: HashMap<i64, (i64, i64)>,
}

impl StatsSnapshot {
    /// Reads the counters. Backends publish theirs when they exit or go idle (at most
    /// once a second), so callers read after the pool's connections are gone
    /// ([`wait_for_clients_gone`]).
    pub async fn read(pool: &PgPool) -> Self {
        let indexes: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT indexrelid::bigint, coalesce(idx_scan, 0), coalesce(idx_tup_read, 0)
               FROM pg_stat_user_indexes WHERE schemaname = $1",
        )
        .bind(SCHEMA)
        .fetch_all(pool)
        .await
        .expect("read the index statistics of schema db_listenable");
        let tables: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT relid::bigint, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables WHERE schemaname = $1",
        )
        .bind(SCHEMA)
        .fetch_all(pool)
        .await
        .expect("read the table statistics of schema db_listenable");
        StatsSnapshot {
            indexes: indexes.into_iter().map(|(oid, scans, read)| (oid, (scans, read))).collect(),
            tables: tables.into_iter().map(|(oid, vacuums, analyzes)| (oid, (vacuums, analyzes))).collect(),
        }
    }

    /// What happened between `before` and `self`. Relations created meanwhile count
    /// from zero; relations dropped meanwhile are lost (truncated ones keep their
    /// counters).
    pub fn since(&self, before: &StatsSnapshot) -> SchemaStats {
        let mut stats = SchemaStats::default();
        for (oid, (scans, read)) in &self.indexes {
            let (scans_before, read_before) = before.indexes.get(oid).copied().unwrap_or_default();
            stats.index_scans += scans - scans_before;
            stats.index_entries_read += read - read_before;
        }
        for (oid, (vacuums, analyzes)) in &self.tables {
            let (vacuums_before, analyzes_before) = before.tables.get(oid).copied().unwrap_or_default();
            stats.autovacuums += vacuums - vacuums_before;
            stats.autoanalyzes += analyzes - analyzes_before;
        }
        stats
    }
}

/// What a drain did to the indexes and tables of [`SCHEMA`], to tell slow drains
/// apart: many index entries read per scan means claims (or routing rounds) stepped
/// over dead entries not yet vacuumed; vacuum runs show when tables were vacuumed
/// meanwhile.
#[derive(Debug, Default, Clone, Copy)]
pub struct SchemaStats {
    pub index_scans: i64,
    pub index_entries_read: i64,
    pub autovacuums: i64,
    pub autoanalyzes: i64,
}

impl SchemaStats {
    /// Index entries read per index scan, over every index of the schema.
    pub fn entries_per_scan(&self) -> f64 {
        self.index_entries_read as f64 / self.index_scans.max(1) as f64
    }

    /// `12.3 read/scan (4,567 scans), vac 1 an 2`.
    pub fn label(&self) -> String {
        format!(
            "{:.1} read/scan ({} scans), vac {} an {}",
            self.entries_per_scan(),
            self.index_scans,
            self.autovacuums,
            self.autoanalyzes
        )
    }
}

/// Waits (up to 10 s) until no client connection to the pool's database is left but
/// the caller's, so every counter they held has been published.
pub async fn wait_for_clients_gone(pool: &PgPool) {
    let others = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()";
    wait_for_none(pool, others, Duration::from_secs(10), "connection(s) still open; their statistics may be missing")
        .await;
}

/// Waits (up to 30 s) until no autovacuum worker works in the pool's database.
pub async fn wait_for_autovacuum_idle(pool: &PgPool) {
    let workers = "SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND backend_type = 'autovacuum worker'";
    wait_for_none(pool, workers, Duration::from_secs(30), "autovacuum worker(s) still busy; timing anyway").await;
}

/// Polls the count `query` every 20 ms until it is 0; past `limit`, prints a note
/// (`still`, after the count) and returns.
async fn wait_for_none(pool: &PgPool, query: &str, limit: Duration, still: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
            .fetch_one(pool)
            .await
            .unwrap_or_else(|error| panic!("{query}: {error}"));
        if count == 0 {
            return;
        }
        if Instant::now() > deadline {
            println!("(note: {count} {still} after {} s)", limit.as_secs());
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Total size of every table of [`SCHEMA`] with its indexes and TOAST, in bytes.
pub async fn total_size(pool: &PgPool) -> u64 {
    let bytes: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')",
    )
    .bind(SCHEMA)
    .fetch_one(pool)
    .await
    .expect("read the size of schema db_listenable");
    u64::try_from(bytes).expect("a size is never negative")
}

/// What [`disable_autovacuum`] did.
#[derive(Debug, Default)]
pub struct AutovacuumOff {
    /// Tables now without autovacuum.
    pub tables: usize,
    /// Relations that refused the setting (partitioned parents), with why.
    pub refused: Vec<String>,
}

/// `autovacuum_enabled = false` (and the same for their TOAST tables) on every table of
/// [`SCHEMA`]: leaf partitions one by one, and partitioned parents too where
/// PostgreSQL accepts it (it refuses storage parameters on them; they are skipped).
pub async fn disable_autovacuum(pool: &PgPool) -> AutovacuumOff {
    let relations: Vec<(String, String)> = sqlx::query_as(
        "SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
          ORDER BY c.relname",
    )
    .bind(SCHEMA)
    .fetch_all(pool)
    .await
    .expect("list the tables of schema db_listenable");
    let mut off = AutovacuumOff::default();
    for (table, kind) in relations {
        // A partitioned parent has no TOAST table of its own: the plain setting only.
        let settings = if kind == "p" {
            "autovacuum_enabled = false"
        } else {
            "autovacuum_enabled = false, toast.autovacuum_enabled = false"
        };
        let statement = format!("ALTER TABLE {table} SET ({settings})");
        match sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(pool).await {
            Ok(_) => off.tables += 1,
            Err(error) => off.refused.push(format!("{table}: {error}")),
        }
    }
    off
}

impl AutovacuumOff {
    /// `autovacuum off on 5 tables; refused: ...`.
    pub fn label(&self) -> String {
        let mut label = format!("autovacuum off on {} table(s) of db_listenable", self.tables);
        if !self.refused.is_empty() {
            label.push_str(&format!("; refused: {}", self.refused.join("; ")));
        }
        label
    }
}
