//! A database-free backend and fixtures for the unit tests of the core.

use std::error::Error as StdError;
use std::sync::Arc;

use proptest::prelude::*;
use serde::Serialize;

use crate::backend::{Backend, Connector, TransactionError, Work};
use crate::catalog::{Catalog, Event, FnCatalog};
use crate::error::BoxError;
use crate::operation::{BoxFuture, DbOperation};
use crate::value::Value;
use crate::{Changeset, Operation};

/// A backend whose "connection" is the log of statements run in the transaction.
#[derive(Debug)]
pub struct NoDb;

/// An error carrying a SQLSTATE, as a driver's would.
#[derive(Debug, thiserror::Error)]
#[error("fake database error {code}")]
pub struct FakeDbError {
    pub code: &'static str,
}

impl Backend for NoDb {
    type Connection<'t> = Vec<String>;

    fn execute_sql<'a>(
        conn: &'a mut Vec<String>,
        sql: &'a str,
        params: &'a [Value],
        fetch: bool,
    ) -> BoxFuture<'a, Result<Option<Value>, BoxError>> {
        Box::pin(async move {
            conn.push(format!("{sql} {params:?}"));
            Ok(fetch.then_some(Value::Int(conn.len() as i64)))
        })
    }

    fn sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        error.downcast_ref::<FakeDbError>().map(|e| e.code.to_owned())
    }
}

/// A fake database: committed transactions are kept, rolled-back ones counted.
#[derive(Debug, Default)]
pub struct FakeDb {
    pub committed: Vec<Vec<String>>,
    pub rollbacks: usize,
    /// Commits fail with this SQLSTATE while it is `Some` and the count is positive.
    pub failing_commits: Option<(&'static str, u32)>,
}

impl Connector<NoDb> for &mut FakeDb {
    fn in_transaction<'a>(&'a mut self, work: &'a mut dyn Work<NoDb>) -> BoxFuture<'a, Result<(), TransactionError>> {
        let db: &mut FakeDb = self;
        Box::pin(async move {
            let mut log = Vec::new();
            if let Err(failed) = work.run(&mut log).await {
                db.rollbacks += 1;
                return Err(TransactionError::Work(failed));
            }
            if let Some((code, remaining)) = &mut db.failing_commits
                && *remaining > 0
            {
                *remaining -= 1;
                db.rollbacks += 1;
                return Err(TransactionError::Commit(Box::new(FakeDbError { code })));
            }
            db.committed.push(log);
            Ok(())
        })
    }
}

/// An operation that logs its number, or fails with a SQLSTATE.
#[derive(Debug, Clone, PartialEq)]
pub struct Step(pub u32);

impl DbOperation<NoDb> for Step {
    fn execute<'a>(&'a self, conn: &'a mut Vec<String>) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            conn.push(format!("step {}", self.0));
            Ok(())
        })
    }
}

/// An operation that always fails with `code`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fail(pub &'static str);

impl DbOperation<NoDb> for Fail {
    fn execute<'a>(&'a self, _conn: &'a mut Vec<String>) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { Err(Box::new(FakeDbError { code: self.0 }) as BoxError) })
    }

    fn description(&self) -> String {
        format!("fail with {}", self.0)
    }
}

/// The numbers of the `Step`s of a changeset, in execution order.
pub trait Labels {
    fn labels(&self) -> Vec<u32>;
}

impl Labels for Changeset<NoDb> {
    fn labels(&self) -> Vec<u32> {
        self.operations().iter().filter_map(|op: &Operation<NoDb>| op.downcast_ref::<Step>().map(|s| s.0)).collect()
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
        Just(Tree::Op).prop_recursive(4, 40, 5, |inner| prop::collection::vec(inner, 0..5).prop_map(Tree::Child))
    }

    /// Builds the changeset, numbering operations in the order a reader meets them in
    /// the code; returns it with that expected order.
    pub fn build(&self) -> (Changeset<NoDb>, Vec<u32>) {
        let mut next = 0;
        let changeset = self.build_into(&mut next);
        (changeset, (1..=next).collect())
    }

    fn build_into(&self, next: &mut u32) -> Changeset<NoDb> {
        let mut changeset = Changeset::new();
        match self {
            Tree::Op => {
                *next += 1;
                changeset.add_db_operation(Step(*next));
            }
            Tree::Child(items) => {
                for item in items {
                    match item {
                        Tree::Op => {
                            *next += 1;
                            changeset.add_db_operation(Step(*next));
                        }
                        child => {
                            let built = child.build_into(next);
                            changeset.merge_child(built);
                        }
                    }
                }
            }
        }
        changeset
    }
}

#[derive(Debug, PartialEq, Serialize)]
pub enum Billing {
    Charged { id: i64 },
}

impl Event for Billing {
    fn name(&self) -> &'static str {
        "charged"
    }
}

pub struct BillingCatalog;

impl Catalog for BillingCatalog {
    const NAME: &'static str = "billing";
    type Event = Billing;

    fn dispatch<'a>(&'a self, _event: &'a Billing) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async { Ok(()) })
    }
}

pub fn billing() -> Arc<BillingCatalog> {
    Arc::new(BillingCatalog)
}

pub fn planning() -> Arc<FnCatalog> {
    Arc::new(FnCatalog::new("planning").on("planning_updated", |_| async { Ok(()) }))
}
