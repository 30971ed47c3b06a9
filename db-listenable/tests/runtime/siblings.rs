//! Workers of one runtime do not claim a subscriber's journal while one of them holds its
//! batch. A journal batch's lease is the subscriber's cursor, so one batch is in flight
//! at a time; a sibling's claim meanwhile finds the cursor leased and comes back empty,
//! a call of `claim_journal` for nothing. With four workers on one subscriber those
//! empty claims took a share of the database's work per change, and how much varied from
//! run to run with how the workers' polls fell (the drain bench's 4x1 cells).

use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::RuntimeBuilder;
use sqlx::{Connection, PgConnection};

use crate::{Recorder, fast, items_db, other_sessions_gone, wait_for};

/// Changes drained, in batches of one.
const CHANGES: i64 = 2_000;

/// Claims beyond one per batch that a drain may make: the registration's, the holder's
/// last, empty one, and the idle polls of four workers until the shutdown (a sibling
/// claiming for nothing made 100-130 extra claims per 1,000 batches).
const IDLE_CLAIMS: i64 = 60;

#[tokio::test]
async fn sibling_workers_leave_the_journal_to_the_one_holding_its_batch() {
    let (db, setup) = items_db(&CaptureConfig::default()).await;
    // Function call counts, for the sessions opened from now on.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{}\" SET track_functions = 'pl'", db.name())))
        .execute(&setup)
        .await
        .expect("track function calls");
    setup.close().await;
    let pool = crate::pool(db.url(), 8).await;
    let recorder = Recorder::default();
    let builder = || {
        RuntimeBuilder::new(pool.clone())
            .config(fast().batch_size(1).workers(4))
            .processor::<crate::Item, _>("siblings", recorder.clone())
    };
    builder().start().await.expect("register").shutdown().await;
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, $1) g")
        .bind(CHANGES)
        .execute(&pool)
        .await
        .expect("the backlog");
    let runtime = builder().start().await.expect("start");
    wait_for("every change delivered", Duration::from_secs(60), || async { recorder.len() as i64 >= CHANGES }).await;
    runtime.shutdown().await;
    pool.close().await;
    // The registration's claims count too: within the idle allowance.
    let claims = claim_calls(db.url()).await;
    assert!(
        claims <= CHANGES + IDLE_CLAIMS,
        "{claims} calls of claim_journal to drain {CHANGES} changes in batches of one with four workers"
    );
}

/// Calls of `db_listenable.claim_journal` so far, once every other session of the
/// database has ended (a backend publishes its counts as it exits).
async fn claim_calls(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    other_sessions_gone(&mut conn).await;
    let calls: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_user_functions
          WHERE schemaname = 'db_listenable' AND funcname = 'claim_journal'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("function statistics");
    conn.close().await.expect("close");
    calls
}
