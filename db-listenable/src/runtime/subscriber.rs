//! Subscribers as the worker sees them: typed processors and outbox catalogs behind
//! one object-safe trait, fed raw journal rows.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;
use sqlx::postgres::PgRow;
use tracing::Instrument;

use super::change::{Change, Op, Requeued};
use super::outcome::{Permanent, RetryAfter, Skip};
use super::processor::{BatchProcessor, Context, ProcessError, Processor};
use super::row::{ChangeRow, RowData};
use crate::ddl;

/// A change as claimed, from the journal or from `db_listenable.deliveries`.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub change_id: i64,
    pub op: i8,
    pub txid: u64,
    pub captured_at: SystemTime,
    /// The rows before and after the change.
    pub rows: Rows,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Set when the delivery is a requeued dead letter (`deliveries.requeued`).
    pub requeued: Option<Value>,
    /// Which row it changed, for an ordered subscriber's typed changes: equal within a
    /// batch for the changes of one row (`claim::row_identity`).
    pub row: Option<u64>,
}

/// A claimed delivery's rows.
#[derive(Debug)]
pub(crate) enum Rows {
    /// As the journal keeps them (outbox events).
    Json { old: Option<Value>, new: Option<Value> },
    /// As the table's row type, for the model's `FromRow` (see `super::claim`).
    Typed { old: Option<PgRow>, new: Option<PgRow> },
    /// A row that PostgreSQL could not turn back into the table's row type: the error.
    Unfit(String),
    /// The conversion failed for a reason other than the row (the error): retried.
    Unavailable(String),
}

/// How one delivery ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Done,
    /// The processor returned [`Skip`]: done, without effect, for this reason.
    Skipped(String),
    /// The processor failed (error or panic): retry, or dead-letter after the last attempt.
    Failed(String),
    /// The processor returned [`RetryAfter`]: an attempt like a failure, but the next one
    /// comes after the processor's delay (`last_error` is the error's text).
    RetryAfter(Duration, String),
    /// The processor returned [`Permanent`]: dead-letter at once, with this reason.
    Permanent(String),
    /// The rows do not decode into the model: dead-letter at once (retrying cannot help).
    Undecodable(String),
}

impl Outcome {
    /// The outcome a processor's error asks for: one of the errors of
    /// [`outcome`](super::outcome) returned as is, or else a failure with the error's text.
    fn of_error(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Outcome {
        if let Some(skip) = error.downcast_ref::<Skip>() {
            Outcome::Skipped(skip.reason().to_owned())
        } else if let Some(permanent) = error.downcast_ref::<Permanent>() {
            Outcome::Permanent(permanent.reason().to_owned())
        } else if let Some(retry) = error.downcast_ref::<RetryAfter>() {
            Outcome::RetryAfter(retry.delay(), retry.to_string())
        } else {
            Outcome::Failed(error_text(error))
        }
    }
}

/// What identifies a subscriber and how its deliveries are grouped.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub name: String,
    pub table_id: i32,
    /// `schema.table` or `outbox:<catalog>`, for logs and errors.
    pub label: String,
    /// Columns whose values identify a row; empty: every change stands alone.
    pub key_columns: Vec<String>,
    /// The model, for subscribers of a table (the start-up drift check).
    pub model: Option<crate::model::Model>,
    /// The table whose row type the claim returns the rows as (`"schema"."table"`); `None`
    /// for the rows as `jsonb`.
    pub row_type: Option<String>,
}

/// A subscriber with its types erased.
pub(crate) trait Subscriber: Send + Sync + 'static {
    fn spec(&self) -> &Spec;

    /// Handles a batch (sorted by change id; an ordered subscriber's holds at most one
    /// change per row, so no change of it waits behind another); one outcome per delivery,
    /// in order.
    fn handle<'a>(&'a self, ctx: &'a Context<'a>, batch: &'a [Claimed]) -> BoxFuture<'a, Vec<Outcome>>;
}

/// Runs `future` and tells how it ended, turning a panic into a failure with the
/// panic's message.
pub(crate) async fn guarded<F>(future: F) -> Outcome
where
    F: Future<Output = Result<(), ProcessError>>,
{
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(error)) => Outcome::of_error(&*error),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            Outcome::Failed(format!("processor panicked: {message}"))
        }
    }
}

/// The span of one change: table, operation, attempt (the batch span names the subscriber).
fn change_span<T>(change: &Change<T>) -> tracing::Span {
    tracing::debug_span!("db_listenable.change", change = change.id, table = %change.table, op = %change.op, attempt = change.attempt)
}

