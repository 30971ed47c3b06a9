//! The worker loop: maintain the journal, claim, process, settle; wait for a wake-up or
//! the poll.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::Instrument;

use super::claim::{self, ClaimRequest, Source};
use super::processor::Context;
use super::settle_in::{SettleScope, SettledInTx};
use super::shared::{Served, Shared};
use super::store::{self, Settlement};
use super::subscriber::{Claimed, Outcome, error_text};
use crate::error::Result;

/// Runs until `shutdown` turns true; the batch in hand is always finished and settled first.
pub(crate) async fn run(shared: Arc<Shared>, worker: usize, mut shutdown: watch::Receiver<bool>) {
    let mut next = worker;
    let mut failures: u32 = 0;
    let mut idle_wait = shared.config.poll_interval;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Registered before looking for work, so a wake-up that arrives meanwhile is not lost.
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match round(&shared, &mut next, &shutdown).await {
            Ok(true) => {
                failures = 0;
                idle_wait = AFTER_WORK_POLL.min(shared.config.poll_interval);
                // Drain until empty: more may be waiting, wake-up or not.
                continue;
            }
            Ok(false) => failures = 0,
            Err(error) => {
                failures = failures.saturating_add(1);
                let delay = reconnect_delay(shared.config.reconnect_backoff, failures);
                let error = error_text(&error);
                tracing::warn!(worker, %error, retry_in_ms = delay.as_millis() as u64, "db-listenable worker: database error");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(idle_wait) => {}
            _ = shutdown.changed() => {}
        }
        idle_wait = idle_wait.saturating_mul(2).min(shared.config.poll_interval);
    }
    tracing::debug!(worker, "db-listenable worker stopped");
}

/// The first idle poll after a round that found work, doubled at each idle round up to
/// `poll_interval`. The capture trigger's wake-up is gated: of transactions that overlap,
/// only one NOTIFYs, so one that commits after the notifier's entries were claimed has no
/// wake-up of its own and would wait for the poll. Such commits come soon after the
/// notifier's, so polling soon after activity finds them (measured in BENCHMARKS.md,
/// latency with 8 writers) at the price of a few empty rounds when activity stops.
const AFTER_WORK_POLL: Duration = Duration::from_millis(5);

/// `initial * 2^(failures-1)`, at most 30 s.
pub(crate) fn reconnect_delay(initial: Duration, failures: u32) -> Duration {
    initial.saturating_mul(1u32 << failures.saturating_sub(1).min(16)).min(Duration::from_secs(30))
}

/// One pass: the router's round when it is due ([`Shared::maintenance_due`]), then one
/// batch per subscriber. True if anything was done.
async fn round(shared: &Shared, next: &mut usize, shutdown: &watch::Receiver<bool>) -> Result<bool> {
    let mut worked = false;
    if shared.maintenance_due() {
        let limit = i64::try_from(shared.config.route_batch_size).unwrap_or(i64::MAX);
        if let Some(round) = store::maintain(shared.db(), limit).await? {
            if round.adopted > 0 {
                tracing::debug!(adopted = round.adopted, "kept entries given to their subscribers");
                worked = true;
                for served in &shared.served {
                    served.deliveries.expect();
                }
                shared.wake.notify_waiters();
            }
            if round.truncated > 0 {
                tracing::debug!(partitions = round.truncated, "emptied journal partitions every subscriber is past");
            }
            if round.kept > 0 {
                tracing::warn!(
                    kept = round.kept,
                    "db-listenable: journal entries of tables no subscriber consumes were kept in db_listenable.unrouted \
                     (see the runtime's stats); they go to the first subscriber that registers for their table"
                );
            }
        }
    }
    let count = shared.served.len();
    for offset in 0..count {
        if *shutdown.borrow() {
            break;
        }
        let served = &shared.served[(*next + offset) % count];
        worked |= batch(shared, served).await? > 0;
    }
    *next = (*next + 1) % count.max(1);
    Ok(worked)
}

