//! Every attribute at once.

use db_listenable::{DbListenable, Events};

#[derive(DbListenable, sqlx::FromRow)]
#[db_listenable(schema = "chat", table = "message_log", events(insert, update, delete, truncate))]
#[db_listenable(crate = "::db_listenable", exclude("attachment"), quiet("touched_at"))]
pub struct Message {
    #[db_listenable(key)]
    #[sqlx(rename = "chat")]
    pub chat_id: i64,
    #[db_listenable(key)]
    pub number: i32,
    pub body: String,
    #[db_listenable(quiet)]
    pub read_count: i64,
}

#[derive(DbListenable, sqlx::FromRow)]
#[db_listenable(primary_key("chat", "number"))]
pub struct Reaction {
    #[sqlx(rename = "chat")]
    pub chat_id: i64,
    pub number: i32,
}

fn main() {
    let model = Message::MODEL;
    assert_eq!((model.schema, model.table), ("chat", "message_log"));
    assert_eq!(model.key, ["chat", "number"]);
    assert_eq!(model.events, Events { insert: true, update: true, delete: true, truncate: true });
    assert_eq!(model.quiet, ["read_count", "touched_at"]);
    assert_eq!(model.exclude, ["attachment"]);
    assert_eq!(Reaction::MODEL.key, ["chat", "number"]);
}
