//! What working through a backlog costs the runtime, and why a change is routed to its
//! subscribers after commit instead of being fanned out by the capture trigger.
//!
//! 1. **Drain throughput.** A subscriber is registered, then `items` takes N committed
//!    changes while no runtime runs (as when the service was down). A runtime with a
//!    no-op processor is started and timed until the processor has seen all N: routing,
//!    claiming, decoding and settling included. Workers 1, 2, 4 x batch size 1, 100,
//!    1000, ordered (the default) and unordered, each cell on a fresh database, plus one
//!    row with a no-op `BatchProcessor`. Reports changes per second, the WAL written per
//!    change (what a durable server pays for routing, claiming and settling) and the
//!    index entries read per index scan over every index of schema `db_listenable`.
//!    After each drain of the 2-worker ordered batch-1000 cell, the size of our
//!    relations before, right after, and once the runtime, kept running idle, has
//!    brought it below 8 MB (or 30 s have passed).
//! 2. **Memory.** Peak resident memory of this process (Linux `VmHWM`, reset through
//!    `/proc/self/clear_refs` just before the drain) while 2 workers drain a backlog of
//!    1,000,000 changes in batches of 1000. The target is at most 100 MB. Storage as in 1.
//! 3. **Capture fan-out.** pgbench single-row inserts at 8 clients into a table without
//!    triggers, and with a row trigger that writes 1, 2 or 3 journal rows per insert:
//!    what fanning out at capture (one journal row per subscriber, written by the writer)
//!    would cost writers, against our design (one journal row; the runtime routes it to
//!    the subscribers after commit). Modes alternate within a round so drift of the
//!    machine hits all of them alike.
//!
//! Our relations are "every table of schema `db_listenable`", found through the catalog
//! (`drain/our_relations.rs`), so the figures hold whichever tables the delivery path
//! uses. Runs on a private cluster with PostgreSQL's durable defaults, like the capture
//! bench. Prints tables; not a test.
//!
//! `cargo bench -p db-listenable --bench drain`. Knobs (environment):
//! - `DRAIN_BENCH_QUICK=1`: every size and duration shrunk, for a smoke run (each knob
//!   below still wins when set).
//! - `DRAIN_BENCH_BACKLOG`: changes per drain cell (default 100,000; quick 10,000). Batch
//!   size 1 drains a tenth of it.
//! - `DRAIN_BENCH_MEMORY_BACKLOG`: changes for the memory run (default 1,000,000; quick
//!   100,000; 0 skips it).
//! - `DRAIN_BENCH_SECONDS`, `DRAIN_BENCH_ROUNDS`: length of each pgbench run (default 5;
//!   quick 1) and alternating rounds (default 3; quick 1) of the fan-out comparison.
//! - `DRAIN_BENCH_PARTS`: which parts run, comma-separated (`drain,memory,fanout`, the default).
//! - `DRAIN_BENCH_CELLS`: only these cells of the drain matrix, as `workersxbatch`
//!   (`1x100,2x1000`); every processor kind with that shape runs, unless
//!   `DRAIN_BENCH_KINDS` names some (`ordered`, `unordered`, `batch`, comma-separated).
//! - `DRAIN_BENCH_REPEAT=N`: every cell (under every condition below) is drained N times
//!   (default 1), in rounds over the conditions; every run's figure is printed, then
//!   max/min per cell and `stable: yes/no (worst cell ...)` against issue 18's 1.3x.
//! - `DRAIN_BENCH_LONG_TXN=rr`, `=rr-xid` or `=rr,rr-xid`: each cell is also drained while
//!   another connection holds `BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*)
//!   FROM items;` (`rr-xid`: then `SELECT pg_current_xact_id()`, so it holds an xid too)
//!   open from before the runtime starts until the drain ends; printed next to the plain
//!   drain of the same run, with the ratio.
//! - `DRAIN_BENCH_AUTOVACUUM=off`: each cell is also drained with `autovacuum_enabled =
//!   false` on every table of schema `db_listenable` (each leaf partition; what refuses
//!   is skipped), set before the backlog is written; nothing vacuums or analyses our
//!   tables then (the plain drain has its backlog vacuumed before timing, as autovacuum
//!   would have); printed next to the plain drain, with the ratio.
//! - `DRAIN_BENCH_HISTORY=N` (default 0, off): before each measured cell, N changes are
//!   pushed through the same database (written in chunks of 1,000,000 as the backlog is,
//!   each drained by a runtime with the cell's workers and batch 1000); our tables are
//!   then only analysed, not vacuumed, before timing, so the drain meets what the
//!   history left behind. The index entries read per scan show whether a claim reads
//!   O(batch) entries after it.
//! - `DRAIN_BENCH_DURABILITY=ephemeral`: the test cluster's settings (`fsync=off`).
//! - `DRAIN_BENCH_UNPREPARED=1`: the runtime sends its statements unprepared
//!   (`RuntimeConfig::prepared_statements(false)`, for poolers in transaction mode), to
//!   measure what that costs against the default.
//! - `DRAIN_BENCH_TRACE=<file>`: for tracing a slow run. The cluster logs every
//!   autovacuum, checkpoint and lock wait (over 20 ms), each drain prints its wall-clock
//!   span (UTC) and how busy the machine's CPUs were meanwhile, and the server log is
//!   copied to `<file>` at the end (`drain/trace.rs`).
//!
//! `BENCH_QUICK` and `BENCH_DURABILITY` (what `benchmarks/run.sh` sets for every bench)
//! act as `DRAIN_BENCH_QUICK` and `DRAIN_BENCH_DURABILITY`.

// The bench's pieces, in `drain/` (a crate root's modules are found next to it otherwise).
#[path = "drain/long_txn.rs"]
mod long_txn;
#[path = "drain/our_relations.rs"]
mod our_relations;
#[path = "drain/schema_stats.rs"]
mod schema_stats;
#[path = "drain/storage.rs"]
mod storage;
#[path = "drain/trace.rs"]
mod trace;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::runtime::{
    BatchProcessor, Change, Context, ProcessError, Processor, RuntimeBuilder, RuntimeConfig, SubscribeOptions,
};
use pg_harness::{Cluster, Durability, TestDb};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Notify;

