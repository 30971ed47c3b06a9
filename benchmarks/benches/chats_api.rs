//! The chats example's HTTP API under load: message creation and search.
//!
//! One chats server instance runs in this process (axum on 127.0.0.1, its processors:
//! the two counters and its own tantivy index), on a fresh database of a private
//! PostgreSQL cluster (`BENCH_DURABILITY`, durable by default), with a pool of
//! `recommended_connections + 64 + 8` connections (room for every HTTP connection's
//! handler besides the runtime's own). The load comes from `oha` in another process, 64
//! keep-alive connections, each sending its next request when the previous one is
//! answered (closed loop), for a fixed duration; requests in flight at the deadline are
//! waited for (`-w`), so every request the server handled is in the figures.
//!
//! - **Message creation**: one application with 100 chats (numbered 100 to 199, so that
//!   `oha --rand-regex-url` spreads requests evenly with `1[0-9]{2}`), then `POST
//!   .../messages` with a JSON body (a) all to one hot chat (every request queues on the
//!   chat's row lock, which hands out the gapless numbers), (b) spread over the 100 chats.
//!   Reported: successful (2xx) requests/s, p50 / p99 / max latency, non-2xx responses
//!   and connection errors (both must be 0: printed loudly otherwise). Then, checked in
//!   the database: the messages created equal the 2xx responses, and every chat's numbers
//!   are 1..n without a gap. Measured from the moment `oha` exits: how long
//!   `messages_count` takes to equal the rows, and the instance's index subscriber to
//!   have no backlog (the lag behind the load).
//! - **Search**: `CHATS_BENCH_MESSAGES` messages (default 100,000) of 4 to 16 words drawn
//!   from a fixed word list by a seeded generator, inserted by SQL into one new chat (the
//!   capture triggers feed the index like any writer), in statements of 5,000 rows.
//!   Reported: the insert time, then how long the index takes to catch up (its
//!   subscriber's backlog, and the journal's unrouted entries, down to zero) after the
//!   last commit, checked against the index's document count. A known query is checked
//!   to return hits that contain it, then `oha` sends `GET .../messages/search?q=` (first
//!   page, 20 hits) with queries drawn by `--rand-regex-url` from words, prefixes,
//!   infixes and word pairs. Reported: queries/s, p50 / p99 / max.
//!
//! `oha` is looked for in `OHA`, then `PATH`, then `target/bench-tools/bin/oha` of the
//! workspace (`cargo install oha --locked --root target/bench-tools`, as
//! `benchmarks/run.sh` does). Without it the HTTP loads are skipped with a notice (the
//! index catch-up is still measured).
//!
//! `cargo bench -p benchmarks --bench chats_api`. Knobs: `CHATS_BENCH_SECONDS` (per
//! load, default 10; `BENCH_QUICK=1`: 2), `CHATS_BENCH_MESSAGES` (default 100,000;
//! `BENCH_QUICK=1`: 10,000), `OHA` (the `oha` binary), `BENCH_DURABILITY=ephemeral`.
//! Prints tables; not a test. The load tool shares the machine with the server and the
//! database: the figures are the whole system's on this machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benchmarks::knobs;
use benchmarks::stats::{median, thousands};
use chats::search::SearchIndex;
use db_listenable::runtime::{load_stats, recommended_connections};
use pg_harness::{Cluster, TestDb};
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Concurrent HTTP connections of every load.
const CONNECTIONS: u32 = 64;

/// Chats of the creation load; numbered from [`FIRST_CHAT`].
const CHATS: i64 = 100;

/// The first chat's number: 100 to 199 is `1[0-9]{2}` for `--rand-regex-url`.
const FIRST_CHAT: i64 = 100;

/// Rows per `INSERT` of the search corpus.
const INSERT_CHUNK: usize = 5_000;

/// How long counters and the index may take to catch up before the bench gives up.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(900);

/// How often catch-up is probed.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// The body of every created message.
const MESSAGE_BODY: &str = r#"{"body":"Hello from the load test: are the counters keeping up?"}"#;

