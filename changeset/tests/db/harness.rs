//! One face for both backends, so the behavioural suite is written once.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::{Arc, Mutex};

use pg_changeset::{
    Backend, BoxError, BoxFuture, Catalog, Changeset, DbOperation, Event, EventRecord, FnCatalog, Outbox, PushError,
    PushOptions, PushOutcome, Sqlx, SqlxUnprepared, Statement, TokioPostgres, Unprepared,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A backend as the suite drives it: connect, push, and read back with plain SQL.
pub trait TestBackend: Sized + Send {
    /// The changeset backend.
    type B: Backend;

    /// Opens a connection (sqlx: a small pool) to `url`.
    fn connect(url: &str) -> impl Future<Output = Self> + Send;

    /// Pushes `changeset` with `options`.
    fn push(
        &mut self,
        changeset: Changeset<Self::B>,
        options: &PushOptions<Self::B>,
    ) -> impl Future<Output = Result<PushOutcome, PushError>> + Send;

    /// Runs setup SQL (several statements allowed).
    fn batch(&mut self, sql: &str) -> impl Future<Output = ()> + Send;

    /// The first column of every row, as text.
    fn column(&mut self, sql: &str) -> impl Future<Output = Vec<String>> + Send;

    /// Column `v` of the row `id` of `table`, read by the driver with its own decoder.
    fn direct<D: crate::types::Direct + Send>(
        &mut self,
        table: &str,
        id: i32,
    ) -> impl Future<Output = Option<D>> + Send;

    /// The SQLSTATE of `error` if it is this driver's own error type (proves the
    /// driver error reaches the caller as the `source`).
    fn driver_sqlstate(error: &(dyn StdError + 'static)) -> Option<String>;
}

pub struct SqlxDb {
    pub pool: sqlx::PgPool,
}

impl TestBackend for SqlxDb {
    type B = Sqlx;

    async fn connect(url: &str) -> Self {
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(url).await.expect("connect (sqlx)");
        SqlxDb { pool }
    }

    async fn push(
        &mut self,
        changeset: Changeset<Sqlx>,
        options: &PushOptions<Sqlx>,
    ) -> Result<PushOutcome, PushError> {
        changeset.push_with(&self.pool, options).await
    }

    async fn batch(&mut self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&self.pool).await.expect("setup SQL");
    }

    async fn column(&mut self, sql: &str) -> Vec<String> {
        let sql = format!("SELECT x::text FROM ({sql}) AS q(x)");
        sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .expect("query")
            .into_iter()
            .map(|v| v.unwrap_or_else(|| "NULL".into()))
            .collect()
    }

    async fn direct<D: crate::types::Direct + Send>(&mut self, table: &str, id: i32) -> Option<D> {
        let sql = format!("SELECT v{} FROM {table} WHERE id = {id}", D::SQLX_CAST);
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await.expect("direct read (sqlx)");
        D::sqlx(&row)
    }

    fn driver_sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        let error = error.downcast_ref::<sqlx::Error>()?;
        error.as_database_error()?.code().map(|c| c.into_owned())
    }
}

/// The sqlx backend with unprepared statements, pushed with the [`Unprepared`] connector;
/// reads back as [`SqlxDb`].
pub struct SqlxUnpreparedDb(SqlxDb);

impl TestBackend for SqlxUnpreparedDb {
    type B = SqlxUnprepared;

    async fn connect(url: &str) -> Self {
        SqlxUnpreparedDb(SqlxDb::connect(url).await)
    }

    async fn push(
        &mut self,
        changeset: Changeset<SqlxUnprepared>,
        options: &PushOptions<SqlxUnprepared>,
    ) -> Result<PushOutcome, PushError> {
        changeset.push_with(Unprepared(&self.0.pool), options).await
    }

    async fn batch(&mut self, sql: &str) {
        self.0.batch(sql).await
    }

    async fn column(&mut self, sql: &str) -> Vec<String> {
        self.0.column(sql).await
    }

    async fn direct<D: crate::types::Direct + Send>(&mut self, table: &str, id: i32) -> Option<D> {
        self.0.direct(table, id).await
    }

    fn driver_sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        SqlxDb::driver_sqlstate(error)
    }
}

pub struct TokioPostgresDb {
    pub client: tokio_postgres::Client,
}

impl TestBackend for TokioPostgresDb {
    type B = TokioPostgres;

    async fn connect(url: &str) -> Self {
        let (client, connection) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect (tokio-postgres)");
        tokio::spawn(connection);
        TokioPostgresDb { client }
    }

    async fn push(
        &mut self,
        changeset: Changeset<TokioPostgres>,
        options: &PushOptions<TokioPostgres>,
    ) -> Result<PushOutcome, PushError> {
        changeset.push_with(&mut self.client, options).await
    }

    async fn batch(&mut self, sql: &str) {
        self.client.batch_execute(sql).await.expect("setup SQL");
    }

    async fn column(&mut self, sql: &str) -> Vec<String> {
        let sql = format!("SELECT x::text FROM ({sql}) AS q(x)");
        let rows = self.client.query(&sql, &[]).await.expect("query");
        rows.iter().map(|row| row.get::<_, Option<String>>(0).unwrap_or_else(|| "NULL".into())).collect()
    }

    async fn direct<D: crate::types::Direct + Send>(&mut self, table: &str, id: i32) -> Option<D> {
        let sql = format!("SELECT v{} FROM {table} WHERE id = {id}", D::TOKIO_CAST);
        let row = self.client.query_one(&sql, &[]).await.expect("direct read (tokio-postgres)");
        D::tokio(&row)
    }

