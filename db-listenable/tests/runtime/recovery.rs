//! Nothing is lost when workers die, connections drop or PostgreSQL restarts; shutdown
//! finishes the batch in hand.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Notify;

use crate::{Item, Recorder, count, fast, insert_items, install, items_db, leased, pending, wait_for};

/// Records, and blocks forever on the item named `stuck` while `block` is set (a worker
/// that hangs or is about to die mid-batch).
#[derive(Clone, Default)]
struct Stuck {
    recorder: Recorder,
    block: Arc<AtomicBool>,
    entered: Arc<Notify>,
}

impl Processor<Item> for Stuck {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        self.recorder.process(ctx, change).await?;
        if self.block.load(Ordering::SeqCst) && change.row().is_some_and(|i| i.name == "stuck") {
            self.entered.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_worker_killed_mid_batch_loses_nothing_and_the_batch_is_processed_again() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let stuck = Stuck::default();
    stuck.block.store(true, Ordering::SeqCst);
    let config = fast().workers(1).batch_size(10).lease(Duration::from_secs(1));
    sqlx::query("INSERT INTO items (id, name) SELECT g, CASE WHEN g = 3 THEN 'stuck' ELSE 'ok' END FROM generate_series(1, 5) g")
        .execute(&pool)
        .await
        .expect("insert");
    let entered = stuck.entered.notified();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config.clone())
        .processor::<Item, _>("s", stuck.clone())
        .start()
        .await
        .expect("start");
    entered.await;
    // The worker dies holding the batch: its task is dropped mid-processing.
    drop(runtime);
    assert_eq!(stuck.recorder.len(), 3, "items 1..3 were handed over before the hang");
    assert_eq!(pending(&pool).await, 5, "nothing was settled");

    stuck.block.store(false, Ordering::SeqCst);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("s", stuck.clone())
        .start()
        .await
        .expect("restart");
    wait_for("the batch after the lease ran out", Duration::from_secs(15), || async { pending(&pool).await == 0 })
        .await;
    runtime.shutdown().await;
    let counts = stuck.recorder.counts();
    assert_eq!(counts.len(), 5, "every change processed");
    let second: Vec<u32> = stuck.recorder.all().iter().skip(3).map(|s| s.attempt).collect();
    assert_eq!(second, [2, 2, 2, 2, 2], "the whole batch came back as a second attempt");
}

/// Kills every other session of the database (the runtime's pool and LISTEN connection)
/// the first time it runs, then records.
#[derive(Clone, Default)]
struct Killer {
    recorder: Recorder,
    /// Taken by the first run, which then kills.
    killing: Arc<AtomicBool>,
    /// Set once the sessions are gone: a session opened before could still be killed.
    killed: Arc<AtomicBool>,
}

impl Processor<Item, String> for Killer {
    async fn process(&self, ctx: &Context<'_, String>, change: &Change<Item>) -> Result<(), ProcessError> {
        if !self.killing.swap(true, Ordering::SeqCst) {
            let url = ctx.state();
            let admin = PgPoolOptions::new().max_connections(1).connect(url).await?;
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
                .execute(&admin)
                .await?;
            admin.close().await;
            self.killed.store(true, Ordering::SeqCst);
        }
        self.recorder.process(ctx, change).await
    }
}

