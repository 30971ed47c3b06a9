//! A capture migration on a busy table fails fast, naming the table, and its lock
//! timeout never outlives the migration.

use std::time::{Duration, Instant};

use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::migrations::{desired_script, write_migration};
use sqlx::postgres::{PgDatabaseError, PgPoolOptions};

use crate::{ITEMS, connect};

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int, updated_at timestamptz);
                           INSERT INTO items (id, qty) VALUES (1, 1)";

/// Longer than any lock timeout below: reaching it means the migration waited for the lock.
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn the_default_is_five_seconds_set_locally_and_none_sets_nothing() {
    let script = desired_script(&[ITEMS], &CaptureConfig::default()).expect("script");
    assert_eq!(script.statements()[0], "SET LOCAL lock_timeout = '5000ms'");
    let unlimited = CaptureConfig { lock_timeout: None, ..CaptureConfig::default() };
    let script = desired_script(&[ITEMS], &unlimited).expect("script");
    assert!(!script.statements().iter().any(|s| s.contains("lock_timeout =")), "{script}");
}

#[tokio::test]
async fn a_table_held_by_an_open_transaction_fails_the_migration_fast_naming_the_table() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let admin = connect(db.url()).await;
    admin.batch_execute(ITEMS_TABLE).await.expect("table");
    let holder = connect(db.url()).await;
    holder.batch_execute("BEGIN; UPDATE items SET qty = 2 WHERE id = 1").await.expect("open transaction");

    let dir = tempfile::tempdir().expect("tempdir");
    let config = CaptureConfig { lock_timeout: Some(Duration::from_millis(300)), ..CaptureConfig::default() };
    write_migration(dir.path(), &[ITEMS], &config).expect("write").expect("a migration");
    // One connection, so the session checked afterwards is the one that ran the migration.
    let pool = PgPoolOptions::new().max_connections(1).connect(db.url()).await.expect("pool");
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.expect("read migrations");

    let started = Instant::now();
    let error = tokio::time::timeout(DEADLINE, migrator.run(&pool))
        .await
        .expect("the migration waited for the lock instead of failing")
        .expect_err("the table is held");
    assert!(started.elapsed() < DEADLINE / 3, "took {:?}", started.elapsed());
    let sqlx::migrate::MigrateError::ExecuteMigration(sqlx::Error::Database(error), _) = error else {
        panic!("not a database error: {error:?}");
    };
    let error = error.downcast_ref::<PgDatabaseError>();
    assert_eq!(error.code(), "55P03", "{error:?}");
    assert!(
        error
            .message()
            .contains(r#"could not lock "public"."items" to install its capture within lock_timeout (300ms)"#),
        "{error:?}"
    );
    assert!(error.hint().is_some_and(|hint| hint.contains("pg_stat_activity")), "{error:?}");

    // The failed migration neither leaked its setting into the session nor left writers waiting.
    let timeout: String = sqlx::query_scalar("SHOW lock_timeout").fetch_one(&pool).await.expect("show");
    assert_eq!(timeout, "0");
    tokio::time::timeout(DEADLINE, admin.batch_execute("INSERT INTO items (id, qty) VALUES (2, 2)"))
        .await
        .expect("a writer waited")
        .expect("insert");
    assert_eq!(captured_tables(&admin).await, 0, "nothing was installed");

    holder.batch_execute("COMMIT").await.expect("end the long transaction");
    tokio::time::timeout(DEADLINE, migrator.run(&pool))
        .await
        .expect("deadline")
        .expect("applies once the table is free");
    let timeout: String = sqlx::query_scalar("SHOW lock_timeout").fetch_one(&pool).await.expect("show");
    assert_eq!(timeout, "0", "SET LOCAL ended with the migration's transaction");
    admin.batch_execute("INSERT INTO items (id, qty) VALUES (3, 3)").await.expect("insert");
    let ids: Vec<Option<i64>> = crate::journal(&admin).await.iter().map(crate::Captured::id).collect();
    assert_eq!(ids, [Some(3)]);
    pool.close().await;
}

#[tokio::test]
async fn an_uninstall_on_a_held_table_fails_fast_naming_the_table() {
    let (db, admin) = crate::journal_db().await;
    crate::captured(&admin, ITEMS_TABLE, &ITEMS, &CaptureConfig::default()).await;
    let holder = connect(db.url()).await;
    holder.batch_execute("BEGIN; UPDATE items SET qty = 2 WHERE id = 1").await.expect("open transaction");

    let script = ddl::uninstall_all_script(Some(Duration::from_millis(300)));
    let uninstaller = connect(db.url()).await;
    let error = tokio::time::timeout(DEADLINE, uninstaller.batch_execute(&format!("BEGIN;\n{script}COMMIT;")))
        .await
        .expect("the uninstall waited for the lock instead of failing")
        .expect_err("the table is held");
    let error = error.as_db_error().unwrap_or_else(|| panic!("not a database error: {error:?}"));
    assert_eq!(error.code().code(), "55P03");
    assert!(error.message().contains(r#"could not lock public.items to remove its capture"#), "{error:?}");
    uninstaller.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(captured_tables(&admin).await, 1, "the failed uninstall removed nothing");
    holder.batch_execute("COMMIT").await.expect("commit");
}

/// Tables with a trigger calling a function of the journal schema.
pub async fn captured_tables(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT count(DISTINCT t.tgrelid) FROM pg_trigger t
             JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'db_listenable' AND NOT t.tgisinternal",
            &[],
        )
        .await
        .expect("count captured tables")
        .get(0)
}
