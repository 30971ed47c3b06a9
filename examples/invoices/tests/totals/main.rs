//! Invoice totals stay true under direct SQL edits: random edits, bulk statements, the
//! listener stopped halfway, and changes delivered twice.

use std::time::Duration;

use db_listenable::runtime::{Runtime, RuntimeConfig, load_stats};
use invoices::check::mismatches;
use invoices::totals::SUBSCRIBER;
use sqlx::PgPool;

/// A fresh database, migrated, with `invoices` sample invoices.
async fn invoices_db(invoices: usize) -> (pg_harness::TestDb, PgPool) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(6).connect(db.url()).await.expect("connect");
    invoices::migrate(&pool).await.expect("migrate");
    for _ in 0..invoices {
        invoices::seed::create_sample_invoice(&pool).await.expect("seed");
    }
    (db, pool)
}

async fn start(pool: &PgPool) -> Runtime {
    let config = RuntimeConfig::default().poll_interval(Duration::from_millis(50));
    invoices::listener::runtime(pool, config).start().await.expect("start the listener")
}

/// Waits until every captured change has been processed (journal routed, nothing
/// pending, in flight or retrying), then returns the dead letters' count.
async fn drained(pool: &PgPool) -> i64 {
    let started = std::time::Instant::now();
    loop {
        let stats = load_stats(pool).await.expect("stats");
        let totals = stats.subscribers.iter().find(|s| s.name == SUBSCRIBER).expect("subscriber");
        if stats.unrouted == 0 && totals.pending + totals.in_flight + totals.retrying == 0 {
            return totals.dead;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not drained: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// xorshift64: reproducible edits without a dependency.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Applies `count` random edits, each its own statement as `psql` would run it: quantity
/// and price updates, moves between invoices, inserts and deletes.
async fn random_edits(pool: &PgPool, random: &mut Random, count: usize) {
    let invoices: Vec<i64> = sqlx::query_scalar("SELECT id FROM invoices").fetch_all(pool).await.expect("invoices");
    let products: Vec<i64> = sqlx::query_scalar("SELECT id FROM products").fetch_all(pool).await.expect("products");
    let mut items: Vec<i64> = sqlx::query_scalar("SELECT id FROM invoice_items").fetch_all(pool).await.expect("items");
    let pick = |random: &mut Random, from: &[i64]| from[random.below(from.len() as u64) as usize];
    for _ in 0..count {
        let item = pick(random, &items);
        match random.below(5) {
            0 => {
                sqlx::query("UPDATE invoice_items SET quantity = $1 WHERE id = $2")
                    .bind(1 + random.below(9) as i32)
                    .bind(item)
                    .execute(pool)
                    .await
                    .expect("update quantity");
            }
            1 => {
                sqlx::query("UPDATE invoice_items SET invoice_id = $1 WHERE id = $2")
                    .bind(pick(random, &invoices))
                    .bind(item)
                    .execute(pool)
                    .await
                    .expect("move");
            }
            2 => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO invoice_items (invoice_id, product_id, quantity, unit_price_cents)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(pick(random, &invoices))
                .bind(pick(random, &products))
                .bind(1 + random.below(5) as i32)
                .bind(100 + random.below(10_000) as i64)
                .fetch_one(pool)
                .await
                .expect("insert");
                items.push(id);
            }
            3 if items.len() > 10 => {
                sqlx::query("DELETE FROM invoice_items WHERE id = $1").bind(item).execute(pool).await.expect("delete");
                items.retain(|&i| i != item);
            }
            _ => {
                sqlx::query("UPDATE invoice_items SET unit_price_cents = $1 WHERE id = $2")
                    .bind(random.below(20_000) as i64)
                    .bind(item)
                    .execute(pool)
                    .await
                    .expect("update price");
            }
        }
    }
}

async fn bulk_update(pool: &PgPool) {
    sqlx::query("UPDATE invoice_items SET quantity = quantity + 1").execute(pool).await.expect("bulk update");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_random_direct_edits_and_a_bulk_update_leave_every_total_true() {
    let (_db, pool) = invoices_db(10).await;
    let runtime = start(&pool).await;
    random_edits(&pool, &mut Random(0x5eed), 1000).await;
    bulk_update(&pool).await;
    assert_eq!(drained(&pool).await, 0, "no dead letters");
    runtime.shutdown().await;
    assert_eq!(mismatches(&pool).await.expect("check"), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_catch_up_after_the_listener_was_stopped_during_half_the_edits() {
    let (_db, pool) = invoices_db(10).await;
    let mut random = Random(0xfeed);
    let runtime = start(&pool).await;
    random_edits(&pool, &mut random, 500).await;
    runtime.shutdown().await;
    random_edits(&pool, &mut random, 250).await;
    assert!(!mismatches(&pool).await.expect("check").is_empty(), "with the listener down, totals drift");
    let runtime = start(&pool).await;
    random_edits(&pool, &mut random, 250).await;
    bulk_update(&pool).await;
    assert_eq!(drained(&pool).await, 0);
    runtime.shutdown().await;
    assert_eq!(mismatches(&pool).await.expect("check"), []);
}

#[tokio::test]
async fn a_change_delivered_twice_and_late_leaves_the_total_true() {
    let (_db, pool) = invoices_db(1).await;
    // Process the seed, then stop: the edits below wait in the journal.
    let runtime = start(&pool).await;
    drained(&pool).await;
    runtime.shutdown().await;
    let seeded: i64 =
        sqlx::query_scalar("SELECT max(id) FROM db_listenable.changes").fetch_one(&pool).await.expect("seed's last");
    let item: i64 = sqlx::query_scalar("SELECT min(id) FROM invoice_items").fetch_one(&pool).await.expect("item");
    for quantity in [5, 7] {
        sqlx::query("UPDATE invoice_items SET quantity = $1 WHERE id = $2")
            .bind(quantity)
            .bind(item)
            .execute(&pool)
            .await
            .expect("edit");
    }
    // The first edit (quantity 5) delivered again, after the second: a naive processor
    // that applied deltas or trusted the captured row would now be wrong. (Written by a
    // transaction of its own: the journal keeps processed entries, and readers take an
    // entry of an already processed transaction for processed.)
    sqlx::query(
        "INSERT INTO db_listenable.changes (table_id, op, captured_at, old_row, new_row)
         SELECT table_id, op, captured_at, old_row, new_row FROM db_listenable.changes WHERE id > $1 ORDER BY id LIMIT 1",
    )
    .bind(seeded)
    .execute(&pool)
    .await
    .expect("duplicate the first change");
    let runtime = start(&pool).await;
    drained(&pool).await;
    let stats = runtime.stats().await.expect("stats");
    runtime.shutdown().await;
    let totals = stats.subscribers.iter().find(|s| s.name == SUBSCRIBER).expect("subscriber");
    assert_eq!(totals.processed_here, 3, "both edits and the repeat were processed");
    assert_eq!(mismatches(&pool).await.expect("check"), []);
    let quantity: i32 = sqlx::query_scalar("SELECT quantity FROM invoice_items WHERE id = $1")
        .bind(item)
        .fetch_one(&pool)
        .await
        .expect("q");
    assert_eq!(quantity, 7);
}
