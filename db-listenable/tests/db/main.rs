//! db-listenable against a real PostgreSQL (one test binary, modules per topic).

/// Runs a test body once per capture granularity: both must capture the same rows.
macro_rules! for_each_granularity {
    ($(async fn $name:ident($config:ident: CaptureConfig) $body:block)*) => {
        $(
            mod $name {
                use super::*;
                use db_listenable::ddl::Granularity;

                async fn run($config: CaptureConfig) $body

                #[tokio::test]
                async fn row_level() {
                    run(CaptureConfig { granularity: Granularity::Row, ..CaptureConfig::default() }).await;
                }

                #[tokio::test]
                async fn statement_level() {
                    run(CaptureConfig { granularity: Granularity::Statement, ..CaptureConfig::default() }).await;
                }
            }
        )*
    };
}

mod attributes;
mod capture;
mod columns;
mod derived;
mod drift;
mod install;
mod keys;
mod locks;
mod partitions;
mod quoting;
mod search_path;
mod snapshots;
mod uninstall;

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
    Column { name, field: name, optional: false }
}

/// The model most tests use: `public.items (id, name, qty, updated_at quiet)`.
pub const ITEMS: Model = Model {
    rust_name: "Item",
    schema: "public",
    table: "items",
    key: &["id"],
    columns: &[col("id"), col("name"), col("qty"), Column { name: "updated_at", field: "updated_at", optional: false }],
    quiet: &["updated_at"],
    exclude: &[],
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
    /// Schema of the changed table.
    pub schema: String,
    /// The changed table.
    pub table: String,
    /// `INSERT`, `UPDATE`, `DELETE` or `TRUNCATE`.
    pub op: String,
    /// The row before the change.
    pub old: Option<Value>,
    /// The row after the change.
    pub new: Option<Value>,
}

impl Captured {
    /// The `id` of the row the change is about (new row, or old row for a delete).
    pub fn id(&self) -> Option<i64> {
        self.new.as_ref().or(self.old.as_ref()).and_then(|row| row["id"].as_i64())
    }
}

/// Every journal row, in capture order, with its table's names and the operation spelled out.
pub async fn journal(client: &tokio_postgres::Client) -> Vec<Captured> {
    client
        .query(
            "SELECT t.schema_name, t.table_name,
                    CASE c.op WHEN 'I' THEN 'INSERT' WHEN 'U' THEN 'UPDATE' WHEN 'D' THEN 'DELETE'
                              WHEN 'T' THEN 'TRUNCATE' END,
                    c.old_row, c.new_row
             FROM db_listenable.changes c JOIN db_listenable.tables t ON t.id = c.table_id
             ORDER BY c.id",
            &[],
        )
        .await
        .expect("read journal")
        .iter()
        .map(|row| Captured { schema: row.get(0), table: row.get(1), op: row.get(2), old: row.get(3), new: row.get(4) })
        .collect()
}