use crate::long_txn::{LongTransaction, LongTxn};
use crate::schema_stats::{SchemaStats, StatsSnapshot};
use crate::storage::Storage;
use crate::trace::{CpuSample, Probe, Trace};

/// The captured table, shaped like the runtime tests' `items`.
#[derive(Debug, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "items")]
#[expect(dead_code, reason = "decoded by the runtime (part of what is measured), never read by the no-op processor")]
struct Item {
    id: i64,
    name: String,
    qty: i32,
}

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int NOT NULL DEFAULT 0)";

/// The subscriber every drain registers (one per fresh database).
const SUBSCRIBER: &str = "drain_bench";

/// Rows per `INSERT ... SELECT` while building a backlog: statement capture writes the
/// whole chunk's journal entries in one statement, and the chunk bounds the transition
/// table a single statement holds.
const FILL_CHUNK: u64 = 100_000;

/// Changes written, then drained, per step of the history (`DRAIN_BENCH_HISTORY`).
const HISTORY_CHUNK: u64 = 1_000_000;

/// How often idle workers poll: short, so a worker that found nothing (another holds
/// the router lock, or the next batch is not routed yet) is back quickly.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Concurrent writers in the fan-out comparison.
const FAN_OUT_CLIENTS: u32 = 8;

/// Issue 18's stability target: max/min of a cell's repeated runs.
const STABLE_RATIO: f64 = 1.3;

#[tokio::main]
async fn main() {
    let knobs = Knobs::from_env();
    let settings = pg_harness::Settings::from_env();
    let cluster =
        Arc::new(Cluster::start_temporary_with(&settings, knobs.durability).expect("a private PostgreSQL cluster"));
    knobs.print();
    if let Some(trace) = &knobs.trace {
        trace.enable(&cluster).await;
    }
    if knobs.parts.drain {
        drain_matrix(&cluster, &knobs).await;
    }
    if knobs.parts.memory && knobs.memory_backlog > 0 {
        memory(&cluster, knobs.memory_backlog).await;
    }
    if knobs.parts.fan_out {
        let pgbench = pg_harness::ServerBinaries::locate(&settings).expect("PostgreSQL binaries").program("pgbench");
        fan_out(&cluster, &pgbench, knobs.seconds, knobs.rounds).await;
    }
    if let Some(trace) = &knobs.trace {
        trace.finish(&cluster);
    }
}

// ---------------------------------------------------------------------------------------
// Knobs

/// What to run and how big, from the environment (see the crate documentation).
#[derive(Debug)]
struct Knobs {
    quick: bool,
    durability: Durability,
    /// Changes per drain cell (a tenth of it at batch size 1).
    backlog: u64,
    /// Changes drained while memory is watched; 0 skips the part.
    memory_backlog: u64,
    /// Length of each pgbench run of the fan-out comparison.
    seconds: u64,
    /// Alternating rounds of the fan-out comparison.
    rounds: usize,
    parts: Parts,
    /// Drains per cell and condition.
    repeat: usize,
    /// The conditions every cell is drained under: plain first, then those asked for.
    conditions: Vec<Condition>,
    /// Changes pushed through each database before its measured drain.
    history: u64,
    /// `DRAIN_BENCH_TRACE`: server logging on, each drain's span and CPUs printed.
    trace: Option<Trace>,
}

/// The parts of the bench that run.
#[derive(Debug)]
struct Parts {
    drain: bool,
    memory: bool,
    fan_out: bool,
}

impl Knobs {
    /// Reads the `DRAIN_BENCH_*` variables.
    fn from_env() -> Self {
        // The workspace-wide knobs (benchmarks/run.sh) count too.
        let set = |key: &str| std::env::var(key).is_ok_and(|v| !v.is_empty() && v != "0");
        let quick = set("DRAIN_BENCH_QUICK") || set("BENCH_QUICK");
        let pick = |full: u64, small: u64| if quick { small } else { full };
        let parts = std::env::var("DRAIN_BENCH_PARTS").unwrap_or_else(|_| "drain,memory,fanout".to_owned());
        let has = |part: &str| parts.split(',').any(|p| p.trim() == part);
        let mut conditions = vec![Condition::Plain];
        conditions.extend(LongTxn::from_env().into_iter().map(Condition::LongTxn));
        match std::env::var("DRAIN_BENCH_AUTOVACUUM").as_deref().map(str::trim) {
            Ok("off") => conditions.push(Condition::AutovacuumOff),
            Ok("" | "on") | Err(_) => {}
            Ok(other) => panic!("DRAIN_BENCH_AUTOVACUUM: {other:?} is not `off` (or `on`, the default)"),
        }
        Knobs {
            quick,
            durability: match std::env::var("DRAIN_BENCH_DURABILITY")
                .or_else(|_| std::env::var("BENCH_DURABILITY"))
                .as_deref()
            {
                Ok("ephemeral") => Durability::Ephemeral,
                _ => Durability::Durable,
            },
            backlog: env_number("DRAIN_BENCH_BACKLOG", pick(100_000, 10_000)),
            memory_backlog: env_number("DRAIN_BENCH_MEMORY_BACKLOG", pick(1_000_000, 100_000)),
            seconds: env_number("DRAIN_BENCH_SECONDS", pick(5, 1)),
            rounds: usize::try_from(env_number("DRAIN_BENCH_ROUNDS", pick(3, 1)))
                .expect("DRAIN_BENCH_ROUNDS fits usize"),
            parts: Parts { drain: has("drain"), memory: has("memory"), fan_out: has("fanout") },
            repeat: usize::try_from(env_number("DRAIN_BENCH_REPEAT", 1)).expect("DRAIN_BENCH_REPEAT fits usize").max(1),
            conditions,
            history: env_number("DRAIN_BENCH_HISTORY", 0),
            trace: Trace::from_env(),
        }
    }