/// Runs `work` in `span` and logs its latency and result there.
async fn traced(span: tracing::Span, work: impl Future<Output = Outcome>) -> Outcome {
    let started = std::time::Instant::now();
    let outcome = work.instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            ok = matches!(outcome, Outcome::Done | Outcome::Skipped(_)),
            "change processed"
        )
    });
    outcome
}

/// An error and its sources, `: `-separated.
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(link) = source {
        text.push_str(": ");
        text.push_str(&link.to_string());
        source = link.source();
    }
    text
}

fn model_spec<T: ChangeRow>(name: String, ordered: bool) -> Spec {
    let model = T::MODEL;
    Spec {
        name,
        table_id: ddl::table_id(&model),
        label: format!("{}.{}", model.schema, model.table),
        key_columns: if ordered { model.key.iter().map(|k| (*k).to_owned()).collect() } else { Vec::new() },
        model: Some(model),
        row_type: T::TYPED.then(|| ddl::qualified_table(&model)),
    }
}

/// Why a claimed delivery could not become a typed change.
enum DecodeError {
    /// The rows do not decode into the model: retrying cannot help.
    Undecodable(String),
    /// The rows could not be read this time (see [`Rows::Unavailable`]).
    Unavailable(String),
}

impl DecodeError {
    fn outcome(self) -> Outcome {
        match self {
            DecodeError::Undecodable(error) => Outcome::Undecodable(error),
            DecodeError::Unavailable(error) => Outcome::Failed(error),
        }
    }
}

/// Decodes a claimed delivery into a typed change.
fn decode<T: ChangeRow>(label: &str, claimed: &Claimed) -> Result<Change<T>, DecodeError> {
    let op = Op::from_code(claimed.op).ok_or_else(|| {
        DecodeError::Undecodable(format!("unknown operation code {} in the journal for {label}", claimed.op))
    })?;
    let (old, new) = match &claimed.rows {
        Rows::Typed { old, new } => (old.as_ref().map(RowData::Typed), new.as_ref().map(RowData::Typed)),
        Rows::Json { old, new } => (old.as_ref().map(RowData::Json), new.as_ref().map(RowData::Json)),
        Rows::Unfit(error) => return Err(DecodeError::Undecodable(error.clone())),
        Rows::Unavailable(error) => return Err(DecodeError::Unavailable(error.clone())),
    };
    let row = |row: Option<RowData<'_>>, which: &str| -> Result<Option<T>, DecodeError> {
        row.map(T::from_captured).transpose().map_err(|error| {
            DecodeError::Undecodable(format!(
                "could not decode the {which} row of {label} into {}: {error}",
                T::MODEL.rust_name
            ))
        })
    };
    Ok(Change {
        id: claimed.change_id,
        op,
        old: row(old, "old")?,
        new: row(new, "new")?,
        table: label.to_owned(),
        txid: claimed.txid,
        captured_at: claimed.captured_at,
        attempt: claimed.attempt,
        requeued: claimed.requeued.as_ref().map(Requeued::from_json).transpose().map_err(|error| {
            DecodeError::Undecodable(format!(
                "could not read the requeue record of change {}: {error}",
                claimed.change_id
            ))
        })?,
    })
}

/// A [`Processor`] behind [`Subscriber`].
pub(crate) struct Single<T, P, S> {
    spec: Spec,
    processor: P,
    /// The runtime's application state, handed to the processor in its [`Context`].
    state: Arc<S>,
    _model: PhantomData<fn() -> T>,
}

impl<T, P, S> Single<T, P, S>
where
    T: ChangeRow,
    P: Processor<T, S>,
    S: Send + Sync + 'static,
{
    pub(crate) fn new(name: String, processor: P, state: Arc<S>, ordered: bool) -> Self {
        Single { spec: model_spec::<T>(name, ordered), processor, state, _model: PhantomData }
    }
}

impl<T, P, S> Subscriber for Single<T, P, S>
where
    T: ChangeRow,
    P: Processor<T, S>,
    S: Send + Sync + 'static,
{
    fn spec(&self) -> &Spec {
        &self.spec
    }

    fn handle<'a>(&'a self, ctx: &'a Context<'a>, batch: &'a [Claimed]) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(async move {
            let ctx = ctx.with_state(&*self.state);
            let mut outcomes = Vec::with_capacity(batch.len());
            for claimed in batch {
                let outcome = match decode::<T>(&self.spec.label, claimed) {
                    Err(error) => error.outcome(),
                    Ok(change) => {
                        let ctx = ctx.for_changes(std::slice::from_ref(&claimed.change_id));
                        traced(change_span(&change), guarded(self.processor.process(&ctx, &change))).await
                    }
                };
                outcomes.push(outcome);
            }
            outcomes
        })
    }
}