/// The words messages are made of (a message holds 4 to 16 of them, uniformly drawn).
const WORDS: &[&str] = &[
    "account", "address", "answer", "apple", "balance", "banana", "billing", "bridge", "broken", "budget", "button",
    "cancel", "candle", "castle", "change", "channel", "charge", "cherry", "client", "cloud", "coffee", "color",
    "column", "corner", "credit", "customer", "damage", "danger", "deliver", "desert", "design", "dinner", "doctor",
    "dollar", "driver", "engine", "error", "evening", "failure", "family", "feature", "finger", "flower", "forest",
    "friday", "garden", "ginger", "golden", "guitar", "hammer", "harbor", "hello", "helmet", "holiday", "invoice",
    "island", "jacket", "jungle", "kettle", "kitchen", "ladder", "lemon", "letter", "market", "meeting", "mirror",
    "monday", "mountain", "network", "number", "orange", "order", "package", "palace", "parcel", "payment", "pencil",
    "pepper", "picture", "planet", "please", "pocket", "printer", "problem", "refund", "report", "rocket", "saturday",
    "server", "shipping", "silver", "socket", "spring", "status", "summer", "sunday", "support", "system", "thanks",
    "ticket", "timber", "tomato", "travel", "tuesday", "update", "urgent", "velvet", "window", "winter", "wonder",
];

/// What the search load asks for: whole words, prefixes, infixes and word pairs
/// (`%20` is a space).
const QUERIES: &[&str] = &[
    "hello",
    "invoice",
    "payment",
    "refund",
    "mountain",
    "customer",
    "support",
    "kitchen",
    "hel",
    "pay",
    "cust",
    "mount",
    "ship",
    "win",
    "sum",
    "ord",
    "oice",
    "ndow",
    "tick",
    "arden",
    "hello%20world",
    "refund%20invoice",
    "ship%20order",
    "urgent%20ticket",
];

/// The query checked for hits before the search load.
const KNOWN_QUERY: &str = "invoice";

#[tokio::main]
async fn main() {
    let seconds = knobs::number("CHATS_BENCH_SECONDS", 10, 2).max(1);
    let messages = knobs::number("CHATS_BENCH_MESSAGES", 100_000, 10_000).max(1);
    let durability = knobs::durability();
    let oha = find_oha();

    let settings = pg_harness::Settings::from_env();
    let cluster = Arc::new(Cluster::start_temporary_with(&settings, durability).expect("a private PostgreSQL cluster"));
    let db = TestDb::create_in(Arc::clone(&cluster)).await.expect("a fresh database");
    let config = chats::server::runtime_config();
    let server_connections = recommended_connections(&config) + CONNECTIONS + 8;
    let pool = PgPoolOptions::new().max_connections(server_connections).connect(db.url()).await.expect("connect");
    chats::migrate(&pool).await.expect("migrate");
    // The bench's own statements (setup, checks, probes) have their own connections.
    let own = PgPoolOptions::new().max_connections(4).connect(db.url()).await.expect("connect");

    let data_dir = TempDir::new("chats-api-bench");
    let instance = chats::server::Instance::start(&pool, data_dir.path(), config.clone())
        .await
        .expect("the chats instance starts");
    let index = Arc::clone(instance.index());
    let index_subscriber = chats::instance::search_subscriber(instance.id());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(instance.serve(listener, async {
        let _ = stopped.await;
    }));

    println!(
        "chats API: {durability:?} cluster, server pool {server_connections} connections, runtime {} workers, \
         batch {}, poll {} ms; {CONNECTIONS} HTTP/1.1 keep-alive connections for {seconds} s per load",
        config.get_workers(),
        config.get_batch_size(),
        config.get_poll_interval().as_millis()
    );
    match &oha {
        Some(oha) => println!("load tool: {} ({})", oha_version(oha).await, oha.display()),
        None => println!(
            "NOTICE: oha not found (OHA, PATH, {}): the HTTP loads are skipped. Install it with \
             `cargo install oha --locked --root target/bench-tools`.",
            bench_tools_oha().display()
        ),
    }

    let ctx = Ctx { addr, own: own.clone(), index_subscriber, seconds };
    let token = setup_chats(&ctx).await;
    if let Some(oha) = &oha {
        creation(&ctx, oha, &token).await;
    }
    search(&ctx, oha.as_deref(), &token, &index, messages).await;

    let _ = stop.send(());
    serving.await.expect("the server task").expect("the server");
    own.close().await;
    pool.close().await;
}

/// What every part needs.
struct Ctx {
    /// Where the API listens.
    addr: SocketAddr,
    /// The bench's own connections.
    own: PgPool,
    /// The subscriber name of the instance's index.
    index_subscriber: String,
    /// Seconds per load.
    seconds: u64,
}