    /// The run's header lines.
    fn print(&self) {
        let mode =
            if self.quick { "QUICK run (DRAIN_BENCH_QUICK): small sizes, figures are noisy" } else { "full run" };
        println!("drain bench: {mode}; {:?} cluster", self.durability);
        println!(
            "parts: {}; drain backlog {}, memory backlog {}, fan-out {} s x {} round(s)",
            self.parts.names(),
            thousands(self.backlog as f64),
            thousands(self.memory_backlog as f64),
            self.seconds,
            self.rounds
        );
        let conditions: Vec<String> = self.conditions.iter().map(|c| c.label()).collect();
        println!(
            "drain matrix: {} run(s) per cell and condition; conditions: {}; history {}",
            self.repeat,
            conditions.join(", "),
            if self.history == 0 { "off".to_owned() } else { format!("{} changes", thousands(self.history as f64)) }
        );
    }
}

impl Parts {
    /// The parts that run, as `DRAIN_BENCH_PARTS` spells them.
    fn names(&self) -> String {
        let names: Vec<&str> = [(self.drain, "drain"), (self.memory, "memory"), (self.fan_out, "fanout")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if names.is_empty() { "none".to_owned() } else { names.join(",") }
    }
}

/// A non-negative number from the environment, `default` when unset or unparsable.
fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|value| value.trim().replace('_', "").parse().ok()).unwrap_or(default)
}

/// What else is true of the database while a cell is drained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// Nothing else.
    Plain,
    /// A long transaction is held open through the drain (`DRAIN_BENCH_LONG_TXN`).
    LongTxn(LongTxn),
    /// Autovacuum is off for our tables (`DRAIN_BENCH_AUTOVACUUM=off`).
    AutovacuumOff,
}

impl Condition {
    /// For the tables.
    fn label(self) -> String {
        match self {
            Condition::Plain => "plain".to_owned(),
            Condition::LongTxn(variant) => format!("long txn {}", variant.name()),
            Condition::AutovacuumOff => "autovacuum off".to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The processor under test

/// How many changes the processor has seen, and a signal once it has seen the backlog.
struct Progress {
    seen: AtomicU64,
    target: u64,
    done: Notify,
}

impl Progress {
    /// Waits for `target` changes.
    fn new(target: u64) -> Arc<Self> {
        Arc::new(Progress { seen: AtomicU64::new(0), target, done: Notify::new() })
    }

    /// Counts `changes` more as seen.
    fn record(&self, changes: u64) {
        let before = self.seen.fetch_add(changes, Ordering::Relaxed);
        // Signalled once, by whichever call crosses the target; `notify_one` keeps the
        // permit if nobody waits yet, so a drain that ends early is not missed.
        if before < self.target && before + changes >= self.target {
            self.done.notify_one();
        }
    }

    /// Changes seen so far.
    fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }
    /// Waits until the processor has seen the target; panics past `limit`.
    async fn wait(&self, limit: Duration) {
        if tokio::time::timeout(limit, self.done.notified()).await.is_err() {
            panic!("the drain did not finish in {limit:?}: {} of {} changes seen", self.seen(), self.target);
        }
    }
}

/// Counts and returns: the figures are the runtime's own cost, not a processor's.
#[derive(Clone)]
struct NoOp(Arc<Progress>);

impl Processor<Item> for NoOp {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<Item>) -> Result<(), ProcessError> {
        self.0.record(1);
        Ok(())
    }
}

impl BatchProcessor<Item> for NoOp {
    async fn process_batch(&self, _ctx: &Context<'_>, changes: &[Change<Item>]) -> Result<(), ProcessError> {
        self.0.record(changes.len() as u64);
        Ok(())
    }
}

/// Which processor trait the subscriber implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    /// A `Processor` subscribed without per-row ordering: what ordering costs.
    Unordered,
    Batch,
}

impl Kind {
    /// How `DRAIN_BENCH_KINDS` names it.
    fn key(self) -> &'static str {
        match self {
            Kind::Single => "ordered",
            Kind::Unordered => "unordered",
            Kind::Batch => "batch",
        }
    }

    /// The trait's name, for the table.
    fn label(self) -> &'static str {
        match self {
            Kind::Single => "Processor",
            Kind::Unordered => "Proc. unordered",
            Kind::Batch => "BatchProcessor",
        }
    }
}

/// A runtime serving [`SUBSCRIBER`] with `processor` (ordered, the default).
fn runtime(pool: &PgPool, kind: Kind, config: RuntimeConfig, processor: NoOp) -> RuntimeBuilder {
    let builder = RuntimeBuilder::new(pool.clone()).config(config);
    match kind {
        Kind::Single => builder.processor::<Item, _>(SUBSCRIBER, processor),
        Kind::Unordered => builder.processor_with::<Item, _>(SUBSCRIBER, processor, SubscribeOptions::unordered()),
        Kind::Batch => builder.batch_processor::<Item, _>(SUBSCRIBER, processor),
    }
}

/// The defaults, with the cell's workers and batch size and a short poll.
fn runtime_config(workers: usize, batch_size: usize) -> RuntimeConfig {
    let unprepared = std::env::var("DRAIN_BENCH_UNPREPARED").is_ok_and(|v| !v.is_empty() && v != "0");
    RuntimeConfig::default()
        .workers(workers)
        .batch_size(batch_size)
        .poll_interval(POLL_INTERVAL)
        .prepared_statements(!unprepared)
}

// ---------------------------------------------------------------------------------------
// Backlog and drain

/// How a cell's database is prepared besides its backlog.
#[derive(Debug, Clone, Copy, Default)]
struct Setup {
    /// Autovacuum off on our tables before anything is written.
    autovacuum_off: bool,
    /// Changes pushed through (written and drained) before the backlog is written.
    history: u64,
}