#[tokio::test]
async fn killed_connections_lose_nothing() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    // Written before the runtime starts: the kill below also ends this pool's sessions,
    // and no insert of the test may be in flight then.
    insert_items(&pool, 1..=5).await;
    let killer = Killer::default();
    let runtime = RuntimeBuilder::with_state(crate::pool(db.url(), 4).await, db.url().to_owned())
        .config(fast())
        .processor::<Item, _>("k", killer.clone())
        .start()
        .await
        .expect("start");
    wait_for("the connections to be killed", Duration::from_secs(10), || async {
        killer.killed.load(Ordering::SeqCst)
    })
    .await;
    let pool = crate::pool(db.url(), 2).await;
    insert_items(&pool, 6..=10).await;
    wait_for("all ten after the kill", Duration::from_secs(20), || async { killer.recorder.counts().len() == 10 })
        .await;
    wait_for("all settled", Duration::from_secs(20), || async { pending(&pool).await == 0 }).await;
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_loses_nothing() {
    let settings = pg_harness::Settings::from_env();
    let cluster = Arc::new(pg_harness::Cluster::start_temporary(&settings).expect("private cluster"));
    cluster.create_database("restart").await.expect("database");
    let url = cluster.url("restart");
    let connect = || PgPoolOptions::new().max_connections(4).acquire_timeout(Duration::from_secs(2)).connect_lazy(&url);
    let pool = connect().expect("pool");
    install(&pool, crate::ITEMS_TABLE, &Item::MODEL, &CaptureConfig::default()).await;
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(connect().expect("pool"))
        .config(fast())
        .processor::<Item, _>("r", recorder.clone())
        .start()
        .await
        .expect("start");

    // A writer that keeps inserting, one transaction per row, retrying through the outage.
    let writer = {
        let pool = pool.clone();
        tokio::spawn(async move {
            for id in 1..=400i64 {
                while sqlx::query("INSERT INTO items (id, name) VALUES ($1, 'x') ON CONFLICT DO NOTHING")
                    .bind(id)
                    .execute(&pool)
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    };
    wait_for("load before the restart", Duration::from_secs(20), || async { recorder.len() >= 100 }).await;
    let restart = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || {
        restart.stop().expect("stop");
        restart.start().expect("start");
    })
    .await
    .expect("restart");
    writer.await.expect("writer");
    let committed: BTreeSet<i64> =
        sqlx::query_scalar("SELECT id FROM items").fetch_all(&pool).await.expect("committed").into_iter().collect();
    assert_eq!(committed.len(), 400);
    let seen = || -> BTreeSet<i64> { recorder.all().iter().filter_map(|s| s.new.as_ref().map(|i| i.id)).collect() };
    wait_for("every committed insert", Duration::from_secs(30), || async { seen() == committed }).await;
    runtime.shutdown().await;
}

/// Takes its time over each change.
#[derive(Clone, Default)]
struct Slow {
    recorder: Recorder,
    entered: Arc<Notify>,
}

impl Processor<Item> for Slow {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        self.entered.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.recorder.process(ctx, change).await
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_and_settles_the_batch_in_hand() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let slow = Slow::default();
    let config = fast().workers(1).batch_size(5);
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'x' FROM generate_series(1, 20) g")
        .execute(&pool)
        .await
        .expect("insert");
    let entered = slow.entered.notified();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("slow", slow.clone())
        .start()
        .await
        .expect("start");
    entered.await;
    runtime.shutdown().await;
    assert_eq!(slow.recorder.len(), 5, "the batch in hand was finished, no other was started");
    assert_eq!(pending(&pool).await, 15, "its five were settled");
    assert_eq!(leased(&pool).await, 0, "no delivery is left claimed");
}

/// Set in the child process of the SIGTERM test: the database to serve.
const SIGTERM_CHILD_URL: &str = "DB_LISTENABLE_SIGTERM_CHILD_URL";

/// Child half of the test below: serves a slow processor until SIGTERM or Ctrl-C, as a
/// service's main function would. Does nothing outside that test.
#[tokio::test]
#[ignore = "run by sigterm_stops_a_serving_process_cleanly_after_its_batch"]
async fn child_serves_until_sigterm() {
    let Ok(url) = std::env::var(SIGTERM_CHILD_URL) else { return };
    let config = fast().workers(1).batch_size(3);
    let runtime = RuntimeBuilder::new(crate::pool(&url, 3).await)
        .config(config)
        // Slow enough that the nine changes take seconds: the parent's SIGTERM lands mid-way.
        .processor::<Item, _>("service", Sluggish { recorder: Recorder::default(), delay: Duration::from_millis(300) })
        .start()
        .await
        .expect("start");
    let stop = db_listenable::runtime::shutdown_signal();
    println!("READY");
    runtime.run_until(stop).await;
    println!("STOPPED");
}

#[tokio::test]
async fn sigterm_stops_a_serving_process_cleanly_after_its_batch() {
    use std::io::{BufRead, BufReader};

    let (db, pool) = items_db(&CaptureConfig::default()).await;
    let exe = std::env::current_exe().expect("this test binary");
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "recovery::child_serves_until_sigterm", "--ignored", "--nocapture", "--test-threads=1"])
        .env(SIGTERM_CHILD_URL, db.url())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::task::spawn_blocking(move || {
        let found = lines.by_ref().map_while(Result::ok).any(|line| line.contains("READY"));
        (found, lines)
    });
    let (found, lines) = ready.await.expect("read child");
    assert!(found, "the child never became ready");
    insert_items(&pool, 1..=9).await;
    wait_for("a batch in hand", Duration::from_secs(10), || async { leased(&pool).await > 0 }).await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let (status, rest) = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        (child.wait().expect("wait child"), rest)
    })
    .await
    .expect("child exit");
    assert!(status.success(), "exit status {status:?}");
    assert!(rest.iter().any(|line| line.contains("STOPPED")), "{rest:?}");
    assert_eq!(leased(&pool).await, 0, "the batch in hand was settled before exiting");
    // Whatever was not finished waits, routed or not, for the next run.
    let left = pending(&pool).await;
    assert!(left > 0 && left < 9, "the process stopped after its batch, leaving the rest: {left}");
}

/// Takes `delay` over each change, recording it.
#[derive(Clone)]
struct Sluggish {
    recorder: Recorder,
    delay: Duration,
}

impl Processor<Item> for Sluggish {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        tokio::time::sleep(self.delay).await;
        self.recorder.process(ctx, change).await
    }
}

#[tokio::test]
async fn a_batch_slower_than_the_lease_keeps_it_by_renewal_and_runs_once() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let sluggish = Sluggish { recorder: Recorder::default(), delay: Duration::from_millis(400) };
    let config = fast().workers(3).batch_size(3).lease(Duration::from_millis(300));
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'x' FROM generate_series(1, 3) g")
        .execute(&pool)
        .await
        .expect("insert");
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("slow", sluggish.clone())
        .start()
        .await
        .expect("start");
    wait_for("the batch", Duration::from_secs(20), || async {
        pending(&pool).await == 0 && sluggish.recorder.len() >= 3
    })
    .await;
    runtime.shutdown().await;
    // 1.2 s of work under a 0.3 s lease, with two idle workers polling: renewal kept it.
    assert_eq!(sluggish.recorder.len(), 3);
    assert!(sluggish.recorder.all().iter().all(|s| s.attempt == 1));
}

#[tokio::test]
async fn a_hung_processor_times_out_and_its_batch_is_retried_then_dead_lettered() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let hung = Sluggish { recorder: Recorder::default(), delay: Duration::from_secs(3600) };
    let config = fast().processing_timeout(Duration::from_millis(200)).max_attempts(2);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("hung", hung)
        .start()
        .await
        .expect("start");
    insert_items(&pool, [1]).await;
    wait_for("the dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    runtime.shutdown().await;
    let dead = db_listenable::runtime::dead_letters::list(&pool, None, 1).await.expect("list");
    assert_eq!(dead[0].attempts, 2);
    assert!(dead[0].last_error.starts_with("processing timed out after 200ms"), "{}", dead[0].last_error);
}