/// Creates the application and its [`CHATS`] chats through the API; the token.
async fn setup_chats(ctx: &Ctx) -> String {
    let created = http(ctx.addr, "POST", "/api/v1/applications", Some(r#"{"name":"bench"}"#)).await;
    assert_eq!(created.0, 201, "create the application: {}", created.1);
    let token = json(&created.1)["token"].as_str().expect("a token").to_owned();
    // Chats are numbered from FIRST_CHAT (see there).
    sqlx::query("UPDATE applications SET last_chat_number = $2 WHERE token = $1")
        .bind(&token)
        .bind(FIRST_CHAT - 1)
        .execute(&ctx.own)
        .await
        .expect("skip chat numbers");
    for expected in FIRST_CHAT..FIRST_CHAT + CHATS {
        let chat = http(ctx.addr, "POST", &format!("/api/v1/applications/{token}/chats"), Some("")).await;
        assert_eq!(chat.0, 201, "create a chat: {}", chat.1);
        assert_eq!(json(&chat.1)["number"].as_i64(), Some(expected), "chat numbers");
    }
    token
}

// ---------------------------------------------------------------------------------------
// Part 1: message creation.

/// Runs both creation loads and prints their table.
async fn creation(ctx: &Ctx, oha: &Path, token: &str) {
    let base = format!("http://{}/api/v1/applications/{token}/chats", ctx.addr);
    let hot = format!("{base}/{FIRST_CHAT}/messages");
    let spread = format!("{base}/1[0-9]{{2}}/messages");
    let post = ["-m", "POST", "-H", "Content-Type: application/json", "-d", MESSAGE_BODY];
    let mut rows = Vec::new();
    for (label, url, regex) in [("one hot chat", &hot, false), ("100 chats", &spread, true)] {
        println!();
        println!("message creation, {label}: {}", oha_command(ctx, &post, url, regex));
        let before = app_messages(ctx, token).await;
        let run = run_oha(ctx, oha, &post, url, regex).await;
        let stopped = Instant::now();
        let lag = catch_up(ctx, token, stopped).await;
        let created = app_messages(ctx, token).await - before;
        let gaps = chats_with_gaps(ctx, token).await;
        report_failures(label, &run);
        if created != i64::try_from(run.ok).expect("fits") {
            println!("!!! {label}: {created} messages were created for {} 2xx responses", run.ok);
        }
        if gaps != 0 {
            println!("!!! {label}: {gaps} chats have gaps or duplicates in their message numbers");
        }
        rows.push((label, run, created, gaps, lag));
    }
    println!();
    println!(
        "{:<13} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>9} {:>9} {:>12} {:>12}",
        "POST messages",
        "2xx",
        "2xx/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "non-2xx",
        "errors",
        "created",
        "gapless",
        "counters ms",
        "index ms"
    );
    for (label, run, created, gaps, lag) in &rows {
        println!(
            "{:<13} {:>8} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>7} {:>9} {:>9} {:>12} {:>12}",
            label,
            thousands(run.ok as f64),
            thousands(run.ok_per_second()),
            run.p50_ms,
            run.p99_ms,
            run.max_ms,
            run.not_ok,
            run.errors,
            if *created == i64::try_from(run.ok).expect("fits") { "= 2xx".to_owned() } else { created.to_string() },
            if *gaps == 0 { "yes" } else { "NO" },
            lag.counters.map_or("timeout".into(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0)),
            lag.index.map_or("timeout".into(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0)),
        );
    }
    for (label, _, _, _, lag) in &rows {
        println!(
            "{label}: when the load stopped, {} messages were not yet counted and the index subscriber had \
             {} deliveries waiting",
            thousands(lag.uncounted_at_stop as f64),
            thousands(lag.index_backlog_at_stop as f64)
        );
    }
    println!(
        "counters ms / index ms: from oha's exit until every messages_count equals its rows / the index \
         subscriber has no backlog (probed every {} ms)",
        PROBE_EVERY.as_millis()
    );
}

/// The application's messages.
async fn app_messages(ctx: &Ctx, token: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN chats c ON c.id = m.chat_id JOIN applications a ON a.id = c.application_id
         WHERE a.token = $1",
    )
    .bind(token)
    .fetch_one(&ctx.own)
    .await
    .expect("count messages")
}

/// The application's chats whose messages are not numbered 1..n exactly (n = the last
/// number handed out). Numbers are unique per chat and positive, so count = max = n
/// means gapless.
async fn chats_with_gaps(ctx: &Ctx, token: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT c.last_message_number AS last, count(m.id) AS n, coalesce(max(m.number), 0) AS top
             FROM chats c JOIN applications a ON a.id = c.application_id
             LEFT JOIN messages m ON m.chat_id = c.id
             WHERE a.token = $1 GROUP BY c.id
         ) s WHERE n <> last OR top <> last",
    )
    .bind(token)
    .fetch_one(&ctx.own)
    .await
    .expect("check numbers")
}

