//! Every migration format `triggers generate --format` writes, applied by its own tool
//! against a real PostgreSQL: after it, capture works, and generating again writes nothing.

use std::path::Path;

use db_listenable::ddl::CaptureConfig;
use db_listenable::migrations::{MigrationFormat, write_migration_as};
use db_listenable::{Column, Events, Model};

/// The application's own table, created by its own migration in each tool's layout.
const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text)";

const ITEMS: Model = Model {
    rust_name: "Item",
    schema: "public",
    table: "items",
    key: &["id"],
    columns: &[
        Column { name: "id", field: "id", optional: false },
        Column { name: "name", field: "name", optional: false },
    ],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

/// Connects with tokio-postgres and drives the connection in the background.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap_or_else(|err| panic!("connect: {err}"));
    tokio::spawn(connection);
    client
}

/// Writes the capture migration into `dir` and returns it, checking that a second run
/// writes nothing and leaves the directory as it was.
fn generate(dir: &Path, format: MigrationFormat) -> std::path::PathBuf {
    let config = CaptureConfig::default();
    let written = write_migration_as(dir, format, &[ITEMS], &config).expect("write").expect("a first migration");
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    assert_eq!(write_migration_as(dir, format, &[ITEMS], &config).expect("write again"), None, "nothing changed");
    assert_eq!(listing(), before);
    written
}

/// A row written after the migration reaches the journal.
async fn assert_captures(url: &str) {
    let client = connect(url).await;
    client.batch_execute("INSERT INTO items VALUES (7, 'seven')").await.expect("insert");
    let rows = client
        .query(
            "SELECT t.table_name, c.op::text, c.new_row FROM db_listenable.changes c
             JOIN db_listenable.tables t ON t.id = c.table_id ORDER BY c.id",
            &[],
        )
        .await
        .expect("journal");
    let entries: Vec<(String, String, serde_json::Value)> =
        rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    assert_eq!(entries, [("items".to_owned(), "I".to_owned(), serde_json::json!({"id": 7, "name": "seven"}))]);
    let lock_timeout: String = client.query_one("SHOW lock_timeout", &[]).await.expect("show").get(0);
    assert_eq!(lock_timeout, "0", "the migration's lock timeout stayed in its transaction");
}

#[tokio::test]
async fn sqlx_applies_the_sqlx_format() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("20200101000000_items.sql"), ITEMS_TABLE).expect("own migration");
    let written = generate(dir.path(), MigrationFormat::Sqlx);
    assert!(written.to_string_lossy().ends_with("_db_listenable.sql"), "{written:?}");

    let pool = sqlx::PgPool::connect(db.url()).await.expect("pool");
    sqlx::migrate::Migrator::new(dir.path()).await.expect("read").run(&pool).await.expect("sqlx applies both");
    pool.close().await;
    assert_captures(db.url()).await;
}

#[tokio::test]
async fn refinery_applies_the_refinery_format() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("V1__items.sql"), ITEMS_TABLE).expect("own migration");
    let written = generate(dir.path(), MigrationFormat::Refinery);
    assert_eq!(written, dir.path().join("V2__db_listenable.sql"), "the next integer version");

    let migrations = refinery::load_sql_migrations(dir.path()).expect("refinery reads the directory");
    let mut client = connect(db.url()).await;
    let report = refinery::Runner::new(&migrations).run_async(&mut client).await.expect("refinery applies both");
    assert_eq!(report.applied_migrations().len(), 2);
    assert_captures(db.url()).await;
}

