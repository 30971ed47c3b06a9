//! Stage 2: the runtime mirrors every table while writers run, through a PostgreSQL
//! restart and a killed runtime; the mirror ends equal and no key sees its changes out
//! of order.
//!
//! `child` has no subscriber until the replacement runtime starts: its entries wait in
//! `unrouted` and must all be adopted, in order, by the subscriber registering while the
//! other runtime routes.
//!
//! Capture is statement-level for even seeds and row-level for odd ones. `TRUNCATE` is
//! not generated: it is documented to stand outside per-row ordering. Key moves, swaps
//! and permutations within one statement are generated (`MODEL_PERMUTATIONS=0` turns
//! the permutations off): the journal holds the change of each key, so the mirror,
//! which applies one change at a time, must end equal to the tables.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::ddl::{CaptureConfig, Granularity};
use db_listenable::runtime::{Change, Context, JsonRow, Op, ProcessError, Processor, Runtime, RuntimeBuilder};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;

use super::generator::{Generator, Mix, Rows};
use super::runner::{self, Blind};
use super::schema::{self, AwkwardRow, ChildRow, MirrorTable, PairRow, SingleRow, Table, TextyRow};
use super::shadow::{diff, fetch_rows, key_of};
use crate::wait_for;

/// Statements at CI size.
const CI_STATEMENTS: usize = 3000;

/// Concurrent writers.
const WRITERS: u64 = 3;

fn tables() -> Vec<&'static Table> {
    vec![&schema::SINGLE, &schema::PAIR, &schema::TEXTY, &schema::AWKWARD, &schema::CHILD]
}

/// Applies each change to `mirror` and checks per-key order.
#[derive(Clone, Default)]
struct Mirror {
    /// The highest change seen per (table, key): its id and what the key was to it.
    last: Arc<Mutex<OrderLog>>,
    /// Every change that arrived after a higher id of one of its keys.
    violations: Arc<Mutex<Vec<String>>>,
}