/// A fresh database whose `items` table took `changes` committed changes after
/// [`SUBSCRIBER`] registered and while no runtime ran: all of them wait in the journal,
/// not yet routed.
struct Backlog {
    pool: PgPool,
    changes: u64,
    /// Index and vacuum counters of our relations just before the drain.
    stats_before: StatsSnapshot,
    /// What `DRAIN_BENCH_AUTOVACUUM=off` did, when it was asked for.
    autovacuum_off: Option<schema_stats::AutovacuumOff>,
    // Declared last: dropped after the pool, so the database goes once nothing uses it.
    db: TestDb,
}

impl Backlog {
    /// Creates the database, installs capture, registers the subscriber, pushes the
    /// history through and writes the backlog.
    async fn build(cluster: &Arc<Cluster>, kind: Kind, workers: usize, changes: u64, setup: Setup) -> Self {
        let db = TestDb::create_in(Arc::clone(cluster)).await.expect("a fresh database");
        // What the runtime recommends (a pool of workers + 2 starved small batches).
        let sizing = RuntimeConfig::default().workers(workers);
        let connections = db_listenable::runtime::recommended_connections(&sizing);
        let connect = || PgPoolOptions::new().max_connections(connections).connect(db.url());
        let pool = connect().await.expect("connect");
        install(&pool).await;
        let mut autovacuum_off = None;
        if setup.autovacuum_off {
            autovacuum_off = Some(schema_stats::disable_autovacuum(&pool).await);
        }
        register(&pool, kind).await;
        if setup.history > 0 {
            push_history(&pool, kind, workers, setup.history).await;
            if setup.autovacuum_off {
                // Again: relations the history created (partitions) start with autovacuum on.
                autovacuum_off = Some(schema_stats::disable_autovacuum(&pool).await);
            }
        }
        fill(&pool, setup.history + 1, changes).await;
        // The writers' counts of rows written, published before the `ANALYZE` below, or
        // they would make autovacuum analyse again mid-drain.
        let pool = reopened(pool, db.url(), connections).await;
        prepare_for_timing(&pool, setup).await;
        // The baseline below then holds everything before the drain.
        let pool = reopened(pool, db.url(), connections).await;
        let stats_before = StatsSnapshot::read(&pool).await;
        Backlog { pool, changes, stats_before, autovacuum_off, db }
    }

    /// Closes the pool and reads what the drain did to our relations (the pool's
    /// backends publish their counters when they exit); the database is dropped with
    /// `self`.
    async fn close(self) -> SchemaStats {
        self.pool.close().await;
        let pool = PgPoolOptions::new().max_connections(1).connect(self.db.url()).await.expect("reconnect");
        schema_stats::wait_for_clients_gone(&pool).await;
        let stats = StatsSnapshot::read(&pool).await.since(&self.stats_before);
        pool.close().await;
        stats
    }
}

/// Closes `pool` and opens it again once its sessions are gone: each has then published
/// its counters (rows written, index entries read) to PostgreSQL's statistics.
async fn reopened(pool: PgPool, url: &str, connections: u32) -> PgPool {
    pool.close().await;
    let pool = PgPoolOptions::new().max_connections(connections).connect(url).await.expect("reconnect");
    schema_stats::wait_for_clients_gone(&pool).await;
    pool
}

/// The journal, the `items` table and its capture (the defaults: statement granularity,
/// gated wake-up), as the runtime tests install them.
async fn install(pool: &PgPool) {
    let mut script = ddl::journal_script().statements().to_vec();
    script.push(ITEMS_TABLE.to_owned());
    script.extend(ddl::install_script(&Item::MODEL, &CaptureConfig::default()).statements().iter().cloned());
    for statement in script {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(pool).await.expect("install capture");
    }
}

/// Registers the subscriber by starting and stopping a runtime, so the backlog written
/// next is routed to it by the measured runtime (instead of being kept as unrouted and
/// handed over in one statement at registration, which is not the path of a service
/// that was down).
async fn register(pool: &PgPool, kind: Kind) {
    runtime(pool, kind, runtime_config(1, 1), NoOp(Progress::new(u64::MAX)))
        .start()
        .await
        .expect("start a runtime to register the subscriber")
        .shutdown()
        .await;
}

/// Writes `changes` inserts into `items` (ids from `first_id` on) in chunks of
/// [`FILL_CHUNK`] rows, and checks that the journal took one entry per row.
async fn fill(pool: &PgPool, first_id: u64, changes: u64) {
    let entries_before = our_relations::journal_entries(pool).await;
    let mut written = 0;
    while written < changes {
        let last = (written + FILL_CHUNK).min(changes);
        sqlx::query(
            "INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series($1::bigint, $2::bigint) g",
        )
        .bind(sql_int(first_id + written))
        .bind(sql_int(first_id + last - 1))
        .execute(pool)
        .await
        .expect("build the backlog");
        written = last;
    }
    let entries_after = our_relations::journal_entries(pool).await;
    assert_eq!(entries_after.checked_sub(entries_before), Some(changes), "one journal entry per inserted row");
}

/// Pushes `changes` changes through the database before the measured backlog: chunks
/// of [`HISTORY_CHUNK`] written as the backlog is and drained by a runtime with
/// `workers` workers and batch 1000, so the measured drain runs on relations that have
/// already carried that many.
async fn push_history(pool: &PgPool, kind: Kind, workers: usize, changes: u64) {
    let started = Instant::now();
    let mut pushed = 0;
    while pushed < changes {
        let chunk = HISTORY_CHUNK.min(changes - pushed);
        fill(pool, pushed + 1, chunk).await;
        let progress = Progress::new(chunk);
        let runtime = runtime(pool, kind, runtime_config(workers, 1000), NoOp(Arc::clone(&progress)))
            .start()
            .await
            .expect("start the history's runtime");
        progress.wait(drain_limit(chunk)).await;
        runtime.shutdown().await;
        pushed += chunk;
    }
    println!(
        "  (history: {} changes written and drained in {:.0} s before the backlog)",
        thousands(changes as f64),
        started.elapsed().as_secs_f64()
    );
}