/// How far the processors were behind when a load stopped, and how long they took.
struct Lag {
    /// Until every counter of the application equals its rows (`None`: deadline).
    counters: Option<Duration>,
    /// Until the index subscriber has no backlog (`None`: deadline).
    index: Option<Duration>,
    /// Messages not yet in their chat's counter at the first probe.
    uncounted_at_stop: i64,
    /// The index subscriber's backlog at the first probe.
    index_backlog_at_stop: i64,
}

/// Probes the counters and the index backlog from `since` until both caught up.
async fn catch_up(ctx: &Ctx, token: &str, since: Instant) -> Lag {
    let mut lag = Lag { counters: None, index: None, uncounted_at_stop: -1, index_backlog_at_stop: -1 };
    while since.elapsed() < CATCH_UP_DEADLINE {
        if lag.counters.is_none() {
            let uncounted = uncounted(ctx, token).await;
            if lag.uncounted_at_stop < 0 {
                lag.uncounted_at_stop = uncounted;
            }
            if uncounted == 0 {
                lag.counters = Some(since.elapsed());
            }
        }
        if lag.index.is_none() {
            let backlog = index_backlog(ctx).await;
            if lag.index_backlog_at_stop < 0 {
                lag.index_backlog_at_stop = backlog;
            }
            if backlog == 0 {
                lag.index = Some(since.elapsed());
            }
        }
        if lag.counters.is_some() && lag.index.is_some() {
            break;
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    lag
}

/// Messages of the application that their chat's `messages_count` does not count yet.
async fn uncounted(ctx: &Ctx, token: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(abs((SELECT count(*) FROM messages m WHERE m.chat_id = c.id) - c.messages_count)), 0)::bigint
         FROM chats c JOIN applications a ON a.id = c.application_id WHERE a.token = $1",
    )
    .bind(token)
    .fetch_one(&ctx.own)
    .await
    .expect("compare counters")
}

/// The index subscriber's deliveries not yet done (pending, in flight, retrying), plus
/// the journal's entries not yet routed (they would reach it).
async fn index_backlog(ctx: &Ctx) -> i64 {
    let backlog = backlogs(ctx).await;
    backlog.unrouted + backlog.index
}

/// Work not yet done by the runtime.
struct Backlog {
    /// Journal entries not yet routed to the subscribers.
    unrouted: i64,
    /// The index subscriber's deliveries not yet done (pending, in flight, retrying).
    index: i64,
    /// The `messages_count` subscriber's, likewise.
    counter: i64,
}

/// The runtime's backlog, from its tables.
async fn backlogs(ctx: &Ctx) -> Backlog {
    let stats = load_stats(&ctx.own).await.expect("runtime stats");
    let of = |name: &str| {
        let subscriber = stats.subscribers.iter().find(|s| s.name == name).expect("the subscriber");
        assert_eq!(subscriber.dead, 0, "subscriber {name} has dead letters");
        subscriber.pending + subscriber.in_flight + subscriber.retrying
    };
    Backlog { unrouted: stats.unrouted, index: of(&ctx.index_subscriber), counter: of(chats::counters::MESSAGES_COUNT) }
}

// ---------------------------------------------------------------------------------------
// Part 2: search.

