//! Many workers share one subscriber: each change once, each row's changes in order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{BatchProcessor, Change, Context, ProcessError, Processor, RuntimeBuilder};

use crate::{Item, fast, insert_items, items_db, wait_for};

/// Records each change id in `processed` (unique), counting ids that were already there.
#[derive(Clone)]
struct ExactlyOnce {
    worker: i32,
    duplicates: Arc<AtomicU64>,
}

impl BatchProcessor<Item> for ExactlyOnce {
    async fn process_batch(&self, ctx: &Context<'_>, changes: &[Change<Item>]) -> Result<(), ProcessError> {
        let ids: Vec<i64> = changes.iter().map(|c| c.id).collect();
        let inserted = sqlx::query(
            "INSERT INTO processed (change_id, worker) SELECT id, $2 FROM unnest($1::bigint[]) id ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(self.worker)
        .execute(ctx.db())
        .await?
        .rows_affected();
        self.duplicates.fetch_add(ids.len() as u64 - inserted, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_process_ten_thousand_changes_exactly_once() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    sqlx::query("CREATE TABLE processed (change_id bigint PRIMARY KEY, worker int NOT NULL)")
        .execute(&pool)
        .await
        .expect("processed table");
    let duplicates = Arc::new(AtomicU64::new(0));
    let mut runtimes = Vec::new();
    for worker in 0..3 {
        // Each runtime has its own pool, as separate processes would.
        let config = fast().workers(1).batch_size(50);
        let runtime = RuntimeBuilder::new(crate::pool(db.url(), 3).await)
            .config(config)
            .without_processor("public.processed")
            .batch_processor::<Item, _>("shared", ExactlyOnce { worker, duplicates: duplicates.clone() })
            .start()
            .await
            .expect("start");
        runtimes.push(runtime);
    }
    // Steady state: changes keep arriving while the workers run.
    for chunk in 0..200 {
        sqlx::query("INSERT INTO items (id, name) SELECT g, 'x' FROM generate_series($1::bigint, $1 + 49) g")
            .bind(chunk * 50 + 1)
            .execute(&pool)
            .await
            .expect("insert chunk");
    }
    let processed = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM processed").fetch_one(&pool).await.expect("count")
    };
    wait_for("10,000 processed", Duration::from_secs(60), || async { processed().await == 10_000 }).await;
    for runtime in runtimes {
        runtime.shutdown().await;
    }
    assert_eq!(duplicates.load(Ordering::SeqCst), 0, "no change was processed twice");
    assert_eq!(processed().await, 10_000);
    let shares: Vec<i64> = sqlx::query_scalar("SELECT count(*) FROM processed GROUP BY worker ORDER BY worker")
        .fetch_all(&pool)
        .await
        .expect("shares");
    assert!(shares.len() >= 2, "the work was shared: {shares:?}");
}

/// Records the quantities each row's changes carry, in processing order, after a small
/// random pause (so workers overtake each other whenever the runtime lets them).
#[derive(Clone, Default)]
struct QtyLog {
    by_row: Arc<Mutex<BTreeMap<i64, Vec<i32>>>>,
    total: Arc<AtomicU64>,
}

impl Processor<Item> for QtyLog {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        tokio::time::sleep(Duration::from_micros(rand_micros())).await;
        if let Some(item) = &change.new {
            self.by_row.lock().expect("log").entry(item.id).or_default().push(item.qty);
        }
        self.total.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn rand_micros() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now()) % 2000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_one_row_are_processed_in_commit_order_by_four_workers() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    const ROWS: i64 = 20;
    const UPDATES_PER_WRITER: usize = 150;
    insert_items(&pool, 1..=ROWS).await;
    let log = QtyLog::default();
    let mut runtimes = Vec::new();
    for _ in 0..2 {
        let config = fast().workers(2).batch_size(5);
        runtimes.push(
            RuntimeBuilder::new(crate::pool(db.url(), 4).await)
                .config(config)
                .processor::<Item, _>("ordered", log.clone())
                .start()
                .await
                .expect("start"),
        );
    }
    // Four writers increment random rows concurrently: each row's quantities go 1, 2, 3...
    // in commit order, whichever writer commits.
    let mut writers = Vec::new();
    for writer in 0..4u64 {
        let pool = pool.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..UPDATES_PER_WRITER as u64 {
                let row = ((n * 7 + writer * 13) % ROWS as u64) as i64 + 1;
                sqlx::query("UPDATE items SET qty = qty + 1 WHERE id = $1")
                    .bind(row)
                    .execute(&pool)
                    .await
                    .expect("update");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let expected = ROWS as u64 + 4 * UPDATES_PER_WRITER as u64;
    wait_for("every change", Duration::from_secs(60), || async { log.total.load(Ordering::SeqCst) >= expected }).await;
    for runtime in runtimes {
        runtime.shutdown().await;
    }
    let by_row = log.by_row.lock().expect("log").clone();
    let finals: BTreeMap<i64, i32> = sqlx::query_as::<_, (i64, i32)>("SELECT id, qty FROM items")
        .fetch_all(&pool)
        .await
        .expect("finals")
        .into_iter()
        .collect();
    for (row, quantities) in by_row {
        let in_order: Vec<i32> = (0..=finals[&row]).collect();
        assert_eq!(quantities, in_order, "row {row} was processed out of commit order");
    }
}

/// Fails the change of row 1 that sets its quantity to 1, on its first attempt; logs
/// (row, quantity, attempt) in processing order.
#[derive(Clone, Default)]
struct FailsOnce(Arc<Mutex<Vec<(i64, i32, u32)>>>);

impl Processor<Item> for FailsOnce {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        let item = change.row().ok_or("a row")?;
        self.0.lock().expect("log").push((item.id, item.qty, change.attempt));
        if item.id == 1 && item.qty == 1 && change.attempt == 1 {
            return Err("the first attempt fails".into());
        }
        Ok(())
    }
}

/// The journal holds several changes of a row within one batch's reach (the claim hands
/// them out one per batch): when one fails, the row's later changes wait behind its
/// retry, while other rows go on.
#[tokio::test]
async fn a_failed_change_holds_back_the_later_changes_of_its_row_in_the_same_batch() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let log = FailsOnce::default();
    let start = || {
        RuntimeBuilder::new(pool.clone())
            .config(fast().workers(1).batch_size(100))
            .processor::<Item, _>("ordered", log.clone())
            .start()
    };
    start().await.expect("register").shutdown().await;
    // Committed while no runtime runs: the next claim takes them in one batch.
    insert_items(&pool, [1, 2]).await;
    for (row, qty) in [(1, 1), (1, 2), (2, 5)] {
        sqlx::query("UPDATE items SET qty = $2 WHERE id = $1")
            .bind(row)
            .bind(qty)
            .execute(&pool)
            .await
            .expect("update");
    }
    let runtime = start().await.expect("start");
    wait_for("every change, the failed one twice", Duration::from_secs(10), || async {
        log.0.lock().expect("log").len() == 6
    })
    .await;
    runtime.shutdown().await;
    let seen = log.0.lock().expect("log").clone();
    let of_row = |row: i64| -> Vec<(i32, u32)> {
        seen.iter().filter(|(id, ..)| *id == row).map(|(_, qty, attempt)| (*qty, *attempt)).collect()
    };
    assert_eq!(of_row(1), [(0, 1), (1, 1), (1, 2), (2, 1)], "row 1 in commit order: {seen:?}");
    assert_eq!(of_row(2), [(0, 1), (5, 1)], "{seen:?}");
}
