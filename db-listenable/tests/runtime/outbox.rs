//! The durable outbox: changeset events journalled in the push transaction, dispatched by
//! the runtime after the commit, surviving a crash in between.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::ddl;
use db_listenable::runtime::{JournalOutbox, RuntimeBuilder, dead_letters};
use pg_changeset::{BoxError, BoxFuture, Catalog, Changeset, Event, FnCatalog, PushOptions, Statement};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{count, fast, pool, wait_for};

/// The event the outbox tests push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Billing {
    /// A charge was recorded.
    CustomerCharged { id: i64 },
}

impl Event for Billing {
    fn name(&self) -> &'static str {
        "customer_charged"
    }
}

/// Records what it dispatches; fails the first `fail_first` dispatches.
#[derive(Default)]
pub(crate) struct Jobs {
    /// Every event dispatched so far.
    pub(crate) dispatched: Mutex<Vec<Billing>>,
    fail_first: AtomicU32,
}

impl Catalog for Jobs {
    const NAME: &'static str = "billing";
    type Event = Billing;

    fn dispatch<'a>(&'a self, event: &'a Billing) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            if self.fail_first.load(Ordering::SeqCst) > 0 {
                self.fail_first.fetch_sub(1, Ordering::SeqCst);
                return Err("job queue down".into());
            }
            self.dispatched.lock().expect("dispatched").push(event.clone());
            Ok(())
        })
    }
}

/// A database with the journal and a `charges` table (not captured).
async fn outbox_db() -> (pg_harness::TestDb, PgPool) {
    let db = pg_harness::TestDb::create().await.expect("db");
    let pool = pool(db.url(), 4).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl::journal_script().to_string())).execute(&pool).await.expect("journal");
    sqlx::query("CREATE TABLE charges (id bigint PRIMARY KEY)").execute(&pool).await.expect("charges");
    (db, pool)
}

pub(crate) fn charge<B: pg_changeset::Backend>(jobs: &Arc<Jobs>, id: i64) -> Changeset<B> {
    let mut changeset = Changeset::new();
    changeset
        .add_db_operation(Statement::new("INSERT INTO charges (id) VALUES ($1)").bind(id))
        .add_event(jobs, Billing::CustomerCharged { id })
        .add_event(jobs, Billing::CustomerCharged { id });
    changeset
}

#[tokio::test]
async fn outbox_events_commit_with_the_data_and_are_dispatched_by_the_runtime() {
    let (db, pool) = outbox_db().await;
    let jobs = Arc::new(Jobs::default());
    let outcome = charge(&jobs, 1).push_with(&pool, &PushOptions::new().outbox(JournalOutbox)).await.expect("push");
    assert!(outcome.written_to_outbox());
    assert_eq!(outcome.dispatched(), 0, "nothing is dispatched in process");
    // tokio-postgres pushes through the same outbox.
    let (mut client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let outcome = charge(&jobs, 2)
        .push_with(&mut client, &PushOptions::new().outbox(JournalOutbox))
        .await
        .expect("push tokio-postgres");
    assert!(outcome.written_to_outbox());
    // A push that fails writes no event: the duplicate key rolls the whole push back.
    let failed =
        charge::<pg_changeset::Sqlx>(&jobs, 1).push_with(&pool, &PushOptions::new().outbox(JournalOutbox)).await;
    assert!(failed.is_err());
    assert_eq!(count(&pool, "changes").await, 2, "one event per push, deduplicated");
    assert!(jobs.dispatched.lock().expect("dispatched").is_empty());

    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .outbox_catalog(Arc::clone(&jobs))
        .start()
        .await
        .expect("start");
    wait_for("both events", Duration::from_secs(10), || async { jobs.dispatched.lock().expect("d").len() == 2 }).await;
    runtime.shutdown().await;
    assert_eq!(
        *jobs.dispatched.lock().expect("dispatched"),
        [Billing::CustomerCharged { id: 1 }, Billing::CustomerCharged { id: 2 }]
    );
}

#[tokio::test]
async fn a_failing_event_handler_is_retried_then_dead_lettered_under_its_catalog() {
    let (_db, pool) = outbox_db().await;
    let jobs = Arc::new(Jobs { fail_first: AtomicU32::new(100), ..Jobs::default() });
    let config = fast().max_attempts(2);
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config)
        .outbox_catalog(Arc::clone(&jobs))
        .start()
        .await
        .expect("start");
    assert!(
        charge(&jobs, 7)
            .push_with(&pool, &PushOptions::new().outbox(JournalOutbox))
            .await
            .expect("push")
            .written_to_outbox()
    );
    wait_for("the dead letter", Duration::from_secs(10), || async { count(&pool, "dead_letters").await == 1 }).await;
    runtime.shutdown().await;
    let dead = dead_letters::list(&pool, Some("outbox:billing"), 10).await.expect("list");
    assert_eq!(
        (dead[0].table.as_str(), dead[0].op.as_str(), dead[0].last_error.as_str(), dead[0].attempts),
        ("outbox:billing", "EVENT", "job queue down", 2)
    );
    assert_eq!(
        dead[0].new_row,
        Some(
            serde_json::json!({"catalog": "billing", "name": "customer_charged", "payload": {"CustomerCharged": {"id": 7}}})
        )
    );
}

