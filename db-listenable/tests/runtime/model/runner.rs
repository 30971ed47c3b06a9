//! Running generated statements on a `tokio-postgres` connection.

use std::future::Future;

use futures::SinkExt;
use tokio_postgres::error::SqlState;

use super::generator::{Statement, Step, Transaction};

/// A connection (its driver runs on a task of its own).
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; the client reports it.
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs one statement (`COPY ... FROM STDIN` sends its data).
pub async fn execute(client: &tokio_postgres::Client, statement: &Statement) -> Result<(), tokio_postgres::Error> {
    match &statement.copy {
        None => client.batch_execute(&statement.sql).await,
        Some(data) => {
            let sink = client.copy_in::<_, bytes::Bytes>(&statement.sql).await?;
            futures::pin_mut!(sink);
            sink.send(bytes::Bytes::from(data.clone())).await?;
            sink.finish().await.map(|_| ())
        }
    }
}

/// Errors a random statement may meet without anything being wrong: a duplicate key, a
/// missing parent, a row touched twice by one `ON CONFLICT` or `MERGE`, a row written to
/// the wrong partition, and (with concurrent writers) deadlocks.
pub fn is_expected(error: &tokio_postgres::Error) -> bool {
    let expected = [
        SqlState::UNIQUE_VIOLATION,
        SqlState::FOREIGN_KEY_VIOLATION,
        SqlState::CARDINALITY_VIOLATION,
        SqlState::CHECK_VIOLATION,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::T_R_SERIALIZATION_FAILURE,
    ];
    error.code().is_some_and(|code| expected.contains(code))
}

/// `SQLSTATE: message` of a database error, or the error's text.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => error.to_string(),
    }
}

/// How a transaction ended.
#[derive(Debug)]
pub enum Outcome {
    /// It ran to its end (`COMMIT` or its planned `ROLLBACK`).
    Finished,
    /// A statement failed with an expected error; the transaction was rolled back.
    Rejected,
}

/// Follows a transaction as it runs, so it can check each statement's effect and undo
/// its own state when the database undoes the statement's.
pub trait Observer {
    /// A statement succeeded.
    fn statement(&mut self, client: &tokio_postgres::Client, statement: &Statement) -> impl Future<Output = ()>;
    /// `BEGIN` or `SAVEPOINT`: remember the state.
    fn mark(&mut self);
    /// `ROLLBACK` or `ROLLBACK TO SAVEPOINT`: back to the last mark.
    fn undo(&mut self);
    /// `COMMIT` or `RELEASE SAVEPOINT`: forget the last mark.
    fn keep(&mut self);
}

/// Observes nothing.
pub struct Blind;

impl Observer for Blind {
    async fn statement(&mut self, _: &tokio_postgres::Client, _: &Statement) {}
    fn mark(&mut self) {}
    fn undo(&mut self) {}
    fn keep(&mut self) {}
}

/// Runs `transaction`: savepoints undo their own failed statements; a failed statement
/// outside one rolls the whole transaction back. Unexpected errors (and a lost
/// connection) roll back and are returned, naming the statement.
pub async fn run(
    client: &tokio_postgres::Client,
    transaction: &Transaction,
    observer: &mut impl Observer,
) -> Result<Outcome, String> {
    let fail = |sql: &str, e: tokio_postgres::Error| format!("{sql}: {}", describe(&e));
    client.batch_execute("BEGIN").await.map_err(|e| fail("BEGIN", e))?;
    observer.mark();
    for step in &transaction.steps {
        match step {
            Step::Run(statement) => match execute(client, statement).await {
                Ok(()) => observer.statement(client, statement).await,
                Err(error) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    observer.undo();
                    return if is_expected(&error) { Ok(Outcome::Rejected) } else { Err(fail(&statement.sql, error)) };
                }
            },
            Step::Savepoint { statements, release } => {
                client.batch_execute("SAVEPOINT sp").await.map_err(|e| fail("SAVEPOINT", e))?;
                observer.mark();
                let mut undo = !release;
                for statement in statements {
                    match execute(client, statement).await {
                        Ok(()) => observer.statement(client, statement).await,
                        Err(error) if is_expected(&error) => {
                            undo = true;
                            break;
                        }
                        Err(error) => {
                            let _ = client.batch_execute("ROLLBACK").await;
                            observer.undo();
                            observer.undo();
                            return Err(fail(&statement.sql, error));
                        }
                    }
                }
                let end = if undo { "ROLLBACK TO SAVEPOINT sp" } else { "RELEASE SAVEPOINT sp" };
                client.batch_execute(end).await.map_err(|e| fail(end, e))?;
                if undo { observer.undo() } else { observer.keep() }
            }
        }
    }
    let end = if transaction.commit { "COMMIT" } else { "ROLLBACK" };
    let ended = client.batch_execute(end).await;
    if transaction.commit && ended.is_ok() {
        observer.keep()
    } else {
        observer.undo()
    }
    match ended {
        Ok(()) => Ok(Outcome::Finished),
        Err(error) if is_expected(&error) => Ok(Outcome::Rejected),
        Err(error) => Err(fail(end, error)),
    }
}
