//! Outcomes a processor asks for beyond Ok and Err ([`Permanent`], [`RetryAfter`],
//! [`Skip`]), for one change and for a whole batch, and what each records.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{
    BatchProcessor, Change, Context, Permanent, ProcessError, Processor, RetryAfter, Runtime, RuntimeBuilder, Skip,
    SubscriberStats, dead_letters,
};
use sqlx::PgPool;

use crate::{Item, count, fast, insert_items, items_db, pending, wait_for};

/// What the scripted processor answers for a change, by the name of its row.
fn answer(item: &Item, attempt: u32) -> Result<(), ProcessError> {
    match item.name.as_str() {
        "permanent" => Err(Permanent::because("the invoice was deleted upstream").into()),
        "wrapped" => Err(Permanent::from_error(std::io::Error::other("the archive is corrupt")).into()),
        "skip" => Err(Skip::because("already applied").into()),
        "retry once" if attempt == 1 => Err(RetryAfter::new(Duration::from_millis(600), "throttled").into()),
        "retry forever" => Err(RetryAfter::new(Duration::from_millis(20), "still throttled").into()),
        _ => Ok(()),
    }
}

/// Answers with [`answer`] and records every run: (row name, attempt, when).
#[derive(Clone, Default)]
struct Scripted {
    runs: Arc<Mutex<Vec<Run>>>,
}

/// One run of [`Scripted`]: the row's name, the attempt, when it started.
type Run = (String, u32, Instant);

impl Scripted {
    fn runs_of(&self, name: &str) -> Vec<(u32, Instant)> {
        let runs = self.runs.lock().expect("runs");
        runs.iter().filter(|run| run.0 == name).map(|run| (run.1, run.2)).collect()
    }
}

impl Processor<Item> for Scripted {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        let item = change.row().ok_or("no row")?;
        self.runs.lock().expect("runs").push((item.name.clone(), change.attempt, Instant::now()));
        answer(item, change.attempt)
    }
}

/// The runtime's figures for `subscriber`.
async fn figures(runtime: &Runtime, subscriber: &str) -> SubscriberStats {
    let stats = runtime.stats().await.expect("stats");
    stats.subscribers.into_iter().find(|s| s.name == subscriber).unwrap_or_default()
}

async fn insert_named(pool: &PgPool, id: i64, name: &str) {
    sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name)
        .execute(pool)
        .await
        .expect("insert");
}

async fn start(pool: &PgPool, processor: Scripted, max_attempts: u32) -> Runtime {
    let mut config = fast();
    config = config.max_attempts(max_attempts);
    RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("scripted", processor)
        .start()
        .await
        .expect("start")
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_the_first_attempt_with_its_reason() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let scripted = Scripted::default();
    let runtime = start(&pool, scripted.clone(), 5).await;
    insert_named(&pool, 1, "permanent").await;
    insert_named(&pool, 2, "wrapped").await;
    // The counters are kept right after the settlement commits.
    wait_for("two dead letters, counted", Duration::from_secs(10), || async {
        count(&pool, "dead_letters").await == 2 && figures(&runtime, "scripted").await.failed_here == 2
    })
    .await;
    let stats = runtime.stats().await.expect("stats");
    runtime.shutdown().await;

    let dead = dead_letters::list(&pool, Some("scripted"), 10).await.expect("list");
    let mut found: Vec<(String, i32)> = dead.iter().map(|d| (d.last_error.clone(), d.attempts)).collect();
    found.sort();
    assert_eq!(
        found,
        [("the archive is corrupt".to_owned(), 1), ("the invoice was deleted upstream".to_owned(), 1)],
        "dead at the first of 5 attempts, with the reason as the error"
    );
    assert_eq!((scripted.runs_of("permanent").len(), scripted.runs_of("wrapped").len()), (1, 1));
    let entry = stats.subscribers.iter().find(|s| s.name == "scripted").expect("stats");
    assert_eq!((entry.failed_here, entry.dead, entry.pending, entry.retrying), (2, 2, 0, 0));
}

