//! Derived models end to end: the attributes of `#[derive(DbListenable)]` decide what
//! the installed triggers capture, and the captured rows decode back into the struct.

use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use serde::Deserialize;

use crate::{captured, journal, journal_db};

/// Every attribute that changes capture: schema, table, events, composite key, a
/// renamed column (sqlx's rename, and serde's while rows are decoded by serde), quiet.
#[derive(Debug, PartialEq, Deserialize, sqlx::FromRow, DbListenable)]
#[db_listenable(schema = "chat", table = "message_log", events(insert, update, truncate))]
struct Message {
    #[db_listenable(key)]
    #[sqlx(rename = "chat")]
    #[serde(rename = "chat")]
    chat_id: i64,
    #[db_listenable(key)]
    number: i32,
    body: String,
    #[db_listenable(quiet)]
    read_count: i64,
}

const MESSAGE_TABLE: &str = "CREATE SCHEMA chat;
    CREATE TABLE chat.message_log (chat bigint, number int, body text NOT NULL, read_count bigint NOT NULL DEFAULT 0,
                                   PRIMARY KEY (chat, number))";

#[tokio::test]
async fn attributes_decide_what_is_captured_and_rows_decode_into_the_model() {
    let (_db, client) = journal_db().await;
    captured(&client, MESSAGE_TABLE, &Message::MODEL, &CaptureConfig::default()).await;
    client
        .batch_execute(
            "INSERT INTO chat.message_log (chat, number, body) VALUES (1, 1, 'hello'), (1, 2, 'world');
             UPDATE chat.message_log SET read_count = read_count + 1;            -- quiet column only  
             UPDATE chat.message_log SET body = 'hello!' WHERE number = 1;
             DELETE FROM chat.message_log WHERE number = 2;                       -- delete not captured
             TRUNCATE chat.message_log;                                           -- truncate captured",
        )
        .await
        .expect("writes");
    let rows = journal(&client).await;
    let ops: Vec<&str> = rows.iter().map(|c| c.op.as_str()).collect();
    assert_eq!(ops, ["INSERT", "INSERT", "UPDATE", "TRUNCATE"]);
    assert!(rows.iter().all(|c| (c.schema.as_str(), c.table.as_str()) == ("chat", "message_log")));

    let decode = |row: &Option<serde_json::Value>| -> Message {
        serde_json::from_value(row.clone().expect("a row")).expect("the journal row decodes into the model")
    };
    assert_eq!(decode(&rows[0].new), Message { chat_id: 1, number: 1, body: "hello".into(), read_count: 0 });
    assert_eq!(decode(&rows[2].old), Message { chat_id: 1, number: 1, body: "hello".into(), read_count: 1 });
    assert_eq!(decode(&rows[2].new), Message { chat_id: 1, number: 1, body: "hello!".into(), read_count: 1 });
}

#[test]
fn derived_models_are_registered_for_migrations_and_drift() {
    let models = db_listenable::registry::models();
    assert!(models.contains(&Message::MODEL), "{models:?}");
    let script =
        db_listenable::migrations::desired_script(&models, &CaptureConfig::default()).expect("no conflict").to_string();
    assert!(script.contains(&ddl::qualified_table(&Message::MODEL)), "the migration covers the derived model");
}
