//! What the generated triggers put in the journal, operation by operation.

use db_listenable::ddl::CaptureConfig;
use db_listenable::{Events, Model};
use serde_json::json;

use crate::{Captured, ITEMS, captured, journal, journal_db};

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0,
                                               updated_at timestamptz NOT NULL DEFAULT now())";

async fn items_db() -> (pg_harness::TestDb, tokio_postgres::Client) {
    let (db, client) = journal_db().await;
    captured(&client, ITEMS_TABLE, &ITEMS, &CaptureConfig::default()).await;
    (db, client)
}

fn without_timestamps(rows: Vec<Captured>) -> Vec<(String, Option<serde_json::Value>, Option<i64>, Option<i64>)> {
    let id = |row: &Option<serde_json::Value>| row.as_ref().and_then(|r| r["id"].as_i64());
    rows.into_iter().map(|c| (c.op.clone(), c.key.clone(), id(&c.old), id(&c.new))).collect()
}

#[tokio::test]
async fn insert_update_delete_are_journalled_with_old_and_new_rows() {
    let (_db, client) = items_db().await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'pen')").await.expect("insert");
    client.batch_execute("UPDATE items SET qty = 5 WHERE id = 1").await.expect("update");
    client.batch_execute("DELETE FROM items WHERE id = 1").await.expect("delete");
    let rows = journal(&client).await;
    assert_eq!(
        without_timestamps(rows.clone()),
        [
            ("INSERT".into(), Some(json!([1])), None, Some(1)),
            ("UPDATE".into(), Some(json!([1])), Some(1), Some(1)),
            ("DELETE".into(), Some(json!([1])), Some(1), None),
        ]
    );
    assert_eq!(rows[1].old.as_ref().expect("old")["qty"], 0);
    assert_eq!(rows[1].new.as_ref().expect("new")["qty"], 5);
    assert_eq!(rows[0].new.as_ref().expect("new")["name"], "pen");
    assert!(rows.iter().all(|row| row.table == "items"));
}

#[tokio::test]
async fn updates_of_ignored_columns_only_and_no_op_updates_emit_nothing() {
    let (_db, client) = items_db().await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'pen')").await.expect("insert");
    client.batch_execute("UPDATE items SET updated_at = now() + interval '1 day'").await.expect("touch");
    client.batch_execute("UPDATE items SET name = name").await.expect("no-op");
    client.batch_execute("UPDATE items SET qty = 2, updated_at = now()").await.expect("real change");
    let ops: Vec<String> = journal(&client).await.into_iter().map(|c| c.op).collect();
    assert_eq!(ops, ["INSERT", "UPDATE"]);
}

#[tokio::test]
async fn only_the_chosen_events_are_captured() {
    let (_db, client) = journal_db().await;
    const INSERTS_ONLY: Model =
        Model { events: Events { insert: true, update: false, delete: false, truncate: false }, ..ITEMS };
    captured(&client, ITEMS_TABLE, &INSERTS_ONLY, &CaptureConfig::default()).await;
    client
        .batch_execute("INSERT INTO items (id, name) VALUES (1, 'a'); UPDATE items SET qty = 3; DELETE FROM items")
        .await
        .expect("statements");
    let ops: Vec<String> = journal(&client).await.into_iter().map(|c| c.op).collect();
    assert_eq!(ops, ["INSERT"]);
}

#[tokio::test]
async fn truncate_is_refused_unless_captured() {
    let (_db, client) = items_db().await;
    client.batch_execute("INSERT INTO items (id, name) VALUES (1, 'a')").await.expect("insert");
    let err = client.batch_execute("TRUNCATE items").await.expect_err("refused");
    let db_err = err.as_db_error().expect("a server error");
    assert_eq!(db_err.code().code(), "0A000");
    assert!(db_err.message().contains("TRUNCATE of public.items is not captured"), "{}", db_err.message());
    assert!(db_err.hint().is_some_and(|hint| hint.contains("events(")), "{:?}", db_err.hint());

    const WITH_TRUNCATE: Model = Model { events: Events { truncate: true, ..Events::DEFAULT }, ..ITEMS };
    client
        .batch_execute(&db_listenable::ddl::install_script(&WITH_TRUNCATE, &CaptureConfig::default()).to_string())
        .await
        .expect("reinstall");
    client.batch_execute("TRUNCATE items").await.expect("captured truncate");
    let rows = journal(&client).await;
    let last = rows.last().expect("a row");
    assert_eq!((last.op.as_str(), &last.old, &last.new), ("TRUNCATE", &None, &None));
}

#[tokio::test]
async fn rolled_back_transactions_leave_no_journal_rows() {
    let (_db, client) = items_db().await;
    client
        .batch_execute("BEGIN; INSERT INTO items (id, name) VALUES (1, 'a'); UPDATE items SET qty = 9; ROLLBACK")
        .await
        .expect("rolled back");
    client.batch_execute("INSERT INTO items (id, name) VALUES (2, 'b')").await.expect("committed");
    let keys: Vec<_> = journal(&client).await.into_iter().map(|c| c.key).collect();
    assert_eq!(keys, [Some(json!([2]))]);
}

#[tokio::test]
async fn a_one_megabyte_row_is_captured_whole() {
    let (_db, client) = items_db().await;
    let big: String = (0..1_048_576).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    client.execute("INSERT INTO items (id, name) VALUES (1, $1)", &[&big]).await.expect("insert 1 MB");
    let rows = journal(&client).await;
    assert_eq!(rows[0].new.as_ref().expect("new row")["name"].as_str(), Some(big.as_str()));
}

#[tokio::test]
async fn upserts_copy_and_key_moves_are_captured() {
    let (_db, client) = items_db().await;
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
    assert_eq!(
        without_timestamps(rows.clone()),
        [
            ("INSERT".into(), Some(json!([1])), None, Some(1)),
            ("UPDATE".into(), Some(json!([1])), Some(1), Some(1)),
            ("INSERT".into(), Some(json!([2])), None, Some(2)),
            ("INSERT".into(), Some(json!([3])), None, Some(3)),
            ("UPDATE".into(), Some(json!([10])), Some(1), Some(10)),
        ]
    );
    assert_eq!(rows[1].new.as_ref().expect("new")["name"], "b");
}

#[tokio::test]
async fn composite_keys_are_recorded_in_key_order() {
    let (_db, client) = journal_db().await;
    const LINES: Model = Model {
        rust_name: "Line",
        schema: "public",
        table: "lines",
        key: &["order_id", "line_no"],
        columns: &[crate::col("order_id"), crate::col("line_no"), crate::col("sku")],
        events: Events::DEFAULT,
    };
    captured(
        &client,
        "CREATE TABLE lines (order_id int, line_no int, sku text, PRIMARY KEY (order_id, line_no))",
        &LINES,
        &CaptureConfig::default(),
    )
    .await;
    client.batch_execute("INSERT INTO lines VALUES (7, 2, 'x'); DELETE FROM lines").await.expect("statements");
    let keys: Vec<_> = journal(&client).await.into_iter().map(|c| c.key).collect();
    assert_eq!(keys, [Some(json!([7, 2])), Some(json!([7, 2]))]);
}