#[tokio::test]
async fn retry_after_waits_the_processors_delay_and_shows_its_reason_on_the_pending_delivery() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let scripted = Scripted::default();
    let runtime = start(&pool, scripted.clone(), 5).await;
    insert_named(&pool, 1, "retry once").await;
    wait_for("the first attempt", Duration::from_secs(10), || async { !scripted.runs_of("retry once").is_empty() })
        .await;
    // Between the attempts, the delivery waits with the processor's reason as its error.
    let deadline = Instant::now() + Duration::from_secs(5);
    let waiting = loop {
        let error: Option<String> = sqlx::query_scalar("SELECT last_error FROM db_listenable.deliveries")
            .fetch_optional(&pool)
            .await
            .expect("read the delivery")
            .flatten();
        if error.is_some() || scripted.runs_of("retry once").len() > 1 || Instant::now() > deadline {
            break error;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(waiting.as_deref(), Some("retry after 600ms: throttled"));
    wait_for("the delivery settled and counted", Duration::from_secs(10), || async {
        pending(&pool).await == 0 && figures(&runtime, "scripted").await.processed_here == 1
    })
    .await;
    let stats = runtime.stats().await.expect("stats");
    runtime.shutdown().await;

    let runs = scripted.runs_of("retry once");
    assert_eq!(runs.iter().map(|run| run.0).collect::<Vec<_>>(), [1, 2], "the retry counts as an attempt");
    let waited = runs[1].1.duration_since(runs[0].1);
    assert!(waited >= Duration::from_millis(600), "waited {waited:?}: the processor's delay, not the 10 ms backoff");
    let entry = stats.subscribers.iter().find(|s| s.name == "scripted").expect("stats");
    assert_eq!((entry.processed_here, entry.failed_here, entry.dead), (1, 0, 0));
}

#[tokio::test]
async fn retry_after_on_every_attempt_ends_in_a_dead_letter_after_max_attempts() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let scripted = Scripted::default();
    let runtime = start(&pool, scripted.clone(), 3).await;
    insert_named(&pool, 1, "retry forever").await;
    wait_for("a dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    runtime.shutdown().await;

    assert_eq!(scripted.runs_of("retry forever").iter().map(|run| run.0).collect::<Vec<_>>(), [1, 2, 3]);
    let dead = dead_letters::list(&pool, Some("scripted"), 10).await.expect("list");
    assert_eq!((dead[0].attempts, dead[0].last_error.as_str()), (3, "retry after 20ms: still throttled"));
}

#[tokio::test]
async fn a_skip_settles_the_change_without_a_retry_and_is_counted_apart() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let scripted = Scripted::default();
    let runtime = start(&pool, scripted.clone(), 5).await;
    insert_named(&pool, 1, "skip").await;
    insert_items(&pool, [2]).await;
    wait_for("both settled and counted", Duration::from_secs(10), || async {
        let figures = figures(&runtime, "scripted").await;
        pending(&pool).await == 0 && figures.processed_here + figures.skipped_here == 2
    })
    .await;
    let stats = runtime.stats().await.expect("stats");
    runtime.shutdown().await;

    assert_eq!(scripted.runs_of("skip").len(), 1, "a skipped change is not retried");
    assert_eq!(count(&pool, "dead_letters").await, 0);
    let entry = stats.subscribers.iter().find(|s| s.name == "scripted").expect("stats");
    assert_eq!((entry.skipped_here, entry.processed_here, entry.failed_here), (1, 1, 0));
}

/// Answers for the whole batch with the outcome its first row's name asks for.
#[derive(Clone, Default)]
struct ScriptedBatch {
    batches: Arc<Mutex<Vec<Vec<i64>>>>,
}

impl BatchProcessor<Item> for ScriptedBatch {
    async fn process_batch(&self, _ctx: &Context<'_>, changes: &[Change<Item>]) -> Result<(), ProcessError> {
        self.batches.lock().expect("batches").push(changes.iter().map(|c| c.id).collect());
        let first = changes[0].row().ok_or("no row")?;
        answer(first, changes[0].attempt)
    }
}

#[tokio::test]
async fn a_batch_processor_outcome_applies_to_its_whole_batch() {
    for (name, dead, skipped) in [("permanent", 3, 0), ("skip", 0, 3)] {
        let (_db, pool) = items_db(&CaptureConfig::default()).await;
        // One statement, one transaction: the three changes are routed together and
        // claimed as one batch.
        sqlx::query("INSERT INTO items (id, name) SELECT g, $1 FROM generate_series(1, 3) g")
            .bind(name)
            .execute(&pool)
            .await
            .expect("insert");
        let batch = ScriptedBatch::default();
        let mut config = fast();
        config = config.max_attempts(5);
        config = config.workers(1);
        let runtime = RuntimeBuilder::new(pool.clone())
            .config(config)
            .batch_processor::<Item, _>("batch", batch.clone())
            .start()
            .await
            .expect("start");
        wait_for("the batch settled and counted", Duration::from_secs(10), || async {
            let figures = figures(&runtime, "batch").await;
            pending(&pool).await == 0 && figures.failed_here + figures.skipped_here == 3
        })
        .await;
        let stats = runtime.stats().await.expect("stats");
        runtime.shutdown().await;
        assert_eq!(*batch.batches.lock().expect("batches"), [vec![1_i64, 2, 3]], "{name}: one batch, one run");
        let letters = dead_letters::list(&pool, Some("batch"), 10).await.expect("list");
        assert_eq!(letters.len(), dead, "{name}: dead letters");
        assert!(letters.iter().all(|l| l.attempts == 1 && l.last_error == "the invoice was deleted upstream"));
        let entry = stats.subscribers.iter().find(|s| s.name == "batch").expect("stats");
        assert_eq!(entry.skipped_here, skipped, "{name}: skipped");
    }
}
