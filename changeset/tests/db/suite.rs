//! The behavioural suite, written once and run against each backend (see `main.rs`).

use std::sync::Arc;

use pg_changeset::{
    Changeset, InsertRow, Isolation, Kind, Payload, PushError, PushOptions, Retry, Slot, Statement, Value,
};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::harness::{
    Noted, OUTBOX_TABLE, Recorder, Rendezvous, TableOutbox, TestBackend, Tree, fresh, named_recorder,
};

fn insert_item(name: &str) -> Statement {
    Statement::new("INSERT INTO items (name) VALUES ($1)").bind(name)
}

fn insert_item_returning_id(name: &str, id: &Slot<i64>) -> Statement {
    Statement::new("INSERT INTO items (name) VALUES ($1) RETURNING id").bind(name).returning_into(id)
}

const ITEMS: &str = "CREATE TABLE items (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE)";

/// Operations run in the order they were added across random merge trees, as the
/// database records them (a sequence assigns each insert its rank).
pub async fn order_across_random_merge_trees<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch("CREATE TABLE ops (seq bigserial PRIMARY KEY, label bigint NOT NULL)").await;
    let mut runner = TestRunner::new(Config { cases: 16, ..Config::default() });
    let strategy = Tree::strategy();
    for _ in 0..16 {
        let tree = strategy.new_tree(&mut runner).expect("random tree").current();
        let (changeset, expected) = tree.build::<T::B>();
        let outcome = handle.push(changeset, &PushOptions::new()).await.expect("push");
        assert_eq!(outcome.operations(), expected.len());
        let actual = handle.column("SELECT label FROM ops ORDER BY seq").await;
        assert_eq!(actual, expected, "operations ran out of order for {tree:?}");
        handle.batch("TRUNCATE ops").await;
    }
}

/// The seed's example in the database: parent 1, 2 + child 3, 4 + parent 5.
pub async fn seed_merge_example<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch(ITEMS).await;
    let (planning, seen) = named_recorder("planning");
    let mut parent = Changeset::new();
    parent.add_db_operations([insert_item("1"), insert_item("2")]);
    parent.add_named_event(&planning, "planning_updated", json!({"week": "2022W47"})).expect("known");
    let mut child = Changeset::new();
    child.add_db_operations([insert_item("3"), insert_item("4")]);
    child.add_named_event(&planning, "planning_updated", json!({"week": "2022W47"})).expect("known");
    child.add_named_event(&planning, "planning_updated", json!({"week": "2022W48"})).expect("known");
    parent.merge_child(child).add_db_operation(insert_item("5"));

    let outcome = handle.push(parent, &PushOptions::new()).await.expect("push");
    assert_eq!(handle.column("SELECT name FROM items ORDER BY id").await, ["1", "2", "3", "4", "5"]);
    assert_eq!((outcome.events(), outcome.dispatched()), (2, 2));
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![
            ("planning_updated".to_owned(), json!({"week": "2022W47"})),
            ("planning_updated".to_owned(), json!({"week": "2022W48"}))
        ]
    );
}

/// Known payloads are deduplicated when added, lazy ones once evaluated from values the
/// database assigned; first insertion order is kept, across typed and named catalogs.
pub async fn dedup_of_known_and_lazy_payloads<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch(ITEMS).await;
    let recorder = Arc::new(Recorder::default());
    let (planning, planning_seen) = named_recorder("planning");
    let first: Slot<i64> = Slot::new("first.id");
    let second: Slot<i64> = Slot::new("second.id");
    let first_again: Slot<i64> = Slot::new("first.id.again");

    let lazy_row = |slot: &Slot<i64>| {
        let slot = slot.clone();
        Payload::lazy(move || Ok(Noted::Row { id: slot.get()? }))
    };
    let mut child = Changeset::new();
    child
        .add_db_operation(Statement::new("INSERT INTO items (name) VALUES ('b') RETURNING id").returning_into(&second))
        .add_event(&recorder, Noted::Happened { key: "k".into() })
        .add_event(&recorder, lazy_row(&second));
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(Statement::new("INSERT INTO items (name) VALUES ('a') RETURNING id").returning_into(&first))
        // Reads the slot back through the database: a second lazy value equal to the first.
        .add_db_operation(Statement::new("SELECT $1::bigint").bind_slot(&first).returning_into(&first_again))
        .add_event(&recorder, Noted::Happened { key: "k".into() })
        .add_event(&recorder, lazy_row(&first))
        .merge_child(child)
        .add_event(&recorder, lazy_row(&first_again))
        .add_event(&recorder, Noted::Happened { key: "other".into() });
    let week = first.clone();
    changeset
        .add_named_event(&planning, "planning_updated", Payload::lazy(move || Ok(json!({"row": week.get()?}))))
        .expect("known");
    let week = first_again.clone();
    changeset
        .add_named_event(&planning, "planning_updated", Payload::lazy(move || Ok(json!({"row": week.get()?}))))
        .expect("known");
    assert_eq!(changeset.event_count(), 7, "one known duplicate is dropped when merged");

    let outcome = handle.push(changeset, &PushOptions::new()).await.expect("push");
    let ids = handle.column("SELECT id FROM items ORDER BY name").await;
    let (a, b): (i64, i64) = (ids[0].parse().expect("id"), ids[1].parse().expect("id"));
    assert_ne!(a, b);
    assert_eq!(
        recorder.seen(),
        vec![
            Noted::Happened { key: "k".into() },
            Noted::Row { id: a },
            Noted::Row { id: b },
            Noted::Happened { key: "other".into() },
        ]
    );
    assert_eq!(*planning_seen.lock().expect("lock"), vec![("planning_updated".to_owned(), json!({"row": a}))]);
    assert_eq!((outcome.events(), outcome.dispatched()), (5, 5));
}

