//! What capture costs writers, against the limit and the seed's design.
//!
//! 1. **Single-row statements** (pgbench, one statement per transaction): `INSERT`,
//!    `UPDATE` of a random row among 100,000, `DELETE` of a random row among 1,000,000,
//!    at 1, 8 and 32 clients, into:
//!    - the captured table with its user triggers disabled (**the limit**: the same table,
//!      journal installed, nothing fires);
//!    - our capture with the defaults (statement granularity, gated wake-up);
//!    - **the seed's design**: a row trigger calling `pg_notify` with a `row_to_json`
//!      payload (the Ruby original's listener).
//!
//!    Modes alternate within each round so drift of the machine hits all of them alike;
//!    the median of the rounds is printed. A `DELETE` of a random id can miss a row
//!    deleted earlier in the run, so deletes are reported as rows actually deleted per
//!    second (pgbench's rate times the share of transactions that deleted a row).
//! 2. **Bulk statements over 100,000 rows**: `INSERT ... SELECT`, `COPY`, `UPDATE` of every
//!    row and `DELETE` of every row, seconds for the statement, with row capture added for
//!    comparison.
//!
//! Targets (issue 9), at 8 clients: >= 0.8x the limit, >= 2x the seed's design; bulk
//! statements <= 1.5x the limit's time.
//!
//! Runs on a private cluster with PostgreSQL's durable defaults
//! (`BENCH_DURABILITY=ephemeral` for the test settings, `fsync=off`, where commits are
//! cheap and trigger cost shows most). Every run starts after a `CHECKPOINT`.
//!
//! 3. **Log-based capture, for comparison** (`CAPTURE_BENCH_LOGICAL=1`): the cluster is
//!    restarted with `wal_level = logical`, and a fourth mode writes the table with no
//!    trigger at all and `REPLICA IDENTITY FULL` (the old row logged whole, as a
//!    log-based capture needs for full old rows). Every mode then runs under
//!    `wal_level = logical`. This measures what writers pay for it: WAL volume, not the
//!    decoding, which a replication slot's consumer does in another process (no slot
//!    exists during the runs).
//!
//! `cargo bench -p benchmarks --bench capture`. Knobs: `CAPTURE_BENCH_SECONDS` (each
//! pgbench run, default 5), `CAPTURE_BENCH_ROUNDS` (default 3), `CAPTURE_BENCH_CLIENTS`
//! (comma-separated, default `1,8,32`), `CAPTURE_BENCH_LOGICAL=1` (above), `BENCH_QUICK=1`
//! (1 s, 1 round). Prints tables; not a test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use benchmarks::knobs;
use benchmarks::stats::{median, thousands};
use db_listenable::ddl::{self, CaptureConfig, Granularity, Wakeup};
use db_listenable::{Column, Events, Model};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Executor, PgConnection};

const ITEMS: Model = Model {
    rust_name: "Item",
    schema: "public",
    table: "items",
    key: &["id"],
    columns: &[
        Column { name: "id", field: "id", optional: false },
        Column { name: "name", field: "name", optional: false },
        Column { name: "qty", field: "qty", optional: false },
    ],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

const ITEMS_TABLE: &str =
    "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)";

/// The seed's listener: every changed row NOTIFYs its JSON, in the writing transaction.
const SEED_DESIGN: &str = "
CREATE OR REPLACE FUNCTION seed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('seed', json_build_object('table', TG_TABLE_NAME, 'type', TG_OP,
                                              'row', row_to_json(coalesce(NEW, OLD)))::text);
  RETURN NULL;
END $$;
CREATE TRIGGER seed_notify AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION seed_notify();";

/// Rows an `UPDATE` picks from.
const UPDATE_ROWS: i64 = 100_000;
/// Rows a `DELETE` picks from: enough that few picks miss in a run.
const DELETE_ROWS: i64 = 1_000_000;
/// Rows of each bulk statement.
const BULK_ROWS: i64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Capture installed, user triggers disabled.
    Limit,
    Capture(Granularity),
    Seed,
    /// No trigger, `REPLICA IDENTITY FULL`, under `wal_level = logical`.
    Logical,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Limit => "limit (user triggers disabled)",
            Mode::Capture(Granularity::Statement) => "capture (default)",
            Mode::Capture(Granularity::Row) => "capture, row granularity",
            Mode::Seed => "seed design (NOTIFY row_to_json)",
            Mode::Logical => "no trigger, replica identity full",
        }
    }
}

const SINGLE_ROW_MODES: [Mode; 3] = [Mode::Limit, Mode::Capture(Granularity::Statement), Mode::Seed];
const BULK_MODES: [Mode; 4] =
    [Mode::Limit, Mode::Capture(Granularity::Statement), Mode::Capture(Granularity::Row), Mode::Seed];

