//! The `invoices` binary, run as a user runs it, against real PostgreSQL.

// Shared with the api tests, which use all of it.
#[allow(dead_code)]
#[path = "../support/http.rs"]
mod http;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pg_harness::TestDb;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

fn invoices(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_invoices"));
    command.args(args).env_remove("DATABASE_URL").env_remove("PG_HARNESS_DIR");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run the invoices binary")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "invoices failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn demo_on_database_url_adds_an_invoice_and_prints_real_rows() {
    let db = TestDb::create().await.expect("test database");
    let first = stdout_of(&invoices(&[], &[("DATABASE_URL", db.url())]));
    assert!(first.contains("Created INV-0001 with") && first.contains("Created INV-0002 with"), "{first}");
    assert!(first.contains("out of date"), "the direct edits left totals wrong at first: {first}");
    assert!(first.contains("Corrected by the listener"), "{first}");
    assert!(first.contains("Outbox: `invoice_created` delivered"), "{first}");
    assert!(first.contains("Ada Lovelace"), "{first}");
    assert!(first.contains(&format!("psql '{}'", db.url())), "{first}");
    let second = stdout_of(&invoices(&["demo"], &[("DATABASE_URL", db.url())]));
    assert!(second.contains("Created INV-0003 with") && second.contains("INV-0002"), "{second}");

    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT i.number, i.total_price_cents, coalesce(sum(it.quantity * it.unit_price_cents), 0)::bigint
         FROM invoices i LEFT JOIN invoice_items it ON it.invoice_id = i.id GROUP BY i.id ORDER BY i.id",
    )
    .fetch_all(&pool)
    .await
    .expect("read invoices");
    assert_eq!(rows.len(), 3);
    for (number, total, sum) in &rows {
        assert!(*total > 0, "{number} has items");
        assert_eq!(total, sum, "{number}: the stored total is the sum of its items");
        assert!(first.contains(number) || second.contains(number));
    }
    let notified: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications").fetch_one(&pool).await.expect("count");
    assert_eq!(notified, 3, "one notification per invoice, delivered through the outbox");
    pool.close().await;
}

/// Stops the test's persistent server whatever happens to the test.
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let dir = self.0.to_str().expect("utf-8 path");
        let _ = invoices(&["--data-dir", dir, "db", "stop"], &[]);
    }
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or_default().trim()
}

#[tokio::test]
async fn db_commands_manage_a_persistent_server_whose_data_survives_restarts() {
    let parent = tempfile::tempdir().expect("tempdir");
    // The postgres user (when we run as root) must be able to enter it.
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    let root = parent.path().join("pg");
    let _stop = StopOnDrop(root.clone());
    let dir = root.to_str().expect("utf-8 path");

    let started = stdout_of(&invoices(&["--data-dir", dir, "db", "start"], &[]));
    assert!(started.contains("PostgreSQL started"), "{started}");
    let url = last_line(&started).to_owned();
    assert_eq!(last_line(&stdout_of(&invoices(&["--data-dir", dir, "db", "url"], &[]))), url);
    let pool = sqlx::PgPool::connect(&url).await.expect("the printed URL connects");
    pool.close().await;

    let attached = stdout_of(&invoices(&["--data-dir", dir], &[]));
    assert!(attached.contains("(already running)") && attached.contains("INV-0001"), "{attached}");

    let stopped = stdout_of(&invoices(&["--data-dir", dir, "db", "stop"], &[]));
    assert!(stopped.contains("PostgreSQL stopped"), "{stopped}");
    let url_when_stopped = invoices(&["--data-dir", dir, "db", "url"], &[]);
    assert!(!url_when_stopped.status.success());
    assert!(String::from_utf8_lossy(&url_when_stopped.stderr).contains("not running"));

    // A fresh run starts the server again for itself, finds the earlier invoice and
    // stops the server when it exits.
    let again = stdout_of(&invoices(&["--data-dir", dir], &[]));
    assert!(again.contains("(started for this run)"), "{again}");
    assert!(again.contains("Created INV-0003") && again.contains("INV-0002"), "{again}");
    assert!(stdout_of(&invoices(&["--data-dir", dir, "db", "stop"], &[])).contains("was not running"));
    assert!(Path::new(dir).join("data").join("PG_VERSION").is_file(), "data is kept");
}

