//! What the generated triggers put in the journal, operation by operation.

use db_listenable::ddl::CaptureConfig;
use db_listenable::{Events, Model};
use serde_json::json;

use crate::{Captured, ITEMS, captured, journal, journal_db};

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0,
                                               updated_at timestamptz NOT NULL DEFAULT now())";

async fn items_db(config: &CaptureConfig) -> (pg_harness::TestDb, tokio_postgres::Client) {
    let (db, client) = journal_db().await;
    captured(&client, ITEMS_TABLE, &ITEMS, config).await;
    (db, client)
}

/// (operation, old id, new id) of each journal row.
fn ops_and_ids(rows: Vec<Captured>) -> Vec<(String, Option<i64>, Option<i64>)> {
    let id = |row: &Option<serde_json::Value>| row.as_ref().and_then(|r| r["id"].as_i64());
    rows.into_iter().map(|c| (c.op.clone(), id(&c.old), id(&c.new))).collect()
}

for_each_granularity! {
async fn insert_update_delete_are_journalled_with_old_and_new_rows(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'pen')").await.expect("insert");
    client.batch_execute("UPDATE items SET qty = 5 WHERE id = 1").await.expect("update");
    client.batch_execute("DELETE FROM items WHERE id = 1").await.expect("delete");
    let rows = journal(&client).await;
    assert_eq!(
        ops_and_ids(rows.clone()),
        [("INSERT".into(), None, Some(1)), ("UPDATE".into(), Some(1), Some(1)), ("DELETE".into(), Some(1), None)]
    );
    assert_eq!(rows[1].old.as_ref().expect("old")["qty"], 0);
    assert_eq!(rows[1].new.as_ref().expect("new")["qty"], 5);
    assert_eq!(rows[0].new.as_ref().expect("new")["name"], "pen");
    assert!(rows.iter().all(|row| (row.schema.as_str(), row.table.as_str()) == ("public", "items")));
}

async fn updates_of_ignored_columns_only_and_no_op_updates_emit_nothing(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'pen')").await.expect("insert");
    client.batch_execute("UPDATE items SET updated_at = now() + interval '1 day'").await.expect("touch");
    client.batch_execute("UPDATE items SET name = name").await.expect("no-op");
    client.batch_execute("UPDATE items SET qty = 2, updated_at = now()").await.expect("real change");
    let ops: Vec<String> = journal(&client).await.into_iter().map(|c| c.op).collect();
    assert_eq!(ops, ["INSERT", "UPDATE"]);
}

async fn only_the_chosen_events_are_captured(config: CaptureConfig) {
    let (_db, client) = journal_db().await;
    const INSERTS_ONLY: Model =
        Model { events: Events { insert: true, update: false, delete: false, truncate: false }, ..ITEMS };
    captured(&client, ITEMS_TABLE, &INSERTS_ONLY, &config).await;
    client
        .batch_execute("INSERT INTO items (id, name) VALUES (1, 'a'); UPDATE items SET qty = 3; DELETE FROM items")
        .await
        .expect("statements");
    let ops: Vec<String> = journal(&client).await.into_iter().map(|c| c.op).collect();
    assert_eq!(ops, ["INSERT"]);
}

async fn truncate_is_refused_unless_captured(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'a')").await.expect("insert");
    let err = client.batch_execute("TRUNCATE items").await.expect_err("refused");
    let db_err = err.as_db_error().expect("a server error");
    assert_eq!(db_err.code().code(), "0A000");
    assert!(db_err.message().contains("TRUNCATE of public.items is not captured"), "{}", db_err.message());
    assert!(db_err.hint().is_some_and(|hint| hint.contains("events(")), "{:?}", db_err.hint());

    const WITH_TRUNCATE: Model = Model { events: Events { truncate: true, ..Events::DEFAULT }, ..ITEMS };
    client
        .batch_execute(&db_listenable::ddl::install_script(&WITH_TRUNCATE, &config).to_string())
        .await
        .expect("reinstall");
    client.batch_execute("TRUNCATE items").await.expect("captured truncate");
    let rows = journal(&client).await;
    let last = rows.last().expect("a row");
    assert_eq!((last.op.as_str(), &last.old, &last.new), ("TRUNCATE", &None, &None));
}

async fn rolled_back_transactions_leave_no_journal_rows(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    client
        .batch_execute("BEGIN; INSERT INTO items (id, name) VALUES (1, 'a'); UPDATE items SET qty = 9; ROLLBACK")
        .await
        .expect("rolled back");
    client.batch_execute("INSERT INTO items (id, name) VALUES (2, 'b')").await.expect("committed");
    let ids: Vec<_> = journal(&client).await.iter().map(Captured::id).collect();
    assert_eq!(ids, [Some(2)]);
}

async fn a_one_megabyte_row_is_captured_whole(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    let big: String = (0..1_048_576).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    client.execute("INSERT INTO items (id, name) VALUES (1, $1)", &[&big]).await.expect("insert 1 MB");
    let rows = journal(&client).await;
    assert_eq!(rows[0].new.as_ref().expect("new row")["name"].as_str(), Some(big.as_str()));
}