    fn driver_sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        let error = error.downcast_ref::<tokio_postgres::Error>()?;
        error.code().map(|c| c.code().to_owned())
    }
}

/// A fresh database and a connection to it.
pub async fn fresh<T: TestBackend>() -> (pg_harness::TestDb, T) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let handle = T::connect(db.url()).await;
    (db, handle)
}

/// The events of the recording catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Noted {
    /// Something with a key.
    Happened { key: String },
    /// Something about a row.
    Row { id: i64 },
    /// An event whose handler fails.
    Broken { id: i64 },
}

impl Event for Noted {
    fn name(&self) -> &'static str {
        match self {
            Noted::Happened { .. } => "happened",
            Noted::Row { .. } => "row",
            Noted::Broken { .. } => "broken",
        }
    }
}

/// A typed catalog that records what it dispatches; `Broken` events fail.
#[derive(Default)]
pub struct Recorder {
    pub seen: Mutex<Vec<Noted>>,
}

impl Recorder {
    pub fn seen(&self) -> Vec<Noted> {
        self.seen.lock().expect("recorder lock").clone()
    }
}

impl Catalog for Recorder {
    const NAME: &'static str = "recorder";
    type Event = Noted;

    fn dispatch<'a>(&'a self, event: &'a Noted) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            if let Noted::Broken { id } = event {
                return Err(format!("cannot handle row {id}").into());
            }
            self.seen.lock().map_err(|_| "recorder lock poisoned")?.push(event.clone());
            Ok(())
        })
    }
}

/// What a named recorder saw: `(event name, payload)` in dispatch order.
pub type Seen = Arc<Mutex<Vec<(String, serde_json::Value)>>>;

/// A named catalog that records `(name, payload)`.
pub fn named_recorder(name: &str) -> (Arc<FnCatalog>, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let catalog = FnCatalog::new(name).on("planning_updated", move |event| {
        let log = Arc::clone(&log);
        async move {
            log.lock().map_err(|_| "lock poisoned")?.push((event.name().to_owned(), event.payload().clone()));
            Ok(())
        }
    });
    (Arc::new(catalog), seen)
}

/// An outbox that writes records to the `outbox` table through the backend's own
/// statement runner, so it works for both backends.
#[derive(Debug)]
pub struct TableOutbox;

pub const OUTBOX_TABLE: &str = "CREATE TABLE outbox (seq bigserial PRIMARY KEY, catalog text NOT NULL, name text NOT NULL, payload jsonb NOT NULL)";

impl<B: Backend> Outbox<B> for TableOutbox {
    fn write<'a>(
        &'a self,
        conn: &'a mut B::Connection<'_>,
        events: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let records = serde_json::to_value(events)?;
            B::execute_sql(
                conn,
                "INSERT INTO outbox (catalog, name, payload) \
                 SELECT * FROM jsonb_to_recordset($1) AS e(catalog text, name text, payload jsonb)",
                &[pg_changeset::Value::Json(records)],
                false,
            )
            .await?;
            Ok(())
        })
    }
}

/// Waits at a barrier on the first run only: makes two pushes overlap in a known way,
/// then lets a retried attempt through alone.
#[derive(Debug)]
pub struct Rendezvous {
    pub barrier: Arc<tokio::sync::Barrier>,
    pub first: std::sync::atomic::AtomicBool,
}

impl Rendezvous {
    pub fn new(barrier: &Arc<tokio::sync::Barrier>) -> Self {
        Rendezvous { barrier: Arc::clone(barrier), first: std::sync::atomic::AtomicBool::new(true) }
    }
}

impl PartialEq for Rendezvous {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.barrier, &other.barrier)
    }
}

impl<B: Backend> DbOperation<B> for Rendezvous {
    fn execute<'a>(&'a self, _conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.barrier.wait().await;
            }
            Ok(())
        })
    }
}

/// A random nesting of changesets: each item is an operation or a child changeset.
#[derive(Debug, Clone)]
pub enum Tree {
    Op,
    Child(Vec<Tree>),
}

impl Tree {
    pub fn strategy() -> impl Strategy<Value = Tree> {
        let tree =
            Just(Tree::Op).prop_recursive(4, 30, 5, |inner| prop::collection::vec(inner, 0..5).prop_map(Tree::Child));
        prop::collection::vec(tree, 1..6).prop_map(Tree::Child)
    }

    /// Builds the changeset (each operation inserts its number into `ops`), numbering
    /// operations in the order a reader meets them; returns the expected order.
    pub fn build<B: Backend>(&self) -> (Changeset<B>, Vec<String>) {
        let mut next = 0;
        let changeset = self.build_into(&mut next);
        (changeset, (1..=next).map(|n| n.to_string()).collect())
    }

    fn build_into<B: Backend>(&self, next: &mut i64) -> Changeset<B> {
        let mut changeset = Changeset::new();
        let items = match self {
            Tree::Op => std::slice::from_ref(self),
            Tree::Child(items) => items.as_slice(),
        };
        for item in items {
            match item {
                Tree::Op => {
                    *next += 1;
                    changeset.add_db_operation(Statement::new("INSERT INTO ops (label) VALUES ($1)").bind(*next));
                }
                child => {
                    changeset.merge_child(child.build_into(next));
                }
            }
        }
        changeset
    }
}
