//! What the runtime checks before it starts, and what it keeps for later.

use std::time::Duration;

use db_listenable::ddl::{CaptureConfig, Granularity};
use db_listenable::runtime::{DriftPolicy, RuntimeBuilder, load_stats};
use db_listenable::{DbListenable, Error};
use serde::Deserialize;

use crate::{Item, Recorder, count, fast, insert_items, install, items_db, pending, pool, wait_for};

#[derive(Debug, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "others")]
struct Other {
    #[allow(dead_code)]
    id: i64,
}

const OTHERS_TABLE: &str = "CREATE TABLE others (id bigint PRIMARY KEY)";

#[tokio::test]
async fn a_captured_table_without_a_processor_is_refused_by_name_unless_accepted() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    install(&pool, OTHERS_TABLE, &Other::MODEL, &CaptureConfig::default()).await;
    let refused =
        RuntimeBuilder::new(pool.clone()).config(fast()).processor::<Item, _>("r", Recorder::default()).start().await;
    match refused {
        Err(Error::NoProcessor { tables }) => assert_eq!(tables, ["public.others"]),
        other => panic!("expected NoProcessor, got {other:?}"),
    }
    let message = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect_err("refused")
        .to_string();
    assert!(message.contains("public.others") && message.contains("without_processor"), "{message}");

    // Accepted: its changes are kept, reported, and handed to the first subscriber that comes.
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", recorder.clone())
        .without_processor("public.others")
        .start()
        .await
        .expect("start");
    sqlx::query("INSERT INTO others VALUES (1), (2)").execute(&pool).await.expect("insert others");
    insert_items(&pool, [1]).await;
    wait_for("the item", Duration::from_secs(10), || async { recorder.len() == 1 }).await;
    wait_for("others kept", Duration::from_secs(10), || async {
        runtime.stats().await.expect("stats").unconsumed == [("public.others".to_owned(), 2)]
    })
    .await;
    let stats = runtime.stats().await.expect("stats");
    assert_eq!(stats.unconsumed, [("public.others".to_owned(), 2)]);
    runtime.shutdown().await;

    // Once a subscriber for `others` exists, the kept changes are its.
    struct Ids(std::sync::Arc<std::sync::Mutex<Vec<i64>>>);
    impl db_listenable::runtime::Processor<Other> for Ids {
        async fn process(
            &self,
            _ctx: &db_listenable::runtime::Context<'_>,
            change: &db_listenable::runtime::Change<Other>,
        ) -> Result<(), db_listenable::runtime::ProcessError> {
            self.0.lock().expect("ids").push(change.row().map_or(0, |o| o.id));
            Ok(())
        }
    }
    let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", Recorder::default())
        .processor::<Other, _>("others", Ids(ids.clone()))
        .start()
        .await
        .expect("start with a processor for others");
    wait_for("the kept changes", Duration::from_secs(10), || async { ids.lock().expect("ids").len() == 2 }).await;
    runtime.shutdown().await;
    assert_eq!(*ids.lock().expect("ids"), [1, 2]);
    assert_eq!(count(&pool, "unrouted").await, 0);
}

#[tokio::test]
async fn an_unknown_table_in_the_journal_is_kept_and_reported_never_dropped() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    // An entry from a table this program knows nothing about (another service's model).
    sqlx::query("INSERT INTO db_listenable.changes (table_id, op, new_row) VALUES (424242, 'I', '{\"id\": 1}')")
        .execute(&pool)
        .await
        .expect("foreign entry");
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", recorder.clone())
        .start()
        .await
        .expect("start");
    insert_items(&pool, [1]).await;
    wait_for("the item", Duration::from_secs(10), || async { recorder.len() == 1 }).await;
    runtime.shutdown().await;
    let stats = load_stats(&pool).await.expect("stats");
    assert_eq!(stats.unconsumed, [("table id 424242".to_owned(), 1)]);
    // Kept in the journal, or in `unrouted` once its partition was emptied.
    let kept: serde_json::Value = sqlx::query_scalar(
        "SELECT new_row FROM db_listenable.unrouted WHERE table_id = 424242
         UNION ALL SELECT new_row FROM db_listenable.changes WHERE table_id = 424242",
    )
    .fetch_one(&pool)
    .await
    .expect("kept");
    assert_eq!(kept, serde_json::json!({"id": 1}));
}

#[tokio::test]
async fn drift_refuses_to_start_or_warns_as_configured() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    // The runtime expects row-level capture; statement-level is installed: the same
    // changes, so the default policy starts, and the strict one refuses.
    let mut config = fast().capture(CaptureConfig { granularity: Granularity::Row, ..CaptureConfig::default() });
    RuntimeBuilder::new(pool.clone())
        .config(config.clone())
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect("the other granularity provides what Item needs")
        .shutdown()
        .await;
    let refused = RuntimeBuilder::new(pool.clone())
        .config(config.clone().drift(DriftPolicy::Refuse))
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect_err("refused");
    assert!(matches!(refused, Error::Drift { .. }), "{refused:?}");
    assert!(refused.to_string().contains("compatible: public.items (Item)"), "{refused}");
    assert!(refused.to_string().contains("granularity statement (this code: row)"), "{refused}");
    // A capture without a record of what it provides (installed before layout 2) is outdated.
    sqlx::query("UPDATE db_listenable.tables SET capture = NULL").execute(&pool).await.expect("forget the record");
    let refused = RuntimeBuilder::new(pool.clone())
        .config(config.clone())
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("outdated: public.items (Item)"), "{refused}");
    config = config.drift(DriftPolicy::Warn);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect("warn only");
    runtime.shutdown().await;
}

#[tokio::test]
async fn disabled_capture_refuses_to_start() {
    // `DISABLE TRIGGER` (or `pg_restore --disable-triggers` left half done) captures
    // nothing: starting as if all were well would silently process nothing.
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    sqlx::query("ALTER TABLE items DISABLE TRIGGER db_listenable_update").execute(&pool).await.expect("disable");
    let refused = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect_err("a disabled capture trigger must refuse the start");
    assert!(matches!(refused, Error::Drift { .. }), "{refused:?}");
    assert!(refused.to_string().contains("db_listenable_update"), "names the disabled trigger: {refused}");
    sqlx::query("ALTER TABLE items ENABLE TRIGGER db_listenable_update").execute(&pool).await.expect("enable");
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect("starts once enabled again");
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_database_without_the_journal_fails_with_a_named_reason() {
    let db = pg_harness::TestDb::create().await.expect("db");
    let pool = pool(db.url(), 2).await;
    let error = RuntimeBuilder::new(pool.clone())
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect_err("no journal");
    assert!(matches!(error, Error::NotInstalled), "{error:?}");
}

#[tokio::test]
async fn a_removed_subscriber_takes_its_deliveries_and_dead_letters_with_it() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("gone", Recorder::default())
        .start()
        .await
        .expect("start")
        .shutdown()
        .await;
    insert_items(&pool, 1..=3).await;
    let stays = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("stays", stays.clone())
        .start()
        .await
        .expect("start");
    wait_for("the routed changes", Duration::from_secs(10), || async { stays.len() == 3 }).await;
    runtime.shutdown().await;
    assert_eq!(pending(&pool).await, 3, "the stopped subscriber still has its copies");
    assert!(db_listenable::runtime::remove_subscriber(&pool, "gone").await.expect("remove"));
    assert_eq!(pending(&pool).await, 0);
    assert_eq!(count(&pool, "subscribers").await, 1);
    assert!(!db_listenable::runtime::remove_subscriber(&pool, "gone").await.expect("remove again"));
}