/// A [`BatchProcessor`] behind [`Subscriber`].
pub(crate) struct Batched<T, P, S> {
    spec: Spec,
    processor: P,
    /// The runtime's application state, handed to the processor in its [`Context`].
    state: Arc<S>,
    _model: PhantomData<fn() -> T>,
}

impl<T, P, S> Batched<T, P, S>
where
    T: ChangeRow,
    P: BatchProcessor<T, S>,
    S: Send + Sync + 'static,
{
    pub(crate) fn new(name: String, processor: P, state: Arc<S>, ordered: bool) -> Self {
        Batched { spec: model_spec::<T>(name, ordered), processor, state, _model: PhantomData }
    }
}

impl<T, P, S> Subscriber for Batched<T, P, S>
where
    T: ChangeRow,
    P: BatchProcessor<T, S>,
    S: Send + Sync + 'static,
{
    fn spec(&self) -> &Spec {
        &self.spec
    }

    fn handle<'a>(&'a self, ctx: &'a Context<'a>, batch: &'a [Claimed]) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(async move {
            let ctx = ctx.with_state(&*self.state);
            let mut outcomes = vec![Outcome::Done; batch.len()];
            let mut changes = Vec::with_capacity(batch.len());
            let mut positions = Vec::with_capacity(batch.len());
            for (position, claimed) in batch.iter().enumerate() {
                match decode::<T>(&self.spec.label, claimed) {
                    Ok(change) => {
                        changes.push(change);
                        positions.push(position);
                    }
                    Err(error) => outcomes[position] = error.outcome(),
                }
            }
            if changes.is_empty() {
                return outcomes;
            }
            // A retried change runs alone, so a change that keeps failing does not take
            // its batch neighbours down with it again and again.
            let groups: Vec<(&[Change<T>], &[usize])> = if changes.iter().any(|change| change.attempt > 1) {
                changes.chunks(1).zip(positions.chunks(1)).collect()
            } else {
                vec![(&changes[..], &positions[..])]
            };
            for (group, group_positions) in groups {
                let group_ids: Vec<i64> = group.iter().map(|change| change.id).collect();
                let ctx = ctx.for_changes(&group_ids);
                let outcome = guarded(self.processor.process_batch(&ctx, group)).await;
                if outcome != Outcome::Done {
                    for &position in group_positions {
                        outcomes[position] = outcome.clone();
                    }
                }
            }
            outcomes
        })
    }
}

/// A changeset catalog's outbox events behind [`Subscriber`].
pub(crate) struct OutboxCatalog {
    spec: Spec,
    dispatch: Arc<dyn Fn(pg_changeset::EventRecord) -> BoxFuture<'static, Result<(), ProcessError>> + Send + Sync>,
}

impl OutboxCatalog {
    pub(crate) fn new(
        name: String,
        catalog: &str,
        dispatch: Arc<dyn Fn(pg_changeset::EventRecord) -> BoxFuture<'static, Result<(), ProcessError>> + Send + Sync>,
    ) -> Self {
        let spec = Spec {
            name,
            table_id: ddl::topic_id(catalog),
            label: ddl::topic_label(catalog),
            key_columns: Vec::new(),
            model: None,
            row_type: None,
        };
        OutboxCatalog { spec, dispatch }
    }
}

impl Subscriber for OutboxCatalog {
    fn spec(&self) -> &Spec {
        &self.spec
    }

    fn handle<'a>(&'a self, _ctx: &'a Context<'a>, batch: &'a [Claimed]) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(async move {
            let mut outcomes = Vec::with_capacity(batch.len());
            for claimed in batch {
                let event = match &claimed.rows {
                    Rows::Json { new, .. } => new.clone(),
                    _ => None,
                };
                let record = event.ok_or_else(|| "the outbox entry has no event".to_owned()).and_then(|row| {
                    serde_json::from_value::<pg_changeset::EventRecord>(row)
                        .map_err(|error| format!("could not decode the outbox event: {error}"))
                });
                let outcome = match record {
                    Err(error) => Outcome::Undecodable(error),
                    Ok(record) => guarded((self.dispatch)(record)).await,
                };
                outcomes.push(outcome);
            }
            outcomes
        })
    }
}
