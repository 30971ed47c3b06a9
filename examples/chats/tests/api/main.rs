//! The chats API over real HTTP, with its processors, against real PostgreSQL.

#[path = "../support/http.rs"]
mod http;
#[path = "../support/server.rs"]
mod server;

mod limits;
mod rebuild;

use serde_json::json;
use server::{Db, Server, assert_status, error_of, eventually, messages_path};

/// The `messages_count` of a chat, as the API shows it.
async fn messages_count(api: &Server, token: &str, chat: i64) -> i64 {
    let shown = api.get(&format!("/api/v1/applications/{token}/chats/{chat}")).await;
    assert_status(&shown, 200);
    shown.json()["messages_count"].as_i64().expect("messages_count")
}

/// The `chats_count` of an application, as the API shows it.
async fn chats_count(api: &Server, token: &str) -> i64 {
    let shown = api.get(&format!("/api/v1/applications/{token}")).await;
    assert_status(&shown, 200);
    shown.json()["chats_count"].as_i64().expect("chats_count")
}

/// Waits until the chat's counter shows `count`.
async fn wait_messages_count(api: &Server, token: &str, chat: i64, count: i64) {
    eventually(&format!("messages_count {count}"), || async {
        (messages_count(api, token, chat).await == count).then_some(())
    })
    .await;
}

/// Waits until a search in the chat finds exactly `numbers`.
async fn wait_search(api: &Server, token: &str, chat: i64, q: &str, numbers: &[i64]) {
    eventually(&format!("search {q:?} to find {numbers:?}"), || async {
        (api.search(token, chat, q).await == numbers).then_some(())
    })
    .await;
}

