//! The runtime: workers that hand every committed change to typed processors, with
//! retries, dead letters, per-row ordering and a durable outbox (feature `runtime`).
//!
//! # How a change travels
//!
//! 1. The capture trigger appends it to `db_listenable.changes` in the writing
//!    transaction (nothing else: writers pay one narrow insert). The journal is
//!    append-only and partitioned: no entry is ever updated or deleted on its own.
//! 2. Each subscriber **reads the journal behind its own cursor**
//!    ([`ddl`](crate::ddl)'s `cursor` module): its progress is a snapshot, everything
//!    that snapshot sees is done, and the next batch is what a newer snapshot sees and it
//!    did not, in id order. So transactions that commit out of id order lose nothing (no
//!    entry of a running transaction is passed), and the happy path writes one cursor row
//!    per claim and one per settlement, whatever the batch size. Workers of every process
//!    **claim** the next batch under a lease on the cursor (one batch of a subscriber's
//!    journal in flight at a time), read its rows as the table's row type with the
//!    model's `sqlx::FromRow` (see [Column types](#column-types)), and call the processor
//!    on its changes in order.
//! 3. **Settle**: the cursor moves past the batch. What did not go well is written per
//!    change to `db_listenable.deliveries`: failures to retry (exponential backoff and
//!    jitter, then dead-lettered with the error text), and, for ordered subscribers, the
//!    later changes of a failed change's row, which wait behind it. Undecodable rows are
//!    dead-lettered at once with the raw JSON. Workers claim due deliveries before the
//!    journal, with `FOR UPDATE SKIP LOCKED`, a change of a row only when no earlier one
//!    of the row is left, so a row's changes run one at a time, in commit order, across
//!    all workers and machines. A processor can ask for other outcomes (see
//!    [Processor control](#processor-control)), or settle its change inside its own
//!    transaction. A worker that dies gives its batch back when the lease runs out.
//! 4. **Storage**: once every subscriber is past a whole journal partition, the router
//!    (any worker that wins an advisory lock) empties it with `TRUNCATE`; nothing
//!    depends on VACUUM or on the xmin horizon. Entries of a table no subscriber
//!    consumes are kept in `db_listenable.unrouted` first and reported; the first
//!    subscriber that registers for the table gets them, and the journal from the
//!    beginning (or from where the table's last subscriber was removed).
//! 5. A dead letter does not hold its row back: newer changes of the row go on. When it
//!    is **requeued** ([`dead_letters::requeue`]) it is replayed as the same change (its
//!    id and `captured_at`), after those newer changes and before the row's changes
//!    still waiting, and flagged: [`Change::requeued`] says when it died and how many
//!    newer changes of its row were processed meanwhile (see [`dead_letters`]' policy).
//!
//! A claim takes at most [`RuntimeConfig::batch_size`] deliveries and at most
//! [`RuntimeConfig::claim_bytes`] of row data (16 MiB by default; a larger delivery is
//! claimed alone), so a worker's memory is bounded by bytes, not only by count.
//!
//! While a processor runs, its worker renews the batch's lease every third of
//! [`RuntimeConfig::lease`] on connections of the runtime's own (up to one per worker,
//! from the pool's connect options), never on the pool processors use: processors that
//! hold every pool connection would otherwise make the renewal wait past the lease's end,
//! and another worker would run the same changes at the same time. A worker that still
//! cannot renew in time (the database unreachable) stops its processor when the lease
//! ends and settles nothing: the batch is the next claimant's, never two workers' at once.
//!
//! Ordering covers the changes of one row (same table and key; every entry concerns one
//! key, since capture journals a key move as the DELETE of the key left and the INSERT
//! of the key taken). TRUNCATE entries and outbox events stand alone: they are not ordered
//! with the row changes around them.
//!
//! Wake-ups come from `LISTEN` (the triggers' gated NOTIFY, and requeues'); a periodic
//! poll makes them optional ([`RuntimeConfig::wakeups`]). Delivery is at least once:
//! make processors idempotent.
//!
//! # Column types
//!
//! A processor's model derives (or implements) `sqlx::FromRow`, and each captured row
//! reaches it exactly as that `FromRow` reads a `SELECT` of the table: the journal keeps
//! rows as `jsonb`, and the claim turns them back into the table's row type with
//! PostgreSQL's own input functions before the model reads them. Each row of this table
//! is checked by a round trip (write with SQL from a session with rounding settings,
//! receive the change, compare with `FromRow` reading the row) in the runtime tests
//! (`tests/runtime/types.rs`), for both capture granularities:
//!
//! | PostgreSQL | Rust (sqlx feature) | Notes |
//! |---|---|---|
//! | `smallint`, `integer`, `bigint` | `i16`, `i32`, `i64` | |
//! | `real`, `double precision` | `f32`, `f64` | every digit, `NaN`, `±Infinity`: capture pins `extra_float_digits` |
//! | `numeric` | `rust_decimal::Decimal` (`rust_decimal`), `bigdecimal::BigDecimal` (`bigdecimal`) | exact, scale kept; `Decimal` holds 28 digits, `BigDecimal` any |
//! | `boolean` | `bool` | |
//! | `text`, `citext` | `String` | `citext` keeps its case |
//! | `bytea` | `Vec<u8>` | |
//! | `timestamptz` | `chrono::DateTime<Utc>` (`chrono`), `time::OffsetDateTime` (`time`) | microseconds; the writer's `TimeZone` does not matter |
//! | `timestamp`, `date`, `time` | `chrono::Naive*` (`chrono`), `time::{PrimitiveDateTime, Date, Time}` (`time`) | |
//! | `interval` | `sqlx::postgres::types::PgInterval` | whatever the writer's `IntervalStyle` |
//! | `uuid` | `uuid::Uuid` (`uuid`) | |
//! | `inet` | `ipnetwork::IpNetwork` (`ipnetwork`) | |
//! | an enum type | a `#[derive(sqlx::Type)]` enum | |
//! | a domain | its base type's Rust type | a check tightened later: see below |
//! | arrays | `Vec<T>`, `Vec<Option<T>>` | of any type above |
//! | `json`, `jsonb` | `serde_json::Value`, `sqlx::types::Json<T>` | `json` comes back normalised as `jsonb` (key order, whitespace, duplicate keys) |
//! | `NULL` | `Option<T>` | |
//!
//! Not exact: `money` is read back in the reading session's `lc_monetary`. A captured
//! value the table no longer accepts (a column's type changed, a domain's check
//! tightened) dead-letters its delivery at once, with PostgreSQL's error; the rest of the
//! batch goes on. Processors that want the captured JSON itself (an audit log) take
//! [`JsonRow<T>`](JsonRow).
//!
//! # State and settings
//!
//! Processors reach the database through their [`Context`], and the application's own
//! state (an HTTP client, a search index, a cache) through [`Context::state`]: an `&S`,
//! where `S` is the value given to [`RuntimeBuilder::with_state`] (`()` with
//! [`RuntimeBuilder::new`]). The compiler checks at registration that a processor reads
//! the runtime's state type (`Processor<T, S>`); one that reads none is written for any
//! (`impl<S: Sync> Processor<T, S>`), or for `()` by leaving `S` out.
//!
//! [`RuntimeConfig`] holds the settings, set with chained setters
//! (`RuntimeConfig::default().workers(4).batch_size(500)`).
//! [`start`](RuntimeBuilder::start) checks them with [`RuntimeConfig::validate`] and
//! refuses what cannot work with [`Error::Config`](crate::Error::Config), whose
//! [`ConfigError`](crate::ConfigError) names the setting.
//!
//! # Processor control
//!
//! A processor returns `Result<(), ProcessError>`. Besides `Ok` (done) and any error
//! (retried with backoff, dead-lettered after [`RuntimeConfig::max_attempts`]), it can
//! return one of the errors of [`outcome`], with a reason that is recorded:
//!
//! | return | the change | the reason is kept |
//! |---|---|---|
//! | `Err(Permanent::because("..").into())` | dead-lettered now, no further attempt | in the dead letter's `last_error` |
//! | `Err(RetryAfter::new(delay, "..").into())` | tried again after `delay`; counts as an attempt, so it ends in a dead letter after `max_attempts` | in the delivery's `last_error` ([`SubscriberStats::oldest_error`], the dashboard), then the dead letter's |
//! | `Err(Skip::because("..").into())` | settled as done, without effect | in the log (`info`); counted in [`SubscriberStats::skipped_here`] |
//!
//! A [`BatchProcessor`]'s outcome applies to its whole batch.
//!
//! ```no_run
//! use std::time::Duration;
//! use db_listenable::DbListenable;
//! use db_listenable::runtime::{Change, Context, Permanent, ProcessError, Processor, RetryAfter, Skip};
//!
//! #[derive(DbListenable, sqlx::FromRow)]
//! struct Message { id: i64, chat_id: i64, body: String }
//!
//! struct SearchIndex;
//!
//! impl Processor<Message> for SearchIndex {
//!     async fn process(&self, _ctx: &Context<'_>, change: &Change<Message>) -> Result<(), ProcessError> {
//!         let Some(message) = change.row() else { return Ok(()) };
//!         if message.body.is_empty() {
//!             return Err(Skip::because("an empty message has nothing to index").into());
//!         }
//!         if message.body.len() > 1 << 20 {
//!             return Err(Permanent::because("a message over 1 MiB cannot be indexed").into());
//!         }
//!         if cluster_is_throttling() {
//!             return Err(RetryAfter::new(Duration::from_secs(30), "the search cluster throttles writes").into());
//!         }
//!         Ok(())
//!     }
//! }
//! # fn cluster_is_throttling() -> bool { false }
//! ```
//!
//! **Settling inside the processor's transaction.** A processor whose effect lives only
//! in this database calls [`Context::settle_in`] on its own transaction before the
//! commit: its writes and the end of the delivery then commit together, so the effect is
//! applied exactly once, even if the process is killed at any moment (without it, a kill
//! between the processor's commit and the worker's settlement runs the change again). For
//! a [`BatchProcessor`] it settles the whole batch.
//!
//! ```no_run
//! use db_listenable::DbListenable;
//! use db_listenable::runtime::{Change, Context, ProcessError, Processor};
//!
//! #[derive(DbListenable, sqlx::FromRow)]
//! struct Message { id: i64, chat_id: i64, body: String }
//!
//! struct MessageCounts;
//!
//! impl Processor<Message> for MessageCounts {
//!     async fn process(&self, ctx: &Context<'_>, change: &Change<Message>) -> Result<(), ProcessError> {
//!         let delta = match (&change.old, &change.new) {
//!             (None, Some(_)) => 1,
//!             (Some(_), None) => -1,
//!             _ => 0,
//!         };
//!         let chat_id = change.row().map(|m| m.chat_id);
//!         let mut tx = ctx.db().begin().await?;
//!         sqlx::query("UPDATE chats SET messages_count = messages_count + $2 WHERE id = $1")
//!             .bind(chat_id)
//!             .bind(delta)
//!             .execute(&mut *tx)
//!             .await?;
//!         ctx.settle_in(&mut tx).await?; // fails (and `?` rolls back) if the lease was lost
//!         tx.commit().await?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! # Why one journal, read behind cursors
//!
//! The alternatives were fan-out at capture (one journal row per subscriber, written by
//! the trigger) and routing after commit (the design before schema version 3: a router
//! moved each committed entry into one `deliveries` row per subscriber, which claims
//! updated and settlements deleted). Measured (BENCHMARKS.md), extra journal rows at
//! capture cost single-row writers little, so writer throughput did not decide it:
//!
//! - **Subscribers come and go.** A chat server instance registers its own search-index
//!   subscriber at start. With fan-out at capture, every writing statement must look up
//!   the subscriber list, and a subscriber that registers while writers run must lock
//!   them out or miss changes. A cursor is the subscriber's own row.
//! - **Capture does not depend on consumers.** The trigger SQL is generated from the
//!   model alone; entries of tables nobody consumes yet are kept for the first
//!   subscriber, instead of being written for nobody or lost.
//! - **Draining writes per batch, not per change.** Routing wrote four times per change
//!   (journal delete, delivery insert, lease update, delivery delete), about 850 B of WAL,
//!   and left dead tuples that claims stepped over until VACUUM came: throughput swung
//!   2-8x between runs and collapsed when a long transaction held the xmin horizon back.
//!   A cursor writes once per claim and once per settlement; partitions are emptied
//!   with `TRUNCATE`, which leaves nothing for VACUUM.
//!
//! The price: per-row state exists only for what goes wrong (retries, changes waiting
//! behind them, dead letters), and one journal batch of a subscriber is in flight at a
//! time (the batch's changes run in order in one worker; the process's other workers
//! leave that subscriber's journal alone meanwhile and serve other subscribers and the
//! deliveries).
//!
//! # Example
//!
//! ```no_run
//! use db_listenable::DbListenable;
//! use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder, shutdown_signal};
//!
//! #[derive(DbListenable, sqlx::FromRow)]
//! struct Message { id: i64, chat_id: i64, body: String }
//!
//! struct Log;
//!
//! impl Processor<Message> for Log {
//!     async fn process(&self, _ctx: &Context<'_>, change: &Change<Message>) -> Result<(), ProcessError> {
//!         println!("{} message {:?}", change.op, change.row().map(|m| m.id));
//!         Ok(())
//!     }
//! }
//!
//! # async fn run(pool: sqlx::PgPool) -> db_listenable::Result<()> {
//! let runtime = RuntimeBuilder::new(pool).processor::<Message, _>("message_log", Log).start().await?;
//! runtime.run_until(shutdown_signal()).await;
//! # Ok(()) }
//! ```

mod builder;
mod change;
mod claim;
mod config;
pub mod dead_letters;
mod handle;
mod heartbeat;
mod outbox;
pub mod outcome;
mod processor;
mod row;
mod settle_in;
mod shared;
mod stats;
mod store;
mod subscriber;
mod wakeup;
mod worker;

pub use builder::{RuntimeBuilder, SubscribeOptions, recommended_connections};
pub use change::{Change, Op, Requeued};
pub use config::{DriftPolicy, RuntimeConfig};
pub use dead_letters::DeadLetter;
pub use handle::{Health, Runtime, shutdown_signal};
pub use outbox::JournalOutbox;
pub use outcome::{Permanent, RetryAfter, Skip};
pub use processor::{BatchProcessor, Context, ProcessError, Processor};
pub use row::{ChangeRow, JsonRow, RowData};
pub use stats::{LATENCY_BUCKETS, LatencyHistogram, Stats, StatsHandle, SubscriberStats, load as load_stats};
pub use store::{RemovedSubscriber, ensure_installed, remove_stale_subscriber, remove_subscriber};
