//! Routing against registration and removal of subscribers, with the interleavings that
//! lost entries reproduced deterministically: one side is parked on a lock held by a test
//! connection, the test sees it wait (`pg_stat_activity`), lets the other side run, then
//! releases the lock.

use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig, ROUTER_LOCK};
use db_listenable::runtime::{
    Change, Context, Op, ProcessError, Processor, Runtime, RuntimeBuilder, remove_subscriber,
};
use serde::Deserialize;
use sqlx::{Connection, PgConnection, PgPool};

use crate::{Item, Recorder, count, fast, insert_items, install, items_db, wait_for};

/// A second captured table, so one runtime can route while another table's subscriber joins or leaves.
#[derive(Debug, Clone, PartialEq, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "notes")]
struct Note {
    id: i64,
    body: String,
}

const NOTES_TABLE: &str = "CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL)";

/// Records (change id, op, note id) in the order the changes ran.
#[derive(Clone, Default)]
struct NoteLog(std::sync::Arc<std::sync::Mutex<Vec<(i64, Op, i64)>>>);

impl NoteLog {
    fn all(&self) -> Vec<(i64, Op, i64)> {
        self.0.lock().expect("note log").clone()
    }
}

impl Processor<Note> for NoteLog {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Note>) -> Result<(), ProcessError> {
        let id = change.row().map_or(-1, |note| note.id);
        self.0.lock().expect("note log").push((change.id, change.op, id));
        Ok(())
    }
}

const DEADLINE: Duration = Duration::from_secs(10);

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("test connection")
}

/// A runtime with one processor of `items`, routing for the whole database.
async fn items_runtime(url: &str, name: &str, recorder: Recorder) -> Runtime {
    RuntimeBuilder::new(crate::pool(url, 8).await)
        .config(fast())
        .without_processor("public.notes")
        .processor::<Item, _>(name, recorder)
        .start()
        .await
        .expect("start the items runtime")
}

/// Backends waiting for a lock of one of the kinds `wait_events` (`relation`,
/// `transactionid`, `tuple`, `advisory`...) while running a statement that contains `statement`.
async fn waiting(pool: &PgPool, wait_events: &[&str], statement: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE wait_event_type = 'Lock' AND wait_event = ANY($1) AND strpos(query, $2) > 0 AND pid <> pg_backend_pid()",
    )
    .bind(wait_events)
    .bind(statement)
    .fetch_one(pool)
    .await
    .expect("pg_stat_activity")
}

/// Waits until `task` finished or is seen waiting for the router lock (each version of the
/// code takes one of these paths; the test's outcome must not depend on which).
async fn finished_or_waiting_for_router_lock<T>(pool: &PgPool, task: &tokio::task::JoinHandle<T>, statement: &str) {
    wait_for("the task to finish or wait for the router lock", DEADLINE, || async {
        task.is_finished() || waiting(pool, &["advisory"], statement).await > 0
    })
    .await;
}

/// Holds the router lock on a connection of its own, so no router runs.
async fn hold_router_lock(url: &str) -> PgConnection {
    let mut conn = connect(url).await;
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(ROUTER_LOCK.0)
        .bind(ROUTER_LOCK.1)
        .execute(&mut conn)
        .await
        .expect("router lock");
    conn
}

async fn release_router_lock(mut conn: PgConnection) {
    let released: bool = sqlx::query_scalar("SELECT pg_advisory_unlock($1, $2)")
        .bind(ROUTER_LOCK.0)
        .bind(ROUTER_LOCK.1)
        .fetch_one(&mut conn)
        .await
        .expect("router unlock");
    assert!(released, "the test held the router lock");
}

/// Inserts a note and returns its change id (while no router runs: the test holds the lock).
async fn insert_note(pool: &PgPool, id: i64, body: &str) -> i64 {
    sqlx::query("INSERT INTO notes (id, body) VALUES ($1, $2)").bind(id).bind(body).execute(pool).await.expect("note");
    last_change(pool).await
}

async fn last_change(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT pg_catalog.max(id) FROM db_listenable.changes").fetch_one(pool).await.expect("max id")
}

/// Change ids of a subscriber's deliveries, in order.
async fn deliveries_of(pool: &PgPool, subscriber: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT d.change_id FROM db_listenable.deliveries d JOIN db_listenable.subscribers s ON s.id = d.subscriber_id
         WHERE s.name = $1 ORDER BY d.change_id",
    )
    .bind(subscriber)
    .fetch_all(pool)
    .await
    .expect("deliveries")
}

