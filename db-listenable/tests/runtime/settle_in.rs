//! Settling inside the processor's transaction (`Context::settle_in`): the processor's
//! writes and the end of the delivery commit together, so a processor that writes only to
//! this database applies each change exactly once, even when its process is killed with
//! SIGKILL at any moment.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{
    BatchProcessor, Change, Context, Permanent, ProcessError, Processor, Runtime, RuntimeBuilder, RuntimeConfig,
};
use serde::Deserialize;
use sqlx::PgPool;

use crate::{count, fast, install, pending, wait_for};

/// A row whose every change increments a counter.
#[derive(Debug, Clone, PartialEq, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "ticks")]
struct Tick {
    id: i64,
    /// -1 asks the processor for a permanent failure.
    n: i32,
}

/// The captured table, the counter, and one mark per application of a change, in the
/// order they committed (no unique constraint: a change applied twice leaves two marks).
const TABLES: &str = "CREATE TABLE ticks (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);
     CREATE TABLE counter (id int PRIMARY KEY, n bigint NOT NULL);
     INSERT INTO counter VALUES (1, 0);
     CREATE TABLE marks (seq bigserial, change_id bigint NOT NULL, tick bigint, n int, attempt int NOT NULL)";

async fn ticks_db() -> (pg_harness::TestDb, PgPool) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = crate::pool(db.url(), 8).await;
    install(&pool, TABLES, &Tick::MODEL, &CaptureConfig::default()).await;
    (db, pool)
}