#[tokio::test]
async fn diesel_applies_the_diesel_format_and_reverts_the_first_to_nothing() {
    use diesel::{Connection, PgConnection};
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};

    let db = pg_harness::TestDb::create().await.expect("test database");
    let dir = tempfile::tempdir().expect("tempdir");
    let own = dir.path().join("2020-01-01-000000_items");
    std::fs::create_dir(&own).expect("own migration");
    std::fs::write(own.join("up.sql"), ITEMS_TABLE).expect("up.sql");
    std::fs::write(own.join("down.sql"), "DROP TABLE items").expect("down.sql");
    let written = generate(dir.path(), MigrationFormat::Diesel);
    assert!(written.join("up.sql").is_file() && written.join("down.sql").is_file(), "{written:?}");
    let name = written.file_name().expect("name").to_string_lossy().into_owned();
    assert!(name.ends_with("_db_listenable") && name.len() == "YYYY-MM-DD-HHMMSS_db_listenable".len(), "{name}");

    let url = db.url().to_owned();
    let path = dir.path().to_owned();
    // diesel is synchronous: its calls run on the blocking pool.
    let diesel_run = move |revert: bool| {
        let (url, path) = (url.clone(), path.clone());
        tokio::task::spawn_blocking(move || {
            let mut connection = PgConnection::establish(&url).expect("diesel connects");
            let migrations = FileBasedMigrations::from_path(&path).expect("diesel reads the directory");
            let outcome = if revert {
                connection.revert_last_migration(migrations).map(|_| 0)
            } else {
                connection.run_pending_migrations(migrations).map(|applied| applied.len())
            };
            outcome.map_err(|err| err.to_string())
        })
    };
    assert_eq!(diesel_run(false).await.expect("join"), Ok(2));
    assert_captures(db.url()).await;

    // A later capture migration applies, and its down.sql refuses rather than guess.
    const QUIET_NAME: Model = Model { quiet: &["name"], ..ITEMS };
    let second = write_migration_as(dir.path(), MigrationFormat::Diesel, &[QUIET_NAME], &CaptureConfig::default())
        .expect("write")
        .expect("the capture changed");
    assert!(second > written, "{second:?} sorts after {written:?}");
    assert_eq!(diesel_run(false).await.expect("join"), Ok(1));
    let refused = diesel_run(true).await.expect("join").expect_err("down.sql of a later migration fails");
    assert!(refused.contains("cannot be reverted"), "{refused}");
    std::fs::remove_dir_all(&second).expect("forget the later migration");
    let client = connect(db.url()).await;
    client.batch_execute("DELETE FROM __diesel_schema_migrations WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)").await.expect("unrecord it");

    // The first capture migration's down.sql removes db-listenable and nothing else.
    diesel_run(true).await.expect("join").expect("diesel reverts the first capture migration");
    let left: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'db_listenable')
                  + (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal)",
            &[],
        )
        .await
        .expect("catalog")
        .get(0);
    assert_eq!(left, 0, "no schema, no trigger");
    let rows: i64 = client.query_one("SELECT count(*) FROM items", &[]).await.expect("count").get(0);
    assert_eq!(rows, 1, "the table and its row stay");
}

#[tokio::test]
async fn psql_applies_the_plain_sql_format_in_one_transaction() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    connect(db.url()).await.batch_execute(ITEMS_TABLE).await.expect("table");
    let dir = tempfile::tempdir().expect("tempdir");
    let written = generate(dir.path(), MigrationFormat::Sql);
    let name = written.file_name().expect("name").to_string_lossy().into_owned();
    assert!(name.starts_with("db_listenable_") && name.ends_with(".sql"), "{name}");
    let printed = db_listenable::migrations::desired_text(&[ITEMS], &CaptureConfig::default()).expect("print");
    assert_eq!(std::fs::read_to_string(&written).expect("read"), printed, "`triggers print` shows a first file");

    let psql = pg_harness::ServerBinaries::locate(&pg_harness::Settings::from_env()).expect("binaries").program("psql");
    let output = tokio::process::Command::new(psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f"])
        .arg(&written)
        .arg(db.url())
        .output()
        .await
        .expect("run psql");
    assert!(output.status.success(), "psql: {}", String::from_utf8_lossy(&output.stderr));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("WARNING"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_captures(db.url()).await;
}
