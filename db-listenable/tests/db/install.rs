//! Installing capture: idempotent, removable, safe with hostile and very long names,
//! names schema-qualified (no `search_path` clause), usable by roles without journal privileges, optional wake-up.

use std::time::Duration;

use db_listenable::ddl::{self, CaptureConfig, Granularity, Wakeup};
use db_listenable::{Column, Events, Model};
use futures::StreamExt;

use crate::{ITEMS, captured, connect, journal, journal_db};

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int, updated_at timestamptz)";

async fn trigger_names(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
    client
        .query(
            "SELECT tgname::text FROM pg_trigger WHERE tgrelid = $1::text::regclass AND NOT tgisinternal ORDER BY 1",
            &[&table],
        )
        .await
        .expect("triggers")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn installing_twice_changes_nothing_and_uninstall_removes_everything() {
    let (_db, client) = journal_db().await;
    captured(&client, ITEMS_TABLE, &ITEMS, &CaptureConfig::default()).await;
    client.batch_execute(&ddl::journal_script().to_string()).await.expect("journal again");
    client.batch_execute(&ddl::install_script(&ITEMS, &CaptureConfig::default()).to_string()).await.expect("again");
    assert_eq!(
        trigger_names(&client, "items").await,
        ["db_listenable_delete", "db_listenable_insert", "db_listenable_truncate", "db_listenable_update"]
    );
    assert_eq!(trigger_names(&client, "items").await, ddl::expected_triggers(&ITEMS, &CaptureConfig::default()));
    client.batch_execute("INSERT INTO items (id) VALUES (1)").await.expect("insert");
    assert_eq!(journal(&client).await.len(), 1, "one journal row per change, not one per install");

    let uninstall = ddl::uninstall_script(&ITEMS).to_string();
    client.batch_execute(&uninstall).await.expect("uninstall");
    client.batch_execute(&uninstall).await.expect("uninstall again");
    assert!(trigger_names(&client, "items").await.is_empty());
    client.batch_execute("INSERT INTO items (id) VALUES (2); TRUNCATE items").await.expect("uncaptured");
    assert_eq!(journal(&client).await.len(), 1);
    let functions: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE pronamespace = 'db_listenable'::regnamespace AND proname = $1",
            &[&ddl::capture_function_name(&ITEMS)],
        )
        .await
        .expect("functions")
        .get(0);
    assert_eq!(functions, 0);
}

#[tokio::test]
async fn hostile_schema_table_and_column_names_are_captured_exactly() {
    let (_db, client) = journal_db().await;
    const HOSTILE: Model = Model {
        rust_name: "Hostile",
        schema: "Weird Schema",
        table: "Invoice \"Items\"; DROP TABLE x; --",
        key: &["Key Col"],
        columns: &[
            crate::col("Key Col"),
            crate::col("select"),
            Column { name: "$db_listenable$", field: "f", optional: false },
        ],
        quiet: &["$db_listenable$"],
        exclude: &[],
        events: Events::DEFAULT,
    };
    let table = ddl::qualified_table(&HOSTILE);
    let create = format!(
        "CREATE SCHEMA \"Weird Schema\"; CREATE TABLE {table} (\"Key Col\" int PRIMARY KEY, \"select\" text, \"$db_listenable$\" int)"
    );
    captured(&client, &create, &HOSTILE, &CaptureConfig::default()).await;
    client.batch_execute(&format!("INSERT INTO {table} VALUES (1, 'x', 0)")).await.expect("insert");
    client.batch_execute(&format!("UPDATE {table} SET \"$db_listenable$\" = 1")).await.expect("ignored update");
    let rows = journal(&client).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].schema.as_str(), rows[0].table.as_str()), (HOSTILE.schema, HOSTILE.table));
    assert_eq!(rows[0].new.as_ref().expect("new")["Key Col"], 1);
    assert_eq!(rows[0].new.as_ref().expect("new")["select"], "x");
}