/// The 3rd of 5 operations fails: nothing is committed, nothing dispatched, and the
/// error names the operation with the driver's error (SQLSTATE) as its source.
pub async fn rollback_on_third_of_five<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch(ITEMS).await;
    let recorder = Arc::new(Recorder::default());
    let mut changeset = Changeset::new();
    changeset
        .add_db_operations([insert_item("a"), insert_item("b"), insert_item("a"), insert_item("c"), insert_item("d")])
        .add_event(&recorder, Noted::Happened { key: "never".into() });

    let err = handle.push(changeset, &PushOptions::new()).await.expect_err("duplicate key must fail");
    assert_eq!(err.operation_index(), Some(2));
    assert_eq!(err.sqlstate(), Some("23505"));
    assert!(
        err.to_string().starts_with(
            "operation at index 2 (statement `INSERT INTO items (name) VALUES ($1)`) failed with SQLSTATE 23505"
        ),
        "{err}"
    );
    let source = std::error::Error::source(&err).expect("the driver error is the source");
    assert_eq!(T::driver_sqlstate(source), Some("23505".to_owned()), "source is the driver's own error type");
    assert_eq!(handle.column("SELECT count(*) FROM items").await, ["0"]);
    assert!(recorder.seen().is_empty());
}

/// A failing handler is reported; the data stays committed and the other events go out.
pub async fn handler_failure_keeps_the_commit<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch(ITEMS).await;
    let recorder = Arc::new(Recorder::default());
    let id: Slot<i64> = Slot::new("item.id");
    let read = id.clone();
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(insert_item_returning_id("kept", &id))
        .add_event(&recorder, Payload::lazy(move || Ok(Noted::Broken { id: read.get()? })))
        .add_event(&recorder, Noted::Happened { key: "after".into() });
    let outcome = handle.push(changeset, &PushOptions::new()).await.expect("committed");
    let stored = handle.column("SELECT id FROM items WHERE name = 'kept'").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(outcome.failures().len(), 1);
    let failure = &outcome.failures()[0];
    assert_eq!((failure.catalog.as_str(), failure.event.as_str()), ("recorder", "broken"));
    assert_eq!(failure.error.to_string(), format!("cannot handle row {}", stored[0]));
    assert_eq!(recorder.seen(), vec![Noted::Happened { key: "after".into() }]);
}

/// Builds one of two conflicting pushes: read the table, meet the other push, insert.
/// Under SERIALIZABLE, two such transactions cannot both commit (write skew).
fn conflicting_push<T: TestBackend>(name: &str, barrier: &Arc<tokio::sync::Barrier>) -> Changeset<T::B> {
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(Statement::new("SELECT count(*) FROM items"))
        .add_db_operation(Rendezvous::new(barrier))
        .add_db_operation(insert_item(name));
    changeset
}

/// Two concurrent pushes conflict; the loser is retried and both end up committed.
pub async fn serialization_failure_is_retried<T: TestBackend>() {
    let (db, mut first) = fresh::<T>().await;
    let mut second = T::connect(db.url()).await;
    first.batch(ITEMS).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let options = PushOptions::new().isolation(Isolation::Serializable).retry(Retry::attempts(5));
    let (a, b) = tokio::join!(
        first.push(conflicting_push::<T>("a", &barrier), &options),
        second.push(conflicting_push::<T>("b", &barrier), &options),
    );
    let (a, b) = (a.expect("push a"), b.expect("push b"));
    // One of the two lost the first round and was retried. (A retry starts while the
    // winner may still be committing and can conflict once more, so the exact count is
    // not fixed; the policy bounds it.)
    assert!(a.attempts() + b.attempts() >= 3, "no retry happened: {} + {}", a.attempts(), b.attempts());
    assert_eq!(first.column("SELECT name FROM items ORDER BY name").await, ["a", "b"]);
}

