//! Rebuilds of the index are all-or-nothing: one cancelled by its client, one whose
//! database connection is terminated, one at start-up that fails, each stopped in the
//! middle (its read waits on a table the test holds locked), leave every message findable.

use std::path::Path;

use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};

use super::server::{self, Db, Server, assert_status, eventually};
use super::{api_index, http, wait_search};

/// Locks `messages` against reads until the transaction ends: a rebuild that reaches
/// its read waits there, with whatever it queued in the index writer.
async fn hold_messages(pool: &PgPool) -> Transaction<'static, Postgres> {
    let mut lock = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.expect("lock messages");
    lock
}

/// Waits until a rebuild's read waits on the lock of [`hold_messages`]; its backend's pid.
/// The rebuild reads on its own connection, named for operators.
async fn waiting_rebuild(pool: &PgPool) -> i32 {
    eventually("the rebuild to wait on the locked messages", || async {
        sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'",
        )
        .bind(chats::search::REBUILD_APPLICATION_NAME)
        .fetch_optional(pool)
        .await
        .expect("pg_stat_activity")
    })
    .await
}

/// A chat with `count` messages `kept 1`... , all indexed.
async fn indexed_chat(api: &Server, count: i64) -> (String, i64, Vec<i64>) {
    let token = api.application("rebuild").await;
    let chat = api.chat(&token).await;
    for i in 1..=count {
        api.message(&token, chat, &format!("kept {i}")).await;
    }
    let numbers: Vec<i64> = (1..=count).collect();
    wait_search(api, &token, chat, "kept", &numbers).await;
    (token, chat, numbers)
}

/// After an interrupted rebuild: a new message goes through a change batch (an index
/// commit), then every message is still found and `chats check` passes.
async fn assert_nothing_lost(db: &Db, api: &Server, token: &str, chat: i64, mut numbers: Vec<i64>) {
    numbers.push(api.message(token, chat, "kept after").await);
    wait_search(api, token, chat, "kept", &numbers).await;
    // The counters follow the new message through a subscriber of their own, which may
    // still be on its way when the index has it.
    eventually("chats check to pass", || async {
        chats::check::run(&db.pool, Ok(api_index(api))).await.expect("check").is_clean().then_some(())
    })
    .await;
}

fn reindex_path(token: &str, chat: i64) -> String {
    format!("/api/v1/applications/{token}/chats/{chat}/reindex")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_abandoned_by_its_client_deletes_nothing() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let (token, chat, numbers) = indexed_chat(&api, 3).await;

    let lock = hold_messages(&db.pool).await;
    // Without a body: the server has read the whole request, and watches the connection.
    let request = http::send(api.addr, "POST", &reindex_path(&token, chat), None).await;
    let pid = waiting_rebuild(&db.pool).await;
    // The client goes away: the server drops the request's future, rebuild included.
    drop(request);
    // Proof that it was dropped rather than still waiting: its connection closes (the
    // server notices a client gone while its query waits).
    eventually("the abandoned rebuild's connection to close", || async {
        let open: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
            .bind(pid)
            .fetch_one(&db.pool)
            .await
            .expect("pg_stat_activity");
        (!open).then_some(())
    })
    .await;
    lock.commit().await.expect("release messages");

    assert_nothing_lost(&db, &api, &token, chat, numbers).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_whose_connection_is_terminated_deletes_nothing() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let (token, chat, numbers) = indexed_chat(&api, 3).await;

    let lock = hold_messages(&db.pool).await;
    let request = http::send(api.addr, "POST", &reindex_path(&token, chat), Some("{}")).await;
    let pid = waiting_rebuild(&db.pool).await;
    let terminated: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&db.pool).await.expect("terminate");
    assert!(terminated);
    let failed = http::receive(request).await;
    assert_status(&failed, 500);
    lock.commit().await.expect("release messages");

    assert_nothing_lost(&db, &api, &token, chat, numbers).await;
    // A reindex that completes still works.
    let reindexed = api.post(&reindex_path(&token, chat), &json!({})).await;
    assert_status(&reindexed, 200);
    assert_eq!(reindexed.json(), json!({"indexed": 4}));
    api.stop().await;
}

/// Starts an instance on `data_dir`, expecting it to fail.
async fn failed_start(pool: &PgPool, data_dir: &Path) -> anyhow::Error {
    chats::server::Instance::start(pool, data_dir, server::config()).await.expect_err("the start fails")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_up_rebuild_that_fails_is_done_again_at_the_next_start() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let (token, chat, numbers) = indexed_chat(&api, 3).await;
    api.stop().await;
    std::fs::remove_dir_all(chats::server::index_dir(dir.path())).expect("delete the index");

    // The start-up rebuild loses its connection in the middle.
    let lock = hold_messages(&db.pool).await;
    let starting = tokio::spawn({
        let (pool, data_dir) = (db.pool.clone(), dir.path().to_owned());
        async move { failed_start(&pool, &data_dir).await }
    });
    let pid = waiting_rebuild(&db.pool).await;
    sqlx::query("SELECT pg_terminate_backend($1)").bind(pid).execute(&db.pool).await.expect("terminate");
    let error = starting.await.expect("the start task");
    assert!(format!("{error:#}").contains("rebuild"), "{error:#}");
    lock.commit().await.expect("release messages");

    // The index left behind is not taken for a complete one.
    let report =
        chats::check::run(&db.pool, chats::search::SearchIndex::open_read_only(&chats::server::index_dir(dir.path())))
            .await
            .expect("check");
    assert!(report.index.iter().any(|line| line.contains("incomplete")), "{report:?}");

    let api = Server::start(&db.pool, dir.path()).await;
    assert_eq!(api.search(&token, chat, "kept").await, numbers, "rebuilt before serving");
    assert_nothing_lost(&db, &api, &token, chat, numbers).await;
    api.stop().await;
}
