//! The seed's appointment scenario (`examples/appointments`) as a test: the same domain
//! code, pushed through each backend, and compared without a database.

use std::sync::Arc;

use pg_changeset::{Changeset, InsertRow, Payload, PushOptions, Slot};

use crate::domain::{Appointment, BillingEvent, Jobs, SCHEMA, appointment_attended};
use crate::harness::{TestBackend, fresh};

/// Runs the scenario: one transaction with the invoice, the charge and the claim in
/// order, then both jobs with the ids the database assigned.
pub async fn appointment_attended_end_to_end<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch(SCHEMA).await;
    handle
        .batch("INSERT INTO customers (name) VALUES ('Ada'); INSERT INTO appointments (customer_id, copay_cents) VALUES (1, 2500);")
        .await;
    let appointment = Appointment { id: 1, customer_id: 1, copay_cents: 2_500 };
    let jobs = Arc::new(Jobs::default());

    let changeset = appointment_attended::<T::B>(&jobs, &appointment).expect("changeset");
    let outcome = handle.push(changeset, &PushOptions::new()).await.expect("push");
    assert_eq!((outcome.operations(), outcome.dispatched()), (3, 2));
    assert!(outcome.is_complete());

    let rows = handle
        .column(
            "SELECT concat_ws(' ', i.customer_id, i.amount_cents, c.id, c.amount_cents, ic.id, ic.appointment_id)
             FROM insurance_claims ic JOIN charges c ON c.id = ic.copay_charge_id JOIN invoices i ON i.id = c.invoice_id",
        )
        .await;
    assert_eq!(rows.len(), 1);
    let fields: Vec<&str> = rows[0].split(' ').collect();
    let (charge_id, claim_id) = (fields[2], fields[4]);
    assert_eq!([fields[0], fields[1], fields[3], fields[5]], ["1", "2500", "2500", "1"]);
    assert_eq!(jobs.enqueued(), [format!("ChargeJob({charge_id})"), format!("SubmitToInsuranceJob({claim_id})")]);

    // A failing child (a CHECK on the invoice amount) rolls back everything, jobs included.
    let free = Appointment { copay_cents: 0, ..appointment };
    let jobs = Arc::new(Jobs::default());
    let err = handle
        .push(appointment_attended::<T::B>(&jobs, &free).expect("changeset"), &PushOptions::new())
        .await
        .expect_err("check violation");
    assert_eq!((err.operation_index(), err.sqlstate()), (Some(0), Some("23514")));
    assert!(err.to_string().contains("insert into `invoices`"), "{err}");
    assert_eq!(handle.column("SELECT count(*) FROM charges").await, ["1"]);
    assert!(jobs.enqueued().is_empty());
}

/// The seed's testing story: compare what domain code built with the expected
/// changeset. No database, no async runtime.
#[test]
fn appointment_changeset_matches_the_expected_one() {
    #[derive(serde::Serialize)]
    struct Row {
        customer_id: i64,
        amount_cents: i64,
    }
    #[derive(serde::Serialize)]
    struct Amount {
        amount_cents: i64,
    }
    #[derive(serde::Serialize)]
    struct Claim {
        appointment_id: i64,
    }
    let jobs = Arc::new(Jobs::default());
    let appointment = Appointment { id: 7, customer_id: 3, copay_cents: 1_000 };
    let actual: Changeset<pg_changeset::Sqlx> = appointment_attended(&jobs, &appointment).expect("changeset");

    let invoice: Slot<i64> = Slot::new("invoice.id");
    let charge: Slot<i64> = Slot::new("charge.id");
    let claim: Slot<i64> = Slot::new("insurance_claim.id");
    let mut expected = Changeset::new();
    expected
        .add_db_operation(
            InsertRow::new("invoices", &Row { customer_id: 3, amount_cents: 1_000 })
                .expect("row")
                .returning_into("id", &invoice),
        )
        .add_db_operation(
            InsertRow::new("charges", &Amount { amount_cents: 1_000 })
                .expect("row")
                .set_from_slot("invoice_id", &invoice)
                .returning_into("id", &charge),
        )
        .add_db_operation(
            InsertRow::new("insurance_claims", &Claim { appointment_id: 7 })
                .expect("row")
                .set_from_slot("copay_charge_id", &charge)
                .returning_into("id", &claim),
        )
        .add_event(&jobs, Payload::lazy(|| Ok(BillingEvent::CustomerCharged { id: 0 })))
        .add_event(&jobs, Payload::lazy(|| Ok(BillingEvent::InsuranceClaimCreated { id: 0 })));
    assert_eq!(actual, expected);

    let mut wrong_amount = Changeset::new();
    wrong_amount
        .merge_child(appointment_attended(&jobs, &Appointment { copay_cents: 999, ..appointment }).expect("cs"));
    assert_ne!(actual, wrong_amount);
}
