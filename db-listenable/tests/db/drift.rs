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

/// The drift check through both backends, which must agree.
pub async fn check(db: &pg_harness::TestDb, models: &[Model]) -> drift::DriftReport {
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
        columns: &[crate::col("id"), crate::col("name"), Column { name: "qty", field: "qty", optional: false }],
        quiet: &["qty"],
        ..ITEMS
    };
    // Other quiet columns, but none that CHANGED reads: the installed capture provides what it needs.
    let report = check(&db, &[CHANGED, NOTES]).await;
    assert!(
        matches!(&report.drifts[..], [Drift::Compatible { reason, .. }] if reason.contains("fingerprint")),
        "{report}"
    );
    assert!(report.to_string().contains("compatible: public.items (Item)"), "{report}");
    assert!(report.is_compatible() && !report.is_clean());
    // Reading `updated_at`, which the installed capture keeps quiet, it would miss updates.
    const READS_QUIET: Model =
        Model { columns: &[crate::col("id"), crate::col("name"), crate::col("updated_at")], quiet: &["qty"], ..ITEMS };
    let report = check(&db, &[READS_QUIET, NOTES]).await;
    assert!(
        matches!(&report.drifts[..], [Drift::Outdated { reason, .. }] if reason.contains("[\"updated_at\"] are quiet")),
        "{report}"
    );
    assert!(report.to_string().contains("outdated: public.items (Item)"), "{report}");
    assert!(!report.is_compatible());
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

#[tokio::test]
async fn disabled_or_replica_only_capture_triggers_are_drift() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    client.batch_execute(ITEMS_TABLE).await.expect("table");
    client.batch_execute(&ddl::journal_script().to_string()).await.expect("journal");
    client.batch_execute(&ddl::install_script(&ITEMS, &CaptureConfig::default()).to_string()).await.expect("install");
    assert!(check(&db, &[ITEMS]).await.is_clean());

    let outdated = |report: &drift::DriftReport| match &report.drifts[..] {
        [Drift::Outdated { table, reason, .. }] if table == "public.items" => reason.clone(),
        other => panic!("expected items outdated, got {other:?}"),
    };
    client.batch_execute("ALTER TABLE items DISABLE TRIGGER db_listenable_insert").await.expect("disable");
    let reason = outdated(&check(&db, &[ITEMS]).await);
    assert!(reason.contains("disabled") && reason.contains("db_listenable_insert"), "{reason}");
    assert!(!reason.contains("db_listenable_update"), "{reason}");

    // ENABLE REPLICA fires only in replica sessions: ordinary writes are not captured.
    client.batch_execute("ALTER TABLE items ENABLE REPLICA TRIGGER db_listenable_insert").await.expect("replica");
    let reason = outdated(&check(&db, &[ITEMS]).await);
    assert!(reason.contains("replica") && reason.contains("db_listenable_insert"), "{reason}");

    // ENABLE ALWAYS captures more (replica sessions too), never less: not drift.
    client.batch_execute("ALTER TABLE items ENABLE ALWAYS TRIGGER db_listenable_insert").await.expect("always");
    assert!(check(&db, &[ITEMS]).await.is_clean());

    // What `pg_restore --disable-triggers` does while it restores, if it is interrupted.
    client.batch_execute("ALTER TABLE items DISABLE TRIGGER ALL").await.expect("disable all");
    let reason = outdated(&check(&db, &[ITEMS]).await);
    for trigger in ddl::expected_triggers(&ITEMS, &CaptureConfig::default()) {
        assert!(reason.contains(trigger), "{trigger} missing from {reason}");
    }
    client.batch_execute("ALTER TABLE items ENABLE TRIGGER ALL").await.expect("enable all");
    assert!(check(&db, &[ITEMS]).await.is_clean());
}

#[tokio::test]
async fn sessions_in_the_replica_role_are_not_captured() {
    // Documented behaviour: `session_replication_role = replica` (logical replication's
    // apply, `pg_restore` with that role) fires no ordinary trigger, so nothing is captured.
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    client.batch_execute(ITEMS_TABLE).await.expect("table");
    client.batch_execute(&ddl::journal_script().to_string()).await.expect("journal");
    client.batch_execute(&ddl::install_script(&ITEMS, &CaptureConfig::default()).to_string()).await.expect("install");
    client
        .batch_execute(
            "SET session_replication_role = replica; INSERT INTO items (id) VALUES (1);
             RESET session_replication_role; INSERT INTO items (id) VALUES (2)",
        )
        .await
        .expect("writes");
    let ids: Vec<Option<i64>> = crate::journal(&client).await.iter().map(crate::Captured::id).collect();
    assert_eq!(ids, [Some(2)]);
    assert!(check(&db, &[ITEMS]).await.is_clean(), "the triggers themselves are as installed");
}

#[tokio::test]
async fn a_failed_statement_reports_its_sqlstate() {
    // tokio-postgres: a client whose transaction has failed refuses every statement (25P02).
    let (_db, client) = crate::journal_db().await;
    client.batch_execute("BEGIN").await.expect("begin");
    client.batch_execute("SELECT 1 / 0").await.expect_err("division by zero");
    let error = drift::check_tokio_postgres(&client, &[ITEMS], &CaptureConfig::default())
        .await
        .expect_err("a statement in a failed transaction must fail");
    assert_eq!(error.sqlstate(), Some("25P02"), "{error}");
    assert_eq!(db_listenable::Error::NotInstalled.sqlstate(), None);
}

#[tokio::test]
async fn an_older_or_incompatible_newer_journal_is_reported_until_upgraded() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    client.batch_execute(ITEMS_TABLE).await.expect("table");
    client.batch_execute(include_str!("../snapshots/journal_v1.sql")).await.expect("journal v1");
    let report = check(&db, &[]).await;
    assert_eq!(report.drifts, [Drift::JournalOutdated { installed: 1, required: ddl::SCHEMA_VERSION }]);
    assert!(report.to_string().contains("triggers generate"), "{report}");

    client.batch_execute(&ddl::journal_script().to_string()).await.expect("upgrade");
    assert!(check(&db, &[]).await.is_clean());
    client
        .batch_execute("INSERT INTO db_listenable.schema_versions (version, compatible_from) VALUES (7, 7)")
        .await
        .expect("a newer layout");
    let report = check(&db, &[]).await;
    assert_eq!(report.drifts, [Drift::JournalTooNew { installed: 7, compatible_from: 7, known: ddl::SCHEMA_VERSION }]);
    // Running this code's script again never records an older layout as the current one.
    client.batch_execute(&ddl::journal_script().to_string()).await.expect("replay");
    assert!(matches!(check(&db, &[]).await.drifts[..], [Drift::JournalTooNew { installed: 7, .. }]));
}