/// Inserts the corpus, times the index's catch-up, checks a query, runs the search load.
async fn search(ctx: &Ctx, oha: Option<&Path>, token: &str, index: &Arc<SearchIndex>, messages: u64) {
    let chat = http(ctx.addr, "POST", &format!("/api/v1/applications/{token}/chats"), Some("")).await;
    assert_eq!(chat.0, 201, "create the search chat: {}", chat.1);
    let chat = json(&chat.1)["number"].as_i64().expect("a chat number");
    let chat_id: i64 = sqlx::query_scalar(
        "SELECT c.id FROM chats c JOIN applications a ON a.id = c.application_id WHERE a.token = $1 AND c.number = $2",
    )
    .bind(token)
    .bind(chat)
    .fetch_one(&ctx.own)
    .await
    .expect("the chat id");

    println!();
    println!(
        "search corpus: {} messages of 4 to 16 words from {} words (seeded), into one chat, by SQL in \
         statements of {}",
        thousands(messages as f64),
        WORDS.len(),
        thousands(INSERT_CHUNK as f64)
    );
    let mut rng = SplitMix64(0x5eed_c4a7_5bec_0001);
    let started = Instant::now();
    let mut left = usize::try_from(messages).expect("fits");
    while left > 0 {
        let n = left.min(INSERT_CHUNK);
        let bodies: Vec<String> = (0..n).map(|_| body(&mut rng)).collect();
        sqlx::query(
            "WITH c AS (
                 UPDATE chats SET last_message_number = last_message_number + cardinality($2::text[])
                 WHERE id = $1 RETURNING last_message_number - cardinality($2::text[]) AS base
             )
             INSERT INTO messages (chat_id, number, body)
             SELECT $1, c.base + t.ord, t.body FROM c, unnest($2::text[]) WITH ORDINALITY AS t(body, ord)",
        )
        .bind(chat_id)
        .bind(&bodies)
        .execute(&ctx.own)
        .await
        .expect("insert messages");
        left -= n;
    }
    let inserted = started.elapsed();
    let committed = Instant::now();
    // When the journal was routed, the counter and the index had no backlog left.
    let (mut routed, mut counted, mut caught_up) = (None, None, None);
    let mut last_note = Instant::now();
    while committed.elapsed() < CATCH_UP_DEADLINE {
        let backlog = backlogs(ctx).await;
        let now = committed.elapsed();
        if backlog.unrouted == 0 {
            routed.get_or_insert(now);
            if backlog.counter == 0 {
                counted.get_or_insert(now);
            }
            if backlog.index == 0 {
                caught_up.get_or_insert(now);
            }
        }
        if caught_up.is_some() && counted.is_some() {
            break;
        }
        if last_note.elapsed() > Duration::from_secs(10) {
            println!(
                "  ... after {:.0} s: {} unrouted, {} index deliveries, {} counter deliveries to go",
                now.as_secs_f64(),
                thousands(backlog.unrouted as f64),
                thousands(backlog.index as f64),
                thousands(backlog.counter as f64),
            );
            last_note = Instant::now();
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    let documents = {
        let index = Arc::clone(index);
        tokio::task::spawn_blocking(move || index.documents().expect("read the index").len())
            .await
            .expect("the count task")
    };
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM messages").fetch_one(&ctx.own).await.expect("count");
    println!("{:<34} {:>10} {:>14}", "index catch-up", "seconds", "messages/s");
    println!(
        "{:<34} {:>10.2} {:>14}",
        "insert (SQL, commits)",
        inserted.as_secs_f64(),
        thousands(messages as f64 / inserted.as_secs_f64())
    );
    match caught_up {
        Some(after) => {
            println!("{:<34} {:>10.2} {:>14}", "index backlog 0 after last commit", after.as_secs_f64(), "");
            println!(
                "{:<34} {:>10.2} {:>14}",
                "insert start -> index caught up",
                (inserted + after).as_secs_f64(),
                thousands(messages as f64 / (inserted + after).as_secs_f64())
            );
        }
        None => println!("!!! the index did not catch up within {} s", CATCH_UP_DEADLINE.as_secs()),
    }
    for (what, after) in [("  of which: journal routed after", routed), ("  messages_count caught up after", counted)] {
        if let Some(after) = after {
            println!("{:<34} {:>10.2} {:>14}", what, after.as_secs_f64(), "");
        }
    }
    let documents = i64::try_from(documents).expect("fits");
    if documents == rows {
        println!("index documents = database messages = {}", thousands(rows as f64));
    } else {
        println!("!!! the index holds {documents} documents for {rows} messages in the database");
    }

    // What one batch (of the default 100 changes) costs each processor now, with the
    // chat this large: the runtime's workers serve the subscribers in turn, so the
    // slower one paces the catch-up of both.
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM messages WHERE chat_id = $1 ORDER BY id DESC LIMIT 100")
        .bind(chat_id)
        .fetch_all(&ctx.own)
        .await
        .expect("message ids");
    let (mut recounts, mut refreshes) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let started = Instant::now();
        chats::counters::recount_messages(&ctx.own, &[chat_id]).await.expect("recount");
        recounts.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        index.refresh_messages(&ctx.own, &ids).await.expect("refresh");
        refreshes.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "one batch of 100 changes, median of 5: messages_count recount of this chat {:.1} ms, index refresh \
         (read, write, commit, reload) {:.1} ms",
        median(&recounts),
        median(&refreshes)
    );

    // A known query finds messages that contain it, as many as the database has (up to
    // a page of 100).
    let path = format!("/api/v1/applications/{token}/chats/{chat}/messages/search?q={KNOWN_QUERY}&per_page=100");
    let found = http(ctx.addr, "GET", &path, None).await;
    assert_eq!(found.0, 200, "search: {}", found.1);
    let hits = json(&found.1).as_array().expect("an array of hits").clone();
    let expected: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE chat_id = $1 AND body ILIKE $2")
        .bind(chat_id)
        .bind(format!("%{KNOWN_QUERY}%"))
        .fetch_one(&ctx.own)
        .await
        .expect("count matches");
    let all_match =
        hits.iter().all(|hit| hit["body"].as_str().is_some_and(|body| body.to_lowercase().contains(KNOWN_QUERY)));
    let sane = !hits.is_empty() && all_match && i64::try_from(hits.len()).expect("fits") == expected.min(100);
    println!(
        "sanity: q={KNOWN_QUERY} returns {} hits on its first page of 100 ({} messages contain it){}",
        hits.len(),
        thousands(expected as f64),
        if sane { ", each containing it" } else { " !!! WRONG" }
    );

    let Some(oha) = oha else {
        println!("NOTICE: oha not found: the search load is skipped");
        return;
    };
    let url = format!(
        "http://{}/api/v1/applications/{token}/chats/{chat}/messages/search\\?q=({})",
        ctx.addr,
        QUERIES.join("|")
    );
    println!();
    println!("search load: {}", oha_command(ctx, &[], &url, true));
    let run = run_oha(ctx, oha, &[], &url, true).await;
    report_failures("search", &run);
    println!(
        "{:<13} {:>10} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>11}",
        "GET search", "2xx", "2xx/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "errors", "bytes/resp"
    );
    println!(
        "{:<13} {:>10} {:>10} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>7} {:>11}",
        format!("{} msgs", thousands(messages as f64)),
        thousands(run.ok as f64),
        thousands(run.ok_per_second()),
        run.p50_ms,
        run.p99_ms,
        run.max_ms,
        run.not_ok,
        run.errors,
        run.bytes_per_response.map_or("-".into(), |b| thousands(b as f64)),
    );
    println!("queries (uniformly drawn, first page of 20 hits by number): {}", QUERIES.join(" ").replace("%20", "+"));
}