#[tokio::test]
async fn migrations_apply_once_and_again_without_change() {
    let db = Db::create().await;
    chats::migrate(&db.pool).await.expect("second run is a no-op");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'
         AND table_name IN ('applications', 'chats', 'messages') ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("catalog");
    assert_eq!(tables, ["applications", "chats", "messages"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_are_created_shown_and_renamed_by_token_without_ids() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;

    let created = api.post("/api/v1/applications", &json!({"name": "  Support  "})).await;
    assert_status(&created, 201);
    let body = created.json();
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(token.len() >= 32 && token.bytes().all(|b| b.is_ascii_alphanumeric()), "{token}");
    assert_eq!(body, json!({"token": token, "name": "Support", "chats_count": 0}));
    let other = api.application("other").await;
    assert_ne!(token, other);

    let renamed = api.patch(&format!("/api/v1/applications/{token}"), &json!({"name": "Help desk"})).await;
    assert_status(&renamed, 200);
    assert_eq!(renamed.json()["name"], "Help desk");
    let shown = api.get(&format!("/api/v1/applications/{token}")).await;
    assert_eq!(shown.json(), json!({"token": token, "name": "Help desk", "chats_count": 0}));

    assert_eq!(api.chat(&token).await, 1);
    assert_eq!(api.chat(&token).await, 2);
    assert_eq!(api.chat(&other).await, 1, "numbers are per application");
    let number = api.message(&token, 2, "first").await;
    assert_eq!(number, 1);
    eventually("chats_count 2", || async { (chats_count(&api, &token).await == 2).then_some(()) }).await;
    wait_messages_count(&api, &token, 2, 1).await;
    let listed = api.get(&format!("/api/v1/applications/{token}/chats")).await;
    assert_status(&listed, 200);
    assert_eq!(listed.json(), json!([{"number": 1, "messages_count": 0}, {"number": 2, "messages_count": 1}]));
    let page = api.get(&format!("/api/v1/applications/{token}/chats?page=2&per_page=1")).await;
    assert_eq!(page.json().as_array().expect("array").len(), 1);
    assert_eq!(page.json()[0]["number"], 2);
    let messages = api.get(&format!("{}?per_page=5", messages_path(&token, 2))).await;
    assert_eq!(messages.json(), json!([{"number": 1, "body": "first"}]));
    for response in [&created, &shown, &listed, &messages] {
        assert!(!response.body.contains("\"id\""), "no database ids: {}", response.body);
    }

    let health = api.get("/healthz").await;
    assert_status(&health, 200);
    assert_eq!(health.json()["status"], "ok");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_concurrent_messages_get_exactly_1_to_300() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let token = api.application("busy").await;
    let chat = api.chat(&token).await;

    let path = messages_path(&token, chat);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let (addr, path) = (api.addr, path.clone());
        tasks.push(tokio::spawn(async move {
            let created = http::post(addr, &path, &json!({ "body": format!("message {i}") }).to_string()).await;
            assert_status(&created, 201);
            created.json()["number"].as_i64().expect("number")
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.expect("request task"));
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=300).collect::<Vec<i64>>());
    wait_messages_count(&api, &token, chat, 300).await;
    let stored: Vec<i64> =
        sqlx::query_scalar("SELECT number FROM messages ORDER BY number").fetch_all(&db.pool).await.expect("numbers");
    assert_eq!(stored, (1..=300).collect::<Vec<i64>>());
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_number_gaplessly_count_once_and_both_index_everything() {
    let db = Db::create().await;
    let (dir_a, dir_b) = (tempfile::tempdir().expect("dir a"), tempfile::tempdir().expect("dir b"));
    let a = Server::start(&db.pool, dir_a.path()).await;
    let b = Server::start(&db.pool, dir_b.path()).await;
    assert_ne!(a.id, b.id, "each instance has its own id");
    let token = a.application("shared").await;
    let chat = b.chat(&token).await;

    let mut tasks = Vec::new();
    for i in 0..60 {
        let addr = if i % 2 == 0 { a.addr } else { b.addr };
        let path = messages_path(&token, chat);
        tasks.push(tokio::spawn(async move {
            let created = http::post(addr, &path, &json!({ "body": format!("shared note {i}") }).to_string()).await;
            assert_status(&created, 201);
            created.json()["number"].as_i64().expect("number")
        }));
    }
    let mut numbers = Vec::new();
    for task in tasks {
        numbers.push(task.await.expect("request task"));
    }
    numbers.sort_unstable();
    let all: Vec<i64> = (1..=60).collect();
    assert_eq!(numbers, all);

    wait_messages_count(&a, &token, chat, 60).await;
    wait_search(&a, &token, chat, "note", &all).await;
    wait_search(&b, &token, chat, "note", &all).await;

    let subscribers: Vec<String> = sqlx::query_scalar("SELECT name FROM db_listenable.subscribers ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .expect("subscribers");
    let mut expected = vec![
        "chats_count".to_owned(),
        "messages_count".to_owned(),
        format!("search_index:{}", a.id),
        format!("search_index:{}", b.id),
    ];
    expected.sort();
    assert_eq!(subscribers, expected, "shared counters, one index subscriber per instance");

    // Each change counted by exactly one instance; each index fed by its own instance.
    let processed = |stats: &db_listenable::runtime::Stats, name: &str| {
        stats.subscribers.iter().find(|s| s.name == name).map_or(0, |s| s.processed_here)
    };
    let (index_a, index_b) = (format!("search_index:{}", a.id), format!("search_index:{}", b.id));
    eventually("60 counted changes across the instances, 60 indexed by each", || async {
        let (stats_a, stats_b) = (a.stats().await, b.stats().await);
        let counted = processed(&stats_a, "messages_count") + processed(&stats_b, "messages_count");
        (counted == 60 && processed(&stats_a, &index_a) == 60 && processed(&stats_b, &index_b) == 60).then_some(())
    })
    .await;
    assert_eq!(processed(&a.stats().await, &index_b), 0, "an instance never feeds another's index");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_matches_parts_of_words_ignoring_case() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let token = api.application("search").await;
    let chat = api.chat(&token).await;
    for body in ["hello world", "Help me, please", "say HELLO", "internationalisation matters", "nothing"] {
        api.message(&token, chat, body).await;
    }
    // Indexed in any order: wait for each message.
    wait_search(&api, &token, chat, "hel", &[1, 2, 3]).await;
    wait_search(&api, &token, chat, "ation", &[4]).await;
    wait_search(&api, &token, chat, "thing", &[5]).await;
    assert_eq!(api.search(&token, chat, "llo").await, [1, 3]);
    assert_eq!(api.search(&token, chat, "WORLD%20hel").await, [1]);
    assert_eq!(api.search(&token, chat, "nationalisation").await, [4]);
    assert_eq!(api.search(&token, chat, "internationalisation%20mat").await, [4]);
    assert_eq!(api.search(&token, chat, "lisationinterna").await, Vec::<i64>::new());
    assert_eq!(api.search(&token, chat, "xyz").await, Vec::<i64>::new());

    let found = api.get(&format!("{}/search?q=hel&per_page=2&page=2", messages_path(&token, chat))).await;
    assert_eq!(found.json(), json!([{"number": 3, "body": "say HELLO"}]));

    // Edits and deletions through the API reach the index too.
    let edited = api.patch(&format!("{}/1", messages_path(&token, chat)), &json!({"body": "goodbye"})).await;
    assert_eq!(edited.json(), json!({"number": 1, "body": "goodbye"}));
    assert_status(&api.delete(&format!("{}/3", messages_path(&token, chat))).await, 204);
    wait_search(&api, &token, chat, "hel", &[2]).await;
    assert_eq!(api.search(&token, chat, "goodb").await, [1]);
    wait_messages_count(&api, &token, chat, 4).await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_never_crosses_applications_or_chats() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let (one, two) = (api.application("one").await, api.application("two").await);
    let (one_a, one_b, two_a) = (api.chat(&one).await, api.chat(&one).await, api.chat(&two).await);
    api.message(&one, one_a, "secret plan alpha").await;
    api.message(&one, one_b, "secret plan beta").await;
    api.message(&one, one_b, "secret plan gamma").await;
    api.message(&two, two_a, "secret plan delta").await;
    wait_search(&api, &one, one_b, "secret", &[1, 2]).await;
    wait_search(&api, &two, two_a, "secret", &[1]).await;
    wait_search(&api, &one, one_a, "secret", &[1]).await;
    let found = api.get(&format!("{}/search?q=secret", messages_path(&one, one_a))).await;
    assert_eq!(found.json(), json!([{"number": 1, "body": "secret plan alpha"}]));
    // Another application's token does not reach this application's chat.
    let other = api.get(&format!("{}/search?q=secret", messages_path(&two, one_b))).await;
    error_of(&other, 404);

    // A deleted chat takes its messages out of the index and out of the counter.
    assert_status(&api.delete(&format!("/api/v1/applications/{one}/chats/{one_b}")).await, 204);
    error_of(&api.get(&format!("/api/v1/applications/{one}/chats/{one_b}")).await, 404);
    eventually("chats_count 1", || async { (chats_count(&api, &one).await == 1).then_some(()) }).await;
    eventually("the deleted chat's messages leave the index", || async {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&db.pool).await.expect("count");
        let report = chats::check::run(&db.pool, Ok(api_index(&api))).await.expect("check");
        (left == 2 && report.is_clean()).then_some(())
    })
    .await;
    // The next chat gets a new number: numbers are never reused.
    assert_eq!(api.chat(&one).await, 3);
    api.stop().await;
}

/// A read-only view of a server's index.
fn api_index(api: &Server) -> chats::search::SearchIndex {
    chats::search::SearchIndex::open_read_only(&chats::server::index_dir(&api.data_dir)).expect("index")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_with_plain_sql_are_counted_and_indexed() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let token = api.application("sql").await;
    let chat = api.chat(&token).await;
    api.message(&token, chat, "from the api").await;

    // Another program: a chat and messages inserted with SQL, numbered the same way.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "WITH a AS (UPDATE applications SET last_chat_number = last_chat_number + 1 WHERE token = '{token}'
                    RETURNING id, last_chat_number)
         INSERT INTO chats (application_id, number) SELECT id, last_chat_number FROM a;
         WITH c AS (UPDATE chats SET last_message_number = last_message_number + 2
                    WHERE number = {chat} AND application_id = (SELECT id FROM applications WHERE token = '{token}')
                    RETURNING id, last_message_number)
         INSERT INTO messages (chat_id, number, body)
         SELECT id, last_message_number - 1, 'written by psql' FROM c
         UNION ALL SELECT id, last_message_number, 'another psql row' FROM c;"
    )))
    .execute(&db.pool)
    .await
    .expect("direct inserts");
    eventually("chats_count 2", || async { (chats_count(&api, &token).await == 2).then_some(()) }).await;
    wait_messages_count(&api, &token, chat, 3).await;
    wait_search(&api, &token, chat, "psql", &[2, 3]).await;
    assert_eq!(api.message(&token, chat, "after those").await, 4, "numbering continues after direct inserts");

    sqlx::query("UPDATE messages SET body = 'rewritten by a script' WHERE number = 2 AND body = 'written by psql'")
        .execute(&db.pool)
        .await
        .expect("direct update");
    wait_search(&api, &token, chat, "psql", &[3]).await;
    assert_eq!(api.search(&token, chat, "script").await, [2]);

    sqlx::query("DELETE FROM messages WHERE body = 'another psql row'").execute(&db.pool).await.expect("direct delete");
    wait_search(&api, &token, chat, "psql", &[]).await;
    wait_messages_count(&api, &token, chat, 3).await;

    // `chats check` agrees; a tampered counter is reported.
    let index = api_index(&api);
    let report = chats::check::run(&db.pool, Ok(index)).await.expect("check");
    assert!(report.is_clean(), "{report:?}");
    let index = api_index(&api);
    api.stop().await;
    sqlx::query("UPDATE applications SET chats_count = 7").execute(&db.pool).await.expect("tamper");
    let report = chats::check::run(&db.pool, Ok(index)).await.expect("check");
    assert_eq!(report.counters.len(), 1, "{report:?}");
    assert_eq!((report.counters[0].stored, report.counters[0].actual), (7, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_is_rebuilt_when_missing_or_corrupt_and_on_request() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let id = api.id.clone();
    let token = api.application("rebuild").await;
    let chat = api.chat(&token).await;
    api.message(&token, chat, "kept safe").await;
    api.message(&token, chat, "kept too").await;
    wait_search(&api, &token, chat, "kept", &[1, 2]).await;
    api.stop().await;

    // Deleted while the server is down, and a message added meanwhile.
    std::fs::remove_dir_all(chats::server::index_dir(dir.path())).expect("delete the index");
    sqlx::query("INSERT INTO messages (chat_id, number, body) SELECT id, 99, 'kept while down' FROM chats")
        .execute(&db.pool)
        .await
        .expect("insert while down");
    let api = Server::start(&db.pool, dir.path()).await;
    assert_eq!(api.id, id, "the instance id survives: same subscriber");
    assert_eq!(api.search(&token, chat, "kept").await, [1, 2, 99], "rebuilt before serving");
    api.stop().await;

    // Forgotten: the subscriber removed (`chats instances forget`), then a message written
    // and routed (by another instance) to the subscribers of the moment only.
    assert!(db_listenable::runtime::remove_subscriber(&db.pool, &format!("search_index:{id}")).await.expect("forget"));
    let other_dir = tempfile::tempdir().expect("other data dir");
    let other = Server::start(&db.pool, other_dir.path()).await;
    sqlx::query("INSERT INTO messages (chat_id, number, body) SELECT id, 100, 'kept unseen' FROM chats")
        .execute(&db.pool)
        .await
        .expect("insert while forgotten");
    wait_search(&other, &token, chat, "kept", &[1, 2, 99, 100]).await;
    other.stop().await;
    let api = Server::start(&db.pool, dir.path()).await;
    assert_eq!(api.search(&token, chat, "kept").await, [1, 2, 99, 100], "rebuilt for the new subscriber");
    api.stop().await;

    // Corrupt: the index metadata overwritten.
    std::fs::write(chats::server::index_dir(dir.path()).join("meta.json"), b"{ not json").expect("corrupt");
    let api = Server::start(&db.pool, dir.path()).await;
    assert_eq!(api.search(&token, chat, "kept").await, [1, 2, 99, 100]);

    // On request: the chat's documents replaced with what the database holds.
    let reindexed = api.post(&format!("/api/v1/applications/{token}/chats/{chat}/reindex"), &json!({})).await;
    assert_status(&reindexed, 200);
    assert_eq!(reindexed.json(), json!({"indexed": 4}));
    assert_eq!(api.search(&token, chat, "kept").await, [1, 2, 99, 100]);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let token = api.application("errors").await;
    let chat = api.chat(&token).await;
    api.message(&token, chat, "present").await;
    let unknown = "0".repeat(chats::tokens::TOKEN_LEN);
    let messages = messages_path(&token, chat);

    // 404: unknown or malformed token, chat, message, route.
    for path in [
        format!("/api/v1/applications/{unknown}"),
        "/api/v1/applications/nope".to_owned(),
        "/api/v1/applications/%00".to_owned(),
        format!("/api/v1/applications/{unknown}/chats"),
        format!("/api/v1/applications/{token}/chats/9"),
        format!("/api/v1/applications/{token}/chats/abc"),
        format!("/api/v1/applications/{token}/chats/0"),
        format!("/api/v1/applications/{token}/chats/99999999999999999999999"),
        format!("{messages}/2"),
        format!("{messages}/x"),
        format!("{}/search?q=pre", messages_path(&token, 5)),
        "/api/v1/nothing".to_owned(),
    ] {
        error_of(&api.get(&path).await, 404);
    }
    error_of(&api.post(&format!("/api/v1/applications/{unknown}/chats"), &json!({})).await, 404);
    error_of(&api.post(&messages_path(&token, 7), &json!({"body": "x"})).await, 404);
    error_of(&api.delete(&format!("{messages}/5")).await, 404);
    error_of(&api.patch(&format!("{messages}/5"), &json!({"body": "x"})).await, 404);

    // 422: empty or oversized values, bad pages and queries.
    for body in
        [json!({"body": ""}), json!({"body": "   "}), json!({"body": "x".repeat(4_001)}), json!({"body": "a\u{0}b"})]
    {
        error_of(&api.post(&messages, &body).await, 422);
    }
    error_of(&api.patch(&format!("{messages}/1"), &json!({"body": ""})).await, 422);
    error_of(&api.post(&messages, &json!({"text": "wrong field"})).await, 422);
    error_of(&api.post("/api/v1/applications", &json!({"name": ""})).await, 422);
    error_of(&api.post("/api/v1/applications", &json!({"name": "x".repeat(201)})).await, 422);
    let huge = json!({"body": "x".repeat(3_000_000)}).to_string();
    error_of(&http::post(api.addr, &messages, &huge).await, 422);
    for query in [
        "",
        "?q=",
        "?q=%20%20",
        "?q=a",
        &format!("?q={}", "x".repeat(201)),
        "?q=pre&per_page=0",
        "?q=pre&page=0",
        "?q=pre&page=101&per_page=100",
    ] {
        error_of(&api.get(&format!("{messages}/search{query}")).await, 422);
    }
    error_of(&api.get(&format!("{messages}?per_page=101")).await, 422);

    // 400: malformed JSON or query string.
    error_of(&http::post(api.addr, &messages, "{\"body\": ").await, 400);
    error_of(&http::post(api.addr, "/api/v1/applications", "not json").await, 400);
    error_of(&api.get(&format!("{messages}?page=abc")).await, 400);

    // 405 for a known path with another method, still JSON.
    error_of(&api.delete("/api/v1/applications").await, 405);

    // Nothing above changed the data.
    assert_eq!(api.get(&messages).await.json(), json!([{"number": 1, "body": "present"}]));
    assert_eq!(api.message(&token, chat, "next").await, 2, "failed creations used no number");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_and_the_docs_page_are_served() {
    let db = Db::create().await;
    let dir = tempfile::tempdir().expect("data dir");
    let api = Server::start(&db.pool, dir.path()).await;
    let document = api.get("/api-docs/openapi.json").await;
    assert_status(&document, 200);
    let document = document.json();
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with('3')), "{document}");
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/api/v1/applications/{token}/chats/{number}/messages/search"));
    assert!(paths["/api/v1/applications"]["post"]["responses"]["201"].is_object());
    let page = api.get("/api-docs").await;
    assert_status(&page, 200);
    assert!(page.header("content-type").is_some_and(|v| v.starts_with("text/html")));
    assert!(page.body.contains("/api/v1/applications/{token}/chats/{number}/messages/search"));
    assert!(!page.body.contains("<script") && !page.body.contains("http://") && !page.body.contains("https://"));
    api.stop().await;
}

