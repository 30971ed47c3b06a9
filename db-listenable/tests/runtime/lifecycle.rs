//! The runtime as a handle: clones share the workers, any clone shuts them down, and
//! `health` tells a probe whether they run.

use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::RuntimeBuilder;

use crate::{Item, Recorder, fast, insert_items, items_db, pending, wait_for};

#[tokio::test]
async fn any_clone_shuts_the_runtime_down_and_health_says_so() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", recorder.clone())
        .start()
        .await
        .expect("start");
    let health = runtime.health();
    assert!(health.is_ready() && health.running == health.tasks && health.tasks > 0, "{health:?}");

    // A clone kept elsewhere keeps the workers: the original can go.
    let kept = runtime.clone();
    drop(runtime);
    insert_items(&pool, [1]).await;
    wait_for("the change processed by the kept clone", Duration::from_secs(10), || async { recorder.len() == 1 }).await;

    // Shut down from another task, through another clone.
    let stopper = kept.clone();
    tokio::spawn(async move { stopper.shutdown().await }).await.expect("the shutdown task");
    let health = kept.health();
    assert!(health.stopping && health.running == 0 && !health.is_ready(), "{health:?}");
    kept.shutdown().await; // again: returns at once

    // No task is left to process: a new change stays to do.
    insert_items(&pool, [2]).await;
    assert_eq!(pending(&pool).await, 1);
    assert_eq!(recorder.len(), 1);
}
