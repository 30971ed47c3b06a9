//! The journal's cursors against transactions that commit out of id order: the claim
//! function driven statement by statement, with the interleavings that could pass an
//! entry reproduced deterministically on connections of their own.

use std::collections::BTreeSet;
use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::runtime::RuntimeBuilder;
use sqlx::{Connection, PgConnection, PgPool};

use crate::{Item, Recorder, fast, insert_items, items_db, pending, private_items_db, wait_for};

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("test connection")
}

/// Change ids one call of `claim_journal` returns for subscriber `sub`, then settled.
async fn claim(conn: &mut PgConnection, sub: i32) -> Vec<i64> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT change_id FROM db_listenable.claim_journal($1, 1000, 16777216, 60000, 7, false) ORDER BY 1",
    )
    .bind(sub)
    .fetch_all(&mut *conn)
    .await
    .expect("claim");
    if let Some(upto) = ids.last() {
        sqlx::query(
            "SELECT held FROM db_listenable.settle_journal($1, 7, $2, 1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '')",
        )
        .bind(sub)
        .bind(upto)
        .execute(&mut *conn)
        .await
        .expect("settle");
    }
    ids
}

/// A writer took its transaction id after the registering transaction took its own, and
/// wrote its journal entry before the registration read the sequence: the entry is below
/// the cursor's first `hi`, and its transaction is newer than every one that completed
/// when the first claim takes its snapshot. It must still be claimed once it commits.
#[tokio::test]
async fn an_entry_written_before_the_cursor_existed_by_a_transaction_still_running_is_claimed_once_committed() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    let mut register = connect(db.url()).await;
    let mut writer = connect(db.url()).await;
    let mut claims = connect(db.url()).await;
    sqlx::query("BEGIN").execute(&mut register).await.expect("begin");
    let sub: i32 = sqlx::query_scalar(
        "INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ('s', $1, '{id}') RETURNING id",
    )
    .bind(ddl::table_id(&Item::MODEL))
    .fetch_one(&mut register)
    .await
    .expect("subscriber");
    sqlx::query("BEGIN").execute(&mut writer).await.expect("begin");
    sqlx::query("INSERT INTO items (id, name) VALUES (1, 'late')").execute(&mut writer).await.expect("insert");
    // As `store::register` does: the cursor's `hi` is the sequence's value now.
    sqlx::query(
        "INSERT INTO db_listenable.cursors (subscriber_id, snap, lo, pos, hi)
         SELECT $1, '1:1:', 0, 0, db_listenable.allocated_id()",
    )
    .bind(sub)
    .execute(&mut register)
    .await
    .expect("cursor");
    sqlx::query("COMMIT").execute(&mut register).await.expect("commit");

    assert_eq!(claim(&mut claims, sub).await, Vec::<i64>::new(), "nothing committed yet");
    assert_eq!(claim(&mut claims, sub).await, Vec::<i64>::new(), "nothing committed yet");
    sqlx::query("COMMIT").execute(&mut writer).await.expect("commit the writer");
    let entry: i64 =
        sqlx::query_scalar("SELECT max(id) FROM db_listenable.changes").fetch_one(&pool).await.expect("id");
    let mut seen = claim(&mut claims, sub).await;
    seen.extend(claim(&mut claims, sub).await);
    assert_eq!(seen, [entry], "the late transaction's entry is claimed once");
}

/// The cursor row's version (`xmin`: the transaction that last wrote it) and its last
/// locker (`xmax`: every claim locks the row `FOR UPDATE`, so each claim leaves its
/// transaction id there unless it rewrites the row), with the cursor's bound `lo`.
async fn cursor_row(pool: &PgPool) -> (String, String, i64) {
    sqlx::query_as("SELECT xmin::text, xmax::text, lo FROM db_listenable.cursors")
        .fetch_one(pool)
        .await
        .expect("the cursor row")
}

