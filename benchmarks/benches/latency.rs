//! Latency from commit to processor start at a steady write rate.
//!
//! One writer inserts one row per transaction into a captured table at a fixed rate
//! (default 500 changes/s, paced against a schedule so a slow commit does not lower the
//! rate) and notes when each `INSERT` returned, which is after its commit. A runtime with
//! the defaults (2 workers, batch 100, statement capture with the gated wake-up) runs a
//! processor that notes when it is called for each row. Latency is the difference,
//! joined by row id, over the whole run after a warm-up second. Two modes, each on a
//! fresh database:
//!
//! - **wake-ups** (the default): the capture trigger's NOTIFY wakes the router, the
//!   router's NOTIFY wakes the workers, the poll (1 s) is the fallback;
//! - **wake-ups, 8 writers**: the same rate from 8 connections, so transactions overlap
//!   and the gated wake-up (only one of overlapping transactions NOTIFYs) is exercised;
//! - **poll-only** (`RuntimeConfig::wakeups(false)`): workers poll every second.
//!
//! Targets (issue 9): with wake-ups, p50 <= 5 ms and p99 <= 25 ms.
//!
//! `cargo bench -p benchmarks --bench latency`. Knobs: `LATENCY_BENCH_RATE` (changes/s,
//! default 500), `LATENCY_BENCH_SECONDS` (per mode, default 20; `BENCH_QUICK=1`: 3),
//! `BENCH_DURABILITY=ephemeral`. Prints a table; not a test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benchmarks::knobs;
use benchmarks::stats::{percentile, thousands};
use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder, RuntimeConfig};
use pg_harness::{Cluster, TestDb};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

/// The captured table.
#[derive(Debug, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "items")]
struct Item {
    id: i64,
    #[expect(dead_code, reason = "decoded by the runtime (part of what is measured), never read")]
    name: String,
}

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL)";

const SUBSCRIBER: &str = "latency_bench";

/// Changes written before this much time has passed are not counted: connections,
/// prepared statements and the first routing round settle in.
const WARM_UP: Duration = Duration::from_secs(1);

/// Notes when the processor is first called for each row.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<HashMap<i64, Instant>>>);

impl Processor<Item> for Arrivals {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        let now = Instant::now();
        if let Some(item) = change.row() {
            // First call only: a retry is not the latency of the change.
            self.0.lock().map_err(|_| ProcessError::from("arrivals lock poisoned"))?.entry(item.id).or_insert(now);
        }
        Ok(())
    }
}

impl Arrivals {
    fn count(&self) -> usize {
        self.0.lock().expect("arrivals lock").len()
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// One writer, wake-ups on.
    Wakeups,
    /// The same rate from [`CONCURRENT_WRITERS`] writers, so transactions overlap and the
    /// gated wake-up (one NOTIFY among overlapping transactions) is exercised.
    WakeupsConcurrent,
    PollOnly,
}

/// Writers of the concurrent mode.
const CONCURRENT_WRITERS: u64 = 8;

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Wakeups => "wake-ups (default)",
            Mode::WakeupsConcurrent => "wake-ups, 8 writers",
            Mode::PollOnly => "poll-only (poll 1 s)",
        }
    }

    fn config(self) -> RuntimeConfig {
        RuntimeConfig::default().wakeups(!matches!(self, Mode::PollOnly))
    }

    fn writers(self) -> u64 {
        match self {
            Mode::WakeupsConcurrent => CONCURRENT_WRITERS,
            Mode::Wakeups | Mode::PollOnly => 1,
        }
    }
}

