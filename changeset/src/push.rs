//! [`Changeset::push`]: one short transaction, commit, then deliver the events.
//!
//! Per attempt: `BEGIN`; optional `SET TRANSACTION ISOLATION LEVEL`; every operation in
//! order; lazy payloads evaluated and events deduplicated; with an outbox, the events
//! written; `COMMIT`. Any failure before the commit rolls back and dispatches nothing.
//! A failure with SQLSTATE 40001 (serialization failure) or 40P01 (deadlock) is retried
//! from `BEGIN` when [`Retry`] allows, since PostgreSQL cancelled the transaction only
//! because of a concurrent one and a fresh attempt may well succeed. After the commit,
//! in-process delivery dispatches the events; a handler's failure is reported in the
//! [`PushOutcome`] and never undoes the commit.

use std::sync::Arc;

use crate::backend::{self, Backend, Connector, TransactionError, Work, WorkFailed};
use crate::changeset::Changeset;
use crate::dispatch::{self, Delivery, DispatchFailure};
use crate::error::{BoxError, EventError, PushError};
use crate::event::Resolved;
use crate::operation::BoxFuture;
use crate::outbox::Outbox;

/// SQLSTATEs after which a fresh attempt may succeed: serialization failure, deadlock.
pub const RETRYABLE_SQLSTATES: [&str; 2] = ["40001", "40P01"];

/// How often a push may run its transaction. The default is once (no retry), like the
/// seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    max_attempts: u32,
}

impl Retry {
    /// One attempt, no retry.
    pub const fn none() -> Self {
        Retry { max_attempts: 1 }
    }

    /// Up to `max_attempts` attempts in all (at least one) when an attempt fails with a
    /// [retryable SQLSTATE](RETRYABLE_SQLSTATES). Retries start at once: the failed
    /// attempt was rolled back, so its locks are gone.
    pub const fn attempts(max_attempts: u32) -> Self {
        Retry { max_attempts: if max_attempts == 0 { 1 } else { max_attempts } }
    }

    /// The maximum number of attempts.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry::none()
    }
}

/// The isolation level of the push transaction. Without one, the server's default
/// (normally `READ COMMITTED`) applies and no statement is sent for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// `READ COMMITTED`.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`: pair it with [`Retry::attempts`].
    Serializable,
}

impl Isolation {
    fn statement(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
            Isolation::RepeatableRead => "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            Isolation::Serializable => "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

/// How to push: delivery mode, retry policy, isolation level. The defaults are
/// in-process delivery, one attempt, the server's isolation level.
///
/// ```
/// use pg_changeset::{Backend, Isolation, PushOptions, Retry};
///
/// fn serializable<B: Backend>() -> PushOptions<B> {
///     PushOptions::new().retry(Retry::attempts(5)).isolation(Isolation::Serializable)
/// }
/// # #[cfg(feature = "sqlx")]
/// assert_eq!(serializable::<pg_changeset::Sqlx>().retry_policy().max_attempts(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct PushOptions<B: Backend> {
    delivery: Delivery<B>,
    retry: Retry,
    isolation: Option<Isolation>,
}

impl<B: Backend> PushOptions<B> {
    /// The defaults.
    pub fn new() -> Self {
        PushOptions { delivery: Delivery::InProcess, retry: Retry::none(), isolation: None }
    }

    /// Sets the delivery mode.
    pub fn delivery(mut self, delivery: Delivery<B>) -> Self {
        self.delivery = delivery;
        self
    }