#[tokio::test]
async fn tables_with_63_byte_names_in_two_schemas_get_distinct_functions() {
    let (_db, client) = journal_db().await;
    const LONG: &str = "a_table_name_that_uses_every_one_of_the_sixty_three_bytes_allow";
    assert_eq!(LONG.len(), 63);
    const FIRST: Model = Model {
        rust_name: "First",
        schema: "public",
        table: LONG,
        key: &["id"],
        columns: &[crate::col("id")],
        quiet: &[],
        exclude: &[],
        events: Events::DEFAULT,
    };
    const SECOND: Model = Model { schema: "second", rust_name: "Second", ..FIRST };
    assert_ne!(ddl::capture_function_name(&FIRST), ddl::capture_function_name(&SECOND));
    client.batch_execute("CREATE SCHEMA second").await.expect("schema");
    for model in [&FIRST, &SECOND] {
        captured(
            &client,
            &format!("CREATE TABLE {} (id int PRIMARY KEY)", ddl::qualified_table(model)),
            model,
            &Default::default(),
        )
        .await;
        client.batch_execute(&format!("INSERT INTO {} VALUES (1)", ddl::qualified_table(model))).await.expect("insert");
    }
    let rows = journal(&client).await;
    assert_eq!(rows.len(), 2);
    let functions: i64 = client
        .query_one("SELECT count(*) FROM pg_proc WHERE pronamespace = 'db_listenable'::regnamespace AND proname LIKE 'capture_%'", &[])
        .await
        .expect("functions")
        .get(0);
    assert_eq!(functions, 2);
}

#[tokio::test]
async fn capture_functions_are_security_definer_and_serve_roles_without_journal_rights() {
    let (db, client) = journal_db().await;
    captured(&client, ITEMS_TABLE, &ITEMS, &CaptureConfig::default()).await;
    // No `search_path` (it costs every call): the body names everything with its schema,
    // which `search_path::a_writer_s_search_path_...` holds against a hostile path.
    let (config, definer): (Vec<String>, bool) = client
        .query_one(
            "SELECT proconfig, prosecdef FROM pg_proc
             WHERE pronamespace = 'db_listenable'::regnamespace AND proname = $1",
            &[&ddl::capture_function_name(&ITEMS)],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .expect("proconfig");
    assert_eq!(config, ["extra_float_digits=3", "jit=off", "enable_mergejoin=off"]);
    assert!(definer);

    // A role that may write items but has no right on the journal: capture still works
    // (the trigger functions are SECURITY DEFINER), yet the role cannot read the journal.
    let role = format!("writer_{}", db.name());
    client.batch_execute(&format!("CREATE ROLE {role} LOGIN; GRANT ALL ON items TO {role}")).await.expect("role");
    let writer_url = db.url().replacen("postgres@", &format!("{role}@"), 1);
    let writer = connect(&writer_url).await;
    writer.batch_execute("INSERT INTO items (id, name) VALUES (1, 'from writer')").await.expect("writer inserts");
    let denied = writer.query("SELECT * FROM db_listenable.changes", &[]).await.expect_err("no journal access");
    assert_eq!(denied.code().map(|c| c.code()), Some("42501"));
    let rows = journal(&client).await;
    assert_eq!(rows[0].new.as_ref().expect("new")["name"], "from writer");
    drop(writer);
    client.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await.expect("cleanup");
}

/// The claim's and the settlement's statements keep their generic plans: planned at
/// every call, they cost a sixth of the drain rate at batch size 100 (BENCHMARKS.md,
/// "Planned once"); `runtime::plans` holds the runtime's own typed read to the same.
#[tokio::test]
async fn claim_and_settle_are_planned_once_per_session() {
    let (_db, client) = journal_db().await;
    for function in ["claim_journal", "settle_journal"] {
        let config: Vec<String> = client
            .query_one(
                // The PL/pgSQL one: `settle_journal` also has the first release's parameter
                // list, a SQL function that calls it.
                "SELECT proconfig FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                  WHERE p.pronamespace = 'db_listenable'::regnamespace AND p.proname = $1 AND l.lanname = 'plpgsql'",
                &[&function],
            )
            .await
            .map(|row| row.get(0))
            .unwrap_or_else(|error| panic!("proconfig of {function}: {error}"));
        assert!(
            config.iter().any(|setting| setting == "plan_cache_mode=force_generic_plan"),
            "{function} runs with {config:?}"
        );
    }
}

#[tokio::test]
async fn gated_wakeups_notify_with_an_empty_payload_and_off_never_calls_notify() {
    let (db, client) = journal_db().await;
    captured(&client, ITEMS_TABLE, &ITEMS, &CaptureConfig { wakeup: Wakeup::Gated, ..CaptureConfig::default() }).await;
    let (listener, mut connection) =
        tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("listener connection");
    let (sender, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(note) = message {
                let _ = sender.send((note.channel().to_owned(), note.payload().to_owned()));
            }
        }
    });
    listener.batch_execute(&format!("LISTEN {}", ddl::WAKEUP_CHANNEL)).await.expect("listen");
    client.batch_execute("INSERT INTO items (id) VALUES (1)").await.expect("insert");
    let note = tokio::time::timeout(Duration::from_secs(10), notifications.recv()).await.expect("woken in time");
    assert_eq!(note, Some((ddl::WAKEUP_CHANNEL.to_owned(), String::new())));

    let calls_notify = async |client: &tokio_postgres::Client| -> bool {
        client
            .query_one(
                "SELECT prosrc LIKE '%pg_notify%' FROM pg_proc
                 WHERE pronamespace = 'db_listenable'::regnamespace AND proname = $1",
                &[&ddl::capture_function_name(&ITEMS)],
            )
            .await
            .expect("function source")
            .get(0)
    };
    assert!(calls_notify(&client).await);
    let poll_only = CaptureConfig { wakeup: Wakeup::Off, ..CaptureConfig::default() };
    client.batch_execute(&ddl::install_script(&ITEMS, &poll_only).to_string()).await.expect("reinstall poll-only");
    assert!(!calls_notify(&client).await, "poll-only capture never notifies");
}