#[tokio::main]
async fn main() {
    let rate = knobs::number("LATENCY_BENCH_RATE", 500, 500).max(1);
    let seconds = knobs::number("LATENCY_BENCH_SECONDS", 20, 3).max(2);
    let durability = knobs::durability();
    let settings = pg_harness::Settings::from_env();
    let cluster = Arc::new(Cluster::start_temporary_with(&settings, durability).expect("a private PostgreSQL cluster"));
    let defaults = RuntimeConfig::default();
    println!(
        "latency commit -> processor start: {durability:?} cluster, {rate} changes/s for {seconds} s per mode \
         (first {} s not counted), one row per transaction, {} workers, batch {}, poll {} ms",
        WARM_UP.as_secs(),
        defaults.get_workers(),
        defaults.get_batch_size(),
        defaults.get_poll_interval().as_millis()
    );
    println!(
        "{:<22} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "mode", "changes", "rate/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    for mode in [Mode::Wakeups, Mode::WakeupsConcurrent, Mode::PollOnly] {
        let run = measure(&cluster, mode, rate, seconds).await;
        let ms: Vec<f64> = run.latencies.iter().map(|d| d * 1000.0).collect();
        println!(
            "{:<22} {:>8} {:>9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            mode.label(),
            thousands(ms.len() as f64),
            thousands(run.achieved_rate),
            percentile(&ms, 50.0),
            percentile(&ms, 90.0),
            percentile(&ms, 99.0),
            percentile(&ms, 99.9),
            percentile(&ms, 100.0),
        );
    }
    println!("targets with wake-ups: p50 <= 5 ms, p99 <= 25 ms");
}

/// What one mode measured.
struct Run {
    /// Seconds from the writer's commit to the processor's call, per counted change.
    latencies: Vec<f64>,
    /// Changes per second the writer achieved over the whole run.
    achieved_rate: f64,
}

async fn measure(cluster: &Arc<Cluster>, mode: Mode, rate: u64, seconds: u64) -> Run {
    let db = TestDb::create_in(Arc::clone(cluster)).await.expect("a fresh database");
    let config = mode.config();
    let pool = PgPoolOptions::new()
        .max_connections(db_listenable::runtime::recommended_connections(&config))
        .connect(db.url())
        .await
        .expect("connect");
    install(&pool).await;
    let arrivals = Arrivals::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .processor::<Item, _>(SUBSCRIBER, arrivals.clone())
        .start()
        .await
        .expect("start the runtime");

    let commits = write(db.url(), rate, seconds, mode.writers()).await;
    let expected = commits.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.count() < expected {
        assert!(
            Instant::now() < deadline,
            "{}: only {} of {expected} changes reached the processor within 60 s",
            mode.label(),
            arrivals.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    runtime.shutdown().await;
    pool.close().await;

    let started = commits.first().map(|c| c.1).expect("the writer wrote");
    let achieved_rate = expected as f64 / commits.last().map_or(1.0, |c| (c.1 - started).as_secs_f64().max(1e-9));
    let arrived = arrivals.0.lock().expect("arrivals lock");
    let latencies = commits
        .iter()
        .filter(|(_, committed)| *committed - started >= WARM_UP)
        .map(|(id, committed)| {
            let called = arrived.get(id).expect("every committed change arrived");
            // A reader can see the commit a moment before the writer hears it is done.
            called.saturating_duration_since(*committed).as_secs_f64()
        })
        .collect();
    Run { latencies, achieved_rate }
}

/// Inserts one row per transaction at `rate` per second in all for `seconds`, from
/// `writers` connections taking turns on one schedule; returns each row's id and when
/// its `INSERT` (an implicit transaction) returned, in commit order.
async fn write(url: &str, rate: u64, seconds: u64, writers: u64) -> Vec<(i64, Instant)> {
    let options: PgConnectOptions = url.parse().expect("a database URL");
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let total = rate * seconds;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let mut conn = options.connect().await.expect("a writer's connection");
        tasks.push(tokio::spawn(async move {
            let mut commits = Vec::new();
            // Writer w takes slots w, w + writers, ...: the same overall schedule.
            for i in (writer..total).step_by(usize::try_from(writers).expect("fits")) {
                tokio::time::sleep_until(start + interval * u32::try_from(i).expect("fits")).await;
                let id: i64 = sqlx::query_scalar("INSERT INTO items (name) VALUES ('latency') RETURNING id")
                    .fetch_one(&mut conn)
                    .await
                    .expect("insert");
                commits.push((id, Instant::now()));
            }
            conn.close().await.expect("close a writer's connection");
            commits
        }));
    }
    let mut commits = Vec::with_capacity(usize::try_from(total).expect("fits"));
    for task in tasks {
        commits.extend(task.await.expect("a writer finished"));
    }
    commits.sort_by_key(|(_, committed)| *committed);
    commits
}

/// The journal, the table and its capture with the defaults.
async fn install(pool: &PgPool) {
    let mut script = ddl::journal_script().statements().to_vec();
    script.push(ITEMS_TABLE.to_owned());
    script.extend(ddl::install_script(&Item::MODEL, &CaptureConfig::default()).statements().iter().cloned());
    for statement in script {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(pool).await.expect("install capture");
    }
}
