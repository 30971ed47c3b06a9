//! Errors, panics and undecodable rows: retried, dead-lettered, requeued; never fatal.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{
    BatchProcessor, Change, Context, ProcessError, Processor, RuntimeBuilder, dead_letters, load_stats,
};
use serde::Deserialize;

use crate::{Item, Recorder, count, fast, insert_items, items_db, pending, wait_for};

/// Fails until `healed` is set, counting its attempts.
#[derive(Clone, Default)]
struct Flaky {
    healed: Arc<AtomicBool>,
    attempts: Arc<AtomicU32>,
    succeeded: Arc<AtomicU32>,
}

impl Processor<Item> for Flaky {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<Item>) -> Result<(), ProcessError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.healed.load(Ordering::SeqCst) {
            self.succeeded.fetch_add(1, Ordering::SeqCst);
            Ok(())
        } else {
            Err("the search cluster is unreachable".into())
        }
    }
}

#[tokio::test]
async fn a_failing_processor_is_retried_then_dead_lettered_then_requeued_and_succeeds() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let flaky = Flaky::default();
    let config = fast().max_attempts(3);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("index", flaky.clone())
        .start()
        .await
        .expect("start");
    insert_items(&pool, [1]).await;
    wait_for("a dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    assert_eq!(flaky.attempts.load(Ordering::SeqCst), 3, "tried max_attempts times, no more");

    let dead = dead_letters::list(&pool, Some("index"), 10).await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error, "the search cluster is unreachable");
    assert_eq!((dead[0].attempts, dead[0].op.as_str(), dead[0].table.as_str()), (3, "INSERT", "public.items"));
    assert_eq!(dead[0].new_row.as_ref().map(|row| row["name"].clone()), Some("item 1".into()));
    let stats = runtime.stats().await.expect("stats");
    let index = stats.subscribers.iter().find(|s| s.name == "index").expect("index stats");
    assert_eq!((index.dead, index.pending, index.in_flight, index.retrying), (1, 0, 0, 0));
    assert_eq!(index.failed_here, 3);

    flaky.healed.store(true, Ordering::SeqCst);
    assert_eq!(dead_letters::requeue(&pool, "index", None).await.expect("requeue"), 1);
    wait_for("the requeued change to succeed", Duration::from_secs(10), || async {
        flaky.succeeded.load(Ordering::SeqCst) == 1
    })
    .await;
    wait_for("the delivery to be settled", Duration::from_secs(10), || async { pending(&pool).await == 0 }).await;
    runtime.shutdown().await;
    assert_eq!(count(&pool, "dead_letters").await, 0);
    assert!(matches!(
        dead_letters::requeue(&pool, "nobody", None).await,
        Err(db_listenable::Error::UnknownSubscriber { .. })
    ));
}

/// Panics on the item named `boom`.
#[derive(Clone, Default)]
struct Panicky {
    inner: Recorder,
}

impl Processor<Item> for Panicky {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        if change.row().is_some_and(|item| item.name == "boom") {
            panic!("processor exploded on item {}", change.row().map_or(0, |i| i.id));
        }
        self.inner.process(ctx, change).await
    }
}

#[tokio::test]
async fn a_panic_is_caught_retried_and_dead_lettered_and_the_worker_goes_on() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let panicky = Panicky::default();
    let config = fast().max_attempts(2).workers(1);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("p", panicky.clone())
        .start()
        .await
        .expect("start");
    sqlx::query("INSERT INTO items (id, name) VALUES (1, 'boom')").execute(&pool).await.expect("insert");
    insert_items(&pool, [2, 3]).await;
    wait_for("the dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    wait_for("the other items", Duration::from_secs(10), || async { panicky.inner.len() >= 2 }).await;
    insert_items(&pool, [4]).await;
    wait_for("an item after the panic", Duration::from_secs(10), || async { panicky.inner.len() >= 3 }).await;
    runtime.shutdown().await;
    let dead = dead_letters::list(&pool, None, 10).await.expect("list");
    assert_eq!(dead[0].last_error, "processor panicked: processor exploded on item 1");
    assert_eq!(dead[0].attempts, 2);
}

/// `items` as a model whose `name` must not be NULL: rows with a NULL name do not decode.
#[derive(Debug, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "items")]
struct StrictItem {
    #[allow(dead_code)]
    id: i64,
    #[allow(dead_code)]
    name: String,
}

struct Accept;

impl Processor<StrictItem> for Accept {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<StrictItem>) -> Result<(), ProcessError> {
        Ok(())
    }
}

#[tokio::test]
async fn an_undecodable_row_is_dead_lettered_at_once_with_the_error_and_the_raw_json() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<StrictItem, _>("strict", Accept)
        .start()
        .await
        .expect("start");
    sqlx::query("INSERT INTO items (id, name, qty) VALUES (1, NULL, 4), (2, 'fine', 5)")
        .execute(&pool)
        .await
        .expect("insert");
    wait_for("the dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    wait_for("the good row", Duration::from_secs(10), || async { pending(&pool).await == 0 }).await;
    runtime.shutdown().await;
    let dead = dead_letters::list(&pool, Some("strict"), 10).await.expect("list");
    assert_eq!(dead[0].attempts, 1, "decode errors are not retried");
    assert!(
        dead[0].last_error.contains("could not decode the new row of public.items into StrictItem"),
        "{}",
        dead[0].last_error
    );
    // sqlx's own words: the column, and that it was NULL.
    assert!(
        dead[0].last_error.contains("\"name\"") && dead[0].last_error.contains("unexpected null"),
        "{}",
        dead[0].last_error
    );
    assert_eq!(dead[0].new_row, Some(serde_json::json!({"id": 1, "name": null, "qty": 4})));
}