/// Per (table, key): the highest change id seen, and what the key was to that change.
type OrderLog = HashMap<(String, String), (i64, &'static str)>;

/// What a key is to a change: the row it writes or deletes (the runtime orders by it)...
const ROW_KEY: &str = "row key";
/// ...or the old key of an UPDATE that changed its key, which the journal never holds
/// (a key move is the DELETE of one key and the INSERT of another): seeing it is a defect.
const LEFT_KEY: &str = "key left by a key move";

impl Mirror {
    fn record(&self, table: &str, key: &str, id: i64, role: &'static str) {
        let mut last = self.last.lock().expect("order log");
        let seen = last.entry((table.to_owned(), key.to_owned())).or_insert((id, role));
        if id < seen.0 {
            self.violations
                .lock()
                .expect("violations")
                .push(format!("{table} {key}: change {id} ({role}) processed after change {} ({})", seen.0, seen.1));
        } else {
            *seen = (id, role);
        }
    }
}

impl<T: MirrorTable> Processor<JsonRow<T>> for Mirror {
    async fn process(&self, ctx: &Context<'_>, change: &Change<JsonRow<T>>) -> Result<(), ProcessError> {
        let table = schema::tables(false)
            .into_iter()
            .find(|t| t.name() == T::MODEL.table)
            .ok_or("a change of an unknown table")?;
        let row = |r: &JsonRow<T>| Value::Object(r.object().clone());
        let old_key = change.old.as_ref().map(|r| key_of(table, &row(r)));
        let new = change.new.as_ref().map(|r| (key_of(table, &row(r)), row(r)));
        // The runtime orders a change by its key; an entry whose old and new keys differed
        // would need both orders, so both are checked.
        if let Some((key, _)) = &new {
            self.record(table.name(), key, change.id, ROW_KEY);
        }
        if let Some(old) = &old_key
            && new.as_ref().is_none_or(|(key, _)| key != old)
        {
            let role = if new.is_some() { LEFT_KEY } else { ROW_KEY };
            self.record(table.name(), old, change.id, role);
        }
        let mut tx = ctx.db().begin().await?;
        if change.op == Op::Truncate {
            sqlx::query("DELETE FROM mirror WHERE tbl = $1").bind(table.name()).execute(&mut *tx).await?;
        }
        if let Some(old) = &old_key {
            sqlx::query("DELETE FROM mirror WHERE tbl = $1 AND key = $2")
                .bind(table.name())
                .bind(old)
                .execute(&mut *tx)
                .await?;
        }
        if let Some((key, row)) = &new {
            sqlx::query(
                "INSERT INTO mirror (tbl, key, row) VALUES ($1, $2, $3) ON CONFLICT (tbl, key) DO UPDATE SET row = EXCLUDED.row",
            )
            .bind(table.name())
            .bind(key)
            .bind(row)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A runtime of two workers on a pool of its own (as a separate process would have).
/// Without `child`, that table's entries wait in `unrouted` until a runtime with it
/// registers (while routers run: issue item 6).
async fn start(url: &str, mirror: &Mirror, child: bool, capture: &CaptureConfig) -> Runtime {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(url)
        .expect("pool");
    let config = crate::fast()
        .workers(2)
        .batch_size(10)
        .lease(Duration::from_secs(2))
        .max_attempts(1000)
        .capture(capture.clone());
    let builder = RuntimeBuilder::new(pool)
        .config(config)
        .processor::<JsonRow<SingleRow>, _>("mirror_single", mirror.clone())
        .processor::<JsonRow<PairRow>, _>("mirror_pair", mirror.clone())
        .processor::<JsonRow<TextyRow>, _>("mirror_texty", mirror.clone())
        .processor::<JsonRow<AwkwardRow>, _>("mirror_awkward", mirror.clone());
    let builder = if child {
        builder.processor::<JsonRow<ChildRow>, _>("mirror_child", mirror.clone())
    } else {
        builder.without_processor("public.child")
    };
    builder.start().await.expect("start a runtime")
}

/// Waits until nothing is left to process: no journal entry past a subscriber's cursor,
/// no delivery, nothing in `unrouted`; panics with what is left after `deadline`.
async fn drained(client: &tokio_postgres::Client, deadline: Duration, seed: u64) {
    let left = "SELECT (SELECT count(*) FROM db_listenable.subscribers s
                        CROSS JOIN LATERAL db_listenable.pending_entries(s.id) e),
                       (SELECT count(*) FROM db_listenable.deliveries), \
                (SELECT count(*) FROM db_listenable.unrouted), (SELECT count(*) FROM db_listenable.dead_letters)";
    let started = std::time::Instant::now();
    loop {
        let row = client.query_one(left, &[]).await.expect("backlog");
        let counts: [i64; 4] = [row.get(0), row.get(1), row.get(2), row.get(3)];
        if counts[..3] == [0, 0, 0] {
            return;
        }
        assert!(
            started.elapsed() < deadline,
            "not drained after {deadline:?} (MODEL_SEED={seed}): changes {}, deliveries {}, unrouted {}, dead letters {}",
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One writer: random transactions until `share` statements ran, reconnecting through
/// the restart. Returns the unexpected errors it met.
async fn write(url: String, seed: u64, share: usize, progress: Arc<AtomicUsize>, mix: Mix) -> Vec<String> {
    let tables = tables();
    let mut generator = Generator::new(seed, tables.clone(), mix);
    let mut errors = Vec::new();
    let mut done = 0;
    let mut client: Option<tokio_postgres::Client> = None;
    while done < share {
        let Some(live) = client.as_ref().filter(|c| !c.is_closed()) else {
            client = runner::connect(&url).await.ok();
            if client.is_none() {
                // The server is restarting: try again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            continue;
        };
        let Ok(rows) = fetch_rows(live, &tables).await else {
            client = None;
            continue;
        };
        let transaction = generator.transaction(&rows);
        match runner::run(live, &transaction, &mut Blind).await {
            Ok(_) => {}
            // The connection went (restart): the transaction's fate is the server's.
            Err(_) if live.is_closed() => client = None,
            Err(error) if error.contains(": 57P") => client = None,
            Err(error) => errors.push(error),
        }
        done += transaction.statements();
        progress.fetch_add(transaction.statements(), Ordering::SeqCst);
    }
    errors
}

/// Statement granularity (the default) for even seeds, row granularity for odd ones.
fn capture(seed: u64) -> CaptureConfig {
    let granularity = if seed.is_multiple_of(2) { Granularity::Statement } else { Granularity::Row };
    CaptureConfig { granularity, ..CaptureConfig::default() }
}

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.map(|r| r.get::<_, i64>(0)).unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_mirrors_every_table_through_a_restart_and_a_killed_runtime() {
    let seed = super::seed();
    let target = super::statements(CI_STATEMENTS);
    let permutations = super::permutations(true);
    let key_moves = super::key_moves();
    println!(
        "model stage 2: MODEL_SEED={seed} MODEL_STATEMENTS={target} permutations={permutations} key_moves={key_moves}"
    );
    let settings = pg_harness::Settings::from_env();
    let cluster = Arc::new(pg_harness::Cluster::start_temporary(&settings).expect("private cluster"));
    cluster.create_database("model").await.expect("database");
    let url = cluster.url("model");
    let admin = runner::connect(&url).await.expect("connect");
    let capture = capture(seed);
    schema::install(&admin, &tables(), &capture).await;
    admin
        .batch_execute("CREATE TABLE mirror (tbl text, key text, row jsonb NOT NULL, PRIMARY KEY (tbl, key))")
        .await
        .expect("mirror table");

    let mirror = Mirror::default();
    let first = start(&url, &mirror, false, &capture).await;
    let doomed = start(&url, &mirror, false, &capture).await;
    let progress = Arc::new(AtomicUsize::new(0));
    let mix = Mix { permutations, key_moves, truncate: false, rollbacks: true };
    let share = target.div_ceil(WRITERS as usize);
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| tokio::spawn(write(url.clone(), seed.wrapping_add(n), share, Arc::clone(&progress), mix)))
        .collect();

    let deadline = Duration::from_secs(if target > CI_STATEMENTS { 3600 } else { 60 });
    wait_for("a third of the statements", deadline, || async { progress.load(Ordering::SeqCst) >= target / 3 }).await;
    let restart = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || {
        restart.stop().expect("stop");
        restart.start().expect("start");
    })
    .await
    .expect("restart");
    println!("model stage 2: PostgreSQL restarted");
    wait_for("two thirds of the statements", deadline, || async { progress.load(Ordering::SeqCst) >= target * 2 / 3 })
        .await;
    // A worker dies: its runtime's tasks are dropped mid-batch; another process starts.
    drop(doomed);
    // ...and serves `child` too: its subscriber registers while the others route.
    let replacement = start(&url, &mirror, true, &capture).await;
    println!("model stage 2: a runtime killed and replaced");
    let mut errors = Vec::new();
    for writer in writers {
        errors.extend(writer.await.expect("writer"));
    }
    assert!(errors.is_empty(), "writers met unexpected errors (seed {seed}):\n{}", errors.join("\n"));

    let admin = runner::connect(&url).await.expect("reconnect");
    drained(&admin, deadline, seed).await;
    first.shutdown().await;
    replacement.shutdown().await;
    let dead = scalar(&admin, "SELECT count(*) FROM db_listenable.dead_letters").await;
    assert_eq!(dead, 0, "changes were dead-lettered (seed {seed})");

    let tables = tables();
    let real = fetch_rows(&admin, &tables).await.expect("tables");
    let mut mirrored: Rows = tables.iter().map(|t| (t.name(), BTreeMap::new())).collect();
    for row in admin.query("SELECT tbl, key, row FROM mirror", &[]).await.expect("mirror") {
        let tbl: String = row.get(0);
        if let Some(table) = tables.iter().find(|t| t.name() == tbl) {
            mirrored.entry(table.name()).or_default().insert(row.get(1), row.get(2));
        }
    }
    let violations = mirror.violations.lock().expect("violations").clone();
    let differences = diff(&real, &mirrored);
    println!(
        "model stage 2: {} rows, {} differences, {} order violations",
        real.values().map(BTreeMap::len).sum::<usize>(),
        differences.len(),
        violations.len()
    );
    assert!(
        differences.is_empty() && violations.is_empty(),
        "the mirror differs from the tables or a key saw its changes out of order (MODEL_SEED={seed}):\n\
         differences:\n{}\norder violations (first 20 of {}):\n{}",
        differences.join("\n"),
        violations.len(),
        violations.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}
