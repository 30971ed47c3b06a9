//! A chats server instance on an ephemeral port, in-process, on a test database.

use std::future::Future;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chats::server::Instance;
use db_listenable::runtime::{RuntimeConfig, Stats};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::http;

/// How long processors get before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Quick polling and retries, so tests wait little.
pub fn config() -> RuntimeConfig {
    RuntimeConfig::default().poll_interval(Duration::from_millis(100)).initial_backoff(Duration::from_millis(100))
}

/// A migrated test database.
pub struct Db {
    /// Connections for the test's own SQL.
    pub pool: PgPool,
    /// Keeps the database until the test ends.
    _db: pg_harness::TestDb,
}

impl Db {
    /// A fresh database with the migrations applied.
    pub async fn create() -> Db {
        let db = pg_harness::TestDb::create().await.expect("test database");
        let pool = chats::database::connect(db.url()).await.expect("connect");
        chats::migrate(&pool).await.expect("migrate");
        Db { pool, _db: db }
    }
}

/// A serving instance.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its instance id.
    pub id: String,
    stop: oneshot::Sender<()>,
    stats: mpsc::Sender<oneshot::Sender<Stats>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts an instance on `data_dir` and serves it on 127.0.0.1:0.
    pub async fn start(pool: &PgPool, data_dir: &Path) -> Server {
        let instance = Instance::start(pool, data_dir, config()).await.expect("instance starts");
        let id = instance.id().to_owned();
        let socket = chats::server::listen(([127, 0, 0, 1], 0).into()).expect("bind");
        let addr = socket.local_addr().expect("address");
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (stats, mut stats_requests) = mpsc::channel::<oneshot::Sender<Stats>>(4);
        let task = tokio::spawn(async move {
            let (end_http, http_ended) = oneshot::channel::<()>();
            let serving = tokio::spawn(
                axum::serve(socket, instance.router())
                    .with_graceful_shutdown(async {
                        let _ = http_ended.await;
                    })
                    .into_future(),
            );
            // Answers stats requests (this runtime's own rates) until told to stop, or
            // until the test drops the server.
            loop {
                tokio::select! {
                    Some(reply) = stats_requests.recv() => {
                        let _ = reply.send(instance.runtime().stats().await.expect("runtime stats"));
                    }
                    _ = &mut stopped => break,
                }
            }
            let _ = end_http.send(());
            let served = serving.await.expect("the HTTP task");
            instance.shutdown().await;
            served
        });
        Server { addr, data_dir: data_dir.to_owned(), id, stop, stats, task }
    }

    /// This instance's runtime stats (with what it processed itself).
    pub async fn stats(&self) -> Stats {
        let (reply, answer) = oneshot::channel();
        self.stats.send(reply).await.expect("the server is running");
        answer.await.expect("stats answer")
    }

    /// Stops serving, then stops the processors.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("the server stops")
            .expect("the server task")
            .expect("the server");
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> http::Response {
        http::get(self.addr, path).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> http::Response {
        http::post(self.addr, path, &body.to_string()).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> http::Response {
        http::patch(self.addr, path, &body.to_string()).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> http::Response {
        http::delete(self.addr, path).await
    }

    /// Creates an application; its token.
    pub async fn application(&self, name: &str) -> String {
        let created = self.post("/api/v1/applications", &json!({ "name": name })).await;
        assert_status(&created, 201);
        created.json()["token"].as_str().expect("token").to_owned()
    }

    /// Creates a chat; its number.
    pub async fn chat(&self, token: &str) -> i64 {
        let created = http::post(self.addr, &format!("/api/v1/applications/{token}/chats"), "").await;
        assert_status(&created, 201);
        created.json()["number"].as_i64().expect("number")
    }

    /// Creates a message; its number.
    pub async fn message(&self, token: &str, chat: i64, body: &str) -> i64 {
        let created = self.post(&messages_path(token, chat), &json!({ "body": body })).await;
        assert_status(&created, 201);
        created.json()["number"].as_i64().expect("number")
    }

    /// The numbers of the messages of the chat that a search finds (first 100).
    pub async fn search(&self, token: &str, chat: i64, q: &str) -> Vec<i64> {
        let found = self.get(&format!("{}/search?q={q}&per_page=100", messages_path(token, chat))).await;
        assert_status(&found, 200);
        let mut numbers: Vec<i64> =
            found.json().as_array().expect("array").iter().map(|m| m["number"].as_i64().expect("number")).collect();
        numbers.sort_unstable();
        numbers
    }
}

/// `/api/v1/applications/{token}/chats/{chat}/messages`.
pub fn messages_path(token: &str, chat: i64) -> String {
    format!("/api/v1/applications/{token}/chats/{chat}/messages")
}

/// Asserts a response's status, showing its body otherwise.
pub fn assert_status(response: &http::Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.body);
}

/// The `error` field of an error response, checking its status.
pub fn error_of(response: &http::Response, status: u16) -> String {
    assert_status(response, status);
    response.json()["error"].as_str().unwrap_or_else(|| panic!("no error field: {}", response.body)).to_owned()
}

/// Polls `probe` every 50 ms until it returns a value, for at most [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "gave up after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