/// Applies `changes` in one transaction: the counter plus one mark each; with `settle`,
/// settles them in it too. A change whose row has `n = -1` fails permanently.
async fn apply(ctx: &Context<'_>, changes: &[Change<Tick>], settle: bool) -> Result<(), ProcessError> {
    if changes.iter().any(|change| change.row().is_some_and(|tick| tick.n == -1)) {
        return Err(Permanent::because("n = -1").into());
    }
    let mut tx = ctx.db().begin().await?;
    for change in changes {
        sqlx::query("UPDATE counter SET n = n + 1 WHERE id = 1").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO marks (change_id, tick, n, attempt) VALUES ($1, $2, $3, $4)")
            .bind(change.id)
            .bind(change.row().map(|tick| tick.id))
            .bind(change.row().map(|tick| tick.n))
            .bind(i32::try_from(change.attempt).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await?;
    }
    // Work that takes a little time, so that kills land inside transactions too.
    sqlx::query("SELECT pg_sleep(0.002 * $1)").bind(changes.len() as f64).execute(&mut *tx).await?;
    if settle {
        ctx.settle_in(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Counts each change in a transaction; `settle`: settles it there.
#[derive(Clone, Copy)]
struct Counting {
    settle: bool,
}

impl Processor<Tick> for Counting {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Tick>) -> Result<(), ProcessError> {
        apply(ctx, std::slice::from_ref(change), self.settle).await
    }
}

impl BatchProcessor<Tick> for Counting {
    async fn process_batch(&self, ctx: &Context<'_>, changes: &[Change<Tick>]) -> Result<(), ProcessError> {
        apply(ctx, changes, self.settle).await
    }
}

/// (counter, marks, distinct changes marked).
async fn applied(pool: &PgPool) -> (i64, i64, i64) {
    sqlx::query_as("SELECT (SELECT n FROM counter WHERE id = 1), count(*), count(DISTINCT change_id) FROM marks")
        .fetch_one(pool)
        .await
        .expect("read the counter")
}

/// Changes the runtime's subscriber counted as processed.
async fn processed(runtime: &Runtime) -> u64 {
    let stats = runtime.stats().await.expect("stats");
    stats.subscribers.iter().find(|s| s.name == "counter").map_or(0, |s| s.processed_here)
}

async fn insert_ticks(pool: &PgPool, ids: std::ops::RangeInclusive<i64>) {
    sqlx::query("INSERT INTO ticks (id) SELECT g FROM generate_series($1::bigint, $2::bigint) g")
        .bind(*ids.start())
        .bind(*ids.end())
        .execute(pool)
        .await
        .expect("insert ticks");
}

async fn start(pool: &PgPool, config: RuntimeConfig, settle: bool, batch: bool) -> Runtime {
    let builder = RuntimeBuilder::new(pool.clone()).config(config);
    let builder = if batch {
        builder.batch_processor::<Tick, _>("counter", Counting { settle })
    } else {
        builder.processor::<Tick, _>("counter", Counting { settle })
    };
    builder.start().await.expect("start")
}

#[tokio::test]
async fn changes_settled_in_the_processors_transaction_are_counted_once_and_not_settled_again() {
    for batch in [false, true] {
        let (_db, pool) = ticks_db().await;
        insert_ticks(&pool, 1..=20).await;
        let runtime = start(&pool, fast(), true, batch).await;
        // The deliveries are gone with the processor's commit; the worker counts them
        // right after.
        wait_for("every tick applied and counted", Duration::from_secs(10), || async {
            pending(&pool).await == 0 && processed(&runtime).await == 20
        })
        .await;
        let stats = runtime.stats().await.expect("stats");
        runtime.shutdown().await;
        assert_eq!(applied(&pool).await, (20, 20, 20), "batch {batch}");
        let entry = stats.subscribers.iter().find(|s| s.name == "counter").expect("stats");
        assert_eq!((entry.processed_here, entry.failed_here, entry.dead), (20, 0, 0), "batch {batch}");
    }
}

#[tokio::test]
async fn a_change_settled_in_the_processors_transaction_counts_as_newer_for_its_rows_dead_letter() {
    let (_db, pool) = ticks_db().await;
    let runtime = start(&pool, fast(), true, false).await;
    sqlx::query("INSERT INTO ticks (id, n) VALUES (1, -1)").execute(&pool).await.expect("insert");
    wait_for("a dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    sqlx::query("UPDATE ticks SET n = 5 WHERE id = 1").execute(&pool).await.expect("update");
    wait_for("the update applied", Duration::from_secs(10), || async { pending(&pool).await == 0 }).await;
    runtime.shutdown().await;
    let newer: i32 = sqlx::query_scalar("SELECT newer_processed FROM db_listenable.dead_letters")
        .fetch_one(&pool)
        .await
        .expect("read the dead letter");
    assert_eq!(newer, 1, "the requeue confirmation must know a newer change of the row ran");
    assert_eq!(applied(&pool).await, (1, 1, 1));
}

/// On its first attempt at each change, settles it in a transaction it then rolls back,
/// and returns `Ok` all the same; does it properly afterwards.
#[derive(Clone, Default)]
struct Forgetful {
    attempts: Arc<Mutex<Vec<u32>>>,
}

impl Processor<Tick> for Forgetful {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Tick>) -> Result<(), ProcessError> {
        self.attempts.lock().expect("attempts").push(change.attempt);
        if change.attempt > 1 {
            return apply(ctx, std::slice::from_ref(change), true).await;
        }
        let mut tx = ctx.db().begin().await?;
        sqlx::query("UPDATE counter SET n = n + 1 WHERE id = 1").execute(&mut *tx).await?;
        ctx.settle_in(&mut tx).await?;
        tx.rollback().await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_change_settled_in_a_transaction_that_did_not_commit_runs_again() {
    let (_db, pool) = ticks_db().await;
    let forgetful = Forgetful::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Tick, _>("counter", forgetful.clone())
        .start()
        .await
        .expect("start");
    insert_ticks(&pool, 1..=1).await;
    wait_for("the tick applied and counted", Duration::from_secs(10), || async {
        pending(&pool).await == 0 && processed(&runtime).await == 1
    })
    .await;
    let stats = runtime.stats().await.expect("stats");
    runtime.shutdown().await;
    assert_eq!(*forgetful.attempts.lock().expect("attempts"), [1, 2]);
    assert_eq!(applied(&pool).await, (1, 1, 1));
    let entry = stats.subscribers.iter().find(|s| s.name == "counter").expect("stats");
    assert_eq!((entry.processed_here, entry.failed_here), (1, 1), "the uncommitted run is a failed attempt");
}

/// On its first attempt, lets another worker take the change (as when its lease ran out)
/// before settling; keeps what `settle_in` answered.
#[derive(Clone, Default)]
struct Overtaken {
    answers: Arc<Mutex<Vec<String>>>,
}

impl Processor<Tick> for Overtaken {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Tick>) -> Result<(), ProcessError> {
        let mut tx = ctx.db().begin().await?;
        sqlx::query("UPDATE counter SET n = n + 1 WHERE id = 1").execute(&mut *tx).await?;
        sqlx::query("INSERT INTO marks (change_id, attempt) VALUES ($1, $2)")
            .bind(change.id)
            .bind(i32::try_from(change.attempt).unwrap_or(i32::MAX))
            .execute(&mut *tx)
            .await?;
        if change.attempt == 1 {
            // Another claim's token, with a lease already over: the next claim takes it.
            for lease in ["deliveries", "cursors"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE db_listenable.{lease} SET lease_token = 42, leased_until = now() - interval '1 second'
                     WHERE lease_token IS NOT NULL"
                )))
                .execute(ctx.db())
                .await?;
            }
        }
        let answer = ctx.settle_in(&mut tx).await;
        self.answers.lock().expect("answers").push(match &answer {
            Ok(()) => "ok".to_owned(),
            Err(db_listenable::Error::LeaseLost { changes, .. }) if changes == &[change.id] => "lease lost".to_owned(),
            Err(other) => format!("unexpected: {other}"),
        });
        answer?;
        tx.commit().await?;
        Ok(())
    }
}

#[tokio::test]
async fn settling_a_change_whose_lease_was_taken_fails_and_its_writes_roll_back() {
    let (_db, pool) = ticks_db().await;
    let overtaken = Overtaken::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Tick, _>("counter", overtaken.clone())
        .start()
        .await
        .expect("start");
    insert_ticks(&pool, 1..=1).await;
    wait_for("the tick applied", Duration::from_secs(10), || async { pending(&pool).await == 0 }).await;
    runtime.shutdown().await;
    assert_eq!(*overtaken.answers.lock().expect("answers"), ["lease lost", "ok"]);
    assert_eq!(applied(&pool).await, (1, 1, 1), "the first attempt's writes rolled back with it");
}

/// Settles the whole batch, then keeps its transaction open for longer than the lease
/// before committing; records the attempts it saw.
#[derive(Clone, Default)]
struct Slow {
    attempts: Arc<Mutex<Vec<u32>>>,
}

impl BatchProcessor<Tick> for Slow {
    async fn process_batch(&self, ctx: &Context<'_>, changes: &[Change<Tick>]) -> Result<(), ProcessError> {
        self.attempts.lock().expect("attempts").extend(changes.iter().map(|change| change.attempt));
        let mut tx = ctx.db().begin().await?;
        sqlx::query("UPDATE counter SET n = n + $1 WHERE id = 1").bind(changes.len() as i64).execute(&mut *tx).await?;
        ctx.settle_in(&mut tx).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        tx.commit().await?;
        Ok(())
    }
}

#[tokio::test]
async fn renewals_go_on_while_the_processors_settling_transaction_holds_the_rows() {
    let (_db, pool) = ticks_db().await;
    insert_ticks(&pool, 1..=3).await;
    let slow = Slow::default();
    let mut config = fast();
    // Renewed every 200 ms, while the settling transaction stays open for 1.5 s.
    config = config.lease(Duration::from_millis(600));
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .batch_processor::<Tick, _>("counter", slow.clone())
        .start()
        .await
        .expect("start");
    wait_for("the batch applied and counted", Duration::from_secs(10), || async {
        pending(&pool).await == 0 && processed(&runtime).await == 3
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(*slow.attempts.lock().expect("attempts"), [1, 1, 1], "one run: the lease was never taken for lost");
    let counter: i64 = sqlx::query_scalar("SELECT n FROM counter").fetch_one(&pool).await.expect("counter");
    assert_eq!(counter, 3);
}

// ---------------------------------------------------------------------------------------
// SIGKILL at random moments.

/// Set in the child process: the database, and how the child's processor settles.
const CHILD_URL: &str = "DB_LISTENABLE_SETTLE_CHILD_URL";
const CHILD_MODE: &str = "DB_LISTENABLE_SETTLE_CHILD_MODE";

/// Child half of the tests below: runs a counting runtime until it is killed. Does
/// nothing outside them.
#[tokio::test]
#[ignore = "run by the kill -9 tests of this module"]
async fn child_counts_ticks_until_killed() {
    let (Ok(url), Ok(mode)) = (std::env::var(CHILD_URL), std::env::var(CHILD_MODE)) else { return };
    let pool = crate::pool(&url, 6).await;
    let mut config = fast();
    // Leases of a killed child end soon, so the next one takes its changes over.
    config = config.lease(Duration::from_millis(1000));
    // A change claimed by many killed children is still not abandoned.
    config = config.max_attempts(10_000);
    config = config.batch_size(20);
    let runtime = start(&pool, config, mode != "control", mode == "batch").await;
    std::future::pending::<()>().await;
    drop(runtime);
}

/// What a run under kills left.
#[derive(Debug)]
struct KillRun {
    /// Changes made: an INSERT of each tick and two UPDATEs of most.
    changes: i64,
    kills: usize,
    /// Kills that found deliveries held by the child's workers.
    kills_in_flight: usize,
    counter: i64,
    marks: i64,
    distinct: i64,
    /// Ticks whose marks are not `n` = 0, 1, 2, ... up to the tick's final `n`, in
    /// commit order: a change of the row applied twice, skipped, or out of order.
    rows_out_of_order: i64,
}

fn spawn_child(url: &str, mode: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "settle_in::child_counts_ticks_until_killed", "--ignored", "--test-threads=1"])
        .env(CHILD_URL, url)
        .env(CHILD_MODE, mode)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn the child")
}

/// Writes `ticks` rows over time, five at a time, and increments the five before and the
/// five before those (so rows have several changes, which must run in order). Returns
/// how many changes that made.
async fn write_ticks(pool: PgPool, ticks: i64) -> i64 {
    let mut changes = 0;
    for first in (1..=ticks).step_by(5) {
        let last = (first + 4).min(ticks);
        insert_ticks(&pool, first..=last).await;
        changes += last - first + 1;
        for back in [5, 10] {
            let updated = sqlx::query("UPDATE ticks SET n = n + 1 WHERE id >= $1 AND id < $2")
                .bind(first - back)
                .bind(first - back + 5)
                .execute(&pool)
                .await
                .expect("update ticks")
                .rows_affected();
            changes += i64::try_from(updated).expect("a count");
        }
        tokio::time::sleep(Duration::from_millis(8)).await;
    }
    changes
}

/// Writes `ticks` rows and their updates while a child runtime (`mode`) processes them
/// and is killed with SIGKILL at random moments (`kills` times at least), then lets a
/// last child drain the rest.
async fn run_with_kills(mode: &str, ticks: i64, kills: usize) -> KillRun {
    let (db, pool) = ticks_db().await;
    let writer = tokio::spawn(write_ticks(pool.clone(), ticks));
    let (mut done_kills, mut kills_in_flight) = (0, 0);
    while !writer.is_finished() || done_kills < kills {
        let mut child = spawn_child(db.url(), mode);
        tokio::time::sleep(Duration::from_millis(150 + rand::random::<u64>() % 450)).await;
        let in_flight: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM db_listenable.deliveries WHERE leased_until > now() AND lease_token IS NOT NULL)
                  + (SELECT coalesce(sum(in_flight), 0) FROM db_listenable.cursors
                     WHERE leased_until > now() AND lease_token IS NOT NULL)",
        )
        .fetch_one(&pool)
        .await
        .expect("count in-flight deliveries");
        // Child::kill sends SIGKILL: nothing of the child runs after it.
        child.kill().expect("kill the child");
        child.wait().expect("reap the child");
        done_kills += 1;
        kills_in_flight += usize::from(in_flight > 0);
    }
    let changes = writer.await.expect("writer");
    let mut last = spawn_child(db.url(), mode);
    wait_for("the last child to drain the rest", Duration::from_secs(60), || async { pending(&pool).await == 0 }).await;
    last.kill().expect("kill the last child");
    last.wait().expect("reap the last child");
    assert_eq!(count(&pool, "dead_letters").await, 0, "{mode}: no change was given up");
    let (counter, marks, distinct) = applied(&pool).await;
    let rows_out_of_order = sqlx::query_scalar(
        "SELECT count(*) FROM ticks t
         LEFT JOIN (SELECT tick, array_agg(n ORDER BY seq) AS ns FROM marks GROUP BY tick) m ON m.tick = t.id
         WHERE m.ns IS DISTINCT FROM array(SELECT generate_series(0, t.n))",
    )
    .fetch_one(&pool)
    .await
    .expect("compare the marks with the rows");
    let run = KillRun { changes, kills: done_kills, kills_in_flight, counter, marks, distinct, rows_out_of_order };
    eprintln!("{mode}: {run:?}");
    run
}