/// Leaves the database as a backlog that built up over time would be: our tables
/// vacuumed and analysed (autovacuum's job, not the drain's), and its pages written by a
/// checkpoint now rather than during the measured drain. After a history, our tables
/// are analysed only: the drain meets what the history (and autovacuum meanwhile) left
/// behind. With autovacuum off nothing vacuums or analyses them.
///
/// In every case `items` (the writers' table, not ours) is vacuumed and analysed too, and
/// the drain starts once no autovacuum worker is busy in the database: the trace
/// (`DRAIN_BENCH_TRACE`) found autovacuum vacuuming `items` and analysing the journal
/// again inside the slowest run of a cell (0.12-0.15 s of a 1.4 s drain on two cores).
/// The writers' sessions have ended before (see [`Backlog::build`]): a session publishes
/// its counts of rows written when it ends or idles, and counts published after the
/// `ANALYZE` made autovacuum analyse again.
async fn prepare_for_timing(pool: &PgPool, setup: Setup) {
    if setup.autovacuum_off {
        // Nothing: that is the condition measured.
    } else if setup.history > 0 {
        for table in our_relations::tables(pool).await {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
                .execute(pool)
                .await
                .unwrap_or_else(|error| panic!("analyze {table}: {error}"));
        }
    } else {
        our_relations::vacuum_analyze(pool).await;
    }
    sqlx::raw_sql("VACUUM (ANALYZE) items").execute(pool).await.expect("vacuum items");
    schema_stats::wait_for_autovacuum_idle(pool).await;
    sqlx::raw_sql("CHECKPOINT").execute(pool).await.expect("checkpoint before timing");
}

/// What one drain took.
#[derive(Debug, Clone)]
struct Drained {
    /// From the runtime's start until the processor had seen every change.
    elapsed: Duration,
    /// Of which `start()` itself: the runtime's checks and registration before any claim.
    startup: Duration,
    /// WAL the cluster wrote meanwhile (the bench's cluster serves nothing else), which
    /// is what a durable server pays for routing, claiming and settling.
    wal_bytes: u64,
    /// The size of our relations around the drain, when it was watched.
    storage: Option<Storage>,
    /// The drain's wall-clock span and what the machine's CPUs did meanwhile
    /// (`DRAIN_BENCH_TRACE` prints it).
    cpu: Option<String>,
}

impl Drained {
    /// Changes per second, `changes` being the backlog drained.
    fn per_second(&self, changes: u64) -> f64 {
        changes as f64 / self.elapsed.as_secs_f64()
    }

    /// WAL bytes per change drained.
    fn wal_per_change(&self, changes: u64) -> f64 {
        self.wal_bytes as f64 / changes.max(1) as f64
    }
}

/// Generous: a stuck drain should fail the bench, not hang it.
fn drain_limit(changes: u64) -> Duration {
    Duration::from_secs(120 + changes / 20)
}

/// Starts a runtime on the backlog and times it until the processor has seen every
/// change (start-up included: a restarted service pays it too). `hold`, opened by the
/// caller before, is ended once the drain is. With `watch_storage`, the size of our
/// relations is read before and right after, then while the runtime keeps running idle
/// ([`storage::watch_idle`]); the WAL is then counted up to the end of the drain, not
/// of the idle wait. Afterwards checks that each change was seen once and nothing is
/// left behind.
async fn drain(
    backlog: &Backlog,
    kind: Kind,
    workers: usize,
    batch_size: usize,
    hold: Option<LongTransaction>,
    watch_storage: bool,
) -> Drained {
    let pool = &backlog.pool;
    let size_before = if watch_storage { Some(schema_stats::total_size(pool).await) } else { None };
    let progress = Progress::new(backlog.changes);
    let wal_before = wal_position(pool).await;
    let cpu_before = CpuSample::now();
    let started = Instant::now();
    let runtime = runtime(pool, kind, runtime_config(workers, batch_size), NoOp(Arc::clone(&progress)))
        .start()
        .await
        .expect("start the runtime");
    let startup = started.elapsed();
    progress.wait(drain_limit(backlog.changes)).await;
    let elapsed = started.elapsed();
    let cpu = cpu_before.zip(CpuSample::now()).map(|(before, after)| after.label_since(&before));
    if let Some(hold) = hold {
        hold.end().await;
    }
    let mut storage = None;
    let mut wal_after = None;
    if let Some(before) = size_before {
        let after_drain = schema_stats::total_size(pool).await;
        wal_after = Some(wal_position(pool).await);
        let idle = storage::watch_idle(pool).await;
        storage = Some(Storage { before, after_drain, idle });
    }
    runtime.shutdown().await;
    // Read after the shutdown otherwise, so the last settlements are counted.
    let wal_after = match wal_after {
        Some(position) => position,
        None => wal_position(pool).await,
    };
    assert_eq!(progress.seen(), backlog.changes, "each change processed once (a lease ran out?)");
    our_relations::assert_nothing_pending(pool).await;
    Drained { elapsed, startup, wal_bytes: wal_after.saturating_sub(wal_before), storage, cpu }
}

/// The cluster's current WAL insert position, in bytes.
async fn wal_position(pool: &PgPool) -> u64 {
    let position: i64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint")
        .fetch_one(pool)
        .await
        .expect("read the WAL position");
    u64::try_from(position).expect("a WAL position is never negative")
}

// ---------------------------------------------------------------------------------------
// The drain matrix

/// One cell of the drain matrix.
#[derive(Debug, Clone, Copy)]
struct Cell {
    kind: Kind,
    workers: usize,
    batch_size: usize,
    backlog: u64,
    /// The backlog was shrunk for this cell (batch size 1).
    shrunk: bool,
}