    /// Delivers through `outbox` (written in the transaction) instead of in-process.
    pub fn outbox(self, outbox: impl Outbox<B>) -> Self {
        self.delivery(Delivery::Outbox(Arc::new(outbox)))
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the isolation level.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// The delivery mode.
    pub fn delivery_mode(&self) -> &Delivery<B> {
        &self.delivery
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> Retry {
        self.retry
    }
}

impl<B: Backend> Default for PushOptions<B> {
    fn default() -> Self {
        PushOptions::new()
    }
}

/// What a successful push did. The data is committed; check
/// [`failures`](PushOutcome::failures) for events whose handlers failed.
#[derive(Debug)]
#[must_use = "a push can succeed while event handlers failed; check `failures()`"]
pub struct PushOutcome {
    attempts: u32,
    operations: usize,
    events: usize,
    dispatched: usize,
    written_to_outbox: bool,
    failures: Vec<DispatchFailure>,
}

impl PushOutcome {
    /// Transaction attempts, the committed one included (more than 1 after a retry).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Operations run in the committed transaction.
    pub fn operations(&self) -> usize {
        self.operations
    }

    /// Events delivered or written after deduplication.
    pub fn events(&self) -> usize {
        self.events
    }

    /// Events whose in-process handler succeeded (0 with an outbox).
    pub fn dispatched(&self) -> usize {
        self.dispatched
    }

    /// Whether the events went to the outbox rather than to handlers.
    pub fn written_to_outbox(&self) -> bool {
        self.written_to_outbox
    }

    /// Events whose handler failed or panicked, in dispatch order.
    pub fn failures(&self) -> &[DispatchFailure] {
        &self.failures
    }

    /// Whether every event was delivered (dispatched, or written to the outbox).
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }
}

/// A failed attempt, and whether another may succeed.
struct Failed {
    error: PushError,
    retryable: bool,
}

impl Failed {
    fn new(error: PushError) -> Self {
        let retryable = error.sqlstate().is_some_and(|code| RETRYABLE_SQLSTATES.contains(&code));
        Failed { error, retryable }
    }
}

impl<B: Backend> Changeset<B> {
    /// Runs every operation in one transaction on `connector`, commits, then delivers the
    /// events in-process (at most once). Same as [`push_with`](Self::push_with) and the
    /// default [`PushOptions`].
    ///
    /// # Errors
    /// See [`push_with`](Self::push_with).
    pub async fn push<C: Connector<B>>(self, connector: C) -> Result<PushOutcome, PushError> {
        self.push_with(connector, &PushOptions::new()).await
    }

    /// Runs every operation in order in one transaction on `connector`, commits, then
    /// delivers the events as `options` say.
    ///
    /// A changeset without operations (and without events to write to an outbox) opens
    /// no transaction. Dropping the returned future before it completes rolls back an
    /// open transaction and dispatches nothing.
    ///
    /// # Errors
    /// [`PushError::Operation`] names the failing operation (index and description)
    /// with the driver's error as `source`; [`PushError::Payload`] a lazy payload that
    /// failed; [`PushError::Outbox`], [`PushError::Begin`], [`PushError::Commit`] their
    /// step. In each case nothing was committed (for `Commit` without a SQLSTATE, the
    /// connection broke during `COMMIT` and the outcome is unknown) and no event was
    /// dispatched. Handler failures are not errors: see [`PushOutcome::failures`].
    pub async fn push_with<C: Connector<B>>(
        self,
        mut connector: C,
        options: &PushOptions<B>,
    ) -> Result<PushOutcome, PushError> {
        let outbox = match &options.delivery {
            Delivery::InProcess => None,
            Delivery::Outbox(outbox) => Some(outbox.as_ref()),
        };
        let max_attempts = options.retry.max_attempts();
        let mut attempt = 1;
        let events = loop {
            match self.attempt(&mut connector, options, outbox, attempt).await {
                Ok(events) => break events,
                Err(failed) if failed.retryable && attempt < max_attempts => {
                    tracing::debug!(attempt, error = %failed.error, "push attempt failed; retrying");
                    attempt += 1;
                }
                Err(failed) => return Err(failed.error),
            }
        };

        let (dispatched, failures) = match outbox {
            Some(_) => (0, Vec::new()),
            None => dispatch::dispatch_in_process(&events).await,
        };
        Ok(PushOutcome {
            attempts: attempt,
            operations: self.operations().len(),
            events: events.len(),
            dispatched,
            written_to_outbox: outbox.is_some(),
            failures,
        })
    }

    /// One transaction: returns the deduplicated events once committed.
    async fn attempt<C: Connector<B>>(
        &self,
        connector: &mut C,
        options: &PushOptions<B>,
        outbox: Option<&dyn Outbox<B>>,
        attempt: u32,
    ) -> Result<Vec<Resolved<'_>>, Failed> {
        if self.operations().is_empty() && (outbox.is_none() || self.event_count() == 0) {
            // Nothing to write: evaluate the (known) payloads without a transaction.
            return self.resolved().map_err(|e| Failed::new(payload_error(e)));
        }
        let mut work = Attempt { changeset: self, options, outbox, attempt, events: None, failure: None };
        let result = connector.in_transaction(&mut work).await;
        match (result, work.events, work.failure) {
            (Ok(()), Some(events), _) => Ok(events),
            (Err(TransactionError::Work(_)), _, Some(failure)) => Err(failure),
            (Err(TransactionError::Begin(source)), _, _) => {
                Err(Failed::new(PushError::Begin { attempts: attempt, source }))
            }
            (Err(TransactionError::Commit(source)), _, _) => {
                let sqlstate = backend::find_sqlstate::<B>(source.as_ref());
                Err(Failed::new(PushError::Commit { sqlstate, attempts: attempt, source }))
            }
            // A connector that reports success without running the work, or a failure
            // of work that did not fail, breaks the `Connector` contract.
            (_, _, _) => Err(Failed::new(PushError::Begin {
                attempts: attempt,
                source: "the connector did not run the push's work as `Connector::in_transaction` requires".into(),
            })),
        }
    }