#[tokio::test]
async fn triggers_generate_writes_once_and_check_fails_until_applied() {
    let db = TestDb::create().await.expect("test database");
    let dir = tempfile::tempdir().expect("tempdir");
    let migrations = dir.path().to_str().expect("utf-8 path");
    let first = stdout_of(&invoices(&["triggers", "generate", migrations], &[]));
    assert!(first.starts_with("wrote "), "{first}");
    let again = stdout_of(&invoices(&["triggers", "generate", migrations], &[]));
    assert!(again.contains("unchanged; no migration written"), "{again}");
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);

    let drifted = invoices(&["triggers", "check"], &[("DATABASE_URL", db.url())]);
    assert_eq!(drifted.status.code(), Some(1), "drift exits 1");
    assert!(String::from_utf8_lossy(&drifted.stdout).contains("journal missing"));

    // The app's schema, then the generated capture migration on top of it.
    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    for schema in
        [include_str!("../../migrations/0001_invoices.sql"), include_str!("../../migrations/0002_notifications.sql")]
    {
        sqlx::raw_sql(schema).execute(&pool).await.expect("schema");
    }
    sqlx::migrate::Migrator::new(dir.path()).await.expect("read").run(&pool).await.expect("apply");
    pool.close().await;
    let current = stdout_of(&invoices(&["triggers", "check"], &[("DATABASE_URL", db.url())]));
    assert!(current.contains("capture triggers are current"), "{current}");
}

#[test]
fn the_checked_in_capture_migration_is_current() {
    // `triggers generate` on the example's own migrations writes nothing: the committed
    // capture SQL is what the code generates today.
    let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let output = stdout_of(&invoices(&["triggers", "generate", migrations], &[]));
    assert!(
        output.contains("unchanged; no migration written"),
        "regenerate with `cargo run -p invoices -- triggers generate examples/invoices/migrations`: {output}"
    );
}

/// A port nothing listens on right now (the OS's pick for an ephemeral bind).
fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    socket.local_addr().expect("address").port()
}

/// A long-running command (`serve`, `listen`) on `db_url`: started, awaited until a stdout
/// line contains `ready`, then driven by `while_running`, then stopped with SIGTERM.
/// Asserts it exits 0 having printed `stopped`; returns the ready line.
async fn run_then_sigterm<F, Fut>(args: &[&str], ready: &str, db_url: &str, while_running: F) -> String
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_invoices"))
        .args(args)
        .env_remove("PG_HARNESS_DIR")
        .env("DATABASE_URL", db_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start invoices");
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
        panic!("invoices {args:?} exited before it was ready: {}", stderr.await.unwrap_or_default());
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
    assert!(status.success(), "invoices {args:?} exited with {status}:\n{}\n{stderr}", rest.join("\n"));
    assert!(rest.iter().any(|line| line == "stopped"), "{rest:?}\n{stderr}");
    line
}

#[tokio::test]
async fn serve_answers_http_and_exits_0_on_sigterm() {
    let db = TestDb::create().await.expect("test database");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("address");
    let ready = run_then_sigterm(&["serve", "--addr", &addr.to_string()], "listening on http://", db.url(), || async {
        let listed = http::get(addr, "/invoices").await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert_eq!(listed.json(), serde_json::json!([]), "a fresh database has no invoices");
        // The dashboard is mounted, and refuses a request without its token.
        let admin = http::get(addr, "/admin/changes").await;
        assert_eq!(admin.status, 401, "{}", admin.body);
        assert!(admin.header("www-authenticate").is_some_and(|v| v.contains("realm=")), "{:?}", admin.headers);
        // Prometheus scrapes `/metrics` without it.
        let metrics = http::get(addr, "/metrics").await;
        assert_eq!(metrics.status, 200, "{}", metrics.body);
        assert!(metrics.body.contains("db_listenable_pending{subscriber=\"invoice_totals\""), "{}", metrics.body);
        // The subscribers this instance runs are announced, so not stale and not removable.
        let env = [("DATABASE_URL", db.url())];
        let listed = stdout_of(&invoices(&["subscribers", "list"], &env));
        assert!(listed.lines().any(|l| l.starts_with("invoice_totals ") && l.ends_with(" live")), "{listed}");
        let refused = invoices(&["subscribers", "remove", "invoice_totals"], &env);
        assert_eq!(refused.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("force the removal"), "{refused:?}");
    })
    .await;
    assert!(ready.contains(&format!("listening on http://{addr}")), "{ready}");
}