/// A subscriber registers while a router that started before it is about to take the
/// router lock: the router's snapshot must not predate the lock, or it keeps the table's
/// entries in `unrouted` past the registration (and the subscriber gets the row's later
/// changes first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_sees_a_subscriber_that_registered_before_it_took_the_lock() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    install(&pool, NOTES_TABLE, &Note::MODEL, &CaptureConfig::default()).await;
    // Generic plans from the first execution (a setting some servers run with): a
    // statement then opens the indexes it scans when its execution starts, after its
    // snapshot, which is where the test parks the router below.
    sqlx::raw_sql(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_generic_plan', current_database()); END $$",
    )
    .execute(&pool)
    .await
    .expect("plan_cache_mode");
    let router = items_runtime(db.url(), "items_log", Recorder::default()).await;

    // Entries committed while no router can run: still in the journal.
    let lock = hold_router_lock(db.url()).await;
    let first = insert_note(&pool, 1, "one").await;
    let second = insert_note(&pool, 2, "two").await;
    // Park the next router right after its statement took its snapshot: with a generic
    // plan, the statement opens the journal's primary key index, which it scans, when its
    // execution starts, before anything is evaluated. A no-op SET TABLESPACE
    // locks that index alone (ACCESS EXCLUSIVE); nothing else the test runs meanwhile
    // reads the journal.
    let mut index = connect(db.url()).await;
    sqlx::query("BEGIN").execute(&mut index).await.expect("begin");
    sqlx::query("ALTER INDEX db_listenable.changes_pkey SET TABLESPACE pg_default")
        .execute(&mut index)
        .await
        .expect("lock the index");
    release_router_lock(lock).await;
    wait_for("a router parked on the index", DEADLINE, || async { waiting(&pool, &["relation"], "route").await > 0 })
        .await;

    // A subscriber of `notes` registers as `store::register` does: router lock, then the
    // row. (Its adoption of `unrouted` would find nothing of `notes`, still in the journal;
    // it is left out to keep the test's statements off the journal's tables.)
    let url = db.url().to_owned();
    let table_id = ddl::table_id(&Note::MODEL);
    let register = tokio::spawn(async move {
        let mut conn = connect(&url).await;
        let mut tx = conn.begin().await.expect("begin");
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(ROUTER_LOCK.0)
            .bind(ROUTER_LOCK.1)
            .execute(&mut *tx)
            .await
            .expect("router lock");
        sqlx::query(
            "INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ('notes_log', $1, '{id}')",
        )
        .bind(table_id)
        .execute(&mut *tx)
        .await
        .expect("subscriber");
        tx.commit().await.expect("commit");
    });
    finished_or_waiting_for_router_lock(&pool, &register, "pg_advisory_xact_lock").await;
    sqlx::query("ROLLBACK").execute(&mut index).await.expect("release the index");
    register.await.expect("register");

    // A later change of row 1 goes to the subscriber; the row's insert must not be left behind.
    let third = {
        // Its id read in its own transaction: once committed, a router may move it at once.
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("UPDATE notes SET body = 'one, edited' WHERE id = 1").execute(&mut *tx).await.expect("update");
        let id: i64 =
            sqlx::query_scalar("SELECT max(id) FROM db_listenable.changes").fetch_one(&mut *tx).await.expect("max id");
        tx.commit().await.expect("commit");
        id
    };
    wait_for("the journal drained", DEADLINE, || async { count(&pool, "changes").await == 0 }).await;
    let expected = vec![first, second, third];
    let started = std::time::Instant::now();
    loop {
        let delivered = deliveries_of(&pool, "notes_log").await;
        if delivered == expected {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "every change of notes should reach notes_log: delivered {delivered:?}, expected {expected:?}, {} left in unrouted",
            count(&pool, "unrouted").await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(&pool, "unrouted").await, 0);

    // And they run in the row's order.
    let log = NoteLog::default();
    let notes = RuntimeBuilder::new(crate::pool(db.url(), 8).await)
        .config(fast())
        .without_processor("public.items")
        .processor::<Note, _>("notes_log", log.clone())
        .start()
        .await
        .expect("start the notes runtime");
    wait_for("three notes changes", DEADLINE, || async { log.all().len() == 3 }).await;
    notes.shutdown().await;
    router.shutdown().await;
    assert_eq!(log.all(), vec![(first, Op::Insert, 1), (second, Op::Insert, 2), (third, Op::Update, 1)]);
}