/// `modes`, with [`Mode::Logical`] when it is measured.
fn with_logical(modes: &[Mode], logical: bool) -> Vec<Mode> {
    let mut modes = modes.to_vec();
    if logical {
        modes.push(Mode::Logical);
    }
    modes
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SingleRow {
    Insert,
    Update,
    Delete,
}

impl SingleRow {
    fn script(self) -> String {
        match self {
            SingleRow::Insert => "INSERT INTO items (name) VALUES ('bench item');\n".to_owned(),
            SingleRow::Update => {
                format!("\\set id random(1, {UPDATE_ROWS})\nUPDATE items SET qty = qty + 1 WHERE id = :id;\n")
            }
            SingleRow::Delete => format!("\\set id random(1, {DELETE_ROWS})\nDELETE FROM items WHERE id = :id;\n"),
        }
    }

    fn prefill(self) -> i64 {
        match self {
            SingleRow::Insert => 0,
            SingleRow::Update => UPDATE_ROWS,
            SingleRow::Delete => DELETE_ROWS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bulk {
    InsertSelect,
    Copy,
    Update,
    Delete,
}

impl Bulk {
    fn label(self) -> &'static str {
        match self {
            Bulk::InsertSelect => "INSERT ... SELECT",
            Bulk::Copy => "COPY",
            Bulk::Update => "UPDATE of every row",
            Bulk::Delete => "DELETE of every row",
        }
    }
}

struct Bench {
    conn: PgConnection,
    url: String,
    pgbench: PathBuf,
    seconds: u64,
}

impl Bench {
    /// A fresh `items` with `rows` rows, written before capture so only the measured
    /// statements are captured, and `mode` installed.
    async fn setup(&mut self, mode: Mode, rows: i64) {
        let reset = format!("DROP TABLE IF EXISTS items; DROP SCHEMA IF EXISTS db_listenable CASCADE; {ITEMS_TABLE}");
        self.batch(&reset).await;
        if rows > 0 {
            sqlx::query("INSERT INTO items (name) SELECT 'row ' || g FROM generate_series(1, $1::bigint) g")
                .bind(rows)
                .execute(&mut self.conn)
                .await
                .expect("prefill");
        }
        let granularity = match mode {
            Mode::Capture(granularity) => granularity,
            Mode::Limit | Mode::Seed | Mode::Logical => Granularity::default(),
        };
        let install = match mode {
            Mode::Seed => SEED_DESIGN.to_owned(),
            Mode::Logical => "ALTER TABLE items REPLICA IDENTITY FULL".to_owned(),
            Mode::Limit | Mode::Capture(_) => format!(
                "{}{}",
                ddl::journal_script(),
                ddl::install_script(
                    &ITEMS,
                    &CaptureConfig { wakeup: Wakeup::Gated, granularity, ..CaptureConfig::default() }
                )
            ),
        };
        self.batch(&install).await;
        if mode == Mode::Limit {
            self.batch("ALTER TABLE items DISABLE TRIGGER USER").await;
        }
        self.batch("VACUUM ANALYZE items").await;
        self.batch("CHECKPOINT").await;
    }

    async fn batch(&mut self, sql: &str) {
        self.conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))).await.unwrap_or_else(|error| {
            panic!("{error}: {}", sql.chars().take(120).collect::<String>());
        });
    }

    /// One pgbench run of `op` with `clients` connections.
    fn single_row(&self, op: SingleRow, clients: u32) -> PgbenchRun {
        let script = std::env::temp_dir().join(format!("capture-bench-{}.sql", std::process::id()));
        std::fs::write(&script, op.script()).expect("write the pgbench script");
        let run = pgbench(&self.pgbench, &self.url, &script, clients, self.seconds);
        let _ = std::fs::remove_file(&script);
        run
    }

    /// Seconds for one bulk statement over [`BULK_ROWS`] rows.
    async fn bulk(&mut self, statement: Bulk) -> f64 {
        let fill = "INSERT INTO items (name) SELECT 'row ' || g FROM generate_series(1, $1::bigint) g";
        let start = Instant::now();
        match statement {
            Bulk::InsertSelect => {
                sqlx::query(fill).bind(BULK_ROWS).execute(&mut self.conn).await.expect("bulk insert");
            }
            Bulk::Copy => {
                let mut data = String::new();
                for i in 1..=BULK_ROWS {
                    data.push_str("row ");
                    data.push_str(&i.to_string());
                    data.push('\n');
                }
                let mut copy = self.conn.copy_in_raw("COPY items (name) FROM STDIN").await.expect("start COPY");
                copy.send(data.into_bytes()).await.expect("send COPY data");
                copy.finish().await.expect("finish COPY");
            }
            Bulk::Update => self.batch("UPDATE items SET qty = qty + 1").await,
            Bulk::Delete => self.batch("DELETE FROM items").await,
        }
        start.elapsed().as_secs_f64()
    }
}

/// What one pgbench run reported.
struct PgbenchRun {
    tps: f64,
    /// Transactions pgbench completed.
    transactions: f64,
}