impl Cell {
    /// `2x1000`, as `DRAIN_BENCH_CELLS` spells it.
    fn shape(&self) -> String {
        format!("{}x{}", self.workers, self.batch_size)
    }

    /// The cell whose drains are followed by the storage watch: 2 workers, ordered,
    /// batch 1000.
    fn watches_storage(&self) -> bool {
        self.kind == Kind::Single && self.workers == 2 && self.batch_size == 1000
    }
}

/// Workers 1, 2, 4 x batch size 1, 100, 1000 with a [`Processor`] subscribed ordered
/// (the default) and unordered (the price of ordering), and a [`BatchProcessor`] at 2
/// workers and batch size 1000.
fn cells(backlog: u64) -> Vec<Cell> {
    let mut cells = Vec::new();
    for workers in [1, 2, 4] {
        for batch_size in [1, 100, 1000] {
            // A batch of one is a claim and a settle per change: a tenth of the backlog
            // keeps the cell's run time near the others'.
            let shrunk = batch_size == 1;
            let backlog = if shrunk { (backlog / 10).max(1) } else { backlog };
            for kind in [Kind::Single, Kind::Unordered] {
                cells.push(Cell { kind, workers, batch_size, backlog, shrunk });
            }
        }
    }
    cells.push(Cell { kind: Kind::Batch, workers: 2, batch_size: 1000, backlog, shrunk: false });
    cells
}

/// Every run of one cell under one condition, in changes per second.
struct Runs {
    cell: Cell,
    condition: Condition,
    per_second: Vec<f64>,
    /// `DRAIN_BENCH_TRACE`: the reference read just before each run, in rows per second.
    reference: Vec<f64>,
}

impl Runs {
    /// max/min over the runs.
    fn spread(&self) -> f64 {
        spread(&self.per_second)
    }
}

/// Part 1: drains every cell under every condition, `knobs.repeat` rounds over the
/// whole matrix (so drift of the machine shows as spread), printing a row per drain as
/// it is measured; then every run per cell, its spread and the conditions' ratios.
async fn drain_matrix(cluster: &Arc<Cluster>, knobs: &Knobs) {
    println!(
        "\ndrain throughput: no-op processor, route batch {}, poll {} ms",
        RuntimeConfig::default().get_route_batch_size(),
        POLL_INTERVAL.as_millis()
    );
    println!(
        "{:<16} {:>6} {:>9} {:<15} {:>3} {:>8} {:>10} {:>10}  indexes of db_listenable",
        "processor", "cell", "backlog", "condition", "run", "seconds", "changes/s", "WAL/change"
    );
    // `DRAIN_BENCH_CELLS=1x100,2x1000`: only those workers x batch cells (any processor kind).
    let only = std::env::var("DRAIN_BENCH_CELLS").unwrap_or_default();
    // `DRAIN_BENCH_KINDS=ordered,batch`: only those processor kinds.
    let kinds = std::env::var("DRAIN_BENCH_KINDS").unwrap_or_default();
    let wanted = |cell: &Cell| {
        (only.trim().is_empty() || only.split(',').any(|c| c.trim() == cell.shape()))
            && (kinds.trim().is_empty() || kinds.split(',').any(|k| k.trim() == cell.kind.key()))
    };
    let mut all: Vec<Runs> = Vec::new();
    for cell in cells(knobs.backlog).into_iter().filter(wanted) {
        for &condition in &knobs.conditions {
            all.push(Runs { cell, condition, per_second: Vec::new(), reference: Vec::new() });
        }
    }
    for round in 1..=knobs.repeat {
        for runs in &mut all {
            let (rate, reference) = measure(cluster, runs.cell, runs.condition, knobs, round).await;
            runs.per_second.push(rate);
            runs.reference.extend(reference);
        }
    }
    println!("* batch size 1 drains a tenth of the backlog (one claim and one settle per change)");
    println!("indexes: index entries read per index scan over every index of schema db_listenable during the drain,");
    println!("         autovacuum and autoanalyze runs on its tables (for the cells followed by the storage watch,");
    println!("         the idle wait included)");
    println!("WAL/change: WAL the cluster wrote during the drain, divided by the changes drained");
    println!("start: how long the runtime's start() took, inside the timed drain (its checks and registration)");
    summary(&all, knobs.repeat);
}

/// Drains `cell` once under `condition` on a fresh database and prints its row;
/// returns the changes per second, and the reference read's rows per second when
/// traced.
async fn measure(
    cluster: &Arc<Cluster>,
    cell: Cell,
    condition: Condition,
    knobs: &Knobs,
    round: usize,
) -> (f64, Option<f64>) {
    let setup = Setup { autovacuum_off: condition == Condition::AutovacuumOff, history: knobs.history };
    let backlog = Backlog::build(cluster, cell.kind, cell.workers, cell.backlog, setup).await;
    let hold = match condition {
        Condition::LongTxn(variant) => Some(LongTransaction::open(backlog.db.url(), variant).await),
        Condition::Plain | Condition::AutovacuumOff => None,
    };
    let probe = match knobs.trace {
        Some(_) => Some(Probe::measure(&backlog.pool, cell.backlog).await),
        None => None,
    };
    let drained = drain(&backlog, cell.kind, cell.workers, cell.batch_size, hold, cell.watches_storage()).await;
    let autovacuum_off = backlog.autovacuum_off.as_ref().map(schema_stats::AutovacuumOff::label);
    let stats = backlog.close().await;
    println!(
        "{:<16} {:>6} {:>9} {:<15} {:>3} {:>8.2} {:>10} {:>10}  {}, start {} ms",
        cell.kind.label(),
        cell.shape(),
        format!("{}{}", thousands(cell.backlog as f64), if cell.shrunk { "*" } else { "" }),
        condition.label(),
        round,
        drained.elapsed.as_secs_f64(),
        thousands(drained.per_second(cell.backlog)),
        format!("{} B", thousands(drained.wal_per_change(cell.backlog))),
        stats.label(),
        drained.startup.as_millis()
    );
    if let Some(storage) = drained.storage {
        println!("    {}", storage.label());
    }
    if let Some((probe, cpu)) = probe.zip(drained.cpu.as_ref()) {
        println!("    {cpu}; {}", probe.label());
    }
    if let Some(note) = autovacuum_off.filter(|_| round == 1) {
        println!("    {note}");
    }
    (drained.per_second(cell.backlog), probe.map(|probe| probe.reference))
}

