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
//! 3. **Log-based capture, for comparison** (`CAPTURE_BENCH_LOGICAL=1`): the limit and our
//!    capture are measured under `wal_level = replica` and again under `wal_level =
//!    logical` (what the logical WAL level costs by itself), next to two log-based modes
//!    under `wal_level = logical`: the table with no trigger at all and `REPLICA IDENTITY
//!    FULL` (the old row logged whole, as a log-based capture needs for full old rows),
//!    and the same while a replication slot (`pgoutput`, a publication of the table) is
//!    consumed by `pg_recvlogical` writing to `/dev/null`, so the decoder's CPU shares the
//!    machine with the writers (the lag the decoder was left with is printed). The cluster
//!    restarts whenever the next mode needs the other WAL level; within each round the
//!    modes of one level run together, `replica` first. The seed's design and row
//!    granularity are left out of this run.
//!
//! 4. **Floors, for comparison** (`CAPTURE_BENCH_FLOOR=1`): four more modes, statement
//!    triggers (with transition tables, like ours) whose plain function writes one journal
//!    row per changed row and nothing else: no pairing by key (an UPDATE's row is the new
//!    row twice, the same bytes as ours), no caller check, no wake-up, no `SECURITY
//!    DEFINER`; the same with an UPDATE's old and new rows paired by key as ours are (a
//!    hash full join), what a capture journalling each key's change with both rows pays
//!    at least; the same journal rows without row data (`NULL` rows), what any capture
//!    that writes one journal row per change inside the transaction pays at least; and
//!    the rows converted to `jsonb` as ours are (old and new) with nothing written, what
//!    any capture that hands processors full rows as `jsonb` pays at least, however few
//!    entries it writes (one per chunk of rows included).
//!
//! `cargo bench -p benchmarks --bench capture`. Knobs: `CAPTURE_BENCH_SECONDS` (each
//! pgbench run, default 5), `CAPTURE_BENCH_ROUNDS` (default 3), `CAPTURE_BENCH_CLIENTS`
//! (comma-separated, default `1,8,32`), `CAPTURE_BENCH_OPS` (comma-separated among
//! `insert,update,delete,bulk`, default all), `CAPTURE_BENCH_LOGICAL=1`,
//! `CAPTURE_BENCH_FLOOR=1` (above),
//! `BENCH_QUICK=1` (1 s, 1 round). Prints tables; not a test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// The floors' capture: one journal row per changed row, nothing else; `{rows}` is the
/// row data of each (see [`Mode::Floor`]).
const FLOOR_DESIGN: &str = "
CREATE OR REPLACE FUNCTION floor_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO db_listenable.changes (table_id, op, old_row) SELECT 1, 'D', {old} FROM old_rows o;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO db_listenable.changes (table_id, op, new_row) SELECT 1, 'I', {new} FROM new_rows n;
  ELSE
    INSERT INTO db_listenable.changes (table_id, op, old_row, new_row) SELECT 1, 'U', {new}, {new} FROM new_rows n;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER floor_insert AFTER INSERT ON items REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION floor_capture();
CREATE TRIGGER floor_update AFTER UPDATE ON items REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION floor_capture();
CREATE TRIGGER floor_delete AFTER DELETE ON items REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION floor_capture();";

/// The pairing floor's capture ([`Mode::Paired`]): [`FLOOR_DESIGN`] with rows, except that
/// an UPDATE pairs its old and new rows by key as ours does (a full join, planned without
/// JIT and merge joins as ours is), and writes the pairs as they come: no test of what
/// changed, no caller check, no wake-up, no `SECURITY DEFINER`.
const PAIRED_DESIGN: &str = "
CREATE OR REPLACE FUNCTION paired_capture() RETURNS trigger LANGUAGE plpgsql
SET jit = off SET enable_mergejoin = off AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO db_listenable.changes (table_id, op, old_row) SELECT 1, 'D', to_jsonb(o.*) FROM old_rows o;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO db_listenable.changes (table_id, op, new_row) SELECT 1, 'I', to_jsonb(n.*) FROM new_rows n;
  ELSE
    INSERT INTO db_listenable.changes (table_id, op, old_row, new_row)
    SELECT 1, CASE WHEN o.id IS NULL THEN 'I' WHEN n.id IS NULL THEN 'D' ELSE 'U' END::\"char\",
           to_jsonb(o.*), to_jsonb(n.*)
    FROM old_rows o FULL JOIN new_rows n ON o.id = n.id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER paired_insert AFTER INSERT ON items REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION paired_capture();
