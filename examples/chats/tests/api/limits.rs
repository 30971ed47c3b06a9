//! The limits that bound what one request may cost: the work of a search, the length of
//! its query, the rate of reindexing per application.

use std::time::{Duration, Instant};

use serde_json::json;

use chats::api::rate_limit::{REINDEX_BURST, REINDEX_EVERY};
use chats::search::MAX_CHECKED_MISSES;

use super::server::{Db, Server, assert_status, error_of, eventually, messages_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_that_would_check_too_many_messages_is_refused_quickly() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let token = api.application("limits").await;
    let chat = api.chat(&token).await;
    // 1,500 messages `ab 1`, `ab 2`... written with SQL, numbered as the API numbers.
    sqlx::query(
        "WITH c AS (UPDATE chats SET last_message_number = last_message_number + 1500
                    WHERE number = $2 AND application_id = (SELECT id FROM applications WHERE token = $1)
                    RETURNING id)
         INSERT INTO messages (chat_id, number, body) SELECT c.id, n, 'ab ' || n FROM c, generate_series(1, 1500) n",
    )
    .bind(&token)
    .bind(chat)
    .execute(&db.pool)
    .await
    .expect("bulk insert");
    let search = |query: &str| format!("{}/search?{query}", messages_path(&token, chat));
    eventually("all 1500 messages indexed", || async {
        let last_page = api.get(&search("q=ab&page=15&per_page=100")).await;
        assert_status(&last_page, 200);
        (last_page.json().as_array().map(Vec::len) == Some(100)).then_some(())
    })
    .await;

    // `☃` is one character: the index cannot look it up, so each message with `ab` would
    // be read to find that none has it; there are more of them than a search may check.
    const { assert!(1500 > MAX_CHECKED_MISSES) };
    let started = Instant::now();
    let refused = api.get(&search("q=ab%20%E2%98%83")).await;
    let elapsed = started.elapsed();
    let error = error_of(&refused, 400);
    assert!(error.contains(&format!("{MAX_CHECKED_MISSES} messages")) && error.contains("`☃`"), "{error}");
    assert!(elapsed < Duration::from_secs(5), "refused after {elapsed:?}");

    // A word that is checked, not looked up, still works while hits are dense: every
    // message whose number has a 1.
    let expected: Vec<i64> = (1..=1500).filter(|n: &i64| n.to_string().contains('1')).take(100).collect();
    assert_eq!(api.search(&token, chat, "ab%201").await, expected);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_queries_are_refused_naming_the_limit() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let token = api.application("limits").await;
    let chat = api.chat(&token).await;
    let search = |q: &str| format!("{}/search?q={q}", messages_path(&token, chat));
    assert_status(&api.get(&search(&"x".repeat(200))).await, 200);
    for overlong in ["x".repeat(201), "%E2%98%83".repeat(201)] {
        let error = error_of(&api.get(&search(&overlong)).await, 422);
        assert!(error.contains("`q`") && error.contains("200 characters"), "{error}");
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_is_rate_limited_per_application() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let (busy, other) = (api.application("busy").await, api.application("other").await);
    let (busy_chat, other_chat) = (api.chat(&busy).await, api.chat(&other).await);
    let reindex = |token: &str, chat: i64| format!("/api/v1/applications/{token}/chats/{chat}/reindex");

    for _ in 0..REINDEX_BURST {
        assert_status(&api.post(&reindex(&busy, busy_chat), &json!({})).await, 200);
    }
    let limited = api.post(&reindex(&busy, busy_chat), &json!({})).await;
    let error = error_of(&limited, 429);
    assert!(error.contains("reindex"), "{error}");
    let retry_after: u64 = limited
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", limited.headers))
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=REINDEX_EVERY.as_secs()).contains(&retry_after), "Retry-After {retry_after}");
    // Unknown chats are still 404, and other applications are not limited.
    error_of(&api.post(&reindex(&busy, 99), &json!({})).await, 404);
    assert_status(&api.post(&reindex(&other, other_chat), &json!({})).await, 200);

    // Retrying when told to works (waiting out the time is the behaviour under test).
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_status(&api.post(&reindex(&busy, busy_chat), &json!({})).await, 200);
    api.stop().await;
}