    async fn inside_transaction(
        &self,
        conn: &mut B::Connection<'_>,
        options: &PushOptions<B>,
        outbox: Option<&dyn Outbox<B>>,
        attempt: u32,
    ) -> Result<Vec<Resolved<'_>>, Failed> {
        if let Some(isolation) = options.isolation {
            B::execute_sql(conn, isolation.statement(), &[], false)
                .await
                .map_err(|source| Failed::new(PushError::Begin { attempts: attempt, source }))?;
        }
        for (index, operation) in self.operations().iter().enumerate() {
            if let Err(source) = operation.run(conn).await {
                let sqlstate = backend::find_sqlstate::<B>(source.as_ref());
                return Err(Failed::new(PushError::Operation {
                    index,
                    description: operation.description(),
                    sqlstate,
                    attempts: attempt,
                    source,
                }));
            }
        }
        let events = self.resolved().map_err(|e| Failed::new(payload_error(e)))?;
        if let Some(outbox) = outbox.filter(|_| !events.is_empty()) {
            let records = events
                .iter()
                .map(|resolved| resolved.event().record())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Failed::new(outbox_error(events.len(), Box::new(e))))?;
            if let Err(source) = outbox.write(conn, &records).await {
                let sqlstate = backend::find_sqlstate::<B>(source.as_ref());
                return Err(Failed::new(PushError::Outbox { count: records.len(), sqlstate, source }));
            }
        }
        Ok(events)
    }
}

/// The push's side of [`Connector::in_transaction`]: runs the attempt and keeps its
/// result or failure for `attempt` to read back.
struct Attempt<'c, 'o, B: Backend> {
    changeset: &'c Changeset<B>,
    options: &'o PushOptions<B>,
    outbox: Option<&'o dyn Outbox<B>>,
    attempt: u32,
    events: Option<Vec<Resolved<'c>>>,
    failure: Option<Failed>,
}

impl<B: Backend> Work<B> for Attempt<'_, '_, B> {
    fn run<'a>(&'a mut self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), WorkFailed>> {
        Box::pin(async move {
            let changeset = self.changeset;
            match changeset.inside_transaction(conn, self.options, self.outbox, self.attempt).await {
                Ok(events) => {
                    self.events = Some(events);
                    Ok(())
                }
                Err(failure) => {
                    self.failure = Some(failure);
                    Err(WorkFailed::new())
                }
            }
        })
    }
}

fn payload_error(error: EventError) -> PushError {
    match error {
        EventError::Payload { catalog, event, source } => PushError::Payload { catalog, event, source },
        other => outbox_error(0, Box::new(other)),
    }
}