/// Runs `script` with `clients` connections for `seconds`.
fn pgbench(pgbench: &Path, url: &str, script: &Path, clients: u32, seconds: u64) -> PgbenchRun {
    let threads = clients.min(4);
    let output = Command::new(pgbench)
        .args(["-n", "-f"])
        .arg(script)
        .args(["-c", &clients.to_string(), "-j", &threads.to_string(), "-T", &seconds.to_string()])
        .arg(url)
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&output.stdout);
    let tps = text
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output:\n{text}\n{}", String::from_utf8_lossy(&output.stderr)));
    let transactions = text
        .lines()
        .find_map(|line| line.strip_prefix("number of transactions actually processed: "))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no transaction count in pgbench output:\n{text}"));
    PgbenchRun { tps, transactions }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let settings = pg_harness::Settings::from_env();
    let durability = knobs::durability();
    let cluster =
        pg_harness::Cluster::start_temporary_with(&settings, durability).expect("a private PostgreSQL cluster");
    let url = cluster.url("postgres");
    let options: PgConnectOptions = url.parse().expect("the cluster's URL");
    let conn = options.connect().await.expect("connect");
    let bins = pg_harness::ServerBinaries::locate(&settings).expect("PostgreSQL binaries");
    let seconds = knobs::number("CAPTURE_BENCH_SECONDS", 5, 1);
    let rounds = knobs::number("CAPTURE_BENCH_ROUNDS", 3, 1).max(1);
    let clients: Vec<u32> = std::env::var("CAPTURE_BENCH_CLIENTS")
        .ok()
        .map(|list| list.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .filter(|list: &Vec<u32>| !list.is_empty())
        .unwrap_or_else(|| vec![1, 8, 32]);
    let logical = std::env::var("CAPTURE_BENCH_LOGICAL").is_ok_and(|v| !v.is_empty() && v != "0");
    let mut conn = conn;
    if logical {
        conn.execute("ALTER SYSTEM SET wal_level = 'logical'").await.expect("set wal_level");
        drop(conn);
        cluster.stop().expect("stop the cluster");
        cluster.start().expect("restart the cluster with wal_level = logical");
        conn = options.connect().await.expect("reconnect");
        let level: String = sqlx::query_scalar("SHOW wal_level").fetch_one(&mut conn).await.expect("wal_level");
        assert_eq!(level, "logical", "the restart did not apply wal_level");
    }
    let single_row_modes = with_logical(&SINGLE_ROW_MODES, logical);
    let bulk_modes = with_logical(&BULK_MODES, logical);
    let mut bench = Bench { conn, url, pgbench: bins.program("pgbench"), seconds };

    let wal_level = if logical { "logical" } else { "replica" };
    println!(
        "capture overhead: {durability:?} cluster, wal_level = {wal_level}, {seconds} s pgbench runs, {rounds} alternating rounds, median"
    );
    for op in [SingleRow::Insert, SingleRow::Update, SingleRow::Delete] {
        for &clients in &clients {
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); single_row_modes.len()];
            let mut deleted_share: Vec<Vec<f64>> = vec![Vec::new(); single_row_modes.len()];
            for _ in 0..rounds {
                for (i, mode) in single_row_modes.iter().enumerate() {
                    bench.setup(*mode, op.prefill()).await;
                    let run = bench.single_row(op, clients);
                    let mut rate = run.tps;
                    if op == SingleRow::Delete {
                        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM items")
                            .fetch_one(&mut bench.conn)
                            .await
                            .expect("count rows");
                        let deleted = (DELETE_ROWS - left) as f64;
                        let share = (deleted / run.transactions.max(1.0)).min(1.0);
                        deleted_share[i].push(share);
                        rate = run.tps * share;
                    }
                    rates[i].push(rate);
                }
            }
            let limit = median(&rates[0]);
            let seed = median(&rates[2]);
            println!("\nsingle-row {op:?}, {clients} client(s): rows changed per second");
            println!("{:<34} {:>10} {:>9} {:>9}", "mode", "rows/s", "vs limit", "vs seed");
            for (mode, samples) in single_row_modes.iter().zip(&rates) {
                let value = median(samples);
                println!(
                    "{:<34} {:>10} {:>8.2}x {:>8.2}x",
                    mode.label(),
                    thousands(value),
                    value / limit,
                    value / seed
                );
            }
            if op == SingleRow::Delete {
                let all: Vec<f64> = deleted_share.concat();
                println!("(share of DELETEs that found their row: median {:.3})", median(&all));
            }
        }
    }

    for statement in [Bulk::InsertSelect, Bulk::Copy, Bulk::Update, Bulk::Delete] {
        let prefill = if matches!(statement, Bulk::Update | Bulk::Delete) { BULK_ROWS } else { 0 };
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); bulk_modes.len()];
        for _ in 0..rounds {
            for (i, mode) in bulk_modes.iter().enumerate() {
                bench.setup(*mode, prefill).await;
                times[i].push(bench.bulk(statement).await);
            }
        }
        let limit = median(&times[0]);
        println!("\nbulk {} of {} rows", statement.label(), thousands(BULK_ROWS as f64));
        println!("{:<34} {:>10} {:>9}", "mode", "seconds", "vs limit");
        for (mode, samples) in bulk_modes.iter().zip(&times) {
            let value = median(samples);
            println!("{:<34} {:>10.3} {:>8.2}x", mode.label(), value, value / limit);
        }
    }
}
