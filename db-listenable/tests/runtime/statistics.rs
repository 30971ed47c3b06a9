//! The journal read without planner statistics. With autovacuum off (or not yet run) on
//! the journal's partitions, PostgreSQL plans the claim's reads from default selectivities
//! and estimated a whole backlog as a handful of rows: it read every entry of the range
//! behind a bitmap (and, for typed rows, every entry of the table) in each claim instead of
//! the batch. The drain bench measured 0.14x of the rate after a history with autovacuum
//! off. Here a backlog drains on partitions that were never analysed, and the index
//! entries read must stay proportional to the changes delivered.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};
use sqlx::{Connection, PgConnection};

use crate::{Item, fast, other_sessions_gone, pending, private_items_db, subscriber_at_start, wait_for};
use db_listenable::DbListenable;

/// Changes in the backlog.
const BACKLOG: i64 = 30_000;

/// Index entries of the journal's partitions a drain may read per change delivered: a
/// claim reads its batch (and the entry that ends it), the typed read and the settlement
/// of retries read their changes by id. Reading the range or the table per claim is
/// hundreds per change at this backlog.
const ENTRIES_PER_CHANGE: i64 = 10;

/// Fails every 50th change once, so settlements write retries (a read of the journal by
/// id), and records which changes succeeded.
#[derive(Clone, Default)]
struct FailsSome {
    failed: Arc<Mutex<HashSet<i64>>>,
    done: Arc<Mutex<HashSet<i64>>>,
}

impl Processor<Item> for FailsSome {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        let id = change.row().map_or(0, |item| item.id);
        if id % 50 == 0 && self.failed.lock().expect("failed").insert(id) {
            return Err("fails once".into());
        }
        self.done.lock().expect("done").insert(id);
        Ok(())
    }
}

/// Index entries read so far from the indexes of the journal's partitions, once every
/// other session of the database has ended (a backend publishes its counters as it exits,
/// before it leaves `pg_stat_activity`).
async fn journal_index_entries_read(conn: &mut PgConnection) -> i64 {
    other_sessions_gone(conn).await;
    sqlx::query_scalar(
        "SELECT coalesce(sum(s.idx_tup_read), 0)::bigint FROM pg_stat_user_indexes s
         JOIN pg_inherits i ON i.inhrelid = s.relid
         WHERE i.inhparent = 'db_listenable.changes'::regclass",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("index counters of the journal's partitions")
}

/// Autovacuum (and so its `ANALYZE`) off on the journal's partitions.
async fn autovacuum_off_on_the_journal(pool: &sqlx::PgPool) {
    sqlx::raw_sql(
        "DO $$ DECLARE p regclass; BEGIN
           FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'db_listenable.changes'::regclass LOOP
             EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = false)', p);
           END LOOP;
         END $$",
    )
    .execute(pool)
    .await
    .expect("autovacuum off on the journal's partitions");
}

#[tokio::test]
async fn a_backlog_on_a_journal_never_analysed_is_read_batch_by_batch() {
    let (db, pool) = private_items_db().await;
    autovacuum_off_on_the_journal(&pool).await;
    let processor = FailsSome::default();
    let config = fast().batch_size(500).workers(2);
    RuntimeBuilder::new(pool.clone())
        .config(config.clone())
        .processor::<Item, _>("fails_some", processor.clone())
        .start()
        .await
        .expect("register")
        .shutdown()
        .await;
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, $1) g")
        .bind(BACKLOG)
        .execute(&pool)
        .await
        .expect("the backlog");
    let analysed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_statistic s JOIN pg_inherits i ON i.inhrelid = s.starelid
         WHERE i.inhparent = 'db_listenable.changes'::regclass",
    )
    .fetch_one(&pool)
    .await
    .expect("statistics");
    assert_eq!(analysed, 0, "the partitions have no statistics");

    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("fails_some", processor.clone())
        .start()
        .await
        .expect("start");
    wait_for("the backlog delivered", Duration::from_secs(120), || async {
        processor.done.lock().expect("done").len() as i64 >= BACKLOG
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(processor.failed.lock().expect("failed").len() as i64, BACKLOG / 50, "the failures were retried");
    pool.close().await;

    let mut conn = PgConnection::connect(db.url()).await.expect("connect");
    let read = journal_index_entries_read(&mut conn).await;
    assert!(
        read <= ENTRIES_PER_CHANGE * BACKLOG,
        "the drain read {read} index entries of the journal for {BACKLOG} changes ({} per change)",
        read / BACKLOG
    );
    let pool = crate::pool(db.url(), 1).await;
    assert_eq!(pending(&pool).await, 0, "nothing is left");
}

/// The claim's own read, on a journal of a million entries that were never analysed (the
/// size at which the planner, from default selectivities, turned to a bitmap of the whole
/// range): three claims of 1,000 read about their batches, not the million.
#[tokio::test]
async fn a_claim_on_a_million_entries_never_analysed_reads_its_batch() {
    let (db, pool) = private_items_db().await;
    autovacuum_off_on_the_journal(&pool).await;
    let table_id = db_listenable::ddl::table_id(&Item::MODEL);
    let sub = subscriber_at_start(&pool, "s").await;
    sqlx::query(
        "INSERT INTO db_listenable.changes (table_id, op, new_row)
         SELECT $1, 'I', jsonb_build_object('id', g, 'name', 'item ' || g, 'qty', 0) FROM generate_series(1, 1000000) g",
    )
    .bind(table_id)
    .execute(&pool)
    .await
    .expect("a million entries");
    pool.close().await;

    let mut claims = PgConnection::connect(db.url()).await.expect("connect");
    let mut claimed = 0;
    for _ in 0..3 {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT change_id FROM db_listenable.claim_journal($1, 1000, 16777216, 60000, 7, false) ORDER BY 1",
        )
        .bind(sub)
        .fetch_all(&mut claims)
        .await
        .expect("claim");
        assert_eq!(ids.len(), 1000, "a full batch");
        claimed += ids.len() as i64;
        sqlx::query(
            "SELECT held FROM db_listenable.settle_journal($1, 7, $2, 1, $3, '{}', '{}', '{}', '{}', '{}', '{}', '')",
        )
        .bind(sub)
        .bind(ids.last().copied())
        .bind(&ids)
        .execute(&mut claims)
        .await
        .expect("settle");
    }
    claims.close().await.expect("close");
    let mut conn = PgConnection::connect(db.url()).await.expect("connect");
    let read = journal_index_entries_read(&mut conn).await;
    assert!(read <= ENTRIES_PER_CHANGE * claimed, "three claims of 1,000 read {read} index entries of the journal");
}
