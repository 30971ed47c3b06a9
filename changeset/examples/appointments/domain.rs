//! The seed's appointment example as domain code: functions that *return* what to
//! write, merged by their caller and pushed once.
//!
//! Shared by the example program (`main.rs`) and the integration test
//! (`tests/db/appointments.rs`), so both run the same scenario.

use std::sync::{Arc, Mutex};

use pg_changeset::{Backend, BoxError, BoxFuture, Catalog, Changeset, Event, InsertRow, Payload, Slot, ValueError};
use serde::{Deserialize, Serialize};

/// The tables, created if missing.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS customers (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS appointments (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers,
    copay_cents bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0)
);
CREATE TABLE IF NOT EXISTS charges (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoices,
    amount_cents bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS insurance_claims (
    id bigserial PRIMARY KEY,
    appointment_id bigint NOT NULL REFERENCES appointments,
    copay_charge_id bigint NOT NULL REFERENCES charges
);
";

/// An appointment, as the domain sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Appointment {
    /// Its id.
    pub id: i64,
    /// Who attended.
    pub customer_id: i64,
    /// What the customer pays.
    pub copay_cents: i64,
}

/// The billing catalog's events (the seed's `KNOWN_EVENTS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BillingEvent {
    /// A charge was created.
    CustomerCharged {
        /// The charge id.
        id: i64,
    },
    /// An insurance claim was created.
    InsuranceClaimCreated {
        /// The claim id.
        id: i64,
    },
}

impl Event for BillingEvent {
    fn name(&self) -> &'static str {
        match self {
            BillingEvent::CustomerCharged { .. } => "customer_charged",
            BillingEvent::InsuranceClaimCreated { .. } => "insurance_claim_created",
        }
    }
}

/// Dispatches billing events to background jobs. Here the "queue" is a list, so the
/// example can print it and the test can check it.
#[derive(Debug, Default)]
pub struct Jobs {
    enqueued: Mutex<Vec<String>>,
}

impl Jobs {
    /// The jobs enqueued so far.
    pub fn enqueued(&self) -> Vec<String> {
        self.enqueued.lock().map(|jobs| jobs.clone()).unwrap_or_default()
    }
}

impl Catalog for Jobs {
    const NAME: &'static str = "billing";
    type Event = BillingEvent;

    fn dispatch<'a>(&'a self, event: &'a BillingEvent) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let job = match event {
                BillingEvent::CustomerCharged { id } => format!("ChargeJob({id})"),
                BillingEvent::InsuranceClaimCreated { id } => format!("SubmitToInsuranceJob({id})"),
            };
            self.enqueued.lock().map_err(|_| "job queue lock poisoned")?.push(job);
            Ok(())
        })
    }
}

#[derive(Serialize)]
struct NewInvoice {
    customer_id: i64,
    amount_cents: i64,
}

#[derive(Serialize)]
struct NewCharge {
    amount_cents: i64,
}

#[derive(Serialize)]
struct NewClaim {
    appointment_id: i64,
}

/// The seed's `charge`: an invoice and its charge, and `customer_charged` with the
/// charge id the database assigns. Returns the slot that will hold the charge id (the
/// seed returns the unsaved charge object).
pub fn charge<B: Backend>(
    jobs: &Arc<Jobs>,
    customer_id: i64,
    amount_cents: i64,
) -> Result<(Slot<i64>, Changeset<B>), ValueError> {
    let invoice_id: Slot<i64> = Slot::new("invoice.id");
    let charge_id: Slot<i64> = Slot::new("charge.id");
    let mut changeset = Changeset::new();
    let read = charge_id.clone();
    changeset
        .add_db_operation(
            InsertRow::new("invoices", &NewInvoice { customer_id, amount_cents })?.returning_into("id", &invoice_id),
        )
        .add_db_operation(
            InsertRow::new("charges", &NewCharge { amount_cents })?
                .set_from_slot("invoice_id", &invoice_id)
                .returning_into("id", &charge_id),
        )
        .add_event(jobs, Payload::lazy(move || Ok(BillingEvent::CustomerCharged { id: read.get()? })));
    Ok((charge_id, changeset))
}

/// The seed's `create_insurance_claim`: a claim referring to the copay charge.
pub fn create_insurance_claim<B: Backend>(
    appointment: &Appointment,
    copay_charge_id: &Slot<i64>,
) -> Result<(Slot<i64>, Changeset<B>), ValueError> {
    let claim_id: Slot<i64> = Slot::new("insurance_claim.id");
    let mut changeset = Changeset::new();
    changeset.add_db_operation(
        InsertRow::new("insurance_claims", &NewClaim { appointment_id: appointment.id })?
            .set_from_slot("copay_charge_id", copay_charge_id)
            .returning_into("id", &claim_id),
    );
    Ok((claim_id, changeset))
}

/// The seed's `appointment_attended`: merges the two children and adds
/// `insurance_claim_created`, whose id is not known until the claim is inserted.
pub fn appointment_attended<B: Backend>(
    jobs: &Arc<Jobs>,
    appointment: &Appointment,
) -> Result<Changeset<B>, ValueError> {
    let mut changeset = Changeset::new();
    let (charge_id, charge_changeset) = charge(jobs, appointment.customer_id, appointment.copay_cents)?;
    changeset.merge_child(charge_changeset);
    let (claim_id, claim_changeset) = create_insurance_claim(appointment, &charge_id)?;
    changeset
        .merge_child(claim_changeset)
        .add_event(jobs, Payload::lazy(move || Ok(BillingEvent::InsuranceClaimCreated { id: claim_id.get()? })));
    Ok(changeset)
}
