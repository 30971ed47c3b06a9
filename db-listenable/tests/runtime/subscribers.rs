//! Stale subscribers: the heartbeat, and `subscribers list|remove` as an application
//! mounts them.

use std::time::Duration;

use db_listenable::Error;
use db_listenable::cli::{SubscribersCommand, subscribers};
use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{RuntimeBuilder, load_stats};
use sqlx::PgPool;

use crate::cli::Refuse;
use crate::{Item, Recorder, count, fast, insert_items, items_db, pending, pending_of, wait_for};

/// As if the last runtime serving `name` had stopped an hour ago.
async fn last_seen_an_hour_ago(pool: &PgPool, name: &str) {
    sqlx::query("UPDATE db_listenable.subscribers SET seen_at = now() - interval '1 hour' WHERE name = $1")
        .bind(name)
        .execute(pool)
        .await
        .expect("age seen_at");
}

/// How many changes `name` still has to process (deliveries and journal backlog).
async fn deliveries_of(pool: &PgPool, name: &str) -> i64 {
    i64::try_from(pending_of(pool, name).await.len()).expect("a count")
}

fn list() -> SubscribersCommand {
    SubscribersCommand::List { stale_after_secs: 300 }
}

fn remove(name: &str, force: bool) -> SubscribersCommand {
    SubscribersCommand::Remove { name: name.into(), force, stale_after_secs: 300 }
}

/// The line of `name` in `subscribers list`, split into its columns.
fn columns(text: &str, name: &str) -> Vec<String> {
    let line = text.lines().find(|line| line.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{text}"));
    line.split("  ").map(str::trim).filter(|cell| !cell.is_empty()).map(str::to_owned).collect()
}

#[tokio::test]
async fn a_stale_subscriber_is_listed_kept_while_recent_removed_once_stale_and_no_longer_filled() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let live = Recorder::default();
    let first = RuntimeBuilder::new(pool.clone())
        .config(fast().max_attempts(1))
        .processor::<Item, _>("live", live.clone())
        .processor::<Item, _>("gone", Refuse)
        .start()
        .await
        .expect("start");
    insert_items(&pool, [1, 2]).await;
    wait_for("two dead letters of gone", Duration::from_secs(10), || async {
        count(&pool, "dead_letters").await == 2 && live.len() == 2
    })
    .await;
    first.shutdown().await;
    // The instance that ran `gone` does not come back; `live` runs on.
    let second =
        RuntimeBuilder::new(pool.clone()).config(fast()).processor::<Item, _>("live", live.clone()).start().await;
    let second = second.expect("start without gone");
    insert_items(&pool, [3, 4, 5]).await;
    wait_for("the router filling gone", Duration::from_secs(10), || async {
        live.len() == 5 && deliveries_of(&pool, "gone").await == 3
    })
    .await;

    // Seen seconds ago: not stale, and not removed without --force.
    let text = subscribers(&pool, &list()).await.expect("list");
    assert!(text.starts_with("NAME"), "{text}");
    assert_eq!(columns(&text, "gone")[3..], ["3", "2", "live"], "{text}");
    let refused = subscribers(&pool, &remove("gone", false)).await.expect_err("seen recently");
    assert!(matches!(&refused, Error::SubscriberInUse { name, .. } if name == "gone"), "{refused:?}");
    assert!(refused.to_string().contains("force"), "{refused}");
    assert_eq!((deliveries_of(&pool, "gone").await, count(&pool, "dead_letters").await), (3, 2), "nothing removed");

    last_seen_an_hour_ago(&pool, "gone").await;
    let text = subscribers(&pool, &list()).await.expect("list");
    let gone = columns(&text, "gone");
    assert_eq!(gone[1], "public.items");
    let seen: u64 = gone[2].trim_end_matches("s ago").parse().expect("seconds");
    assert!((3600..3700).contains(&seen), "{text}");
    assert_eq!(gone[3..], ["3", "2", "stale"], "{text}");
    assert_eq!(columns(&text, "live")[3..], ["0", "0", "live"], "{text}");

    let removed = subscribers(&pool, &remove("gone", false)).await.expect("remove");
    assert!(removed.starts_with("removed subscriber gone (last seen 36"), "{removed}");
    assert!(removed.ends_with("s ago): 3 pending deliveries, 2 dead letters\n"), "{removed}");
    assert_eq!((pending(&pool).await, count(&pool, "dead_letters").await), (0, 0));
    let names: Vec<String> = load_stats(&pool).await.expect("stats").subscribers.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["live"]);

    // The router no longer fills it; nothing is kept for it either.
    insert_items(&pool, [6]).await;
    wait_for("item 6 processed by live", Duration::from_secs(10), || async {
        live.len() == 6 && pending(&pool).await == 0
    })
    .await;
    assert_eq!((pending(&pool).await, count(&pool, "unrouted").await), (0, 0));
    let unknown = subscribers(&pool, &remove("gone", true)).await.expect_err("removed already");
    assert!(matches!(unknown, Error::UnknownSubscriber { .. }), "{unknown:?}");

    // An old instance that comes back registers it again, and it receives what follows.
    let back = RuntimeBuilder::new(pool.clone())
        .config(fast().max_attempts(1))
        .processor::<Item, _>("gone", Refuse)
        .start()
        .await
        .expect("start gone again");
    insert_items(&pool, [7]).await;
    wait_for("gone fed again", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    back.shutdown().await;
    second.shutdown().await;
}

#[tokio::test]
async fn force_removes_a_live_subscriber_and_the_last_of_a_table_keeps_its_deliveries() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    // Each change fails once, then waits a minute: the deliveries stay.
    let config = fast().initial_backoff(Duration::from_secs(60)).max_backoff(Duration::from_secs(60));
    let runtime = RuntimeBuilder::new(pool.clone()).config(config).processor::<Item, _>("solo", Refuse).start().await;
    let runtime = runtime.expect("start");
    insert_items(&pool, [1, 2]).await;
    wait_for("two failed deliveries", Duration::from_secs(10), || async {
        load_stats(&pool).await.expect("stats").subscribers.first().is_some_and(|s| s.retrying == 2)
    })
    .await;

    let refused = subscribers(&pool, &remove("solo", false)).await.expect_err("a runtime serves it");
    let Error::SubscriberInUse { seen_ago, stale_after, .. } = refused else { panic!("{refused:?}") };
    assert!(seen_ago < Duration::from_secs(60) && stale_after == Duration::from_secs(300));

    let removed = subscribers(&pool, &remove("solo", true)).await.expect("forced");
    assert!(removed.contains(
        ": 2 pending deliveries (2 kept in db_listenable.unrouted: it was the last subscriber of its table), 0 dead letters\n"
    ), "{removed}");
    assert_eq!((pending(&pool).await, count(&pool, "unrouted").await), (0, 2));
    runtime.shutdown().await;
}

/// A running runtime announces its subscribers at each heartbeat, so a live one never
/// looks stale, however long ago it registered.
#[tokio::test]
async fn a_running_runtime_keeps_its_subscribers_seen() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let config = fast().heartbeat_interval(Duration::from_millis(50));
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>("live", Recorder::default())
        .start()
        .await
        .expect("start");
    last_seen_an_hour_ago(&pool, "live").await;
    assert!(load_stats(&pool).await.expect("stats").subscribers[0].is_stale(Duration::from_secs(300)));
    wait_for("the heartbeat", Duration::from_secs(10), || async {
        !load_stats(&pool).await.expect("stats").subscribers[0].is_stale(Duration::from_secs(300))
    })
    .await;
    runtime.shutdown().await;
}
