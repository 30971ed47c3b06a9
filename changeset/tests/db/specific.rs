//! What only one backend has: its own connectors and hand-written operations using the
//! driver's API directly.

use pg_changeset::{
    BoxError, BoxFuture, Changeset, DbOperation, PushOptions, Sqlx, SqlxUnprepared, Statement, TokioPostgres,
    Unprepared,
};
use sqlx::Connection;

use crate::harness::{SqlxDb, TestBackend, TokioPostgresDb, fresh};

/// A user operation written with sqlx's API.
#[derive(Debug, PartialEq)]
struct SqlxInsert(&'static str);

impl DbOperation<Sqlx> for SqlxInsert {
    fn execute<'a>(&'a self, conn: &'a mut sqlx::PgConnection) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO t (name) VALUES ($1)").bind(self.0).execute(&mut *conn).await?;
            Ok(())
        })
    }
}

/// A user operation written with tokio-postgres's API.
#[derive(Debug, PartialEq)]
struct TokioInsert(&'static str);

impl DbOperation<TokioPostgres> for TokioInsert {
    fn execute<'a>(&'a self, conn: &'a mut tokio_postgres::Transaction<'_>) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            conn.execute("INSERT INTO t (name) VALUES ($1)", &[&self.0]).await?;
            Ok(())
        })
    }
}

#[tokio::test]
async fn sqlx_pushes_on_a_connection_with_custom_operations() {
    let (db, mut handle) = fresh::<SqlxDb>().await;
    handle.batch("CREATE TABLE t (id serial, name text UNIQUE)").await;
    let mut conn = sqlx::PgConnection::connect(db.url()).await.expect("connect");
    let mut changeset = Changeset::new();
    changeset.add_db_operation(SqlxInsert("a")).add_db_operation(Statement::new("INSERT INTO t (name) VALUES ('b')"));
    let outcome = changeset.push(&mut conn).await.expect("push");
    assert_eq!(outcome.operations(), 2);

    let mut failing = Changeset::new();
    failing.add_db_operations([SqlxInsert("c"), SqlxInsert("a")]);
    let err = failing.push(&mut conn).await.expect_err("duplicate");
    assert_eq!((err.operation_index(), err.sqlstate()), (Some(1), Some("23505")));
    assert!(err.to_string().contains("(SqlxInsert)"), "the default description is the type name: {err}");
    assert_eq!(handle.column("SELECT name FROM t ORDER BY id").await, ["a", "b"]);
    conn.close().await.expect("close");
}

/// Named statements left on the connection (`pg_prepared_statements` is per session).
async fn prepared_on(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::raw_sql("SELECT count(*) FROM pg_prepared_statements")
        .fetch_one(conn)
        .await
        .map(|row| sqlx::Row::get(&row, 0))
        .expect("prepared statements")
}

#[tokio::test]
async fn sqlx_unprepared_leaves_no_named_statement_on_the_connection() {
    // Behind a pooler in transaction mode, a named statement left on a server connection
    // meets the next client of that connection (`sqlx_s_1 already exists`).
    let (db, mut handle) = fresh::<SqlxDb>().await;
    handle.batch("CREATE TABLE t (id serial, name text UNIQUE)").await;
    let mut conn = sqlx::PgConnection::connect(db.url()).await.expect("connect");
    let insert = |name: &str| Statement::new("INSERT INTO t (name) VALUES ($1) RETURNING id").bind(name.to_owned());

    let mut unprepared = Changeset::<SqlxUnprepared>::new();
    unprepared.add_db_operations([insert("a"), insert("b")]);
    let outcome = unprepared.push(Unprepared(&mut conn)).await.expect("push unprepared");
    assert_eq!(outcome.operations(), 2);
    assert_eq!(prepared_on(&mut conn).await, 0, "SqlxUnprepared must not prepare named statements");

    let mut prepared = Changeset::<Sqlx>::new();
    prepared.add_db_operation(insert("c"));
    let outcome = prepared.push(&mut conn).await.expect("push prepared");
    assert_eq!(outcome.operations(), 1);
    assert_eq!(prepared_on(&mut conn).await, 1, "Sqlx keeps its statement cached");
    assert_eq!(handle.column("SELECT name FROM t ORDER BY id").await, ["a", "b", "c"]);
    conn.close().await.expect("close");
}

#[tokio::test]
async fn tokio_postgres_runs_custom_operations() {
    let (_db, mut handle) = fresh::<TokioPostgresDb>().await;
    handle.batch("CREATE TABLE t (id serial, name text UNIQUE)").await;
    let mut changeset = Changeset::new();
    changeset.add_db_operations([TokioInsert("a"), TokioInsert("b")]);
    let outcome = changeset.push(&mut handle.client).await.expect("push");
    assert_eq!(outcome.operations(), 2);
    assert_eq!(handle.column("SELECT name FROM t ORDER BY id").await, ["a", "b"]);
}

/// `push` futures are `Send`, so they can be spawned on a multi-threaded runtime.
#[test]
fn push_futures_are_send() {
    fn assert_send<F: std::future::Future + Send>(_: &F) {}
    fn sqlx_push(pool: &sqlx::PgPool) {
        let changeset: Changeset<Sqlx> = Changeset::new();
        let options = PushOptions::new();
        let future = changeset.push_with(pool, &options);
        assert_send(&future);
    }
    fn tokio_push(client: &mut tokio_postgres::Client) {
        let changeset: Changeset<TokioPostgres> = Changeset::new();
        let future = changeset.push(client);
        assert_send(&future);
    }
    let _ = (sqlx_push, tokio_push);
}