/// Claims and processes one batch of `served`: its deliveries when some may be due
/// (retries, changes waiting behind them, requeued dead letters), else the next batch of
/// the journal behind its cursor, unless another worker of this process holds that
/// ([`super::shared::JournalTurn`]). Returns how many changes it claimed.
async fn batch(shared: &Shared, served: &Served) -> Result<usize> {
    if served.deliveries.due(shared.config.poll_interval) {
        let claimed = batch_from(shared, served, Source::Deliveries).await?;
        if claimed > 0 {
            return Ok(claimed);
        }
        served.deliveries.none_due();
    }
    let Some(_turn) = served.journal.take() else {
        return Ok(0);
    };
    batch_from(shared, served, Source::Journal).await
}

/// Claims and processes one batch of `served` from `source`.
async fn batch_from(shared: &Shared, served: &Served, source: Source) -> Result<usize> {
    let config = &shared.config;
    let spec = served.subscriber.spec();
    let token: i64 = rand::random();
    let limit = i64::try_from(config.batch_size.max(1)).unwrap_or(i64::MAX);
    let ordered = !spec.key_columns.is_empty();
    let from = if source == Source::Deliveries { served.pick.next() } else { 0 };
    let budget = i64::try_from(config.claim_bytes).unwrap_or(i64::MAX);
    // Taken before the claim is sent: the lease the server grants ends later than this.
    let claimed_at = Instant::now();
    let request = ClaimRequest {
        subscriber_id: served.id,
        ordered,
        from,
        limit,
        budget,
        lease: config.lease,
        token,
        row_type: spec.row_type.as_deref(),
        table_id: spec.table_id,
        key_columns: &spec.key_columns,
    };
    let mut claimed = claim::claim(shared.db(), &request, source).await?;
    if source == Source::Journal && ordered {
        one_change_per_row(&mut claimed);
    }
    // The deliveries' claim takes a row's earliest delivery only.
    debug_assert!(
        !ordered || repeated_row(&claimed).is_none(),
        "an ordered subscriber's batch holds two changes of one row"
    );
    if source == Source::Deliveries {
        served.pick.claimed(config.batch_size.max(1), claimed.len(), claimed.iter().map(|c| c.change_id).min());
    }
    if claimed.is_empty() {
        return Ok(0);
    }
    let size = claimed.len();
    let span = tracing::info_span!(
        "db_listenable.batch",
        subscriber = %spec.name,
        table = %spec.label,
        size = claimed.len(),
        first_change = claimed[0].change_id,
        from_journal = source == Source::Journal,
    );
    let attempt = claimed[0].attempt;
    let upto = claimed[claimed.len() - 1].change_id;
    async {
        let started = Instant::now();
        let mut settlement = Settlement::default();
        // A delivery claimed more often than allowed was held by workers that stopped
        // before settling it (a crash, or a processor that kills the process): give up on
        // it instead of letting it take the next worker down too.
        let (abandoned, live): (Vec<Claimed>, Vec<Claimed>) =
            claimed.into_iter().partition(|c| c.attempt > config.max_attempts);
        for c in &abandoned {
            settlement.dead.push((
                c.change_id,
                format!(
                    "abandoned after {} claims: the workers holding it stopped before finishing (crash or lost connection)",
                    c.attempt - 1
                ),
            ));
        }
        if !live.is_empty() {
            let settled = SettledInTx::default();
            let ctx = Context {
                db: shared.db(),
                subscriber: &spec.name,
                state: &(),
                settle: SettleScope { subscriber_id: served.id, token, changes: &[], settled: &settled, source },
            };
            let processing = Instant::now();
            let lease = Lease { token, claimed_at, held: size as u64, settled: &settled, source };
            let Some(outcomes) = handle_leased(shared, served, &lease, &ctx, &live).await else {
                // The lease is gone, so another worker may run these changes now: nothing
                // of this batch is settled, whoever holds it next settles it.
                return Ok(size);
            };
            served.counters.record_latency(processing.elapsed(), live.len() as u64);
            let settled_in_tx = settled.ids();
            for (claimed, outcome) in live.iter().zip(outcomes) {
                classify(shared, served, claimed, outcome, settled_in_tx.contains(&claimed.change_id), &mut settlement);
            }
            settlement.settled_elsewhere = settled_in_tx;
        }
        let elapsed = started.elapsed();
        if !settlement.retry.is_empty() || !settlement.settled_in_tx.is_empty() {
            served.deliveries.expect();
        }
        let uncommitted = settle(shared, served, token, &settlement, Claim { source, upto, attempt }).await?;
        // A change settled in a transaction that did not commit was released for another
        // attempt: a failure, not a processed change.
        let committed = (settlement.settled_in_tx.len() - uncommitted) as u64;
        served.counters.record(
            (settlement.done.len() as u64 - settlement.skipped) + committed,
            settlement.failed_attempts + uncommitted as u64,
            settlement.dead.len() as u64,
            settlement.skipped,
        );
        tracing::debug!(
            done = settlement.done.len() + settlement.settled_in_tx.len() - uncommitted,
            skipped = settlement.skipped,
            retried = settlement.retry.len(),
            dead = settlement.dead.len(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "batch processed"
        );
        Ok(size)
    }
    .instrument(span)
    .await
}

/// Cuts an ordered subscriber's journal batch before the first change of a row that
/// already has a change in it: the rest is claimed again after this part is settled.
/// So no change of a row runs while an earlier one of the row is done but not yet
/// settled, and a batch run again (a lease lost, a worker killed) never takes a row back
/// to an older change after a newer one ran: the promise the deliveries' claim keeps by
/// holding one change per row. Batches of distinct rows stay whole; a row changed many
/// times is drained a change per batch.
fn one_change_per_row(claimed: &mut Vec<Claimed>) {
    if let Some(cut) = repeated_row(claimed) {
        claimed.truncate(cut);
    }
}

/// The position of the first change of a row that has an earlier change in `claimed`.
fn repeated_row(claimed: &[Claimed]) -> Option<usize> {
    let mut rows = std::collections::HashSet::new();
    claimed.iter().position(|change| change.row.is_some_and(|row| !rows.insert(row)))
}

/// A claimed batch's lease, as this worker knows it.
struct Lease<'a> {
    token: i64,
    /// When the claim was sent: the lease runs out no earlier than `lease` after it.
    claimed_at: Instant,
    /// Deliveries claimed under `token`; a renewal that holds fewer lost some.
    held: u64,
    /// Deliveries the processor settled in its own transaction: a renewal skips them
    /// (locked by that transaction, or deleted by its commit) without losing them.
    settled: &'a SettledInTx,
    /// A journal batch's lease is on the subscriber's cursor, a batch of deliveries' on
    /// each of them.
    source: Source,
}