#[tokio::test]
async fn statement_capture_refuses_keys_that_do_not_identify_rows() {
    let (_db, client) = journal_db().await;
    client
        .batch_execute(
            "CREATE TABLE nullable_key (id int UNIQUE, name text, qty int, updated_at timestamptz);
             CREATE TABLE duplicate_key (id int NOT NULL, name text, qty int, updated_at timestamptz);
             CREATE TABLE wider_unique (id int NOT NULL, name text NOT NULL, qty int, updated_at timestamptz,
                                        UNIQUE (id, name))",
        )
        .await
        .expect("tables");
    for (table, expected) in [
        ("nullable_key", "may be NULL"),
        ("duplicate_key", "is not covered by a unique index"),
        ("wider_unique", "is not covered by a unique index"),
    ] {
        let model = Model { table, ..ITEMS };
        let err = client
            .batch_execute(&ddl::install_script(&model, &CaptureConfig::default()).to_string())
            .await
            .expect_err("refused");
        let db_err = err.as_db_error().expect("a server error");
        assert_eq!(db_err.code().code(), "42P16", "{table}");
        assert!(db_err.message().contains(expected), "{table}: {}", db_err.message());
        assert!(db_err.hint().is_some_and(|hint| hint.contains("Granularity::Row")), "{table}");
        let row_level = CaptureConfig { granularity: Granularity::Row, ..CaptureConfig::default() };
        client
            .batch_execute(&ddl::install_script(&model, &row_level).to_string())
            .await
            .unwrap_or_else(|err| panic!("row-level capture does not pair rows, so {table} is fine: {err}"));
    }
}
