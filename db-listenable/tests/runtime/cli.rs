//! `dead-letters list|requeue|discard` as an application mounts it.

use std::time::Duration;

use db_listenable::cli::{DeadLettersCommand, dead_letters};
use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};

use crate::{Item, count, fast, insert_items, items_db, pending, wait_for};

/// Fails every change, naming it.
pub(crate) struct Refuse;

impl Processor<Item> for Refuse {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        Err(format!("refused change {}", change.id).into())
    }
}

#[tokio::test]
async fn dead_letters_are_listed_as_text_and_json_requeued_and_discarded() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let config = fast().max_attempts(1);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("refuse", Refuse)
        .start()
        .await
        .expect("start");
    insert_items(&pool, [1, 2]).await;
    wait_for("two dead letters", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 2 }).await;
    runtime.shutdown().await;

    let list = |json| DeadLettersCommand::List { subscriber: Some("refuse".into()), limit: 10, json };
    let text = dead_letters(&pool, &list(false)).await.expect("list");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.starts_with("refuse  change "), "{text}");
    assert!(text.contains("INSERT public.items  after 1 attempt(s): refused change"), "{text}");
    let json = dead_letters(&pool, &list(true)).await.expect("json");
    let first: serde_json::Value = serde_json::from_str(json.lines().next().expect("a line")).expect("json line");
    assert_eq!(first["new_row"]["name"], "item 1");
    assert_eq!(first["op"], "INSERT");
    let change = first["change_id"].as_i64().expect("change id");

    let requeued =
        dead_letters(&pool, &DeadLettersCommand::Requeue { subscriber: "refuse".into(), change: Some(change) })
            .await
            .expect("requeue");
    assert_eq!(requeued, "requeued 1 dead letter(s) of refuse\n");
    assert_eq!(pending(&pool).await, 1);
    let discarded = dead_letters(&pool, &DeadLettersCommand::Discard { subscriber: "refuse".into(), change: None })
        .await
        .expect("discard");
    assert_eq!(discarded, "discarded 1 dead letter(s) of refuse\n");
    assert_eq!(dead_letters(&pool, &list(false)).await.expect("list"), "no dead letters\n");
    let unknown = dead_letters(&pool, &DeadLettersCommand::Requeue { subscriber: "nobody".into(), change: None }).await;
    assert!(unknown.expect_err("unknown").to_string().contains("`nobody`"));
}
