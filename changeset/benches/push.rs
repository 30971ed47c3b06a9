//! `push` of a changeset with 10 inserts and 3 events, against the same 10 inserts
//! written by hand in one sqlx transaction, on the same pool in the same run.
//!
//! ```text
//! cargo bench -p pg-changeset --bench push
//! ```
//!
//! Both sides send the same statements (cached as prepared statements by sqlx), so the
//! difference is the changeset's own cost: boxing, parameter conversion, event
//! deduplication and in-process dispatch.
//!
//! Criterion measures each side in its own time window, so on a busy machine load
//! drift between windows can dwarf the difference. The bench therefore also prints an
//! interleaved comparison: rounds alternating both sides (order flipped every round),
//! and the median of the per-round ratios.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pg_changeset::{BoxError, BoxFuture, Catalog, Changeset, Event, Payload, Slot, Sqlx, Statement};

const INSERT: &str = "INSERT INTO bench_items (name, qty) VALUES ($1, $2)";
const INSERT_RETURNING: &str = "INSERT INTO bench_items (name, qty) VALUES ($1, $2) RETURNING id";

#[derive(Debug, PartialEq, serde::Serialize)]
enum Stock {
    Received { id: i64 },
    Counted { total: i64 },
}

impl Event for Stock {
    fn name(&self) -> &'static str {
        match self {
            Stock::Received { .. } => "received",
            Stock::Counted { .. } => "counted",
        }
    }
}

struct Noop;

impl Catalog for Noop {
    const NAME: &'static str = "stock";
    type Event = Stock;

    fn dispatch<'a>(&'a self, event: &'a Stock) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            black_box(event);
            Ok(())
        })
    }
}

fn changeset(catalog: &Arc<Noop>) -> Changeset<Sqlx> {
    let first: Slot<i64> = Slot::new("first.id");
    let mut changeset = Changeset::new();
    changeset.add_db_operation(Statement::new(INSERT_RETURNING).bind("item 0").bind(0_i64).returning_into(&first));
    for i in 1..10_i64 {
        changeset.add_db_operation(Statement::new(INSERT).bind(format!("item {i}")).bind(i));
    }
    changeset
        .add_event(catalog, Payload::lazy(move || Ok(Stock::Received { id: first.get()? })))
        .add_event(catalog, Stock::Counted { total: 10 })
        .add_event(catalog, Stock::Counted { total: 45 });
    changeset
}

async fn hand_written(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let first: i64 = sqlx::query_scalar(INSERT_RETURNING).bind("item 0").bind(0_i64).fetch_one(&mut *tx).await?;
    black_box(first);
    for i in 1..10_i64 {
        sqlx::query(INSERT).bind(format!("item {i}")).bind(i).execute(&mut *tx).await?;
    }
    tx.commit().await
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let db = runtime.block_on(pg_harness::TestDb::create()).expect("test database");
    let pool =
        runtime.block_on(sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(db.url())).expect("connect");
    runtime
        .block_on(
            sqlx::raw_sql("CREATE TABLE bench_items (id bigserial PRIMARY KEY, name text NOT NULL, qty bigint)")
                .execute(&pool),
        )
        .expect("schema");
    let catalog = Arc::new(Noop);

    let mut group = c.benchmark_group("10 inserts + 3 events");
    group.bench_function("hand-written transaction", |b| {
        b.iter(|| runtime.block_on(hand_written(&pool)).expect("hand-written"));
    });
    group.bench_function("changeset push", |b| {
        b.iter(|| {
            let outcome = runtime.block_on(changeset(&catalog).push(&pool)).expect("push");
            assert_eq!(outcome.dispatched(), 3);
        });
    });
    // Again, in the other order, so that neither side always runs on the smaller table.
    group.bench_function("hand-written transaction (again)", |b| {
        b.iter(|| runtime.block_on(hand_written(&pool)).expect("hand-written"));
    });
    group.finish();

    interleaved(&runtime, &pool, &catalog);

    runtime.block_on(pool.close());
    drop(db);
}

/// Rounds of `PER_ROUND` hand-written transactions and `PER_ROUND` pushes, alternating
/// which goes first; prints the median of the per-round time ratios.
fn interleaved(runtime: &tokio::runtime::Runtime, pool: &sqlx::PgPool, catalog: &Arc<Noop>) {
    const ROUNDS: usize = 41;
    const PER_ROUND: u32 = 40;
    let time_hand = || {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            runtime.block_on(hand_written(pool)).expect("hand-written");
        }
        start.elapsed()
    };
    let time_push = || {
        let start = Instant::now();
        for _ in 0..PER_ROUND {
            let outcome = runtime.block_on(changeset(catalog).push(pool)).expect("push");
            black_box(outcome.dispatched());
        }
        start.elapsed()
    };
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut hand_total, mut push_total) = (Duration::ZERO, Duration::ZERO);
    for round in 0..ROUNDS {
        let (hand, push) = if round % 2 == 0 {
            let hand = time_hand();
            (hand, time_push())
        } else {
            let push = time_push();
            (time_hand(), push)
        };
        hand_total += hand;
        push_total += push;
        ratios.push(push.as_secs_f64() / hand.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let per = |total: Duration| total / (ROUNDS as u32 * PER_ROUND);
    println!(
        "interleaved ({ROUNDS} rounds x {PER_ROUND} each): hand-written {:?}/tx, changeset push {:?}/push, \
         median ratio push/hand-written {:.3} (quartiles {:.3}..{:.3})",
        per(hand_total),
        per(push_total),
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4],
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(40);
    targets = bench
}
criterion_main!(benches);