/// A message body: 4 to 16 words from [`WORDS`], the first capitalised.
fn body(rng: &mut SplitMix64) -> String {
    let words = 4 + rng.below(13);
    let mut text = String::new();
    for i in 0..words {
        let word = WORDS[rng.below(WORDS.len())];
        if i == 0 {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                text.extend(first.to_uppercase());
                text.push_str(chars.as_str());
            }
        } else {
            text.push(' ');
            text.push_str(word);
        }
    }
    text
}

/// A small seeded generator (SplitMix64): the corpus is the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is negligible for small `n`).
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("fits")).expect("fits")
    }
}

// ---------------------------------------------------------------------------------------
// oha.

/// The figures of one `oha` run.
struct OhaRun {
    /// 2xx responses.
    ok: u64,
    /// Other responses, by status.
    not_ok: u64,
    /// Requests without a response (connection errors), by message.
    errors: u64,
    /// The statuses and errors that were not 2xx, for the report.
    failures: Vec<(String, u64)>,
    /// The run's duration, seconds.
    seconds: f64,
    /// Latency percentiles over every response, ms.
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Average response body size.
    bytes_per_response: Option<u64>,
}

impl OhaRun {
    fn ok_per_second(&self) -> f64 {
        self.ok as f64 / self.seconds.max(1e-9)
    }
}