#[tokio::test]
async fn seed_listen_and_check_keep_and_verify_totals() {
    let db = TestDb::create().await.expect("test database");
    let env = [("DATABASE_URL", db.url())];
    let seeded = stdout_of(&invoices(&["seed", "--invoices", "2"], &env));
    assert_eq!(seeded.matches("created INV-").count(), 2, "{seeded}");
    let clean = stdout_of(&invoices(&["check"], &env));
    assert!(clean.contains("2 invoices checked: every total matches its items"), "{clean}");

    // An edit behind the app's back while nothing listens: check sees it and exits 1.
    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    sqlx::query("UPDATE invoice_items SET quantity = quantity + 5 WHERE invoice_id = 1")
        .execute(&pool)
        .await
        .expect("direct edit");
    let drifted = invoices(&["check"], &env);
    assert_eq!(drifted.status.code(), Some(1));
    let text = String::from_utf8_lossy(&drifted.stdout);
    assert!(text.contains("INV-0001: stored") && text.contains("1 of 2 invoices have a wrong total"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&invoices(&["check", "--json"], &env).stdout).expect("check --json prints JSON");
    assert_eq!(json["checked"], 2);
    assert_eq!(json["mismatches"][0]["number"], "INV-0001");
    assert_eq!(stdout_of(&invoices(&["dead-letters", "list"], &env)), "no dead letters\n");

    // The listener catches up on the edit made while it was down, then stops on SIGTERM.
    run_then_sigterm(&["listen"], "listening", db.url(), || async {
        let started = std::time::Instant::now();
        while invoices(&["check"], &env).status.code() != Some(0) {
            assert!(started.elapsed() < Duration::from_secs(30), "the listener never corrected INV-0001");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    pool.close().await;
}

/// `invoices listen --behind-pooler` through PgBouncer in transaction mode (Debian's 1.18,
/// which tracks no prepared statements), with fewer server connections than the listener
/// has clients: the totals it keeps stay true, and it stops on SIGTERM. Issue 17's report
/// was that `listen` could not run there (`prepared statement "sqlx_s_1" already exists`).
#[tokio::test]
async fn listen_behind_pgbouncer_in_transaction_mode_keeps_totals() {
    if pg_harness::PgBouncer::program().is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI must have pgbouncer (see .ci/run)");
        eprintln!("skipped: install the Debian package pgbouncer to run the pooler test");
        return;
    }
    let db = TestDb::create().await.expect("test database");
    let env = [("DATABASE_URL", db.url())];
    // Migrations hold a session lock: they run on a direct connection.
    let seeded = stdout_of(&invoices(&["seed", "--invoices", "2"], &env));
    assert_eq!(seeded.matches("created INV-").count(), 2, "{seeded}");
    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    let edit = |invoice: i64| {
        sqlx::query("UPDATE invoice_items SET quantity = quantity + 3 WHERE invoice_id = $1").bind(invoice)
    };
    edit(1).execute(&pool).await.expect("edit while nothing listens");
    assert_eq!(invoices(&["check"], &env).status.code(), Some(1), "the edit left a wrong total");

    let bouncer = pg_harness::PgBouncer::start(db.url(), 2, &[]).expect("start pgbouncer");
    let until_checked = || async {
        let started = std::time::Instant::now();
        while invoices(&["check"], &env).status.code() != Some(0) {
            assert!(started.elapsed() < Duration::from_secs(30), "the listener behind the pooler fixed no total");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    run_then_sigterm(&["listen", "--behind-pooler"], "listening", bouncer.url(), || async {
        // The edit made while it was down, then one made while it runs (found by polling).
        until_checked().await;
        edit(2).execute(&pool).await.expect("edit while it listens");
        until_checked().await;
    })
    .await;
    pool.close().await;
}