/// The same conflict without retry: one push fails with SQLSTATE 40001, proving the
/// retry test above exercises a real serialization failure.
pub async fn serialization_failure_without_retry<T: TestBackend>() {
    let (db, mut first) = fresh::<T>().await;
    let mut second = T::connect(db.url()).await;
    first.batch(ITEMS).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let options = PushOptions::new().isolation(Isolation::Serializable);
    let (a, b) = tokio::join!(
        first.push(conflicting_push::<T>("a", &barrier), &options),
        second.push(conflicting_push::<T>("b", &barrier), &options),
    );
    let errors: Vec<PushError> = [a, b].into_iter().filter_map(Result::err).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].sqlstate(), Some("40001"));
    assert_eq!(first.column("SELECT count(*) FROM items").await, ["1"]);
}

/// With an outbox, events are written inside the transaction (and not dispatched
/// in-process); a rolled-back push leaves no outbox row.
pub async fn outbox_is_written_in_the_transaction<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch(ITEMS).await;
    handle.batch(OUTBOX_TABLE).await;
    let recorder = Arc::new(Recorder::default());
    let options = PushOptions::new().outbox(TableOutbox);
    let id: Slot<i64> = Slot::new("item.id");
    let read = id.clone();
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(insert_item_returning_id("x", &id))
        .add_event(&recorder, Payload::lazy(move || Ok(Noted::Row { id: read.get()? })))
        .add_event(&recorder, Noted::Happened { key: "k".into() })
        .add_event(&recorder, Noted::Happened { key: "k".into() });
    let outcome = handle.push(changeset, &options).await.expect("push");
    assert!(outcome.written_to_outbox());
    assert_eq!((outcome.events(), outcome.dispatched()), (2, 0));
    assert!(recorder.seen().is_empty(), "outbox mode does not dispatch in-process");
    let item_id = handle.column("SELECT id FROM items").await;
    let rows = handle.column("SELECT catalog || ' ' || name || ' ' || payload::text FROM outbox ORDER BY seq").await;
    assert_eq!(
        rows,
        [
            format!("recorder row {{\"Row\": {{\"id\": {}}}}}", item_id[0]),
            "recorder happened {\"Happened\": {\"key\": \"k\"}}".to_owned()
        ]
    );

    let mut failing = Changeset::new();
    failing
        .add_db_operation(insert_item("y"))
        .add_db_operation(insert_item("x"))
        .add_event(&recorder, Noted::Happened { key: "lost".into() });
    let err = handle.push(failing, &options).await.expect_err("duplicate");
    assert_eq!(err.operation_index(), Some(1));
    assert_eq!(handle.column("SELECT count(*) FROM outbox").await, ["2"]);
    assert_eq!(handle.column("SELECT count(*) FROM items").await, ["1"]);
}

/// A lazy payload that cannot be computed rolls the push back.
pub async fn failed_lazy_payload_rolls_back<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch(ITEMS).await;
    let recorder = Arc::new(Recorder::default());
    let never: Slot<i64> = Slot::new("never.filled");
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(insert_item("x"))
        .add_event(&recorder, Payload::lazy(move || Ok(Noted::Row { id: never.get()? })));
    let err = handle.push(changeset, &PushOptions::new()).await.expect_err("empty slot");
    assert!(matches!(err, PushError::Payload { ref catalog, .. } if catalog == "recorder"), "{err}");
    assert_eq!(handle.column("SELECT count(*) FROM items").await, ["0"]);
}

/// A deferred constraint fails at COMMIT: reported as a commit error, nothing kept.
pub async fn commit_failure_is_reported<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle.batch("CREATE TABLE d (k int, CONSTRAINT d_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)").await;
    let recorder = Arc::new(Recorder::default());
    let mut changeset = Changeset::new();
    changeset
        .add_db_operations([Statement::new("INSERT INTO d VALUES (1)"), Statement::new("INSERT INTO d VALUES (1)")])
        .add_event(&recorder, Noted::Happened { key: "never".into() });
    let err = handle.push(changeset, &PushOptions::new()).await.expect_err("deferred violation");
    assert!(matches!(err, PushError::Commit { .. }), "{err}");
    assert_eq!(err.sqlstate(), Some("23505"));
    assert_eq!(handle.column("SELECT count(*) FROM d").await, ["0"]);
    assert!(recorder.seen().is_empty());
}

