//! `DRAIN_BENCH_TRACE=<file>`: what to look at when one run of a cell is slow. The
//! bench's cluster logs every autovacuum and autoanalyze, every checkpoint and every
//! lock wait (with a timestamp to the millisecond), each drain prints its wall-clock
//! span and what the machine's CPUs did meanwhile, and the server log is copied to
//! `<file>` at the end (the cluster and its log are removed when the bench exits).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pg_harness::Cluster;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Logging for the trace, set with `ALTER SYSTEM` and reloaded. `deadlock_timeout` is
/// also when a lock wait is logged: 20 ms makes the waits that would matter to a
/// half-second drain visible.
const SETTINGS: [(&str, &str); 5] = [
    ("log_autovacuum_min_duration", "0"),
    ("log_checkpoints", "on"),
    ("log_lock_waits", "on"),
    ("deadlock_timeout", "'20ms'"),
    ("log_line_prefix", "'%m [%p] %d %b: '"),
];

/// Where the server log goes at the end, when tracing was asked for.
#[derive(Debug)]
pub struct Trace {
    copy_to: PathBuf,
}

impl Trace {
    /// From `DRAIN_BENCH_TRACE`; `None` when unset or empty.
    pub fn from_env() -> Option<Trace> {
        let path = std::env::var("DRAIN_BENCH_TRACE").ok().filter(|value| !value.trim().is_empty())?;
        Some(Trace { copy_to: PathBuf::from(path.trim()) })
    }

    /// Turns the cluster's logging on for the trace.
    pub async fn enable(&self, cluster: &Cluster) {
        let pool =
            PgPoolOptions::new().max_connections(1).connect(&cluster.admin_url()).await.expect("connect as admin");
        for (name, value) in SETTINGS {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ALTER SYSTEM SET {name} = {value}")))
                .execute(&pool)
                .await
                .unwrap_or_else(|error| panic!("ALTER SYSTEM SET {name}: {error}"));
        }
        sqlx::raw_sql("SELECT pg_reload_conf()").execute(&pool).await.expect("reload the configuration");
        pool.close().await;
        println!(
            "trace: server log (autovacuum, checkpoints, lock waits) copied to {} at the end",
            self.copy_to.display()
        );
    }

    /// Copies the server log to the requested file.
    pub fn finish(&self, cluster: &Cluster) {
        match cluster.log_file() {
            Some(log) => match std::fs::copy(&log, &self.copy_to) {
                Ok(_) => println!("trace: server log copied to {}", self.copy_to.display()),
                Err(error) => println!("trace: could not copy {} ({error})", log.display()),
            },
            None => println!("trace: the cluster is not the bench's own; no server log to copy"),
        }
    }
}

/// The machine's CPU counters (`/proc/stat`, all CPUs) and this process's, at one moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: SystemTime,
    /// user, nice, system, idle, iowait, irq, softirq, steal: clock ticks.
    machine: [u64; 8],
    /// utime + stime of this process, clock ticks.
    ours: u64,
}

impl CpuSample {
    /// Reads the counters now; `None` off Linux.
    pub fn now() -> Option<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .take(8)
            .map_while(|f| f.parse().ok())
            .collect();
        let machine: [u64; 8] = fields.try_into().ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after_name: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ours = after_name.get(11)?.parse::<u64>().ok()? + after_name.get(12)?.parse::<u64>().ok()?;
        Some(CpuSample { at: SystemTime::now(), machine, ours })
    }

    /// `03:12:01.234-03:12:01.700 UTC; CPUs: busy 1.71 (bench process 0.62), iowait
    /// 0.02, steal 0.00, idle 0.27`, in CPUs' worth over the span (2.00 = both cores).
    pub fn label_since(&self, start: &CpuSample) -> String {
        let wall = self.at.duration_since(start.at).unwrap_or(Duration::ZERO).as_secs_f64().max(1e-9);
        // Linux reports these counters in USER_HZ, 100 per second on every common platform.
        let cpus = |ticks: u64| ticks as f64 / 100.0 / wall;
        let delta = |i: usize| self.machine[i].saturating_sub(start.machine[i]);
        let busy = delta(0) + delta(1) + delta(2) + delta(5) + delta(6);
        format!(
            "{}-{} UTC; CPUs: busy {:.2} (bench process {:.2}), iowait {:.2}, steal {:.2}, idle {:.2}",
            clock(start.at),
            clock(self.at),
            cpus(busy),
            cpus(self.ours.saturating_sub(start.ours)),
            cpus(delta(4)),
            cpus(delta(7)),
            cpus(delta(3))
        )
    }
}

/// Rows per round trip of [`Probe`]'s reference read, as a journal batch of the
/// default size.
const REFERENCE_BATCH: i64 = 1000;

/// Rows the reference read fetches in all: about as long as a batch-1000 drain.
const REFERENCE_ROWS: i64 = 1_000_000;

/// Steps of [`Probe`]'s CPU figure: about 40 ms of one core.
const PROBE_CPU_STEPS: u64 = 30_000_000;

/// How fast the machine was just before a drain, so a slow run can be told apart from
/// a slow machine: one core's speed on a fixed computation, and a **reference read**
/// shaped like a batch-1000 drain without our runtime: 1,000,000 rows of `items` read by
/// id range in round trips of 1000 on one connection and decoded, one after another.
/// Its spread over the runs of a cell is the machine's own noise at that moment and
/// length, next to the drain's.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    cpu: Duration,
    /// Rows per second of the reference read.
    pub reference: f64,
}

impl Probe {
    /// Measures both, outside the timed drain, on a database whose `items` holds ids
    /// 1..=`rows` (the backlog).
    pub async fn measure(pool: &PgPool, rows: u64) -> Probe {
        let started = std::time::Instant::now();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..PROBE_CPU_STEPS {
            // xorshift: a dependent chain the compiler cannot fold away.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
        }
        std::hint::black_box(state);
        let cpu = started.elapsed();
        let rows = i64::try_from(rows).unwrap_or(i64::MAX).max(REFERENCE_BATCH);
        let mut connection = pool.acquire().await.expect("a connection for the probe");
        let started = std::time::Instant::now();
        let mut read = 0;
        while read < REFERENCE_ROWS {
            let first = read % rows + 1;
            let batch: Vec<(i64, Option<String>, i32)> =
                sqlx::query_as("SELECT id, name, qty FROM items WHERE id >= $1 ORDER BY id LIMIT $2")
                    .bind(first)
                    .bind(REFERENCE_BATCH)
                    .fetch_all(&mut *connection)
                    .await
                    .expect("the reference read");
            read += i64::try_from(batch.len()).unwrap_or(i64::MAX).max(1);
        }
        let reference = read as f64 / started.elapsed().as_secs_f64();
        Probe { cpu, reference }
    }

    /// `probe: cpu 42.1 ms, reference read 812,345 rows/s`.
    pub fn label(&self) -> String {
        format!("probe: cpu {:.1} ms, reference read {:.0} rows/s", self.cpu.as_secs_f64() * 1e3, self.reference)
    }
}

/// `HH:MM:SS.mmm` of `at`, UTC, to match the server log's timestamps.
fn clock(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let seconds = since.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}", seconds / 3600, seconds / 60 % 60, seconds % 60, since.subsec_millis())
}
