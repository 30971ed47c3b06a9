//! db-listenable against a real PostgreSQL (one test binary, modules per topic).

mod capture;
mod drift;
mod install;
mod quoting;
mod snapshots;

use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::{Column, Events, Model};
use serde_json::Value;

/// Connects with tokio-postgres and drives the connection in the background.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap_or_else(|err| panic!("connect: {err}"));
    tokio::spawn(connection);
    client
}

/// A column that counts.
pub const fn col(name: &'static str) -> Column {
    Column { name, field: name, ignored: false }
}

/// The model most tests use: `public.items (id, name, qty, updated_at ignored)`.
pub const ITEMS: Model = Model {
    rust_name: "Item",
    schema: "public",
    table: "items",
    key: &["id"],
    columns: &[col("id"), col("name"), col("qty"), Column { name: "updated_at", field: "updated_at", ignored: true }],
    events: Events::DEFAULT,
};

/// A fresh database with the journal installed.
pub async fn journal_db() -> (pg_harness::TestDb, tokio_postgres::Client) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = connect(db.url()).await;
    client.batch_execute(&ddl::journal_script().to_string()).await.expect("install journal");
    (db, client)
}

/// Creates `table_sql` and installs capture for `model`.
pub async fn captured(client: &tokio_postgres::Client, table_sql: &str, model: &Model, config: &CaptureConfig) {
    client.batch_execute(table_sql).await.expect("create table");
    client.batch_execute(&ddl::install_script(model, config).to_string()).await.expect("install capture");
}

/// One journal row, as the tests look at it.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    pub table: String,
    pub op: String,
    pub key: Option<Value>,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Every journal row, in capture order.
pub async fn journal(client: &tokio_postgres::Client) -> Vec<Captured> {
    client
        .query("SELECT table_name, op, row_key, old_row, new_row FROM db_listenable.changes ORDER BY id", &[])
        .await
        .expect("read journal")
        .iter()
        .map(|row| Captured { table: row.get(0), op: row.get(1), key: row.get(2), old: row.get(3), new: row.get(4) })
        .collect()
}
