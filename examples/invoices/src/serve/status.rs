//! `GET /status`: what the runtime is doing, for a person or a probe.

use axum::Json;
use axum::extract::State;
use db_listenable::runtime::dead_letters::{self, DeadLetter};
use db_listenable::runtime::{Stats, SubscriberStats};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;

/// How many dead letters the status shows, oldest first; `invoices dead-letters list`
/// shows them all.
pub const DEAD_LETTERS_SHOWN: i64 = 20;

/// The body of `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// One entry per subscriber registered in the database, by name.
    pub subscribers: Vec<Subscriber>,
    /// Committed changes not yet routed to subscribers.
    pub unrouted: i64,
    /// Changes kept because no subscriber consumes their table.
    pub unconsumed: Vec<Unconsumed>,
    /// The oldest dead letters, at most [`DEAD_LETTERS_SHOWN`].
    pub dead_letters: Vec<DeadLetterSummary>,
}

/// One subscriber's backlog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscriber {
    /// The subscriber's name.
    pub name: String,
    /// Its table, or `outbox:<catalog>`.
    pub table: String,
    /// Deliveries ready to be claimed.
    pub pending: i64,
    /// Deliveries being processed.
    pub in_flight: i64,
    /// Deliveries waiting for their next attempt.
    pub retrying: i64,
    /// Dead letters.
    pub dead: i64,
    /// Age of the oldest change not yet processed; `null` when there is none.
    pub oldest_pending_age_ms: Option<u64>,
    /// Changes this process finished since it started.
    pub processed_here: u64,
    /// Failed attempts in this process since it started.
    pub failed_here: u64,
    /// Changes per second this process finished over the last minute.
    pub per_second: f64,
}

impl From<SubscriberStats> for Subscriber {
    fn from(stats: SubscriberStats) -> Self {
        Subscriber {
            name: stats.name,
            table: stats.table,
            pending: stats.pending,
            in_flight: stats.in_flight,
            retrying: stats.retrying,
            dead: stats.dead,
            // Saturating: an age beyond u64 milliseconds is not a real backlog.
            oldest_pending_age_ms: stats
                .oldest_pending_age
                .map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            processed_here: stats.processed_here,
            failed_here: stats.failed_here,
            per_second: stats.per_second,
        }
    }
}

/// Unconsumed changes of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unconsumed {
    /// `schema.table`.
    pub table: String,
    /// How many changes.
    pub count: i64,
}

/// A dead letter, without the captured rows (`invoices dead-letters list` shows them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterSummary {
    /// The subscriber that gave up.
    pub subscriber: String,
    /// The journal id of the change.
    pub change_id: i64,
    /// `schema.table`, or `outbox:<catalog>`.
    pub table: String,
    /// `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE` or `EVENT`.
    pub op: String,
    /// Attempts made.
    pub attempts: i32,
    /// The last error's text.
    pub last_error: String,
}

impl From<DeadLetter> for DeadLetterSummary {
    fn from(letter: DeadLetter) -> Self {
        DeadLetterSummary {
            subscriber: letter.subscriber,
            change_id: letter.change_id,
            table: letter.table,
            op: letter.op,
            attempts: letter.attempts,
            last_error: letter.last_error,
        }
    }
}

impl Status {
    fn new(stats: Stats, dead: Vec<DeadLetter>) -> Self {
        Status {
            subscribers: stats.subscribers.into_iter().map(Subscriber::from).collect(),
            unrouted: stats.unrouted,
            unconsumed: stats.unconsumed.into_iter().map(|(table, count)| Unconsumed { table, count }).collect(),
            dead_letters: dead.into_iter().map(DeadLetterSummary::from).collect(),
        }
    }
}

/// `GET /status`: the running runtime's figures (with this process's rates) and the
/// oldest dead letters.
pub async fn show(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let stats = state.stats().await?;
    let dead = dead_letters::list(&state.pool, None, DEAD_LETTERS_SHOWN).await?;
    Ok(Json(Status::new(stats, dead)))
}