CREATE TRIGGER paired_update AFTER UPDATE ON items REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION paired_capture();
CREATE TRIGGER paired_delete AFTER DELETE ON items REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION paired_capture();";

/// The conversion floor's capture ([`Mode::Convert`]): every row of the transition tables
/// converted with `to_jsonb`, nothing written.
const CONVERT_DESIGN: &str = "
CREATE OR REPLACE FUNCTION convert_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM count(to_jsonb(o.*)) FROM old_rows o;
  ELSIF TG_OP = 'INSERT' THEN
    PERFORM count(to_jsonb(n.*)) FROM new_rows n;
  ELSE
    PERFORM count(to_jsonb(o.*)) FROM old_rows o;
    PERFORM count(to_jsonb(n.*)) FROM new_rows n;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER convert_insert AFTER INSERT ON items REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION convert_capture();
CREATE TRIGGER convert_update AFTER UPDATE ON items REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION convert_capture();
CREATE TRIGGER convert_delete AFTER DELETE ON items REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION convert_capture();";

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
    /// No trigger, `REPLICA IDENTITY FULL`.
    NoTrigger,
    /// [`Mode::NoTrigger`] while `pg_recvlogical` consumes a `pgoutput` slot of the table.
    Decoded,
    /// One journal row per changed row from a plain statement trigger: with the rows as
    /// `to_jsonb` (an UPDATE's new row twice, as many bytes as ours), or without row data.
    Floor {
        rows: bool,
    },
    /// [`Mode::Floor`] with rows, an UPDATE's old and new rows paired by key as ours are:
    /// what a capture that journals each key's change with both rows pays at least.
    Paired,
    /// The rows converted as ours are (`to_jsonb` of every old and new row, both
    /// transition tables read) and nothing written: what any capture that hands
    /// processors full rows as `jsonb`, one entry per row or per chunk of rows, pays at least.
    Convert,
}

/// The WAL level a mode runs under.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wal {
    Replica,
    Logical,
}

impl Wal {
    fn setting(self) -> &'static str {
        match self {
            Wal::Replica => "replica",
            Wal::Logical => "logical",
        }
    }
}

/// One measured configuration: a mode under a WAL level.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Setup {
    mode: Mode,
    wal: Wal,
}

impl Setup {
    fn label(self) -> String {
        let mode = match self.mode {
            Mode::Limit => "limit (user triggers disabled)",
            Mode::Capture(Granularity::Statement) => "capture (default)",
            Mode::Capture(Granularity::Row) => "capture, row granularity",
            Mode::Seed => "seed design (NOTIFY row_to_json)",
            Mode::NoTrigger => "no trigger, replica identity full",
            Mode::Decoded => "same, slot consumed (pgoutput)",
            Mode::Floor { rows: true } => "floor: a journal row per change",
            Mode::Floor { rows: false } => "floor: same without row data",
            Mode::Paired => "floor: rows paired by key",
            Mode::Convert => "floor: rows converted, nothing written",
        };
        match self.wal {
            Wal::Replica => mode.to_owned(),
            Wal::Logical => format!("{mode} [logical]"),
        }
    }
}

const SINGLE_ROW_MODES: [Mode; 3] = [Mode::Limit, Mode::Capture(Granularity::Statement), Mode::Seed];
const BULK_MODES: [Mode; 4] =
    [Mode::Limit, Mode::Capture(Granularity::Statement), Mode::Capture(Granularity::Row), Mode::Seed];