/// The arguments of a load: method, headers and body (`extra`), then the common flags.
fn oha_args(ctx: &Ctx, extra: &[&str], url: &str, regex: bool) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--no-tui".into(),
        "--output-format".into(),
        "json".into(),
        "-c".into(),
        CONNECTIONS.to_string(),
        "-z".into(),
        format!("{}s", ctx.seconds),
        "-w".into(),
    ];
    if regex {
        args.push("--rand-regex-url".into());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push(url.to_owned());
    args
}

/// The command line of a load, for the report.
fn oha_command(ctx: &Ctx, extra: &[&str], url: &str, regex: bool) -> String {
    let quoted: Vec<String> = oha_args(ctx, extra, url, regex)
        .into_iter()
        .map(|arg| if arg.contains([' ', '{', '"', '|', '?', '(', '[', '\\']) { format!("'{arg}'") } else { arg })
        .collect();
    format!("oha {}", quoted.join(" "))
}

/// Runs `oha` and reads its JSON summary.
async fn run_oha(ctx: &Ctx, oha: &Path, extra: &[&str], url: &str, regex: bool) -> OhaRun {
    let output = tokio::process::Command::new(oha)
        .args(oha_args(ctx, extra, url, regex))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run oha");
    assert!(output.status.success(), "oha failed: {}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("oha's output is not JSON ({error}): {}", String::from_utf8_lossy(&output.stdout))
    });
    let mut run = OhaRun {
        ok: 0,
        not_ok: 0,
        errors: 0,
        failures: Vec::new(),
        seconds: summary["summary"]["total"].as_f64().unwrap_or(f64::NAN),
        p50_ms: latency_ms(&summary, "p50"),
        p99_ms: latency_ms(&summary, "p99"),
        max_ms: latency_ms(&summary, "max"),
        bytes_per_response: summary["summary"]["sizePerRequest"].as_u64(),
    };
    for (status, count) in summary["statusCodeDistribution"].as_object().into_iter().flatten() {
        let count = count.as_u64().unwrap_or_default();
        if status.starts_with('2') {
            run.ok += count;
        } else {
            run.not_ok += count;
            run.failures.push((format!("status {status}"), count));
        }
    }
    for (error, count) in summary["errorDistribution"].as_object().into_iter().flatten() {
        let count = count.as_u64().unwrap_or_default();
        run.errors += count;
        run.failures.push((error.clone(), count));
    }
    run
}

/// A latency figure of oha's JSON summary in ms: `metrics.latency_ms` (oha 1.16), else
/// the older `latencyPercentiles` / `summary.slowest` (seconds).
fn latency_ms(summary: &Value, key: &str) -> f64 {
    let seconds = match key {
        "max" => &summary["summary"]["slowest"],
        _ => &summary["latencyPercentiles"][key],
    };
    summary["metrics"]["latency_ms"][key].as_f64().or_else(|| seconds.as_f64().map(|s| s * 1000.0)).unwrap_or(f64::NAN)
}

/// Prints a run's non-2xx responses and errors loudly.
fn report_failures(label: &str, run: &OhaRun) {
    if run.failures.is_empty() {
        return;
    }
    println!("!!! {label}: {} non-2xx responses and {} errors:", run.not_ok, run.errors);
    for (what, count) in &run.failures {
        println!("!!!   {count} x {what}");
    }
}

/// `oha` from `OHA`, `PATH` or the workspace's `target/bench-tools/bin`.
fn find_oha() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OHA").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Some(path);
        }
        println!("NOTICE: OHA={} is not a file", path.display());
    }
    let in_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("oha")).find(|p| p.is_file()));
    in_path.or_else(|| Some(bench_tools_oha()).filter(|p| p.is_file()))
}

/// `target/bench-tools/bin/oha` of the workspace.
fn bench_tools_oha() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-tools/bin/oha")
}

/// `oha --version`'s answer.
async fn oha_version(oha: &Path) -> String {
    match tokio::process::Command::new(oha).arg("--version").output().await {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(error) => format!("oha (version unknown: {error})"),
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers.

/// One HTTP/1.1 request on its own connection (`Connection: close`): status and body.
/// For the setup and checks only; the loads are `oha`'s.
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect to the server");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        if let Some(body) = body {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        head.push_str(body.unwrap_or_default());
        stream.write_all(head.as_bytes()).await.expect("send the request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read the response");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
        (status, body.to_owned())
    };
    tokio::time::timeout(Duration::from_secs(60), exchange).await.expect("an answer within 60 s")
}

/// `text` as JSON.
fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
