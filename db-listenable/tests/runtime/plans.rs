//! The typed read of a batch is planned once per connection, not at every batch.
//!
//! PostgreSQL plans a prepared statement anew for its first five executions, then keeps
//! a generic plan only if that plan's estimate is below the custom plans' average. The
//! typed read's filter names the batch's ids: a custom plan saw them and estimated one
//! row for a batch of one, while the generic plan took default selectivities, so the
//! read was planned again at every batch. Planning its join over the journal's
//! partitions took 0.13 ms, five times its execution: a fifth of what a change cost at
//! batch size 1 (the drain bench: 976-1,417 changes/s, and which plan won varied from
//! run to run with the statistics of the moment).

use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::RuntimeBuilder;

use crate::{Recorder, fast, items_db, wait_for};

/// Changes waiting in the journal: what a backlog looks like to the planner.
const BACKLOG: i64 = 20_000;

/// Batches of one change each drained (the runtime stops once it has seen them).
const BATCHES: i64 = 60;

/// Executions PostgreSQL plans one by one before it compares the generic plan.
const CUSTOM_BEFORE_GENERIC: i64 = 5;

#[tokio::test]
async fn the_typed_read_is_planned_once_per_connection() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let recorder = Recorder::default();
    let builder = || {
        RuntimeBuilder::new(pool.clone())
            .config(fast().batch_size(1).workers(1))
            .processor::<crate::Item, _>("planned", recorder.clone())
    };
    builder().start().await.expect("register").shutdown().await;
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, $1) g")
        .bind(BACKLOG)
        .execute(&pool)
        .await
        .expect("the backlog");
    // As autovacuum would have by the time a backlog is drained.
    sqlx::raw_sql("ANALYZE db_listenable.changes").execute(&pool).await.expect("analyze the journal");
    let runtime = builder().start().await.expect("start");
    wait_for("every change delivered", Duration::from_secs(60), || async { recorder.len() as i64 >= BATCHES }).await;
    runtime.shutdown().await;

    // Every connection the pool holds, at once, so each is looked at (once all are back).
    wait_for("the runtime's connections back in the pool", Duration::from_secs(10), || async {
        pool.num_idle() == pool.size() as usize
    })
    .await;
    let mut connections = Vec::new();
    while let Some(connection) = pool.try_acquire() {
        connections.push(connection);
    }
    let (mut custom, mut generic, mut holders) = (0_i64, 0_i64, 0_i64);
    for connection in &mut connections {
        // Not prepared, so it is not among the statements it counts.
        let (c, g): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(custom_plans), 0)::bigint, coalesce(sum(generic_plans), 0)::bigint
               FROM pg_prepared_statements WHERE statement LIKE '%jsonb\\_populate\\_record(NULL::%'",
        )
        .persistent(false)
        .fetch_one(&mut **connection)
        .await
        .expect("the connection's prepared statements");
        custom += c;
        generic += g;
        holders += i64::from(c + g > 0);
    }
    assert!(holders > 0, "no connection of the pool ran the typed read ({} looked at)", connections.len());
    assert!(
        custom + generic > CUSTOM_BEFORE_GENERIC * holders,
        "{} typed reads on {holders} connection(s) for {BATCHES} batches: too few to tell",
        custom + generic
    );
    assert!(
        custom <= CUSTOM_BEFORE_GENERIC * holders,
        "the typed read was planned {custom} times for {} executions on {holders} connection(s) \
         ({generic} with the cached generic plan)",
        custom + generic
    );
}
