//! Behind PgBouncer in transaction mode (Debian's `pgbouncer` package): the runtime in
//! poll-only mode with unprepared statements processes every change exactly once, dead
//! letters are listed and requeued, an outbox changeset is pushed, and the runtime stops.
//! PgBouncer shares three server connections among every client connection, so anything
//! that relied on session state (a named prepared statement, a session lock or setting,
//! `LISTEN`) would meet another client's server connection.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use db_listenable::DbPool;
use db_listenable::runtime::{
    Change, Context, JournalOutbox, Permanent, ProcessError, Processor, RuntimeBuilder, RuntimeConfig, dead_letters,
};
use pg_changeset::{PushOptions, Unprepared};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::outbox::{Billing, Jobs, charge};
use crate::{Item, count, fast, items_db, pending, wait_for};

/// Changes written before the runtime starts, then while it runs.
const BEFORE: i64 = 200;
const WHILE: i64 = 100;

/// Changesets pushed through the pooler at once.
const PUSHES: i64 = 20;

/// The runtime's lease; a few inserts take longer to process.
const LEASE: Duration = Duration::from_millis(600);

/// The id whose insert fails for good until the processor is repaired.
const POISON: i64 = 13;

/// Counts each change in `tally` in the same transaction that settles it
/// ([`Context::settle_in`]), through the pooler: a change counted twice or never shows.
/// Refuses the item [`POISON`] while `broken` is set.
#[derive(Clone, Default)]
struct Tally {
    broken: Arc<AtomicBool>,
}

impl Processor<Item> for Tally {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        if self.broken.load(Ordering::SeqCst)
            && change.old.is_none()
            && change.new.as_ref().is_some_and(|item| item.id == POISON)
        {
            return Err(Permanent::because("poisoned item").into());
        }
        if change.old.is_none() && change.new.as_ref().is_some_and(|item| item.id % 50 == 0) {
            // Longer than the lease: only renewals through the pooler keep the batch.
            tokio::time::sleep(LEASE + LEASE / 2).await;
        }
        let mut tx = ctx.db().begin().await?;
        sqlx::query("INSERT INTO tally (change_id) VALUES ($1)")
            .bind(change.id)
            .persistent(ctx.prepared_statements())
            .execute(&mut *tx)
            .await?;
        ctx.settle_in(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A pool through PgBouncer, as the docs say to build one.
async fn pooled(url: &str) -> PgPool {
    let options = PgConnectOptions::from_str(url).expect("pgbouncer url").extra_float_digits(None);
    PgPoolOptions::new().max_connections(8).connect_with(options).await.expect("connect through pgbouncer")
}

/// The runtime's settings behind a pooler in transaction mode.
fn behind_a_pooler() -> RuntimeConfig {
    fast().wakeups(false).prepared_statements(false).workers(4).batch_size(7).lease(LEASE)
}

/// How many times each change id was counted in `tally`.
async fn tally(admin: &PgPool) -> BTreeMap<i64, i64> {
    sqlx::query_as::<_, (i64, i64)>("SELECT change_id, count(*) FROM tally GROUP BY change_id")
        .fetch_all(admin)
        .await
        .expect("tally")
        .into_iter()
        .collect()
}

#[tokio::test]
async fn behind_pgbouncer_in_transaction_mode_every_change_is_processed_once_and_nothing_needs_a_session() {
    if pg_harness::PgBouncer::program().is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must have pgbouncer (see .ci/run)");
        eprintln!("skipped: install the Debian package pgbouncer to run the pooler test");
        return;
    }
    let (db, admin) = items_db(&Default::default()).await;
    sqlx::raw_sql("CREATE TABLE tally (change_id bigint NOT NULL); CREATE TABLE charges (id bigint PRIMARY KEY)")
        .execute(&admin)
        .await
        .expect("tables");
    let bouncer = pg_harness::PgBouncer::start(db.url(), 3, &[]).expect("start pgbouncer");
    let pool = pooled(bouncer.url()).await;

    // Writes through the pooler too (simple protocol: pooler-safe as they are).
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, {BEFORE}) g"
    )))
    .execute(&pool)
    .await
    .expect("insert through pgbouncer");

    let processor = Tally { broken: Arc::new(AtomicBool::new(true)) };
    let jobs = Arc::new(Jobs::default());
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(behind_a_pooler())
        .processor::<Item, _>("tally", processor.clone())
        .outbox_catalog(Arc::clone(&jobs))
        .start()
        .await
        .expect("start behind pgbouncer");

    for id in BEFORE + 1..=BEFORE + WHILE {
        sqlx::query("UPDATE items SET qty = qty + 1 WHERE id = $1")
            .bind(id - BEFORE)
            .execute(&admin)
            .await
            .expect("update");
    }
    // Changesets with unprepared statements, pushed concurrently through the pooler.
    let pushes = (1..=PUSHES).map(|id| {
        let (pool, jobs) = (pool.clone(), Arc::clone(&jobs));
        tokio::spawn(async move {
            charge::<pg_changeset::SqlxUnprepared>(&jobs, id)
                .push_with(Unprepared(&pool), &PushOptions::new().outbox(JournalOutbox))
                .await
        })
    });
    for push in futures::future::join_all(pushes).await {
        let pushed = push.expect("push task").expect("push a changeset with the journal outbox through pgbouncer");
        assert!(pushed.written_to_outbox());
    }

    let expected = BEFORE + WHILE;
    wait_for("every change but the poisoned one counted", Duration::from_secs(60), || async {
        tally(&admin).await.len() as i64 == expected - 1 && count(&admin, "dead_letters").await == 1
    })
    .await;
    wait_for("the outbox events dispatched", Duration::from_secs(20), || async {
        jobs.dispatched.lock().expect("jobs").len() == PUSHES as usize
    })
    .await;
    let mut dispatched = jobs.dispatched.lock().expect("jobs").clone();
    dispatched.sort_by_key(|Billing::CustomerCharged { id }| *id);
    assert_eq!(dispatched, (1..=PUSHES).map(|id| Billing::CustomerCharged { id }).collect::<Vec<_>>());
    let charges: i64 = sqlx::query_scalar("SELECT count(*) FROM charges").fetch_one(&admin).await.expect("charges");
    assert_eq!(charges, PUSHES);

    // The dead letter, listed and requeued through the pooler, then processed.
    let letters = dead_letters::list(DbPool::unprepared(&pool), Some("tally"), 10)
        .await
        .expect("list dead letters through pgbouncer");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].last_error.contains("poisoned item"), "{:?}", letters[0]);
    processor.broken.store(false, Ordering::SeqCst);
    let requeued =
        dead_letters::requeue(DbPool::unprepared(&pool), "tally", None).await.expect("requeue through pgbouncer");
    assert_eq!(requeued, 1);
    wait_for("the requeued change counted", Duration::from_secs(20), || async {
        tally(&admin).await.len() as i64 == expected
    })
    .await;

    let counted = tally(&admin).await;
    assert!(counted.values().all(|n| *n == 1), "a change counted more than once: {counted:?}");
    let stats = runtime.stats().await.expect("stats through pgbouncer");
    assert_eq!(stats.subscribers.iter().map(|s| s.pending).sum::<i64>(), 0);
    assert_eq!(count(&admin, "dead_letters").await, 0);
    assert_eq!(pending(&admin).await, 0);
    tokio::time::timeout(Duration::from_secs(20), runtime.shutdown()).await.expect("the runtime stops");
    pool.close().await;
}
