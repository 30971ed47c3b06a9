//! A requeued dead letter: the same change, flagged, after the newer changes of its row
//! that ran while it was dead, and before those still waiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{
    Change, Context, Op, ProcessError, Processor, Requeued, Runtime, RuntimeBuilder, dead_letters,
};
use sqlx::PgPool;

use crate::{Item, count, fast, insert_items, items_db, pending, wait_for};

/// What the processor saw of each run.
#[derive(Debug, Clone)]
struct Run {
    change: i64,
    op: Op,
    captured_at: SystemTime,
    attempt: u32,
    requeued: Option<Requeued>,
}

/// Fails changes whose row is named `bad...` until healed; records every run.
#[derive(Clone, Default)]
struct Picky {
    healed: Arc<AtomicBool>,
    runs: Arc<Mutex<Vec<Run>>>,
}

impl Picky {
    fn runs(&self) -> Vec<Run> {
        self.runs.lock().expect("runs").clone()
    }
}

impl Processor<Item> for Picky {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        self.runs.lock().expect("runs").push(Run {
            change: change.id,
            op: change.op,
            captured_at: change.captured_at,
            attempt: change.attempt,
            requeued: change.requeued.clone(),
        });
        if change.row().is_some_and(|item| item.name.starts_with("bad")) && !self.healed.load(Ordering::SeqCst) {
            return Err("bad row".into());
        }
        Ok(())
    }
}

async fn start(pool: &PgPool, picky: &Picky) -> Runtime {
    let config = fast().max_attempts(2);
    RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("picky", picky.clone())
        .start()
        .await
        .expect("start")
}

async fn last_change(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT max(id) FROM db_listenable.changes").fetch_one(pool).await.expect("max id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeued_change_arrives_flagged_with_its_original_time_before_newer_pending_ones() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let picky = Picky::default();
    let runtime = start(&pool, &picky).await;
    sqlx::query("INSERT INTO items (id, name) VALUES (1, 'bad one')").execute(&pool).await.expect("insert");
    wait_for("a dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    let first = picky.runs();
    assert_eq!(first.len(), 2, "two attempts: {first:?}");
    let dead = first[0].clone();
    assert!(first.iter().all(|run| run.requeued.is_none()), "fresh deliveries are not flagged: {first:?}");

    // Two newer changes of the row run while it is dead; another row's change does not count.
    sqlx::query("UPDATE items SET name = 'fine' WHERE id = 1").execute(&pool).await.expect("update");
    sqlx::query("UPDATE items SET qty = 2 WHERE id = 1").execute(&pool).await.expect("update");
    insert_items(&pool, [2]).await;
    wait_for("the newer changes processed", Duration::from_secs(10), || async {
        picky.runs().len() == 5 && pending(&pool).await == 0
    })
    .await;
    runtime.shutdown().await;
    let letters = dead_letters::list(&pool, Some("picky"), 10).await.expect("list");
    assert_eq!(letters.len(), 1);
    assert_eq!((letters[0].newer_processed, letters[0].newer_pending, letters[0].ordered), (2, 0, true));
    assert_eq!(letters[0].captured_at, dead.captured_at);

    // One more change of the row, waiting when the dead letter is requeued.
    sqlx::query("UPDATE items SET qty = 3 WHERE id = 1").execute(&pool).await.expect("update");
    let waiting = last_change(&pool).await;
    let preview = dead_letters::preview(&pool, "picky", None).await.expect("preview");
    assert_eq!((preview.letters, preview.superseded, preview.newer_processed), (1, 1, 2));
    picky.healed.store(true, Ordering::SeqCst);
    let requeued_at = SystemTime::now();
    assert_eq!(dead_letters::requeue(&pool, "picky", Some(dead.change)).await.expect("requeue"), 1);
    let before = picky.runs().len();
    let runtime = start(&pool, &picky).await;
    wait_for("the requeued and the waiting change", Duration::from_secs(10), || async {
        picky.runs().len() == before + 2
    })
    .await;
    runtime.shutdown().await;
    let runs = picky.runs().split_off(before);
    assert_eq!(runs.iter().map(|run| run.change).collect::<Vec<_>>(), vec![dead.change, waiting], "{runs:?}");
    let replay = &runs[0];
    assert_eq!((replay.op, replay.attempt, replay.captured_at), (Op::Insert, 1, dead.captured_at));
    let flag = replay.requeued.clone().expect("the requeued change is flagged");
    assert_eq!((flag.previous_attempts, flag.newer_processed), (2, 2));
    assert!(flag.dead_at >= dead.captured_at && flag.dead_at <= requeued_at, "{flag:?}");
    // The server's clock against this process's: a second of slack.
    assert!(flag.requeued_at + Duration::from_secs(1) >= requeued_at, "{flag:?}");
    assert!(runs[1].requeued.is_none(), "the waiting change is a fresh one: {:?}", runs[1]);
}