async fn upserts_copy_and_key_moves_are_captured(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'a')").await.expect("insert");
    client
        .batch_execute(
            "INSERT INTO items (id, name) VALUES (1, 'b') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
        )
        .await
        .expect("upsert update");
    client
        .batch_execute("INSERT INTO items (id, name) VALUES (1, 'c') ON CONFLICT (id) DO NOTHING")
        .await
        .expect("upsert nothing");
    let sink = client.copy_in("COPY items (id, name) FROM STDIN").await.expect("copy");
    futures::pin_mut!(sink);
    use futures::SinkExt;
    sink.send(bytes::Bytes::from_static(b"2\tcopied\n3\tcopied\n")).await.expect("copy rows");
    sink.as_mut().finish().await.expect("finish copy");
    client.batch_execute("UPDATE items SET id = 10 WHERE id = 1").await.expect("move key");

    let rows = journal(&client).await;
    let mut key_move = ops_and_ids(rows[4..].to_vec());
    key_move.sort();
    assert_eq!(
        ops_and_ids(rows[..4].to_vec()),
        [
            ("INSERT".into(), None, Some(1)),
            ("UPDATE".into(), Some(1), Some(1)),
            ("INSERT".into(), None, Some(2)),
            ("INSERT".into(), None, Some(3)),
        ]
    );
    // A key move is the change of each key: the key left, the key taken.
    assert_eq!(key_move, [("DELETE".into(), Some(1), None), ("INSERT".into(), None, Some(10))]);
    assert_eq!(rows[1].new.as_ref().expect("new")["name"], "b");
}

async fn composite_keys_pair_updates_of_the_same_row(config: CaptureConfig) {
    let (_db, client) = journal_db().await;
    const LINES: Model = Model {
        rust_name: "Line",
        schema: "public",
        table: "lines",
        key: &["order_id", "line_no"],
        columns: &[crate::col("order_id"), crate::col("line_no"), crate::col("sku")],
        quiet: &[],
        exclude: &[],
        events: Events::DEFAULT,
    };
    captured(
        &client,
        "CREATE TABLE lines (order_id int, line_no int, sku text, PRIMARY KEY (order_id, line_no))",
        &LINES,
        &config,
    )
    .await;
    client
        .batch_execute(
            "INSERT INTO lines VALUES (7, 1, 'x'), (7, 2, 'y'), (8, 1, 'z');
             UPDATE lines SET sku = sku || '!' ;
             UPDATE lines SET line_no = 3 WHERE order_id = 7 AND line_no = 2",
        )
        .await
        .expect("statements");
    let key = |row: &Option<serde_json::Value>| row.as_ref().map(|r| (r["order_id"].clone(), r["line_no"].clone(), r["sku"].clone()));
    // After the three inserts: the changes of each key.
    let mut updates: Vec<_> = journal(&client).await.into_iter().skip(3).map(|c| (key(&c.old), key(&c.new))).collect();
    updates.sort_by_key(|pair| format!("{pair:?}"));
    let row = |order: i64, line: i64, sku: &str| Some((json!(order), json!(line), json!(sku)));
    let mut expected = vec![
        (row(7, 1, "x"), row(7, 1, "x!")),
        (row(7, 2, "y"), row(7, 2, "y!")),
        (row(7, 2, "y!"), None),
        (None, row(7, 3, "y!")),
        (row(8, 1, "z"), row(8, 1, "z!")),
    ];
    expected.sort_by_key(|pair| format!("{pair:?}"));
    assert_eq!(updates, expected);
}

async fn key_moves_are_paired_with_their_own_rows_even_when_keys_shift(config: CaptureConfig) {
    let (_db, client) = journal_db().await;
    // A deferrable key lets one statement shift every key by one: key 2 then holds
    // another row, so the change of key 2 is from "two" to "one".
    const SHIFTED: &str = "CREATE TABLE items (id bigint PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, name text NOT NULL,
                                               qty int NOT NULL DEFAULT 0, updated_at timestamptz)";
    captured(&client, SHIFTED, &ITEMS, &config).await;
    client
        .batch_execute("INSERT INTO items (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three'), (9, 'nine')")
        .await
        .expect("insert");
    client
        .batch_execute("UPDATE items SET id = id + 1, qty = 7 WHERE id < 9; UPDATE items SET qty = 1 WHERE id = 9")
        .await
        .expect("shift keys");
    let mut changes: Vec<(String, i64, String, String)> = journal(&client)
        .await
        .into_iter()
        .skip(4)
        .map(|c| {
            let row = c.new.as_ref().or(c.old.as_ref()).cloned().unwrap_or_default();
            let name = |row: &Option<serde_json::Value>| {
                row.as_ref().and_then(|r| r["name"].as_str()).unwrap_or("-").to_owned()
            };
            (c.op, row["id"].as_i64().unwrap_or(-1), name(&c.old), name(&c.new))
        })
        .collect();
    changes.sort();
    let change = |op: &str, id: i64, old: &str, new: &str| (op.to_owned(), id, old.to_owned(), new.to_owned());
    let mut expected = vec![
        change("DELETE", 1, "one", "-"),
        change("UPDATE", 2, "two", "one"),
        change("UPDATE", 3, "three", "two"),
        change("INSERT", 4, "-", "three"),
        change("UPDATE", 9, "nine", "nine"),
    ];
    if config.granularity == Granularity::Row {
        // Each moved row also reports the key it took (a repeat of the change of keys 2 and 3).
        expected.extend([change("INSERT", 2, "-", "one"), change("INSERT", 3, "-", "two")]);
    }
    expected.sort();
    assert_eq!(changes, expected);
}

