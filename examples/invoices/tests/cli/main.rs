//! The `invoices` binary, run as a user runs it, against real PostgreSQL.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pg_harness::TestDb;

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
