//! `invoices check`: every stored total against the sum of its items.

use serde::Serialize;
use sqlx::PgPool;

/// An invoice whose stored total differs from its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Mismatch {
    /// Invoice number.
    pub number: String,
    /// The total stored on the invoice.
    pub stored_cents: i64,
    /// The sum of its items now.
    pub items_sum_cents: i64,
}

/// Every invoice whose total is wrong, by number.
pub async fn mismatches(pool: &PgPool) -> sqlx::Result<Vec<Mismatch>> {
    sqlx::query_as(
        "SELECT i.number, i.total_price_cents AS stored_cents,
                coalesce(sum(it.quantity * it.unit_price_cents), 0)::bigint AS items_sum_cents
         FROM invoices i LEFT JOIN invoice_items it ON it.invoice_id = i.id
         GROUP BY i.id
         HAVING i.total_price_cents <> coalesce(sum(it.quantity * it.unit_price_cents), 0)
         ORDER BY i.number",
    )
    .fetch_all(pool)
    .await
}

/// How many invoices there are, for the summary line.
pub async fn invoice_count(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM invoices").fetch_one(pool).await
}

/// `invoices check`: prints the result; exits with status 1 when a total is wrong.
pub async fn run(json: bool, data_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let db = crate::database::open(data_dir, pg_harness::Lifetime::StopWhenDropped).await?;
    let checked = invoice_count(&db.pool).await?;
    let wrong = mismatches(&db.pool).await?;
    db.pool.close().await;
    if json {
        println!("{}", serde_json::json!({ "checked": checked, "mismatches": wrong }));
    } else if wrong.is_empty() {
        println!("{checked} invoices checked: every total matches its items");
    } else {
        for mismatch in &wrong {
            println!(
                "{}: stored {} but its items sum to {}",
                mismatch.number,
                crate::money::format_cents(mismatch.stored_cents),
                crate::money::format_cents(mismatch.items_sum_cents)
            );
        }
        println!("{} of {checked} invoices have a wrong total", wrong.len());
    }
    if !wrong.is_empty() {
        drop(db);
        std::process::exit(1);
    }
    Ok(())
}