async fn a_statement_mixing_key_moves_and_plain_updates_captures_each_row_once(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')").await.expect("insert");
    client
        .batch_execute("UPDATE items SET id = CASE WHEN id = 1 THEN 100 ELSE id END, qty = qty + 1")
        .await
        .expect("update");
    let mut pairs: Vec<(Option<i64>, Option<i64>)> =
        ops_and_ids(journal(&client).await).into_iter().skip(3).map(|c| (c.1, c.2)).collect();
    pairs.sort();
    assert_eq!(pairs, [(None, Some(100)), (Some(1), None), (Some(2), Some(2)), (Some(3), Some(3))]);
}

async fn merge_statements_are_captured(config: CaptureConfig) {
    let (_db, client) = items_db(&config).await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b')").await.expect("insert");
    client
        .batch_execute(
            "MERGE INTO items t USING (VALUES (1, 'a2'), (3, 'c')) s(id, name) ON t.id = s.id
             WHEN MATCHED THEN UPDATE SET name = s.name
             WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name);
             MERGE INTO items t USING (VALUES (2)) s(id) ON t.id = s.id WHEN MATCHED THEN DELETE",
        )
        .await
        .expect("merge");
    let mut merged: Vec<(String, Option<i64>)> =
        journal(&client).await.into_iter().skip(2).map(|c| (c.op.clone(), c.id())).collect();
    merged.sort();
    assert_eq!(merged, [("DELETE".into(), Some(2)), ("INSERT".into(), Some(3)), ("UPDATE".into(), Some(1))]);
}
}

/// The capture's statements are planned once per session, with the transition tables'
/// sizes of the first call, and the pairing of an UPDATE's old and new rows is estimated
/// quadratically (transition tables have no statistics). A session whose first captured
/// UPDATE was large thus carried a plan PostgreSQL JIT-compiles, and compiled it again in
/// every later capture of that session: measured 80-160 ms per single-row UPDATE, instead
/// of under 1 ms. Seen as `JIT:` in the capture's plan, which `auto_explain` logs.
#[tokio::test]
async fn capture_statements_are_never_jit_compiled() {
    use futures::StreamExt;
    use tokio_postgres::AsyncMessage;

    let (db, client) = items_db(&CaptureConfig::default()).await;
    let jit: bool = client.query_one("SELECT pg_jit_available()", &[]).await.expect("jit available").get(0);
    if !jit {
        eprintln!("skipped: this PostgreSQL has no JIT provider, so nothing can be JIT-compiled");
        return;
    }
    client
        .batch_execute("INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 100000) g")
        .await
        .expect("fill");

    // A writer whose session logs every plan, the capture's nested statements included.
    let (writer, mut connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect");
    let (plans, mut logged) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notice(notice) = message {
                let _ = plans.send(notice.message().to_owned());
            }
        }
    });
    writer
        .batch_execute(
            "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
             SET auto_explain.log_nested_statements = on; SET client_min_messages = log; SET jit = on",
        )
        .await
        .expect("log plans");
    writer.batch_execute("UPDATE items SET qty = qty + 1").await.expect("bulk update");
    writer.batch_execute("UPDATE items SET qty = qty + 1 WHERE id = 7").await.expect("single-row update");
    // With every plan costly enough to compile, the other operations' captures too.
    writer
        .batch_execute(
            "SET jit_above_cost = 0; INSERT INTO items (id, name) VALUES (0, 'new'); DELETE FROM items WHERE id = 0",
        )
        .await
        .expect("insert and delete");
    writer.batch_execute("SELECT 1").await.expect("flush");

    let mut capture_plans = Vec::new();
    while let Ok(plan) = logged.try_recv() {
        if plan.contains(r#"INSERT INTO "db_listenable"."changes""#) {
            capture_plans.push(plan);
        }
    }
    assert_eq!(capture_plans.len(), 4, "one capture plan per statement: {capture_plans:#?}");
    let compiled: Vec<&String> = capture_plans.iter().filter(|plan| plan.contains("JIT:")).collect();
    assert!(compiled.is_empty(), "capture statements were JIT-compiled: {compiled:#?}");
    // The same estimate made the planner pair the bulk UPDATE's rows by sorting both
    // sides (and spilling them to disk past `work_mem`), where hashing one is faster.
    let bulk = &capture_plans[0];
    assert!(bulk.contains("Hash Full Join") && !bulk.contains("Sort"), "the bulk UPDATE's pairing sorts: {bulk}");
    // The fill, the bulk UPDATE, then one entry each: capture still captured everything.
    assert_eq!(journal(&client).await.len(), 100_000 + 100_000 + 1 + 1 + 1);
}
