//! The drift check and the migration writer, against a real database.

use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::drift::{self, Drift};
use db_listenable::migrations::write_migration;
use db_listenable::{Column, Model};

use crate::{ITEMS, connect};

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int, updated_at timestamptz)";
const NOTES_TABLE: &str = "CREATE TABLE notes (id bigint PRIMARY KEY, body text)";
const NOTES: Model =
    Model { rust_name: "Note", table: "notes", columns: &[crate::col("id"), crate::col("body")], ..ITEMS };

async fn check(db: &pg_harness::TestDb, models: &[Model]) -> drift::DriftReport {
    let client = connect(db.url()).await;
    let via_tokio_postgres =
        drift::check_tokio_postgres(&client, models, &CaptureConfig::default()).await.expect("drift check");
    let pool = sqlx::PgPool::connect(db.url()).await.expect("sqlx pool");
    let via_sqlx = drift::check_sqlx(&pool, models, &CaptureConfig::default()).await.expect("drift check");
    pool.close().await;
    assert_eq!(via_sqlx, via_tokio_postgres, "both backends see the same drift");
    via_sqlx
}

#[tokio::test]
async fn drift_is_reported_per_table_until_fixed() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    client.batch_execute(&format!("{ITEMS_TABLE}; {NOTES_TABLE}")).await.expect("tables");
    let report = check(&db, &[ITEMS]).await;
    assert_eq!(report.drifts, [Drift::JournalMissing, Drift::Missing { model: "Item", table: "public.items".into() }]);

    client.batch_execute(&ddl::journal_script().to_string()).await.expect("journal");
    for model in [&ITEMS, &NOTES] {
        client
            .batch_execute(&ddl::install_script(model, &CaptureConfig::default()).to_string())
            .await
            .expect("install");
    }
    assert!(check(&db, &[ITEMS, NOTES]).await.is_clean());
    assert_eq!(check(&db, &[ITEMS]).await.drifts, [Drift::Extra { table: "public.notes".into() }]);

    client.batch_execute("DROP TRIGGER db_listenable_update ON items").await.expect("manual drop");
    let report = check(&db, &[ITEMS, NOTES]).await;
    assert!(
        matches!(&report.drifts[..], [Drift::Outdated { table, reason, .. }] if table == "public.items" && reason.contains("triggers")),
        "{report}"
    );

    client.batch_execute(&ddl::install_script(&ITEMS, &CaptureConfig::default()).to_string()).await.expect("repair");
    const CHANGED: Model = Model {
        columns: &[
            crate::col("id"),
            crate::col("name"),
            Column { name: "qty", field: "qty", serde_key: "qty", ignored: true },
        ],
        ..ITEMS
    };
    let report = check(&db, &[CHANGED, NOTES]).await;
    assert!(
        matches!(&report.drifts[..], [Drift::Outdated { reason, .. }] if reason.contains("fingerprint")),
        "{report}"
    );
    assert!(report.to_string().contains("outdated: public.items (Item)"), "{report}");
}

#[tokio::test]
async fn migrations_are_written_only_when_the_sql_changes_and_apply_cleanly() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    client.batch_execute(&format!("{ITEMS_TABLE}; {NOTES_TABLE}")).await.expect("tables");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = CaptureConfig::default();
    let pool = sqlx::PgPool::connect(db.url()).await.expect("pool");
    let apply = || async {
        sqlx::migrate::Migrator::new(dir.path()).await.expect("read migrations").run(&pool).await.expect("apply");
    };

    let first = write_migration(dir.path(), &[ITEMS, NOTES], &config).expect("write").expect("a first migration");
    assert!(first.file_name().expect("name").to_string_lossy().ends_with("_db_listenable.sql"));
    assert_eq!(write_migration(dir.path(), &[ITEMS, NOTES], &config).expect("write"), None, "nothing changed");
    apply().await;
    assert!(check(&db, &[ITEMS, NOTES]).await.is_clean());

    // Dropping a model uninstalls its capture in the next migration.
    let second = write_migration(dir.path(), &[ITEMS], &config).expect("write").expect("a second migration");
    assert!(second > first, "versions increase: {second:?} after {first:?}");
    let text = std::fs::read_to_string(&second).expect("read");
    assert!(text.contains(r#"DROP TRIGGER IF EXISTS "db_listenable_insert" ON "public"."notes""#), "{text}");
    apply().await;
    assert!(check(&db, &[ITEMS]).await.is_clean());
    client
        .batch_execute("INSERT INTO notes VALUES (1, 'no longer captured'); INSERT INTO items (id) VALUES (1)")
        .await
        .expect("writes");
    let tables: Vec<String> = crate::journal(&client).await.into_iter().map(|c| c.table).collect();
    assert_eq!(tables, ["items"]);
    pool.close().await;
}