fn outbox_error(count: usize, source: BoxError) -> PushError {
    PushError::Outbox { count, sqlstate: None, source }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::catalog::FnCatalog;
    use crate::payload::Payload;
    use crate::slot::Slot;
    use crate::test_support::{Fail, FakeDb, NoDb, Step};

    fn recording_catalog(seen: &Arc<Mutex<Vec<String>>>) -> Arc<FnCatalog> {
        let seen = Arc::clone(seen);
        Arc::new(FnCatalog::new("log").on("happened", move |event| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().map_err(|_| "poisoned")?.push(event.payload().to_string());
                Ok(())
            }
        }))
    }

    #[tokio::test]
    async fn operations_run_in_order_then_events_dispatch() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let catalog = recording_catalog(&seen);
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_db_operations([Step(1), Step(2)]).add_named_event(&catalog, "happened", json!(1)).expect("known");
        let mut db = FakeDb::default();
        let outcome = changeset.push(&mut db).await.expect("push");
        assert_eq!(db.committed, vec![vec!["step 1".to_owned(), "step 2".to_owned()]]);
        assert_eq!((outcome.attempts(), outcome.operations(), outcome.dispatched()), (1, 2, 1));
        assert_eq!(*seen.lock().expect("lock"), vec!["1".to_owned()]);
    }

    #[tokio::test]
    async fn failure_rolls_back_and_names_the_operation() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let catalog = recording_catalog(&seen);
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_db_operation(Step(1)).add_db_operation(Fail("23505"));
        changeset.add_named_event(&catalog, "happened", json!(1)).expect("known");
        let mut db = FakeDb::default();
        let err = changeset.push(&mut db).await.expect_err("must fail");
        assert!(matches!(&err, PushError::Operation { index: 1, description, sqlstate: Some(code), .. }
            if description == "fail with 23505" && code == "23505"));
        assert!(db.committed.is_empty());
        assert_eq!(db.rollbacks, 1);
        assert!(seen.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_up_to_the_limit() {
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_db_operation(Step(1));
        let mut db = FakeDb { failing_commits: Some(("40001", 2)), ..FakeDb::default() };
        let outcome = changeset.push_with(&mut db, &PushOptions::new().retry(Retry::attempts(3))).await.expect("push");
        assert_eq!(outcome.attempts(), 3);
        assert_eq!(db.committed.len(), 1);

        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_db_operation(Step(1));
        let mut db = FakeDb { failing_commits: Some(("40P01", 5)), ..FakeDb::default() };
        let err = changeset.push_with(&mut db, &PushOptions::new().retry(Retry::attempts(2))).await.expect_err("fails");
        assert!(matches!(err, PushError::Commit { attempts: 2, .. }));
        assert_eq!(err.sqlstate(), Some("40P01"));
    }

    #[tokio::test]
    async fn other_failures_are_not_retried() {
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_db_operation(Fail("23514"));
        let mut db = FakeDb::default();
        let err = changeset.push_with(&mut db, &PushOptions::new().retry(Retry::attempts(5))).await.expect_err("fails");
        assert!(matches!(err, PushError::Operation { attempts: 1, .. }));
        assert_eq!(db.rollbacks, 1);
    }

    #[tokio::test]
    async fn empty_lazy_slot_rolls_back() {
        let catalog = recording_catalog(&Arc::new(Mutex::new(Vec::new())));
        let slot: Slot<i64> = Slot::new("never.filled");
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_db_operation(Step(1));
        changeset.add_named_event(&catalog, "happened", Payload::lazy(move || Ok(json!(slot.get()?)))).expect("known");
        let mut db = FakeDb::default();
        let err = changeset.push(&mut db).await.expect_err("fails");
        assert!(matches!(&err, PushError::Payload { event: Some(name), .. } if name == "happened"));
        assert_eq!(
            std::error::Error::source(&err).map(ToString::to_string),
            Some("slot `never.filled` is empty: no operation has filled it yet".into())
        );
        assert!(db.committed.is_empty());
    }

    #[tokio::test]
    async fn failing_and_panicking_handlers_are_reported_after_commit() {
        let catalog = Arc::new(
            FnCatalog::new("jobs")
                .on("fails", |_| async { Err("queue is full".into()) })
                .on("panics", |_| async { panic!("handler bug") })
                .on("works", |_| async { Ok(()) }),
        );
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_db_operation(Step(1));
        for name in ["fails", "panics", "works"] {
            changeset.add_named_event(&catalog, name, json!(null)).expect("known");
        }
        let mut db = FakeDb::default();
        let outcome = changeset.push(&mut db).await.expect("committed");
        assert_eq!(db.committed.len(), 1);
        assert_eq!(outcome.dispatched(), 1);
        let failures: Vec<String> = outcome.failures().iter().map(ToString::to_string).collect();
        assert_eq!(
            failures,
            vec![
                "handler for event `fails` of catalog `jobs` failed: queue is full".to_owned(),
                "handler for event `panics` of catalog `jobs` failed: handler panicked: handler bug".to_owned(),
            ]
        );
        assert!(!outcome.is_complete());
    }

    #[tokio::test]
    async fn nothing_to_write_opens_no_transaction() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let catalog = recording_catalog(&seen);
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_named_event(&catalog, "happened", json!("x")).expect("known");
        let mut db = FakeDb::default();
        let outcome = changeset.push(&mut db).await.expect("push");
        assert!(db.committed.is_empty());
        assert_eq!(outcome.dispatched(), 1);
    }

    #[test]
    fn retry_counts_at_least_one_attempt() {
        assert_eq!(Retry::attempts(0).max_attempts(), 1);
        assert_eq!(Retry::default(), Retry::none());
    }
}