/// An index processor that always fails, standing in for a broken index.
struct BrokenIndex;

impl db_listenable::runtime::BatchProcessor<chats::model::Message> for BrokenIndex {
    async fn process_batch(
        &self,
        _ctx: &db_listenable::runtime::Context<'_>,
        _changes: &[db_listenable::runtime::Change<chats::model::Message>],
    ) -> Result<(), db_listenable::runtime::ProcessError> {
        Err("the index is broken".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_index_neither_blocks_nor_repeats_the_counters() {
    use db_listenable::runtime::{RuntimeBuilder, SubscribeOptions};
    let db = Db::create().await;
    let runtime = RuntimeBuilder::new(db.pool.clone())
        .config(server::config())
        .batch_processor_with::<chats::model::Chat, _>(
            chats::counters::CHATS_COUNT,
            chats::counters::ChatsCount,
            SubscribeOptions::unordered(),
        )
        .batch_processor_with::<chats::model::Message, _>(
            chats::counters::MESSAGES_COUNT,
            chats::counters::MessagesCount,
            SubscribeOptions::unordered(),
        )
        .batch_processor_with::<chats::model::Message, _>(
            "search_index:broken",
            BrokenIndex,
            SubscribeOptions::unordered(),
        )
        .start()
        .await
        .expect("runtime");
    let token = chats::tokens::generate();
    sqlx::query("INSERT INTO applications (token, name) VALUES ($1, 'broken index')")
        .bind(&token)
        .execute(&db.pool)
        .await
        .expect("application");
    let chat = chats::numbers::create_chat(&db.pool, &token).await.expect("chat").expect("number");
    for i in 0..5 {
        chats::numbers::create_message(&db.pool, &token, chat, &format!("m{i}")).await.expect("message");
    }
    eventually("messages_count 5 despite the failing index", || async {
        let count: i64 =
            sqlx::query_scalar("SELECT messages_count FROM chats").fetch_one(&db.pool).await.expect("count");
        (count == 5).then_some(())
    })
    .await;
    // Counted from the database, the counter can be right before its last change is
    // processed: wait for all five, and for the index to have failed meanwhile.
    let stats = eventually("five counted changes and a failed index", || async {
        let stats = runtime.stats().await.expect("stats");
        let of = |name: &str| stats.subscribers.iter().find(|s| s.name == name).cloned().unwrap_or_default();
        (of("messages_count").processed_here == 5 && of("search_index:broken").failed_here > 0).then_some(stats)
    })
    .await;
    let counter = stats.subscribers.iter().find(|s| s.name == "messages_count").expect("counter stats");
    assert_eq!(counter.failed_here, 0, "the counter never failed nor retried");
    runtime.shutdown().await;
}