/// An idle subscriber's claims find nothing new: they lock the cursor row but do not
/// rewrite it (one row version for many polls), and the first change written after that
/// is delivered and moves the cursor past it.
#[tokio::test]
async fn an_idle_subscriber_claims_without_rewriting_its_cursor_and_moves_it_when_a_change_comes() {
    // Alone on its cluster: transactions of other tests ending would move the cursor's
    // lower bound, which is written when it moves.
    let (_db, pool) = private_items_db().await;
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("idle", recorder.clone())
        .start()
        .await
        .expect("start the runtime");
    insert_items(&pool, [1]).await;
    wait_for("the first change to be delivered", Duration::from_secs(10), || async {
        recorder.len() == 1 && pending(&pool).await == 0
    })
    .await;

    // Claims seen since the row was last written: distinct lockers of one row version.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut version = String::new();
    let mut claims = BTreeSet::new();
    while claims.len() < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "no five claims in a row left the idle cursor row as it was (it was rewritten by claims finding nothing)"
        );
        let (xmin, xmax, _) = cursor_row(&pool).await;
        if xmin != version {
            version = xmin;
            claims.clear();
        }
        if xmax != "0" {
            claims.insert(xmax);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (idle_version, _, idle_lo) = cursor_row(&pool).await;
    assert_eq!(idle_version, version, "the cursor row was rewritten meanwhile");

    insert_items(&pool, [2]).await;
    let entry: i64 =
        sqlx::query_scalar("SELECT max(id) FROM db_listenable.changes").fetch_one(&pool).await.expect("entry id");
    assert!(entry > idle_lo, "the new entry {entry} is past the idle cursor ({idle_lo})");
    wait_for("the new change to be delivered and the cursor to move past it", Duration::from_secs(10), || async {
        recorder.len() == 2 && cursor_row(&pool).await.2 >= entry
    })
    .await;
    assert_ne!(cursor_row(&pool).await.0, idle_version, "the cursor row was written when the change came");
    assert_eq!(recorder.all().iter().map(|seen| seen.change).collect::<Vec<_>>().last(), Some(&entry));
    runtime.shutdown().await;
}

/// `pending_entries` is inlined into the statement that reads it (no function call per
/// subscriber), where the journal is read by its `(table_id, id)` index.
#[tokio::test]
async fn a_subscribers_pending_entries_are_read_through_the_journals_index() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let mut conn = pool.acquire().await.expect("connection");
    sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.expect("no sequential scans");
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT count(*) FROM db_listenable.subscribers s CROSS JOIN LATERAL db_listenable.pending_entries(s.id) e",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("plan");
    let plan = plan.join("\n");
    assert!(!plan.contains("Function Scan"), "inlined:\n{plan}");
    assert!(plan.contains("Index Scan using changes_"), "by the journal's index:\n{plan}");
}

/// The id the claims and the router take as "allocated so far" never runs ahead of the
/// sequence. `nextval` writes the value 32 ids ahead into the sequence's row for its WAL
/// record and puts the real one back, in place, under the buffer's lock; a plain `SELECT`
/// from the sequence reads the row without that lock and could see the value ahead. A
/// claim taking it as its bound (`lo`) would pass over the ids in between once they were
/// handed out: their entries never delivered. Two sessions allocate ids as fast as they
/// can while a third compares `allocated_id()` with the value read under the lock right
/// after it (the sequence only grows, so the first can never be greater).
#[tokio::test]
async fn the_allocated_id_never_runs_ahead_of_the_sequence() {
    let (db, _pool) = items_db(&CaptureConfig::default()).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..2 {
        let mut conn = connect(db.url()).await;
        let stop = std::sync::Arc::clone(&stop);
        writers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                sqlx::query("SELECT count(nextval('db_listenable.changes_id_seq')) FROM generate_series(1, 20000)")
                    .execute(&mut conn)
                    .await
                    .expect("allocate ids");
            }
        }));
    }
    let mut reader = connect(db.url()).await;
    sqlx::raw_sql(
        "CREATE FUNCTION ahead_reads(n integer) RETURNS integer LANGUAGE plpgsql AS $$
         DECLARE v bigint; w bigint; ahead integer := 0;
         BEGIN
             FOR i IN 1..n LOOP
                 v := db_listenable.allocated_id();
                 w := pg_sequence_last_value('db_listenable.changes_id_seq');
                 IF v > w THEN ahead := ahead + 1; END IF;
             END LOOP;
             RETURN ahead;
         END $$",
    )
    .execute(&mut reader)
    .await
    .expect("the reading function");
    let mut ahead = 0;
    for _ in 0..10 {
        ahead += sqlx::query_scalar::<_, i32>("SELECT ahead_reads(50000)")
            .fetch_one(&mut reader)
            .await
            .expect("read the allocated id");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    assert_eq!(ahead, 0, "reads of the allocated id that ran ahead of the sequence, in 500,000");
}