/// Entries left in `unrouted` for a table that has a subscriber (by an older version's
/// race, or a subscriber inserted by hand) are adopted by the router, oldest first,
/// before newer entries of the table run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_adopts_entries_kept_for_a_table_that_has_a_subscriber_now() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    install(&pool, NOTES_TABLE, &Note::MODEL, &CaptureConfig::default()).await;
    let lock = hold_router_lock(db.url()).await;
    let first = insert_note(&pool, 1, "one").await;
    // Kept, as a router does for a table without subscribers.
    sqlx::query(
        "WITH kept AS (DELETE FROM db_listenable.changes RETURNING *)
         INSERT INTO db_listenable.unrouted (id, table_id, op, txid, captured_at, old_row, new_row)
         SELECT id, table_id, op, txid, captured_at, old_row, new_row FROM kept",
    )
    .execute(&pool)
    .await
    .expect("keep");
    sqlx::query("INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ('notes_log', $1, '{id}')")
        .bind(ddl::table_id(&Note::MODEL))
        .execute(&pool)
        .await
        .expect("subscriber");
    sqlx::query("UPDATE notes SET body = 'one, edited' WHERE id = 1").execute(&pool).await.expect("update");
    let second = last_change(&pool).await;
    release_router_lock(lock).await;
    let router = items_runtime(db.url(), "items_log", Recorder::default()).await;
    wait_for("the journal drained", DEADLINE, || async { count(&pool, "changes").await == 0 }).await;
    wait_for("the kept entry adopted", DEADLINE, || async { count(&pool, "unrouted").await == 0 }).await;
    router.shutdown().await;
    assert_eq!(deliveries_of(&pool, "notes_log").await, vec![first, second]);
}

/// A subscriber is removed while a router that already saw it is moving entries: the
/// router must not create deliveries for it afterwards (orphans no one claims or counts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_subscriber_leaves_no_deliveries_for_it() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    // `gone` is registered, then its process stops for good.
    let gone = items_runtime(db.url(), "gone", Recorder::default()).await;
    gone.shutdown().await;
    let kept = Recorder::default();
    let router = items_runtime(db.url(), "kept", kept.clone()).await;

    let lock = hold_router_lock(db.url()).await;
    insert_items(&pool, [1]).await;
    // The router will have to wait for this row lock while moving the entries.
    let mut rows = connect(db.url()).await;
    sqlx::query("BEGIN").execute(&mut rows).await.expect("begin");
    sqlx::query("SELECT id FROM db_listenable.changes FOR UPDATE").execute(&mut rows).await.expect("row lock");
    release_router_lock(lock).await;
    wait_for("a router parked on the row lock", DEADLINE, || async {
        waiting(&pool, &["transactionid", "tuple"], "route").await > 0
    })
    .await;

    let remover = tokio::spawn({
        let pool = pool.clone();
        async move { remove_subscriber(&pool, "gone").await }
    });
    finished_or_waiting_for_router_lock(&pool, &remover, "pg_advisory_xact_lock").await;
    sqlx::query("ROLLBACK").execute(&mut rows).await.expect("release the row");
    assert!(remover.await.expect("remover").expect("remove"), "`gone` existed");
    wait_for("the journal drained", DEADLINE, || async { count(&pool, "changes").await == 0 }).await;
    wait_for("`kept` processed the change", DEADLINE, || async { kept.len() == 1 }).await;
    router.shutdown().await;
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM db_listenable.deliveries d
         WHERE NOT EXISTS (SELECT 1 FROM db_listenable.subscribers s WHERE s.id = d.subscriber_id)",
    )
    .fetch_one(&pool)
    .await
    .expect("orphans");
    assert_eq!(orphans, 0, "deliveries of a removed subscriber");
}

/// The last subscriber of a table is removed with deliveries pending: they go back to
/// `unrouted`, and the next subscriber of the table gets them, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_last_subscriber_of_a_table_keeps_its_pending_entries() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    install(&pool, NOTES_TABLE, &Note::MODEL, &CaptureConfig::default()).await;
    let gone = items_runtime(db.url(), "gone", Recorder::default()).await;
    gone.shutdown().await;
    // A runtime of `notes` routes the items' entries to `gone`, which nobody serves now.
    let notes = RuntimeBuilder::new(crate::pool(db.url(), 8).await)
        .config(fast())
        .without_processor("public.items")
        .processor::<Note, _>("notes_log", NoteLog::default())
        .start()
        .await
        .expect("start the notes runtime");
    insert_items(&pool, [1, 2]).await;
    sqlx::query("UPDATE items SET qty = 1 WHERE id = 1").execute(&pool).await.expect("update");
    wait_for("three deliveries for `gone`", DEADLINE, || async { deliveries_of(&pool, "gone").await.len() == 3 }).await;
    let pending = deliveries_of(&pool, "gone").await;

    assert!(remove_subscriber(&pool, "gone").await.expect("remove"), "`gone` existed");
    let kept: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM db_listenable.unrouted ORDER BY id").fetch_all(&pool).await.expect("kept");
    assert_eq!(kept, pending, "the pending entries are kept for the next subscriber");
    notes.shutdown().await;

    let next = Recorder::default();
    let runtime = items_runtime(db.url(), "next", next.clone()).await;
    wait_for("three changes for `next`", DEADLINE, || async { next.len() == 3 }).await;
    runtime.shutdown().await;
    let seen: Vec<(i64, Op)> = next.all().iter().map(|s| (s.change, s.op)).collect();
    assert_eq!(seen, vec![(pending[0], Op::Insert), (pending[1], Op::Insert), (pending[2], Op::Update)]);
}