/// Every run per cell and condition, max/min per cell, the conditions against plain,
/// and whether the plain drains met issue 18's stability target.
fn summary(all: &[Runs], repeat: usize) {
    println!(
        "\nper cell: changes/s of every run; max/min over the runs; vs plain: median under the condition / median plain"
    );
    println!("{:<16} {:>6} {:<15} {:>8} {:>9}  runs", "processor", "cell", "condition", "max/min", "vs plain");
    for runs in all {
        let plain = all.iter().find(|other| {
            other.condition == Condition::Plain
                && other.cell.kind == runs.cell.kind
                && other.cell.shape() == runs.cell.shape()
        });
        let versus = match plain {
            Some(plain) if runs.condition != Condition::Plain => {
                format!("{:.2}x", median(&runs.per_second) / median(&plain.per_second))
            }
            _ => "-".to_owned(),
        };
        let figures: Vec<String> = runs.per_second.iter().map(|&rate| thousands(rate)).collect();
        println!(
            "{:<16} {:>6} {:<15} {:>7.2}x {:>9}  {}",
            runs.cell.kind.label(),
            runs.cell.shape(),
            runs.condition.label(),
            runs.spread(),
            versus,
            figures.join("  ")
        );
        if runs.reference.len() > 1 {
            let figures: Vec<String> = runs.reference.iter().map(|&rate| thousands(rate)).collect();
            println!(
                "{:<16} {:>6} {:<15} {:>7.2}x {:>9}  {}",
                "  reference read",
                "",
                "rows/s",
                spread(&runs.reference),
                "",
                figures.join("  ")
            );
        }
    }
    let worst =
        all.iter().filter(|runs| runs.condition == Condition::Plain).max_by(|a, b| a.spread().total_cmp(&b.spread()));
    match worst {
        Some(_) if repeat < 2 => println!("stable: n/a (one run per cell; DRAIN_BENCH_REPEAT=5 repeats them)"),
        Some(worst) => println!(
            "stable: {} (worst cell {} {}: {:.2}x max/min over {repeat} runs; target <= {STABLE_RATIO}x)",
            if worst.spread() <= STABLE_RATIO { "yes" } else { "no" },
            worst.cell.kind.label(),
            worst.cell.shape(),
            worst.spread()
        ),
        None => println!("stable: n/a (no plain cell ran)"),
    }
    let references: Vec<&Runs> = all.iter().filter(|runs| runs.reference.len() > 1).collect();
    if let Some(noisiest) = references.iter().max_by(|a, b| spread(&a.reference).total_cmp(&spread(&b.reference))) {
        println!(
            "machine noise: the reference read varied up to {:.2}x max/min over the runs of one cell ({} {}); \
             what a drain-shaped workload without our runtime varied on this machine at the same moments",
            spread(&noisiest.reference),
            noisiest.cell.kind.label(),
            noisiest.cell.shape()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Memory

/// Part 2: peak resident memory of this process while 2 workers drain `changes` in
/// batches of 1000. The backlog is built (server-side) before the peak is reset, so the
/// figure is the runtime's alone, plus what the process already held.
async fn memory(cluster: &Arc<Cluster>, changes: u64) {
    const WORKERS: usize = 2;
    const BATCH_SIZE: usize = 1000;
    const TARGET_MB: f64 = 100.0;
    println!("\nmemory: {} changes, {WORKERS} workers, batch {BATCH_SIZE}, no-op processor", thousands(changes as f64));
    let backlog = Backlog::build(cluster, Kind::Single, WORKERS, changes, Setup::default()).await;
    let before = proc_status("VmRSS");
    if let Err(error) = reset_peak() {
        println!("could not reset the peak through /proc/self/clear_refs ({error}): the peak below may be older");
    }
    let drained = drain(&backlog, Kind::Single, WORKERS, BATCH_SIZE, None, true).await;
    let peak = proc_status("VmHWM");
    let after = proc_status("VmRSS");
    let _ = backlog.close().await;
    let verdict = match peak {
        Some(bytes) if megabytes(bytes) <= TARGET_MB => "within target",
        Some(_) => "OVER TARGET",
        None => "unknown",
    };
    println!("{:<34} {:>12}", "resident before the drain", show_megabytes(before));
    println!(
        "{:<34} {:>12}   (target <= {TARGET_MB} MB: {verdict})",
        "peak while draining (VmHWM)",
        show_megabytes(peak)
    );
    println!("{:<34} {:>12}", "resident after the drain", show_megabytes(after));
    println!(
        "{:<34} {:>12}   ({:.1} s, {} B of WAL per change)",
        "drain rate",
        format!("{}/s", thousands(drained.per_second(changes))),
        drained.elapsed.as_secs_f64(),
        thousands(drained.wal_per_change(changes))
    );
    if let Some(storage) = drained.storage {
        println!("{}", storage.label());
    }
}

/// Resets this process's peak resident size (`VmHWM`) to its current one (Linux 4.0+).
fn reset_peak() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes; `None` off Linux.
fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Decimal megabytes (10^6 bytes), the unit of the target.
fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// `12.3 MB`, or `n/a` when the figure could not be read.
fn show_megabytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "n/a".to_owned(), |bytes| format!("{:.1} MB", megabytes(bytes)))
}

// ---------------------------------------------------------------------------------------
// Capture fan-out

/// How the writer's trigger journals an insert in the fan-out comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
enum FanOut {
    /// No trigger: the limit.
    NoTriggers,
    /// A row trigger writing this many journal rows per insert: 1 is our design's cost
    /// to writers, 2 and 3 what fanning out at capture would cost with that many
    /// subscribers of the table.
    Rows(u32),
}

const FAN_OUT_MODES: [FanOut; 4] = [FanOut::NoTriggers, FanOut::Rows(1), FanOut::Rows(2), FanOut::Rows(3)];

impl FanOut {
    /// The row's label, lettered as in BENCHMARKS.md.
    fn label(self) -> String {
        match self {
            FanOut::NoTriggers => "(a) no triggers (the limit)".to_owned(),
            FanOut::Rows(1) => "(b) 1 journal row (our design)".to_owned(),
            FanOut::Rows(rows) => {
                let letter = char::from(b'a' + u8::try_from(rows).expect("a few rows"));
                format!("({letter}) {rows} journal rows (fan-out, {rows} subscribers)")
            }
        }
    }
}

/// Hand-written, not generated by `ddl`: the comparison is between numbers of journal
/// rows, so every mode shares one function and one journal and only the row count
/// differs. The journal has our journal's columns, defaults and primary key. A real
/// fan-out journal would also carry a subscriber id; a 4-byte column fits in the
/// alignment padding after `table_id`, so leaving it out does not flatter fan-out. The
/// row's `jsonb` is built once per insert, as a fan-out design would, so the extra cost
/// measured is the extra journal rows (heap, index, WAL) alone. The row count is a
/// trigger argument, where a real fan-out trigger would look its table's subscribers up
/// (or be regenerated whenever they change): (c) and (d) are a lower bound of its cost.
/// Our capture is statement-level by default; for single-row statements it costs the
/// same as a row trigger (BENCHMARKS.md, capture overhead), so (b) stands for it.
const FAN_OUT_JOURNAL: &str = "
CREATE TABLE fanout_journal (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id integer NOT NULL,
    op \"char\" NOT NULL,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_row jsonb,
    new_row jsonb
);
CREATE FUNCTION fanout_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    captured jsonb := to_jsonb(NEW);
BEGIN
    INSERT INTO fanout_journal (table_id, op, new_row)
    SELECT 1, 'I', captured FROM generate_series(1, TG_ARGV[0]::integer);
    RETURN NULL;
END $$;";

/// Part 3: alternates the modes `rounds` times and prints the median of each.
async fn fan_out(cluster: &Arc<Cluster>, pgbench: &std::path::Path, seconds: u64, rounds: usize) {
    let db = TestDb::create_in(Arc::clone(cluster)).await.expect("a fresh database");
    let pool = PgPoolOptions::new().max_connections(1).connect(db.url()).await.expect("connect");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); FAN_OUT_MODES.len()];
    for _ in 0..rounds {
        for (mode, samples) in FAN_OUT_MODES.iter().zip(&mut samples) {
            set_up_fan_out(&pool, *mode).await;
            samples.push(pgbench_inserts(pgbench, db.url(), FAN_OUT_CLIENTS, seconds));
        }
    }
    pool.close().await;
    println!(
        "\ncapture fan-out: single-row INSERT, {FAN_OUT_CLIENTS} clients, {seconds} s pgbench runs, \
         {rounds} alternating round(s), median"
    );
    println!("{:<44} {:>10} {:>8} {:>8} {:>17}", "journal rows per insert", "inserts/s", "vs (a)", "vs (b)", "range");
    let limit = median(&samples[0]);
    let ours = median(&samples[1]);
    for (mode, samples) in FAN_OUT_MODES.iter().zip(&samples) {
        let value = median(samples);
        let (low, high) = range(samples);
        println!(
            "{:<44} {:>10} {:>7.2}x {:>7.2}x {:>17}",
            mode.label(),
            thousands(value),
            value / limit,
            value / ours,
            format!("{}-{}", thousands(low), thousands(high))
        );
    }
}