/// What a run measures, in the order it runs them in each round: `modes` (and the floors
/// when asked) under the cluster's level, or, for the log-based comparison, the limit and our capture under
/// both levels and the log-based modes.
fn setups(modes: &[Mode], logical: bool, floor: bool) -> Vec<Setup> {
    if !logical {
        let floors = [Mode::Floor { rows: true }, Mode::Paired, Mode::Floor { rows: false }, Mode::Convert];
        let floors = if floor { &floors[..] } else { &[] };
        return modes.iter().chain(floors).map(|&mode| Setup { mode, wal: Wal::Replica }).collect();
    }
    let ours = [Mode::Limit, Mode::Capture(Granularity::Statement)];
    let replica = ours.iter().map(|&mode| Setup { mode, wal: Wal::Replica });
    let logical = ours.iter().chain(&[Mode::NoTrigger, Mode::Decoded]).map(|&mode| Setup { mode, wal: Wal::Logical });
    replica.chain(logical).collect()
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
    options: PgConnectOptions,
    cluster: pg_harness::Cluster,
    /// The WAL level the cluster runs with.
    wal: Wal,
    url: String,
    pgbench: PathBuf,
    recvlogical: PathBuf,
    /// `pg_recvlogical` consuming the slot, while a [`Mode::Decoded`] run lasts.
    decoder: Option<Child>,
    seconds: u64,
}

/// The replication slot and publication of [`Mode::Decoded`].
const SLOT: &str = "capture_bench";

/// How far the decoder was behind when a run ended, and how long it took to catch up.
#[derive(Debug, Clone, Copy)]
struct DecoderLag {
    bytes: f64,
    seconds: f64,
}

impl Bench {
    /// Restarts the cluster with `wal` unless it runs with it already.
    async fn wal_level(&mut self, wal: Wal) {
        if self.wal == wal {
            return;
        }
        self.batch(&format!("ALTER SYSTEM SET wal_level = '{}'", wal.setting())).await;
        self.cluster.stop().expect("stop the cluster");
        self.cluster.start().expect("restart the cluster with the other wal_level");
        self.conn = self.options.connect().await.expect("reconnect");
        let level: String = sqlx::query_scalar("SHOW wal_level").fetch_one(&mut self.conn).await.expect("wal_level");
        assert_eq!(level, wal.setting(), "the restart did not apply wal_level");
        self.wal = wal;
    }

    /// A fresh `items` with `rows` rows, written before capture so only the measured
    /// statements are captured, and `setup` installed (for [`Mode::Decoded`], with the
    /// slot created after the rows, so only the measured statements are decoded).
    async fn setup(&mut self, setup: Setup, rows: i64) {
        self.wal_level(setup.wal).await;
        let mode = setup.mode;
        let reset = format!(
            "DROP PUBLICATION IF EXISTS {SLOT}; DROP TABLE IF EXISTS items; \
             DROP SCHEMA IF EXISTS db_listenable CASCADE; {ITEMS_TABLE}"
        );
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
            Mode::Limit
            | Mode::Seed
            | Mode::NoTrigger
            | Mode::Decoded
            | Mode::Floor { .. }
            | Mode::Paired
            | Mode::Convert => Granularity::default(),
        };
        let install = match mode {
            Mode::Seed => SEED_DESIGN.to_owned(),
            Mode::NoTrigger => "ALTER TABLE items REPLICA IDENTITY FULL".to_owned(),
            Mode::Decoded => {
                format!("ALTER TABLE items REPLICA IDENTITY FULL; CREATE PUBLICATION {SLOT} FOR TABLE items")
            }
            Mode::Convert => format!("{}{CONVERT_DESIGN}", ddl::journal_script()),
            Mode::Paired => format!("{}{PAIRED_DESIGN}", ddl::journal_script()),
            Mode::Floor { rows } => {
                let (old, new) = if rows { ("to_jsonb(o.*)", "to_jsonb(n.*)") } else { ("NULL::jsonb", "NULL::jsonb") };
                format!("{}{}", ddl::journal_script(), FLOOR_DESIGN.replace("{old}", old).replace("{new}", new))
            }
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
        if mode == Mode::Decoded {
            // Alone: a slot cannot be created in a transaction that wrote.
            self.batch(&format!("SELECT pg_create_logical_replication_slot('{SLOT}', 'pgoutput')")).await;
            self.start_decoder().await;
        }
    }

