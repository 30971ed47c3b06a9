//! What capture costs writers: pgbench single-row inserts at 1 and 8 clients, and one
//! bulk UPDATE, into a table without user triggers (the limit), with our capture in each
//! wake-up mode, and with the seed's design (a row trigger calling `pg_notify` with a
//! `row_to_json` payload). Modes alternate within one run so drift of the machine hits
//! all of them alike. Prints a table; not a test.
//!
//! `cargo bench -p db-listenable --bench capture` (set `CAPTURE_BENCH_SECONDS` to change
//! the length of each pgbench run, default 5).

use std::process::Command;
use std::time::Instant;

use db_listenable::ddl::{self, CaptureConfig, Wakeup};
use db_listenable::{Column, Events, Model};

const ITEMS: Model = Model {
    rust_name: "Item",
    schema: "public",
    table: "items",
    key: &["id"],
    columns: &[
        Column { name: "id", field: "id", ignored: false },
        Column { name: "name", field: "name", ignored: false },
        Column { name: "qty", field: "qty", ignored: false },
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
    PollOnly,
    Gated,
    Seed,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::NoTriggers => "no triggers (limit)",
            Mode::PollOnly => "capture, poll-only",
            Mode::Gated => "capture, gated wake-up (default)",
            Mode::Seed => "seed design (NOTIFY row_to_json)",
        }
    }
}

struct Bench {
    client: tokio_postgres::Client,
    url: String,
    pgbench: std::path::PathBuf,
    seconds: u32,
}

impl Bench {
    async fn setup(&self, mode: Mode) {
        let reset = "DROP TABLE IF EXISTS items; DROP SCHEMA IF EXISTS db_listenable CASCADE;
                     CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)";
        self.client.batch_execute(reset).await.expect("reset");
        let sql = match mode {
            Mode::NoTriggers => String::new(),
            Mode::PollOnly | Mode::Gated => {
                let wakeup = if mode == Mode::Gated { Wakeup::Gated } else { Wakeup::Off };
                format!("{}{}", ddl::journal_script(), ddl::install_script(&ITEMS, &CaptureConfig { wakeup }))
            }
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

    /// Seconds for one UPDATE of `rows` rows.
    async fn bulk_update(&self, rows: i64) -> f64 {
        self.client
            .execute("INSERT INTO items (name) SELECT 'row ' || g FROM generate_series(1, $1::bigint) g", &[&rows])
            .await
            .expect("fill");
        let start = Instant::now();
        self.client.batch_execute("UPDATE items SET qty = qty + 1").await.expect("bulk update");
        start.elapsed().as_secs_f64()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let db = pg_harness::TestDb::create().await.expect("benchmark database");
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let bins = pg_harness::ServerBinaries::locate(&pg_harness::Settings::from_env()).expect("PostgreSQL binaries");
    let seconds = std::env::var("CAPTURE_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let bench = Bench { client, url: db.url().to_owned(), pgbench: bins.program("pgbench"), seconds };
    let modes = [Mode::NoTriggers, Mode::PollOnly, Mode::Gated, Mode::Seed];
    const ROUNDS: usize = 2;

    println!("capture overhead: {seconds}s pgbench runs, {ROUNDS} alternating rounds, median of rounds");
    for clients in [1, 8] {
        let mut tps: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for _ in 0..ROUNDS {
            for (i, mode) in modes.iter().enumerate() {
                bench.setup(*mode).await;
                tps[i].push(bench.inserts(clients));
            }
        }
        let limit = median(&tps[0]);
        println!("\nsingle-row inserts, {clients} client(s)");
        println!("{:<34} {:>10} {:>8}", "mode", "tps", "ratio");
        for (mode, samples) in modes.iter().zip(&tps) {
            let value = median(samples);
            println!("{:<34} {:>10.0} {:>7.2}x", mode.label(), value, value / limit);
        }
    }

    let rows = 100_000;
    println!("\nbulk UPDATE of {rows} rows (seconds)");
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for _ in 0..ROUNDS {
        for (i, mode) in modes.iter().enumerate() {
            bench.setup(*mode).await;
            times[i].push(bench.bulk_update(rows).await);
        }
    }
    let limit = median(&times[0]);
    for (mode, samples) in modes.iter().zip(&times) {
        let value = median(samples);
        println!("{:<34} {:>9.3}s {:>7.2}x", mode.label(), value, value / limit);
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}
