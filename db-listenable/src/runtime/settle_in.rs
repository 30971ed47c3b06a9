//! Settling inside the processor's own transaction ([`Context::settle_in`]): the
//! processor's writes and the end of the delivery commit together, or neither does.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::processor::Context;
use super::store;
use crate::error::{Error, Result};

/// What [`Context::settle_in`] needs to know about the batch in hand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SettleScope<'a> {
    /// The subscriber's row in `db_listenable.subscribers`.
    pub subscriber_id: i32,
    /// The batch's lease token: only deliveries still held under it are settled.
    pub token: i64,
    /// The changes the processor is handling now (one for a [`Processor`](super::Processor),
    /// the batch for a [`BatchProcessor`](super::BatchProcessor)).
    pub changes: &'a [i64],
    /// Where the settlements are recorded for the worker.
    pub settled: &'a SettledInTx,
    /// Where the batch was claimed from: a journal batch is settled by markers under the
    /// cursor's lease, a batch of deliveries by deleting them.
    pub source: super::claim::Source,
}

/// Changes a processor settled in its own transaction, which commits after the
/// settlement statement ran (or rolls back). The worker does not settle them again, does
/// not count them as lost when they are gone, and does not count a renewal that misses
/// them as a lost lease (their rows are locked or deleted by that transaction).
#[derive(Debug, Default)]
pub(crate) struct SettledInTx {
    ids: Mutex<BTreeSet<i64>>,
}

impl SettledInTx {
    fn record(&self, ids: &[i64]) {
        self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).extend(ids.iter().copied());
    }

    fn forget(&self, ids: &[i64]) {
        let mut settled = self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for id in ids {
            settled.remove(id);
        }
    }

    /// The changes settled in a processor's transaction so far.
    pub(crate) fn ids(&self) -> BTreeSet<i64> {
        self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// How many changes were settled in a processor's transaction so far.
    pub(crate) fn len(&self) -> u64 {
        self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len() as u64
    }
}

impl<'a, S> Context<'a, S> {
    /// This context, for the processor handling `changes`.
    pub(crate) fn for_changes<'b>(&'b self, changes: &'b [i64]) -> Context<'b, S>
    where
        'a: 'b,
    {
        Context {
            db: self.db,
            subscriber: self.subscriber,
            state: self.state,
            settle: SettleScope { changes, ..self.settle },
        }
    }

    /// Settles the change in hand (for a [`BatchProcessor`](super::BatchProcessor), the
    /// whole batch it was given) inside `tx`, the processor's own transaction: the
    /// change is marked done when `tx` commits, together with the processor's writes, and
    /// stays to do when it rolls back. A processor whose effect lives only in this database gets
    /// it applied exactly once, even if the process is killed at any moment: before the
    /// commit nothing happened and the change runs again; after it, the change is gone.
    ///
    /// Call it once per transaction, last, just before the commit, and return `Ok` after
    /// committing: the runtime neither settles the change again nor counts it as lost.
    /// Once `tx` committed, the change is done whatever the processor returns. If the
    /// processor returns `Ok` without committing, the change runs again (its `last_error`
    /// says so). Returning an error after a rolled-back `tx` is handled as usual (retry,
    /// or one of the [`outcome`](super::outcome) errors); a new transaction of a later
    /// attempt settles again.
    ///
    /// The statement locks the batch's lease (the delivery rows, or the subscriber's
    /// cursor row) until `tx` ends; keep the time between this call and the commit short,
    /// like any transaction, and well below
    /// [`RuntimeConfig::lease`](super::RuntimeConfig::lease).
    ///
    /// ```no_run
    /// use db_listenable::DbListenable;
    /// use db_listenable::runtime::{Change, Context, ProcessError, Processor};
    ///
    /// #[derive(DbListenable, serde::Deserialize, sqlx::FromRow)]
    /// struct Payment { id: i64, account_id: i64, cents: i64 }
    ///
    /// struct Balances;
    ///
    /// impl Processor<Payment> for Balances {
    ///     async fn process(&self, ctx: &Context<'_>, change: &Change<Payment>) -> Result<(), ProcessError> {
    ///         let mut tx = ctx.db().begin().await?;
    ///         if let Some(payment) = &change.new {
    ///             sqlx::query("UPDATE accounts SET balance = balance + $2 WHERE id = $1")
    ///                 .bind(payment.account_id)
    ///                 .bind(payment.cents)
    ///                 .execute(&mut *tx)
    ///                 .await?;
    ///         }
    ///         // The increment and the end of the delivery commit together: never twice.
    ///         ctx.settle_in(&mut tx).await?;
    ///         tx.commit().await?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// [`Error::LeaseLost`] if some of the changes are no longer held by this batch's
    /// lease (another worker may be running them: roll back), [`Error::Database`] if the
    /// statement fails. Both are meant to be returned with `?`, which drops (rolls back) `tx`.
    pub async fn settle_in(&self, tx: &mut sqlx::PgConnection) -> Result<()> {
        let scope = self.settle;
        // Recorded before the statement runs: a lease renewal running beside it skips the
        // rows it locks, and must not take them for lost meanwhile.
        scope.settled.record(scope.changes);
        let settle = match scope.source {
            super::claim::Source::Journal => {
                store::settle_journal_in(tx, self.db.prepared(), scope.subscriber_id, scope.token, scope.changes).await
            }
            super::claim::Source::Deliveries => {
                store::settle_done_in(tx, self.db.prepared(), scope.subscriber_id, scope.token, scope.changes).await
            }
        };
        let settled = match settle {
            Ok(settled) => settled,
            Err(error) => {
                scope.settled.forget(scope.changes);
                return Err(error);
            }
        };
        if settled.len() < scope.changes.len() {
            let lost: Vec<i64> = scope.changes.iter().copied().filter(|id| !settled.contains(id)).collect();
            scope.settled.forget(&lost);
            return Err(Error::LeaseLost { subscriber: self.subscriber.to_owned(), changes: lost });
        }
        Ok(())
    }
}
