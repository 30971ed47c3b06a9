//! Removing db-listenable leaves the application's tables, rows and own triggers as they were.

use db_listenable::Model;
use db_listenable::ddl::{self, CaptureConfig};

use crate::locks::captured_tables;
use crate::{ITEMS, connect};

const TABLES: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int, updated_at timestamptz);
    CREATE TABLE notes (id bigint PRIMARY KEY, body text);
    CREATE TABLE legacy (id bigint PRIMARY KEY, body text);
    -- The application's own trigger, which must survive.
    CREATE TABLE audit (note_id bigint);
    CREATE FUNCTION audit_note() RETURNS trigger LANGUAGE plpgsql AS
        $$BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NULL; END$$;
    CREATE TRIGGER db_listenable_lookalike AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION audit_note()";
const NOTES: Model =
    Model { rust_name: "Note", table: "notes", columns: &[crate::col("id"), crate::col("body")], ..ITEMS };
/// A model the code no longer has: its capture is still installed.
const LEGACY: Model = Model { rust_name: "Legacy", table: "legacy", ..NOTES };

#[tokio::test]
async fn uninstall_removes_every_capture_and_the_schema_and_keeps_the_data() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    client.batch_execute(TABLES).await.expect("tables");
    for models in [&[LEGACY][..], &[ITEMS, NOTES]] {
        let script = db_listenable::migrations::desired_script(models, &CaptureConfig::default()).expect("script");
        client.batch_execute(&script.to_string()).await.expect("install");
    }
    client
        .batch_execute(
            "INSERT INTO items (id, name, qty) VALUES (1, 'one', 1), (2, 'two', 2);
             UPDATE items SET qty = 3 WHERE id = 2;
             INSERT INTO notes VALUES (1, 'kept'); INSERT INTO legacy VALUES (1, 'old')",
        )
        .await
        .expect("writes");
    assert_eq!(crate::journal(&client).await.len(), 5, "captured before the uninstall");
    assert_eq!(captured_tables(&client).await, 3);

    let uninstall = ddl::uninstall_all_script(Some(ddl::DEFAULT_LOCK_TIMEOUT)).to_string();
    client.batch_execute(&uninstall).await.expect("uninstall");
    client.batch_execute(&uninstall).await.expect("a second uninstall finds nothing to do");

    assert_eq!(captured_tables(&client).await, 0);
    let leftovers: Vec<String> = client
        .query(
            "SELECT format('trigger %s on %s', tgname, tgrelid::regclass) FROM pg_trigger
             WHERE tgname LIKE 'db\\_listenable\\_%' AND tgname <> 'db_listenable_lookalike'
             UNION ALL SELECT format('function %s', oid::regprocedure) FROM pg_proc
             WHERE pronamespace::regnamespace::text = 'db_listenable' OR proname LIKE 'capture\\_%'
             UNION ALL SELECT format('schema %s', nspname) FROM pg_namespace WHERE nspname = 'db_listenable'",
            &[],
        )
        .await
        .expect("catalog")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let rows: Vec<(i64, Option<i32>)> = client
        .query("SELECT id, qty FROM items ORDER BY id", &[])
        .await
        .expect("items")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(rows, [(1, Some(1)), (2, Some(3))], "user rows are intact");
    // Every kind of write works again, TRUNCATE included (capture refused it).
    client
        .batch_execute(
            "INSERT INTO items (id) VALUES (3); UPDATE items SET qty = 4 WHERE id = 1; DELETE FROM items WHERE id = 2;
             INSERT INTO notes VALUES (2, 'after'); TRUNCATE legacy",
        )
        .await
        .expect("writes after the uninstall");
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.expect("count").get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM items").await, 2);
    assert_eq!(count("SELECT count(*) FROM audit").await, 2, "the application's own trigger still fires");
    assert_eq!(count("SELECT count(*) FROM legacy").await, 0);
}

#[tokio::test]
async fn a_removed_model_whose_table_was_dropped_uninstalls_without_error() {
    let (_db, client) = crate::journal_db().await;
    crate::captured(
        &client,
        "CREATE TABLE notes (id bigint PRIMARY KEY, body text)",
        &NOTES,
        &CaptureConfig::default(),
    )
    .await;
    client.batch_execute("DROP TABLE notes").await.expect("the application drops the table");
    let script = ddl::uninstall_script(&NOTES).to_string();
    client.batch_execute(&script).await.expect("nothing left to lock or drop is not an error");
}