    /// Starts `pg_recvlogical` on the slot and waits until it streams.
    async fn start_decoder(&mut self) {
        let child = Command::new(&self.recvlogical)
            .args(["--start", "--no-loop", "--slot", SLOT, "-f", "/dev/null", "-F", "0", "-s", "1"])
            .args(["-o", "proto_version=1", "-o", &format!("publication_names={SLOT}"), "-d", &self.url])
            .stdout(Stdio::null())
            .spawn()
            .expect("start pg_recvlogical");
        self.decoder = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let active: bool = sqlx::query_scalar(
                "SELECT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = $1",
            )
            .bind(SLOT)
            .fetch_one(&mut self.conn)
            .await
            .expect("slot state");
            if active {
                return;
            }
            assert!(Instant::now() < deadline, "pg_recvlogical did not start streaming within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends a [`Mode::Decoded`] run: measures how far the decoder was behind and how long
    /// until pg_recvlogical confirmed everything written, then stops it and drops the
    /// slot. `None` for the other modes.
    async fn finish(&mut self) -> Option<DecoderLag> {
        let mut decoder = self.decoder.take()?;
        let end: String =
            sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&mut self.conn).await.expect("lsn");
        let ended = Instant::now();
        let behind = "SELECT pg_wal_lsn_diff($1::pg_lsn, confirmed_flush_lsn)::float8 FROM pg_replication_slots \
                      WHERE slot_name = $2";
        // What the walsender had decoded and sent: current, where the slot's confirmed
        // position is as old as pg_recvlogical's last status report (every second).
        let sent = "SELECT coalesce(pg_wal_lsn_diff($1::pg_lsn, r.sent_lsn), 0)::float8 FROM pg_stat_replication r \
                    JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $2";
        let bytes: f64 =
            sqlx::query_scalar(sent).bind(&end).bind(SLOT).fetch_one(&mut self.conn).await.expect("decoder lag");
        let deadline = ended + Duration::from_secs(300);
        loop {
            let left: f64 =
                sqlx::query_scalar(behind).bind(&end).bind(SLOT).fetch_one(&mut self.conn).await.expect("decoder lag");
            if left <= 0.0 {
                break;
            }
            assert!(Instant::now() < deadline, "the decoder did not catch up within 300 s ({left} bytes behind)");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seconds = ended.elapsed().as_secs_f64();
        decoder.kill().expect("stop pg_recvlogical");
        decoder.wait().expect("reap pg_recvlogical");
        // The walsender leaves the slot shortly after its client is gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let dropped = sqlx::query("SELECT pg_drop_replication_slot($1)").bind(SLOT).execute(&mut self.conn).await;
            if dropped.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "could not drop the slot: {dropped:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(DecoderLag { bytes, seconds })
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

/// The parts `CAPTURE_BENCH_OPS` asks for: single-row statements, and whether to run
/// the bulk statements.
fn chosen_ops() -> (Vec<SingleRow>, bool) {
    let all = [SingleRow::Insert, SingleRow::Update, SingleRow::Delete];
    let Ok(list) = std::env::var("CAPTURE_BENCH_OPS") else {
        return (all.to_vec(), true);
    };
    let names: Vec<String> = list.split(',').map(|name| name.trim().to_ascii_lowercase()).collect();
    let chosen = all.into_iter().filter(|op| names.contains(&format!("{op:?}").to_ascii_lowercase())).collect();
    (chosen, names.iter().any(|name| name == "bulk"))
}

/// The decoder's lags of a cell, as one line.
fn decoder_line(lags: &[DecoderLag]) -> Option<String> {
    if lags.is_empty() {
        return None;
    }
    let megabytes: Vec<f64> = lags.iter().map(|lag| lag.bytes / 1e6).collect();
    let seconds: Vec<f64> = lags.iter().map(|lag| lag.seconds).collect();
    Some(format!(
        "(decoder: {:.1} MB of WAL not yet decoded when the writes ended, all confirmed {:.1} s later \
         (pg_recvlogical reports every second); medians)",
        median(&megabytes),
        median(&seconds)
    ))
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
    let (single_row_ops, bulk) = chosen_ops();
    let floor = std::env::var("CAPTURE_BENCH_FLOOR").is_ok_and(|v| !v.is_empty() && v != "0");
    let single_row_setups = setups(&SINGLE_ROW_MODES, logical, floor);
    let bulk_setups = setups(&BULK_MODES, logical, floor);
    let mut bench = Bench {
        conn,
        options,
        cluster,
        wal: Wal::Replica,
        url,
        pgbench: bins.program("pgbench"),
        recvlogical: bins.program("pg_recvlogical"),
        decoder: None,
        seconds,
    };
    let level: String = sqlx::query_scalar("SHOW wal_level").fetch_one(&mut bench.conn).await.expect("wal_level");
    assert_eq!(level, "replica", "the private cluster is expected to start with wal_level = replica");

    let wal_levels = if logical { "replica and logical" } else { "replica" };
    println!(
        "capture overhead: {durability:?} cluster, wal_level = {wal_levels}, {seconds} s pgbench runs, {rounds} alternating rounds, median"
    );
    for op in single_row_ops {
        for &clients in &clients {
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); single_row_setups.len()];
            let mut deleted_share: Vec<Vec<f64>> = vec![Vec::new(); single_row_setups.len()];
            let mut lags = Vec::new();
            for _ in 0..rounds {
                for (i, setup) in single_row_setups.iter().enumerate() {
                    bench.setup(*setup, op.prefill()).await;
                    let run = bench.single_row(op, clients);
                    lags.extend(bench.finish().await);
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
            let seed = single_row_setups.iter().position(|setup| setup.mode == Mode::Seed).map(|i| median(&rates[i]));
            println!("\nsingle-row {op:?}, {clients} client(s): rows changed per second");
            println!("{:<48} {:>10} {:>9} {:>9}", "mode", "rows/s", "vs limit", "vs seed");
            for (setup, samples) in single_row_setups.iter().zip(&rates) {
                let value = median(samples);
                let vs_seed = seed.map(|seed| format!("{:>8.2}x", value / seed)).unwrap_or_default();
                println!("{:<48} {:>10} {:>8.2}x {vs_seed}", setup.label(), thousands(value), value / limit);
            }
            if op == SingleRow::Delete {
                let all: Vec<f64> = deleted_share.concat();
                println!("(share of DELETEs that found their row: median {:.3})", median(&all));
            }
            if let Some(line) = decoder_line(&lags) {
                println!("{line}");
            }
        }
    }

    let statements = if bulk { vec![Bulk::InsertSelect, Bulk::Copy, Bulk::Update, Bulk::Delete] } else { Vec::new() };
    for statement in statements {
        let prefill = if matches!(statement, Bulk::Update | Bulk::Delete) { BULK_ROWS } else { 0 };
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); bulk_setups.len()];
        let mut lags = Vec::new();
        for _ in 0..rounds {
            for (i, setup) in bulk_setups.iter().enumerate() {
                bench.setup(*setup, prefill).await;
                times[i].push(bench.bulk(statement).await);
                lags.extend(bench.finish().await);
            }
        }
        let limit = median(&times[0]);
        println!("\nbulk {} of {} rows", statement.label(), thousands(BULK_ROWS as f64));
        println!("{:<48} {:>10} {:>9}", "mode", "seconds", "vs limit");
        for (setup, samples) in bulk_setups.iter().zip(&times) {
            let value = median(samples);
            println!("{:<48} {:>10.3} {:>8.2}x", setup.label(), value, value / limit);
        }
        if let Some(line) = decoder_line(&lags) {
            println!("{line}");
        }
    }
}