/// (ticks, kills at least): about 10 s per run; `DB_LISTENABLE_SOAK=1` for a long one.
fn kill_plan() -> (i64, usize) {
    if std::env::var("DB_LISTENABLE_SOAK").is_ok_and(|soak| soak == "1") { (8_000, 300) } else { (200, 14) }
}

/// Exactly once, and in order per row.
fn assert_exactly_once(run: &KillRun) {
    assert!(run.kills > 0 && run.kills_in_flight > 0, "some kills must land while changes are in flight: {run:?}");
    assert_eq!((run.counter, run.marks, run.distinct), (run.changes, run.changes, run.changes), "{run:?}");
    assert_eq!(run.rows_out_of_order, 0, "{run:?}");
}

#[tokio::test]
async fn a_processor_settling_in_its_transaction_applies_each_change_exactly_once_across_sigkills() {
    let (ticks, kills) = kill_plan();
    assert_exactly_once(&run_with_kills("settle_in", ticks, kills).await);
}

#[tokio::test]
async fn a_batch_processor_settling_in_its_transaction_applies_each_change_exactly_once_across_sigkills() {
    let (ticks, kills) = kill_plan();
    assert_exactly_once(&run_with_kills("batch", ticks, kills).await);
}

/// The control: the same processor, settled by the worker after its transaction
/// committed. A kill between the two applies the change again (at least once, not exactly
/// once), so only "every change applied" is asserted; the doubles are printed.
#[tokio::test]
async fn a_processor_settled_by_the_worker_applies_each_change_at_least_once_across_sigkills() {
    let (ticks, kills) = kill_plan();
    let run = run_with_kills("control", ticks, kills).await;
    assert_eq!((run.distinct, run.counter), (run.changes, run.marks), "{run:?}");
    eprintln!("control: {} doubles", run.marks - run.distinct);
}
