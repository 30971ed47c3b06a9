//! Changes reach processors whole, once, and only when committed.

use std::time::Duration;

use db_listenable::ddl::{CaptureConfig, Wakeup};
use db_listenable::runtime::{Op, RuntimeBuilder};

use crate::{Item, Recorder, count, fast, insert_items, items_db, pending, wait_for};

#[tokio::test]
async fn insert_update_delete_arrive_typed_with_old_and_new_rows() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", recorder.clone())
        .start()
        .await
        .expect("start");
    insert_items(&pool, [1]).await;
    sqlx::query("UPDATE items SET qty = 7 WHERE id = 1").execute(&pool).await.expect("update");
    sqlx::query("DELETE FROM items WHERE id = 1").execute(&pool).await.expect("delete");
    wait_for("three changes", Duration::from_secs(10), || async { recorder.len() >= 3 }).await;
    runtime.shutdown().await;
    let seen = recorder.all();
    let item = |qty| Item { id: 1, name: "item 1".into(), qty };
    assert_eq!(seen.iter().map(|s| s.op).collect::<Vec<_>>(), [Op::Insert, Op::Update, Op::Delete]);
    assert_eq!((seen[0].old.clone(), seen[0].new.clone()), (None, Some(item(0))));
    assert_eq!((seen[1].old.clone(), seen[1].new.clone()), (Some(item(0)), Some(item(7))));
    assert_eq!((seen[2].old.clone(), seen[2].new.clone()), (Some(item(7)), None));
    assert!(seen.iter().all(|s| s.attempt == 1));
    assert_eq!(pending(&pool).await, 0, "nothing is left to process");
    // The journal is append-only: entries stay until their partition is emptied whole.
    assert_eq!(count(&pool, "changes").await, 3, "processed entries are not deleted one by one");
}

#[tokio::test]
async fn five_thousand_changes_committed_while_no_worker_runs_are_processed_exactly_once() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    // Register the subscriber, then stop: everything below commits with no worker running.
    let recorder = Recorder::default();
    RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", recorder.clone())
        .start()
        .await
        .expect("start")
        .shutdown()
        .await;
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'bulk' FROM generate_series(1, 2500) g")
        .execute(&pool)
        .await
        .expect("bulk insert");
    insert_items(&pool, 2501..=2600).await;
    sqlx::query("UPDATE items SET qty = qty + 1 WHERE id <= 2400").execute(&pool).await.expect("bulk update");
    assert_eq!(count(&pool, "changes").await, 5000);

    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", recorder.clone())
        .start()
        .await
        .expect("restart");
    wait_for("5,000 changes", Duration::from_secs(60), || async { recorder.len() >= 5000 }).await;
    runtime.shutdown().await;
    let counts = recorder.counts();
    assert_eq!(counts.len(), 5000, "every change arrived");
    assert!(counts.values().all(|&n| n == 1), "none twice");
    assert_eq!(pending(&pool).await, 0);
}

#[tokio::test]
async fn rolled_back_transactions_produce_nothing() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", recorder.clone())
        .start()
        .await
        .expect("start");
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("INSERT INTO items (id, name) VALUES (1, 'never')").execute(&mut *tx).await.expect("insert");
    tx.rollback().await.expect("rollback");
    insert_items(&pool, [2]).await;
    wait_for("the committed change", Duration::from_secs(10), || async { recorder.len() >= 1 }).await;
    runtime.shutdown().await;
    let ids: Vec<i64> = recorder.all().iter().filter_map(|s| s.new.as_ref().map(|i| i.id)).collect();
    assert_eq!(ids, [2]);
}

#[tokio::test]
async fn a_one_megabyte_row_is_delivered_whole() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", recorder.clone())
        .start()
        .await
        .expect("start");
    // Varied text, so compression does not make it small.
    let name: String = (0..1_048_576u64).map(|i| char::from(b'a' + ((i * 7919 + i / 13) % 26) as u8)).collect();
    sqlx::query("INSERT INTO items (id, name) VALUES (1, $1)").bind(&name).execute(&pool).await.expect("insert");
    wait_for("the big row", Duration::from_secs(20), || async { recorder.len() >= 1 }).await;
    runtime.shutdown().await;
    let seen = recorder.all();
    assert_eq!(seen[0].new.as_ref().map(|i| i.name.len()), Some(1_048_576));
    assert!(seen[0].new.as_ref().is_some_and(|i| i.name == name));
}

#[tokio::test]
async fn poll_only_mode_works_without_notify() {
    let capture = CaptureConfig { wakeup: Wakeup::Off, ..CaptureConfig::default() };
    let (_db, pool) = items_db(&capture).await;
    let recorder = Recorder::default();
    let config = fast().wakeups(false).capture(capture);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("recorder", recorder.clone())
        .start()
        .await
        .expect("start");
    // Nothing can LISTEN: the runtime opened no listening session.
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&pool)
    .await
    .expect("activity");
    assert_eq!(listening, 0);
    insert_items(&pool, 1..=20).await;
    wait_for("20 changes by polling", Duration::from_secs(10), || async { recorder.len() >= 20 }).await;
    runtime.shutdown().await;
    assert_eq!(recorder.counts().len(), 20);
}
