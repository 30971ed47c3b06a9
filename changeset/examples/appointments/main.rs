//! The seed's appointment example against the embedded PostgreSQL:
//!
//! ```text
//! cargo run -p pg-changeset --example appointments
//! ```
//!
//! An attended appointment charges the customer (invoice + charge) and files an
//! insurance claim for the copay, in one short transaction; then the two jobs are
//! enqueued with the ids the database assigned. Uses `DATABASE_URL` when set, otherwise
//! a persistent cluster in `./.data/pg` that is stopped when the program ends.

mod domain;

use std::sync::Arc;

use domain::{Appointment, Jobs, SCHEMA, appointment_attended};
use pg_changeset::Sqlx;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = pg_harness::Settings::from_env();
    let database =
        pg_harness::AppDatabase::open("appointments", None, &settings, pg_harness::Lifetime::StopWhenDropped).await?;
    let pool = sqlx::PgPool::connect(database.url()).await?;
    sqlx::raw_sql(SCHEMA).execute(&pool).await?;

    // Set-up outside the changeset: a customer with an appointment.
    let customer_id: i64 =
        sqlx::query_scalar("INSERT INTO customers (name) VALUES ('Ada') RETURNING id").fetch_one(&pool).await?;
    let appointment_id: i64 =
        sqlx::query_scalar("INSERT INTO appointments (customer_id, copay_cents) VALUES ($1, 2500) RETURNING id")
            .bind(customer_id)
            .fetch_one(&pool)
            .await?;
    let appointment = Appointment { id: appointment_id, customer_id, copay_cents: 2_500 };

    let jobs = Arc::new(Jobs::default());
    let changeset = appointment_attended::<Sqlx>(&jobs, &appointment)?;
    println!("changeset: {} operations, {} events", changeset.operations().len(), changeset.event_count());
    for (index, operation) in changeset.operations().iter().enumerate() {
        println!("  {index}: {}", operation.description());
    }

    let outcome = changeset.push(&pool).await?;
    println!(
        "committed in {} attempt(s); {} event(s) dispatched, {} failed",
        outcome.attempts(),
        outcome.dispatched(),
        outcome.failures().len()
    );
    for job in jobs.enqueued() {
        println!("  enqueued {job}");
    }
    let (charge_id, claim_id): (i64, i64) = sqlx::query_as(
        "SELECT c.id, ic.id FROM insurance_claims ic JOIN charges c ON c.id = ic.copay_charge_id WHERE ic.appointment_id = $1",
    )
    .bind(appointment_id)
    .fetch_one(&pool)
    .await?;
    println!("appointment {appointment_id}: charge {charge_id}, insurance claim {claim_id}");
    pool.close().await;
    Ok(())
}