/// Each `Value` kind binds and reads back the same through the backend.
pub async fn values_round_trip<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    let values = vec![
        Value::Bool(true),
        Value::Int(-42),
        Value::Float(1.5),
        Value::Text("héllo".into()),
        Value::Json(json!({"a": [1, 2]})),
        Value::Bytes(vec![0, 1, 255]),
        Value::Null(Kind::Int),
        Value::Null(Kind::Text),
        Value::Null(Kind::Json),
    ];
    let slots: Vec<Slot<Value>> = (0..values.len()).map(|i| Slot::new(format!("v{i}"))).collect();
    let mut changeset = Changeset::new();
    for (i, (value, slot)) in values.iter().zip(&slots).enumerate() {
        // One SQL text per parameter type: sqlx caches a prepared statement by its text,
        // with the parameter types of its first use.
        let sql = format!("SELECT $1 AS v{i}");
        changeset.add_db_operation(Statement::from_string(sql).bind(value.clone()).returning_into(slot));
    }
    // Narrower column types are read into the wide variants.
    let narrow: Slot<i32> = Slot::new("int4");
    let varchar: Slot<String> = Slot::new("varchar");
    let none: Slot<Option<i64>> = Slot::new("null");
    changeset
        .add_db_operation(Statement::new("SELECT 7::int4").returning_into(&narrow))
        .add_db_operation(Statement::new("SELECT 'v'::varchar(3)").returning_into(&varchar))
        .add_db_operation(Statement::new("SELECT NULL::int8").returning_into(&none));
    let _ = handle.push(changeset, &PushOptions::new()).await.expect("push");
    let read: Vec<Value> = slots.iter().map(|s| s.get().expect("filled")).collect();
    assert_eq!(read, values);
    assert_eq!((narrow.get(), varchar.get().as_deref(), none.get()), (Ok(7), Ok("v"), Ok(None)));

    let mut unsupported = Changeset::new();
    let slot: Slot<Value> = Slot::new("point");
    unsupported.add_db_operation(Statement::new("SELECT point(1, 2)").returning_into(&slot));
    let err = handle.push(unsupported, &PushOptions::new()).await.expect_err("point has no Value");
    let source = std::error::Error::source(&err).map(ToString::to_string).unwrap_or_default();
    assert!(source.contains("`point`") || source.contains("`POINT`"), "{source}");
}

#[derive(serde::Serialize)]
struct NewInvoice {
    customer: String,
    amount: String,
    due: String,
    tags: serde_json::Value,
}

/// `InsertRow` writes a serde row (PostgreSQL converts each field to its column type),
/// takes a foreign key from a slot and returns the new id.
pub async fn insert_row_with_slots<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    handle
        .batch(
            "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
             CREATE TABLE invoices (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                                    customer text, amount numeric(10,2), due date, tags jsonb,
                                    status text NOT NULL DEFAULT 'open')",
        )
        .await;
    #[derive(serde::Serialize)]
    struct NewCustomer<'a> {
        name: &'a str,
    }
    let customer_id: Slot<i32> = Slot::new("customer.id");
    let invoice_id: Slot<i64> = Slot::new("invoice.id");
    let invoice =
        NewInvoice { customer: "ada".into(), amount: "12.50".into(), due: "2024-02-29".into(), tags: json!(["a"]) };
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(
            InsertRow::new("customers", &NewCustomer { name: "ada" }).expect("row").returning_into("id", &customer_id),
        )
        .add_db_operation(
            InsertRow::new("public.invoices", &invoice)
                .expect("row")
                .set_from_slot("customer_id", &customer_id)
                .returning_into("id", &invoice_id),
        );
    let _ = handle.push(changeset, &PushOptions::new()).await.expect("push");
    let row = handle
        .column("SELECT concat_ws('|', id, customer_id, customer, amount, due, tags, status) FROM invoices")
        .await;
    assert_eq!(
        row,
        [format!(
            "{}|{}|ada|12.50|2024-02-29|[\"a\"]|open",
            invoice_id.get().expect("id"),
            customer_id.get().expect("id")
        )]
    );
}

/// The isolation option reaches the transaction.
pub async fn isolation_is_applied<T: TestBackend>() {
    let (_db, mut handle) = fresh::<T>().await;
    let level: Slot<String> = Slot::new("level");
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(Statement::new("SELECT current_setting('transaction_isolation')").returning_into(&level));
    let _ = handle.push(changeset, &PushOptions::new().isolation(Isolation::Serializable)).await.expect("push");
    assert_eq!(level.get().as_deref(), Ok("serializable"));
}