/// A fresh `items` table with `mode`'s trigger, and a checkpoint so that no run starts
/// in the middle of one left by the previous run.
async fn set_up_fan_out(pool: &PgPool, mode: FanOut) {
    let reset = "DROP TABLE IF EXISTS items, fanout_journal; DROP FUNCTION IF EXISTS fanout_capture();
                 CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)";
    sqlx::raw_sql(reset).execute(pool).await.expect("reset the fan-out tables");
    if let FanOut::Rows(rows) = mode {
        let trigger = format!(
            "{FAN_OUT_JOURNAL}
             CREATE TRIGGER fanout_capture AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION fanout_capture('{rows}')"
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(trigger)).execute(pool).await.expect("install the fan-out trigger");
    }
    sqlx::raw_sql("CHECKPOINT").execute(pool).await.expect("checkpoint");
}

/// Transactions per second of single-row inserts into `items` with `clients` connections.
fn pgbench_inserts(pgbench: &std::path::Path, url: &str, clients: u32, seconds: u64) -> f64 {
    let script = std::env::temp_dir().join(format!("drain-bench-{}.sql", std::process::id()));
    std::fs::write(&script, "INSERT INTO items (name) VALUES ('bench item');\n").expect("write the pgbench script");
    let output = Command::new(pgbench)
        .args(["-n", "-f"])
        .arg(&script)
        .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string(), "-T", &seconds.to_string()])
        .arg(url)
        .output()
        .expect("run pgbench");
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output:\n{text}\n{}", String::from_utf8_lossy(&output.stderr)))
}

// ---------------------------------------------------------------------------------------
// Small helpers

/// A size as PostgreSQL's `bigint`.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).expect("a backlog size fits bigint")
}

/// The median of `samples` (never empty).
fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}

/// max/min of `samples`.
fn spread(samples: &[f64]) -> f64 {
    let (low, high) = range(samples);
    high / low
}

/// The lowest and highest of `samples`.
fn range(samples: &[f64]) -> (f64, f64) {
    samples.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &x| (low.min(x), high.max(x)))
}

/// `x` rounded to a whole number with thousands separators: `12,345`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
