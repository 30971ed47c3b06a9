//! The `chats` binary, run as an operator runs it, against real PostgreSQL.

// Shared with the api tests, which use all of it.
#[allow(dead_code)]
#[path = "../support/http.rs"]
mod http;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pg_harness::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

fn chats(args: &[&str], db_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chats"))
        .args(args)
        .env_remove("PG_HARNESS_DIR")
        .env("DATABASE_URL", db_url)
        .output()
        .expect("run the chats binary")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "chats failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A port nothing listens on right now (the OS's pick for an ephemeral bind).
fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    socket.local_addr().expect("address").port()
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A long-running command (`serve`, `listen`) on `db_url`: started, awaited until a stdout
/// line contains `ready`, then driven by `while_running`, then stopped with SIGTERM.
/// Asserts it exits 0 having printed `stopped`; returns the ready line.
async fn run_then_sigterm<F, Fut>(args: &[&str], ready: &str, db_url: &str, while_running: F) -> String
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chats"))
        .args(args)
        .env_remove("PG_HARNESS_DIR")
        .env("DATABASE_URL", db_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start chats");
    let mut stderr = child.stderr.take().expect("stderr");
    // Drained as it comes, so a chatty process never blocks on a full pipe.
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = stdout.next_line().await.expect("read stdout") {
            if line.contains(ready) {
                return Some(line);
            }
        }
        None
    })
    .await
    .expect("ready within a minute");
    let Some(line) = line else {
        panic!("chats {args:?} exited before it was ready: {}", stderr.await.unwrap_or_default());
    };
    while_running().await;
    let pid = Pid::from_raw(i32::try_from(child.id().expect("running")).expect("pid fits"));
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("it stops within a minute")
        .expect("wait for it");
    let mut rest = Vec::new();
    while let Some(line) = stdout.next_line().await.expect("read stdout") {
        rest.push(line);
    }
    let stderr = stderr.await.expect("stderr reader");
    assert!(status.success(), "chats {args:?} exited with {status}:\n{}\n{stderr}", rest.join("\n"));
    assert!(rest.iter().any(|line| line == "stopped"), "{rest:?}\n{stderr}");
    line
}

#[test]
fn the_checked_in_capture_migration_is_current() {
    // `triggers generate` on the example's own migrations writes nothing: the committed
    // capture SQL is what the code generates today.
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let output = stdout_of(&chats(&["triggers", "generate", migrations], "postgres://unused"));
    assert!(
        output.contains("unchanged; no migration written"),
        "regenerate with `cargo run -p chats -- triggers generate examples/chats/migrations`: {output}"
    );
}

#[tokio::test]
async fn serve_answers_http_and_exits_0_on_sigterm() {
    let db = TestDb::create().await.expect("test database");
    let dir = tempfile::tempdir().expect("data dir");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("address");
    let args = ["serve", "--addr", &addr.to_string(), "--data-dir", utf8(dir.path())];
    let ready = run_then_sigterm(&args, "listening on http://", db.url(), || async {
        let health = http::get(addr, "/healthz").await;
        assert_eq!(health.status, 200, "{}", health.body);
        let created = http::post(addr, "/api/v1/applications", r#"{"name": "cli"}"#).await;
        assert_eq!(created.status, 201, "{}", created.body);
        // The dashboard is mounted, and refuses a request without its token.
        let admin = http::get(addr, "/admin/changes/metrics").await;
        assert_eq!(admin.status, 401, "{}", admin.body);
    })
    .await;
    assert!(ready.contains(&format!("listening on http://{addr}")), "{ready}");
    assert!(dir.path().join("instance-id").is_file() && dir.path().join("index").join("meta.json").is_file());

    // The instance's subscriber stays registered after it stops, until it is forgotten.
    let id = std::fs::read_to_string(dir.path().join("instance-id")).expect("instance id");
    let listed = stdout_of(&chats(&["instances", "list"], db.url()));
    assert!(listed.contains(id.trim()), "{listed}");
    // Stopped just now: listed live, and not removable without --force.
    let name = format!("search_index:{}", id.trim());
    let subscribers = stdout_of(&chats(&["subscribers", "list"], db.url()));
    assert!(subscribers.lines().any(|l| l.starts_with(&format!("{name} ")) && l.ends_with(" live")), "{subscribers}");
    let refused = chats(&["subscribers", "remove", &name], db.url());
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("force the removal"), "{refused:?}");
    let forgot = stdout_of(&chats(&["instances", "forget", id.trim()], db.url()));
    assert_eq!(forgot.trim(), format!("forgot instance {}", id.trim()));
    assert!(stdout_of(&chats(&["instances", "list"], db.url())).trim().is_empty());
}

#[tokio::test]
async fn check_fails_until_listen_catches_up_then_reindex_rebuilds() {
    let db = TestDb::create().await.expect("test database");
    let dir = tempfile::tempdir().expect("data dir");
    let data_dir = utf8(dir.path());
    stdout_of(&chats(&["migrate"], db.url()));
    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    // Written by "another program" while no chats process runs.
    sqlx::raw_sql(
        "INSERT INTO applications (token, name, last_chat_number) VALUES ('t', 'plain', 1);
         INSERT INTO chats (application_id, number, last_message_number) SELECT id, 1, 2 FROM applications;
         INSERT INTO messages (chat_id, number, body) SELECT id, n, 'plain sql ' || n FROM chats, generate_series(1, 2) n;",
    )
    .execute(&pool)
    .await
    .expect("plain inserts");

    let stale = chats(&["check", "--data-dir", data_dir], db.url());
    assert_eq!(stale.status.code(), Some(1), "counters and index are behind");
    let text = String::from_utf8_lossy(&stale.stdout);
    assert!(text.contains("counter says 0 but there are 1") && text.contains("no usable index"), "{text}");

    let url = db.url().to_owned();
    run_then_sigterm(&["listen", "--data-dir", data_dir], "listening", db.url(), || async {
        let started = Instant::now();
        loop {
            let output = chats(&["check", "--data-dir", data_dir], &url);
            if output.status.success() {
                assert!(String::from_utf8_lossy(&output.stdout).contains("2 messages checked"));
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "check never passed: {output:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;

    let rebuilt = stdout_of(&chats(&["reindex", "--data-dir", data_dir], db.url()));
    assert!(rebuilt.contains("indexed 2 messages"), "{rebuilt}");
    stdout_of(&chats(&["check", "--data-dir", data_dir], db.url()));
    pool.close().await;
}
