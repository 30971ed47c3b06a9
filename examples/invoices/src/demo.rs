//! The demo `cargo run -p invoices` runs: totals corrected after edits made behind the
//! application's back.

use std::path::Path;
use std::time::{Duration, Instant};

use pg_harness::Lifetime;
use sqlx::PgPool;

use crate::{check, database, listener, money::format_cents, report, seed};

/// How long the demo waits for the listener before calling it a failure.
const DEADLINE: Duration = Duration::from_secs(30);

/// Starts (or attaches to) the database, migrates, creates invoices, starts the
/// listener, edits items with plain SQL and shows the totals corrected.
pub async fn run(data_dir: Option<&Path>) -> anyhow::Result<()> {
    let db = database::open(data_dir, Lifetime::StopWhenDropped).await?;
    match (&db.data_dir, db.started_here) {
        (Some(dir), true) => println!("PostgreSQL: embedded cluster in {} (started for this run)", dir.display()),
        (Some(dir), false) => println!("PostgreSQL: embedded cluster in {} (already running)", dir.display()),
        (None, _) => println!("PostgreSQL: the server named by DATABASE_URL"),
    }
    crate::migrate(&db.pool).await?;
    println!("Schema: migrated (users, products, invoices, invoice_items, notifications; capture on invoice_items)");

    // Two invoices at least, so an item can move from one to the other.
    let mut created = vec![seed::create_sample_invoice(&db.pool).await?];
    if check::invoice_count(&db.pool).await? < 2 {
        created.push(seed::create_sample_invoice(&db.pool).await?);
    }
    for invoice in &created {
        println!(
            "Created {} with {} items, total {} (a changeset: one transaction, `invoice_created` through the outbox)",
            invoice.number,
            invoice.items,
            format_cents(invoice.total_price_cents)
        );
    }

    let runtime = listener::runtime(&db.pool, listener::config()).start().await?;
    println!("Listener: started (processor `invoice_totals`, outbox catalog `invoicing`)\n");

    let (newest, previous) = last_two_invoices(&db.pool).await?;
    let shown = [previous.1.clone(), newest.1.clone()];
    print!("{}", report_of(&db.pool, &shown).await?);

    println!("\nEditing invoice_items directly, as psql would (no application code runs):");
    let mut tx = db.pool.begin().await?;
    println!("  psql> BEGIN;");
    for sql in edits(&db.pool, newest.0, previous.0).await? {
        println!("  psql> {sql};");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    }
    // Read inside the editing transaction: the listener cannot see uncommitted edits, so
    // this is what every reader would see without it.
    println!("\nBefore COMMIT, as the editing session sees it:");
    print!("{}", report_of(&mut *tx, &shown).await?);
    println!("  psql> COMMIT;");
    tx.commit().await?;
    let edited = Instant::now();

    wait_until("the listener to correct every total", || async { Ok(check::mismatches(&db.pool).await?.is_empty()) })
        .await?;
    println!("\nCorrected by the listener {} ms after the commit:", edited.elapsed().as_millis());
    print!("{}", report_of(&db.pool, &shown).await?);

    let ids: Vec<i64> = created.iter().map(|invoice| invoice.id).collect();
    wait_until("the outbox to deliver `invoice_created`", || async {
        let delivered: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications WHERE invoice_id = ANY($1)")
            .bind(&ids)
            .fetch_one(&db.pool)
            .await?;
        Ok(delivered == ids.len() as i64)
    })
    .await?;
    println!(
        "\nOutbox: `invoice_created` delivered after commit for {} (notification rows written)",
        numbers(&created)
    );
    runtime.shutdown().await;

    println!("\nTry it by hand:");
    println!("  cargo run -p invoices -- db start     # keep the server running");
    println!("  cargo run -p invoices -- listen       # in another terminal: the listener");
    println!("  psql '{}'", db.url);
    println!("    UPDATE invoice_items SET quantity = quantity + 1 WHERE invoice_id = {};", newest.0);
    println!("    SELECT number, total_price_cents FROM invoices ORDER BY id;");
    println!("  cargo run -p invoices -- check        # every total against its items");
    if db.started_here {
        println!("(The server started for this run stops when it exits; `db start` keeps one running.)");
    }
    db.pool.close().await;
    Ok(())
}

fn numbers(created: &[seed::CreatedInvoice]) -> String {
    created.iter().map(|invoice| invoice.number.as_str()).collect::<Vec<_>>().join(", ")
}

/// (id, number) of the newest invoice and the one before it.
async fn last_two_invoices(pool: &PgPool) -> anyhow::Result<((i64, String), (i64, String))> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, number FROM invoices ORDER BY id DESC LIMIT 2").fetch_all(pool).await?;
    match <[(i64, String); 2]>::try_from(rows) {
        Ok([newest, previous]) => Ok((newest, previous)),
        Err(rows) => anyhow::bail!("expected two invoices, found {}", rows.len()),
    }
}

/// The report lines of `numbers` only.
async fn report_of<'e, E: sqlx::PgExecutor<'e>>(executor: E, numbers: &[String]) -> anyhow::Result<String> {
    let lines: Vec<_> =
        report::invoice_lines(executor).await?.into_iter().filter(|line| numbers.contains(&line.number)).collect();
    Ok(report::render(&lines))
}

/// What a person would type into psql: an update, an insert, a move between invoices, a
/// delete and a bulk update, on items of the two invoices.
async fn edits(pool: &PgPool, newest: i64, previous: i64) -> anyhow::Result<Vec<String>> {
    let items: Vec<i64> = sqlx::query_scalar("SELECT id FROM invoice_items WHERE invoice_id = $1 ORDER BY id")
        .bind(newest)
        .fetch_all(pool)
        .await?;
    let (Some(&first), Some(&last)) = (items.first(), items.last()) else {
        anyhow::bail!("invoice {newest} has no items to edit");
    };
    let product: i64 = sqlx::query_scalar("SELECT min(id) FROM products").fetch_one(pool).await?;
    Ok(vec![
        format!("UPDATE invoice_items SET quantity = quantity + 2 WHERE id = {first}"),
        format!(
            "INSERT INTO invoice_items (invoice_id, product_id, quantity, unit_price_cents) VALUES ({newest}, {product}, 3, 1250)"
        ),
        format!("UPDATE invoice_items SET invoice_id = {previous} WHERE id = {last}"),
        format!(
            "DELETE FROM invoice_items WHERE id = (SELECT min(id) FROM invoice_items WHERE invoice_id = {previous})"
        ),
        format!(
            "UPDATE invoice_items SET unit_price_cents = unit_price_cents + 100 WHERE invoice_id IN ({newest}, {previous})"
        ),
    ])
}

/// Polls `condition` every 50 ms until it holds, for at most [`DEADLINE`].
async fn wait_until<F, Fut>(what: &str, mut condition: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    while !condition().await? {
        if started.elapsed() > DEADLINE {
            anyhow::bail!("gave up after {DEADLINE:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