/// A renewal in flight: when it was sent, and what it returns.
type Renewal<'a> = Pin<Box<dyn Future<Output = (Instant, Result<u64>)> + Send + 'a>>;

/// Runs the subscriber on `live` within the processing timeout (past it, every change of
/// the batch fails), while renewing the batch's lease every third of it.
///
/// Renewals go through the runtime's own lease connections ([`Shared::lease_pool`]), not
/// the pool processors use: a processor holding every pool connection cannot make a
/// renewal wait until the lease is gone. They run beside the processor, which is not
/// paused meanwhile. Returns `None`, having stopped the processor (its future is dropped
/// at its next await), when the lease can no longer be vouched for: no renewal confirmed
/// before the lease's end as measured from the last one sent, or a renewal found some
/// deliveries taken by another worker. From then on another worker may claim the batch,
/// and one change never runs in two places at once.
async fn handle_leased(
    shared: &Shared,
    served: &Served,
    lease: &Lease<'_>,
    ctx: &Context<'_>,
    live: &[Claimed],
) -> Option<Vec<Outcome>> {
    let config = &shared.config;
    let work = tokio::time::timeout(config.processing_timeout, served.subscriber.handle(ctx, live));
    tokio::pin!(work);
    let mut held_until = lease.claimed_at + config.lease;
    let mut next_renewal = lease.claimed_at + config.lease / 3;
    let mut renewal: Option<Renewal<'_>> = None;
    loop {
        tokio::select! {
            done = &mut work => {
                return Some(done.unwrap_or_else(|_| {
                    let error = format!(
                        "processing timed out after {:?} (RuntimeConfig::processing_timeout)",
                        config.processing_timeout
                    );
                    vec![Outcome::Failed(error); live.len()]
                }));
            }
            (sent, result) = async {
                match renewal.as_mut() {
                    Some(renewal) => renewal.await,
                    None => std::future::pending().await,
                }
            } => {
                renewal = None;
                next_renewal = Instant::now() + config.lease / 3;
                match result {
                    Ok(held) if held + lease.settled.len() >= lease.held => held_until = sent + config.lease,
                    Ok(held) => {
                        tracing::warn!(
                            subscriber = %served.subscriber.spec().name,
                            lost = lease.held - held - lease.settled.len(),
                            "a lease ran out and another worker took changes of this batch; stopping its processor"
                        );
                        return None;
                    }
                    Err(error) => {
                        let error = error_text(&error);
                        tracing::warn!(%error, "could not renew a lease; trying again until it runs out");
                    }
                }
            }
            () = tokio::time::sleep_until(next_renewal.into()), if renewal.is_none() => {
                let (db, subscriber, token, duration) = (shared.lease_db(), served.id, lease.token, config.lease);
                let (source, held) = (lease.source, lease.held);
                let sent = Instant::now();
                renewal = Some(Box::pin(async move {
                    let renewed = match source {
                        Source::Deliveries => store::renew(db, subscriber, token, duration).await,
                        // The whole batch or nothing.
                        Source::Journal => store::renew_cursor(db, subscriber, token, duration)
                            .await
                            .map(|renewed| if renewed { held } else { 0 }),
                    };
                    (sent, renewed)
                }));
            }
            () = tokio::time::sleep_until(held_until.into()) => {
                tracing::warn!(
                    subscriber = %served.subscriber.spec().name,
                    lease_ms = config.lease.as_millis() as u64,
                    "a lease ran out before it could be renewed; stopping the batch's processor, whose changes \
                     another worker may now claim"
                );
                return None;
            }
        }
    }
}