#[tokio::test]
async fn named_catalogs_are_dispatched_too() {
    let (_db, pool) = outbox_db().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let planning = {
        let seen = Arc::clone(&seen);
        Arc::new(FnCatalog::new("planning").on("week_updated", move |event| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().expect("seen").push(event.payload().clone());
                Ok(())
            }
        }))
    };
    let mut changeset: Changeset<pg_changeset::Sqlx> = Changeset::new();
    changeset.add_named_event(&planning, "week_updated", serde_json::json!({"week": 48})).expect("known event");
    assert!(
        changeset.push_with(&pool, &PushOptions::new().outbox(JournalOutbox)).await.expect("push").written_to_outbox()
    );
    let runtime =
        RuntimeBuilder::new(pool.clone()).config(fast()).named_outbox_catalog(planning).start().await.expect("start");
    wait_for("the event", Duration::from_secs(10), || async { seen.lock().expect("seen").len() == 1 }).await;
    runtime.shutdown().await;
    assert_eq!(*seen.lock().expect("seen"), [serde_json::json!({"week": 48})]);
}

/// Set in the child process of the abort test: the database to push to.
const CHILD_URL: &str = "DB_LISTENABLE_OUTBOX_CHILD_URL";

/// Child half of the test below: pushes with the outbox, then aborts at once, as a
/// process killed between the commit and any dispatch. Does nothing outside that test.
#[tokio::test]
#[ignore = "run by outbox_events_survive_a_process_abort_between_commit_and_dispatch"]
async fn child_pushes_then_aborts() {
    let Ok(url) = std::env::var(CHILD_URL) else { return };
    let pool = pool(&url, 1).await;
    let jobs = Arc::new(Jobs::default());
    assert!(
        charge(&jobs, 42)
            .push_with(&pool, &PushOptions::new().outbox(JournalOutbox))
            .await
            .expect("push")
            .written_to_outbox()
    );
    std::process::abort();
}

#[tokio::test]
async fn outbox_events_survive_a_process_abort_between_commit_and_dispatch() {
    let (db, pool) = outbox_db().await;
    let exe = std::env::current_exe().expect("this test binary");
    let status = Command::new(exe)
        .args(["--exact", "outbox::child_pushes_then_aborts", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, db.url())
        .stdout(Stdio::null())
        .status()
        .expect("run child");
    assert!(!status.success(), "the child aborted: {status:?}");
    let charged: i64 = sqlx::query_scalar("SELECT count(*) FROM charges").fetch_one(&pool).await.expect("charges");
    assert_eq!(charged, 1, "the child's push committed");

    let jobs = Arc::new(Jobs::default());
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .outbox_catalog(Arc::clone(&jobs))
        .start()
        .await
        .expect("start");
    wait_for("the event of the dead process", Duration::from_secs(10), || async {
        jobs.dispatched.lock().expect("d").len() == 1
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(*jobs.dispatched.lock().expect("dispatched"), [Billing::CustomerCharged { id: 42 }]);
}
