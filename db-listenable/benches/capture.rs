//! What capture costs writers: pgbench single-row inserts at 1 and 8 clients, and bulk
//! INSERT, UPDATE and DELETE of 100,000 rows, into a table without user triggers (the
//! limit), with our capture at row and statement granularity and each wake-up mode, and
//! with the seed's design (a row trigger calling `pg_notify` with a `row_to_json`
//! payload). Modes alternate within one run so drift of the machine hits all of them
//! alike. Runs on a private cluster with PostgreSQL's durable defaults
//! (`CAPTURE_BENCH_DURABILITY=ephemeral` for the test settings, `fsync=off`, where commits
//! are cheap and trigger cost shows most). Prints tables; not a test.
//!
//! `cargo bench -p db-listenable --bench capture` (`CAPTURE_BENCH_SECONDS` sets the length
//! of each pgbench run, default 5; `CAPTURE_BENCH_ROUNDS` the rounds, default 2).

use std::process::Command;
use std::time::Instant;

use db_listenable::ddl::{self, CaptureConfig, Granularity, Wakeup};
use db_listenable::{Column, Events, Model};

const ITEMS: Model = Model {
    rust_name: "Item",
    schema: "public",
    table: "items",
    key: &["id"],
    columns: &[
        Column { name: "id", field: "id", serde_key: "id", ignored: false },
        Column { name: "name", field: "name", serde_key: "name", ignored: false },
        Column { name: "qty", field: "qty", serde_key: "qty", ignored: false },
    ],
    events: Events::DEFAULT,
};

const SEED_DESIGN: &str = "
CREATE OR REPLACE FUNCTION seed_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('seed', json_build_object('table', TG_TABLE_NAME, 'type', TG_OP,
                                              'row', row_to_json(coalesce(NEW, OLD)))::text);
  RETURN NULL;
END $$;
CREATE TRIGGER seed_notify AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION seed_notify();";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    NoTriggers,
    Capture(Granularity, Wakeup),
    Seed,
}

const MODES: [Mode; 6] = [
    Mode::NoTriggers,
    Mode::Capture(Granularity::Row, Wakeup::Off),
    Mode::Capture(Granularity::Row, Wakeup::Gated),
    Mode::Capture(Granularity::Statement, Wakeup::Off),
    Mode::Capture(Granularity::Statement, Wakeup::Gated),
    Mode::Seed,
];

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::NoTriggers => "no triggers (limit)",
            Mode::Capture(Granularity::Row, Wakeup::Off) => "row capture, poll-only",
            Mode::Capture(Granularity::Row, Wakeup::Gated) => "row capture, gated wake-up",
            Mode::Capture(Granularity::Statement, Wakeup::Off) => "statement capture, poll-only",
            Mode::Capture(Granularity::Statement, Wakeup::Gated) => "statement capture, gated (default)",
            Mode::Seed => "seed design (NOTIFY row_to_json)",
        }
    }
}

struct Bench {
    client: tokio_postgres::Client,
    url: String,
    pgbench: std::path::PathBuf,
    seconds: usize,
}

impl Bench {
    async fn setup(&self, mode: Mode) {
        let reset = "DROP TABLE IF EXISTS items; DROP SCHEMA IF EXISTS db_listenable CASCADE;
                     CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)";
        self.client.batch_execute(reset).await.expect("reset");
        let sql = match mode {
            Mode::NoTriggers => String::new(),
            Mode::Capture(granularity, wakeup) => format!(
                "{}{}",
                ddl::journal_script(),
                ddl::install_script(&ITEMS, &CaptureConfig { wakeup, granularity })
            ),
            Mode::Seed => SEED_DESIGN.to_owned(),
        };
        self.client.batch_execute(&sql).await.expect("install");
    }

    /// Transactions per second of single-row inserts with `clients` connections.
    fn inserts(&self, clients: u32) -> f64 {
        let script = std::env::temp_dir().join(format!("capture-bench-{}.sql", std::process::id()));
        std::fs::write(&script, "INSERT INTO items (name) VALUES ('bench item');\n").expect("script");
        let output = Command::new(&self.pgbench)
            .args(["-n", "-f"])
            .arg(&script)
            .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string(), "-T", &self.seconds.to_string()])
            .arg(&self.url)
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

    /// Seconds for one bulk statement over `rows` rows (the table is filled first for
    /// UPDATE and DELETE).
    async fn bulk(&self, statement: Bulk, rows: i64) -> f64 {
        let fill = "INSERT INTO items (name) SELECT 'row ' || g FROM generate_series(1, $1::bigint) g";
        if statement != Bulk::Insert {
            // Filled before capture would see it: only the measured statement is captured.
            self.client.batch_execute("ALTER TABLE items DISABLE TRIGGER USER").await.expect("disable");
            self.client.execute(fill, &[&rows]).await.expect("fill");
            self.client.batch_execute("ALTER TABLE items ENABLE TRIGGER USER").await.expect("enable");
        }
        let start = Instant::now();
        match statement {
            Bulk::Insert => drop(self.client.execute(fill, &[&rows]).await.expect("bulk insert")),
            Bulk::Update => self.client.batch_execute("UPDATE items SET qty = qty + 1").await.expect("bulk update"),
            Bulk::Delete => self.client.batch_execute("DELETE FROM items").await.expect("bulk delete"),
        }
        start.elapsed().as_secs_f64()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bulk {
    Insert,
    Update,
    Delete,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let settings = pg_harness::Settings::from_env();
    let durability = match std::env::var("CAPTURE_BENCH_DURABILITY").as_deref() {
        Ok("ephemeral") => pg_harness::Durability::Ephemeral,
        _ => pg_harness::Durability::Durable,
    };
    let cluster =
        pg_harness::Cluster::start_temporary_with(&settings, durability).expect("a private PostgreSQL cluster");
    let url = cluster.url("postgres");
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let bins = pg_harness::ServerBinaries::locate(&settings).expect("PostgreSQL binaries");
    let env_number =
        |key: &str, default: usize| std::env::var(key).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    let seconds = env_number("CAPTURE_BENCH_SECONDS", 5);
    let rounds = env_number("CAPTURE_BENCH_ROUNDS", 2);
    let bench = Bench { client, url, pgbench: bins.program("pgbench"), seconds };

    println!("capture overhead: {durability:?} cluster, {seconds}s pgbench runs, {rounds} alternating rounds, median");
    for clients in [1, 8] {
        let mut tps: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
        for _ in 0..rounds {
            for (i, mode) in MODES.iter().enumerate() {
                bench.setup(*mode).await;
                tps[i].push(bench.inserts(clients));
            }
        }
        let limit = median(&tps[0]);
        println!("\nsingle-row inserts, {clients} client(s)");
        println!("{:<36} {:>10} {:>8}", "mode", "tps", "ratio");
        for (mode, samples) in MODES.iter().zip(&tps) {
            let value = median(samples);
            println!("{:<36} {:>10.0} {:>7.2}x", mode.label(), value, value / limit);
        }
    }

    let rows = 100_000;
    for statement in [Bulk::Insert, Bulk::Update, Bulk::Delete] {
        println!("\nbulk {statement:?} of {rows} rows");
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); MODES.len()];
        for _ in 0..rounds {
            for (i, mode) in MODES.iter().enumerate() {
                bench.setup(*mode).await;
                times[i].push(bench.bulk(statement, rows).await);
            }
        }
        let limit = median(&times[0]);
        for (mode, samples) in MODES.iter().zip(&times) {
            let value = median(samples);
            println!("{:<36} {:>9.3}s {:>7.2}x", mode.label(), value, value / limit);
        }
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}