#[tokio::test]
async fn a_failing_subscriber_neither_blocks_nor_repeats_another_on_the_same_model() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let recorder = Recorder::default();
    let flaky = Flaky::default();
    let config = fast().max_attempts(1000);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("counter", recorder.clone())
        .processor::<Item, _>("index", flaky.clone())
        .start()
        .await
        .expect("start");
    insert_items(&pool, 1..=50).await;
    wait_for("the counter to see all 50", Duration::from_secs(10), || async { recorder.len() >= 50 }).await;
    wait_for("the index to have retried", Duration::from_secs(10), || async {
        flaky.attempts.load(Ordering::SeqCst) >= 100
    })
    .await;
    let stats = runtime.stats().await.expect("stats");
    let index = stats.subscribers.iter().find(|s| s.name == "index").expect("index");
    assert_eq!(index.pending + index.in_flight + index.retrying, 50, "{index:?}");
    runtime.shutdown().await;
    assert!(recorder.counts().values().all(|&n| n == 1), "the counter never saw a change twice");
    assert_eq!(recorder.len(), 50);
}

/// Records batch sizes; fails any batch holding the item named `bad` (until healed).
#[derive(Clone, Default)]
struct Batches {
    sizes: Arc<std::sync::Mutex<Vec<usize>>>,
    done: Arc<std::sync::Mutex<Vec<i64>>>,
}

impl BatchProcessor<Item> for Batches {
    async fn process_batch(&self, _ctx: &Context<'_>, changes: &[Change<Item>]) -> Result<(), ProcessError> {
        self.sizes.lock().expect("sizes").push(changes.len());
        if changes.iter().any(|c| c.row().is_some_and(|i| i.name == "bad")) {
            return Err("bad item in batch".into());
        }
        self.done.lock().expect("done").extend(changes.iter().map(|c| c.id));
        Ok(())
    }
}

#[tokio::test]
async fn a_batch_processor_gets_batches_and_a_failed_batch_is_retried_change_by_change() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let batches = Batches::default();
    let config = fast().max_attempts(2).workers(1).batch_size(100);
    // 30 rows in one statement: the first claim gets them together.
    sqlx::query(
        "INSERT INTO items (id, name) SELECT g, CASE WHEN g = 7 THEN 'bad' ELSE 'ok' END FROM generate_series(1, 30) g",
    )
    .execute(&pool)
    .await
    .expect("insert");
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .batch_processor::<Item, _>("batches", batches.clone())
        .start()
        .await
        .expect("start");
    wait_for("29 done and one dead", Duration::from_secs(10), || async {
        batches.done.lock().expect("done").len() == 29 && count(&pool, "dead_letters").await == 1
    })
    .await;
    runtime.shutdown().await;
    let sizes = batches.sizes.lock().expect("sizes").clone();
    assert_eq!(sizes[0], 30, "the first batch holds all 30: {sizes:?}");
    assert_eq!(sizes[1..], [1; 30], "then each change alone: {sizes:?}");
    let dead = dead_letters::list(&pool, None, 10).await.expect("list");
    assert_eq!((dead[0].last_error.as_str(), dead[0].attempts), ("bad item in batch", 2));
}

#[tokio::test]
async fn stats_count_pending_changes_and_their_age() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("later", Recorder::default())
        .start()
        .await
        .expect("start")
        .shutdown()
        .await;
    insert_items(&pool, 1..=5).await;
    let stats = load_stats(&pool).await.expect("stats");
    assert_eq!(stats.unrouted, 0, "their table has a subscriber");
    assert_eq!(stats.subscribers.len(), 1);
    assert_eq!((stats.subscribers[0].pending, stats.subscribers[0].dead), (5, 0), "nobody has processed them yet");
    // A second database user with a separate pool could route; here a runtime whose only
    // processor always fails, with attempts to spare, routes them and leaves them retrying.
    let flaky = Flaky::default();
    let config = fast().initial_backoff(Duration::from_secs(600)).max_backoff(Duration::from_secs(600));
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("later", flaky.clone())
        .start()
        .await
        .expect("start");
    wait_for("five failed attempts", Duration::from_secs(10), || async { flaky.attempts.load(Ordering::SeqCst) >= 5 })
        .await;
    wait_for("them to be settled as retrying", Duration::from_secs(10), || async {
        load_stats(&pool).await.expect("stats").subscribers[0].retrying == 5
    })
    .await;
    let stats = runtime.stats().await.expect("stats");
    runtime.shutdown().await;
    let later = &stats.subscribers[0];
    assert_eq!((stats.unrouted, later.pending, later.in_flight, later.retrying, later.dead), (0, 0, 0, 5, 0));
    assert!(later.oldest_pending_age.is_some_and(|age| age < Duration::from_secs(60)), "{later:?}");
    assert_eq!(later.table, "public.items");
}