/// Files `claimed` under its outcome. `settled_in_tx`: the processor settled it in its
/// own transaction ([`Context::settle_in`]).
fn classify(
    shared: &Shared,
    served: &Served,
    claimed: &Claimed,
    outcome: Outcome,
    settled_in_tx: bool,
    settlement: &mut Settlement,
) {
    let spec = served.subscriber.spec();
    let change = claimed.change_id;
    let last_attempt = claimed.attempt >= shared.config.max_attempts;
    match outcome {
        Outcome::Done if settled_in_tx => settlement.settled_in_tx.push(change),
        Outcome::Done => settlement.done.push(change),
        Outcome::Skipped(reason) => {
            tracing::info!(change, subscriber = %spec.name, table = %spec.label, %reason, "skipped by the processor");
            settlement.skipped += 1;
            settlement.done.push(change);
        }
        Outcome::Undecodable(error) => {
            tracing::error!(change, subscriber = %spec.name, table = %spec.label, %error, "dead-lettered: undecodable row");
            settlement.dead.push((change, error));
        }
        Outcome::Permanent(error) => {
            settlement.failed_attempts += 1;
            tracing::error!(change, subscriber = %spec.name, table = %spec.label, attempt = claimed.attempt, %error, "dead-lettered: the processor reported a permanent failure");
            settlement.dead.push((change, error));
        }
        Outcome::RetryAfter(_, error) if last_attempt => {
            tracing::error!(change, subscriber = %spec.name, table = %spec.label, attempt = claimed.attempt, %error, "dead-lettered: the processor asked to retry on the last attempt");
            settlement.dead.push((change, error));
        }
        Outcome::RetryAfter(delay, error) => {
            tracing::info!(change, subscriber = %spec.name, table = %spec.label, attempt = claimed.attempt, retry_in_ms = delay.as_millis() as u64, %error, "the processor asked to retry later");
            settlement.retry.push((change, delay, error));
        }
        Outcome::Failed(error) if last_attempt => {
            settlement.failed_attempts += 1;
            tracing::error!(change, subscriber = %spec.name, table = %spec.label, attempt = claimed.attempt, %error, "dead-lettered after the last attempt");
            settlement.dead.push((change, error));
        }
        Outcome::Failed(error) => {
            settlement.failed_attempts += 1;
            let delay = shared.config.backoff(claimed.attempt);
            tracing::warn!(change, subscriber = %spec.name, table = %spec.label, attempt = claimed.attempt, retry_in_ms = delay.as_millis() as u64, %error, "processing failed; will retry");
            settlement.retry.push((change, delay, error));
        }
    }
}

/// What the settlement needs to know of the claim.
#[derive(Debug, Clone, Copy)]
struct Claim {
    source: Source,
    /// The batch's last change id.
    upto: i64,
    /// The batch's attempt (a journal batch is claimed as a whole).
    attempt: u32,
}

/// Writes the outcome, retrying a few times: losing it only means the lease runs out and
/// the batch is processed again, but that is worth avoiding after a short network blip.
/// Returns how many changes the processor settled in a transaction that did not commit
/// (released for another attempt).
async fn settle(shared: &Shared, served: &Served, token: i64, settlement: &Settlement, claim: Claim) -> Result<usize> {
    let mut failures = 0;
    loop {
        let written = match claim.source {
            Source::Deliveries => store::settle(shared.db(), served.id, token, settlement).await,
            Source::Journal => {
                store::settle_journal(shared.db(), served.id, token, claim.upto, claim.attempt, settlement).await.map(
                    |(held, uncommitted)| {
                        // Held: every change was touched; lost: none was.
                        let touched = if held { every_change(settlement) } else { Vec::new() };
                        (touched, uncommitted)
                    },
                )
            }
        };
        match written {
            Ok((touched, uncommitted)) => {
                for &change in &uncommitted {
                    tracing::warn!(change, subscriber = %served.subscriber.spec().name, error = store::UNCOMMITTED, "will retry");
                }
                // Gone without being touched: another worker's now, unless the processor
                // settled it in its own transaction, which committed.
                let touched: BTreeSet<i64> = touched.into_iter().collect();
                let lost = settlement
                    .done
                    .iter()
                    .chain(settlement.retry.iter().map(|r| &r.0))
                    .chain(settlement.dead.iter().map(|r| &r.0))
                    .filter(|change| !touched.contains(change) && !settlement.settled_elsewhere.contains(change))
                    .count();
                if lost > 0 {
                    tracing::warn!(
                        subscriber = %served.subscriber.spec().name,
                        lost,
                        "leases ran out before the batch was settled; another worker may process those changes again \
                         (raise RuntimeConfig::lease above the slowest batch)"
                    );
                }
                return Ok(uncommitted.len());
            }
            Err(error) if failures < 3 => {
                failures += 1;
                let error = error_text(&error);
                tracing::warn!(%error, attempt = failures, "could not record a batch's outcome; retrying");
                tokio::time::sleep(reconnect_delay(shared.config.reconnect_backoff, failures)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Every change a settlement names.
fn every_change(settlement: &Settlement) -> Vec<i64> {
    settlement
        .done
        .iter()
        .chain(settlement.retry.iter().map(|r| &r.0))
        .chain(settlement.dead.iter().map(|r| &r.0))
        .chain(&settlement.settled_in_tx)
        .copied()
        .collect()
}
