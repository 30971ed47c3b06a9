//! The journal against registration and removal of subscribers: a table's first
//! subscriber gets what was committed before it, kept entries are adopted in order, a
//! removed subscriber leaves nothing behind, and emptied partitions keep what nobody
//! consumed.

use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig, ROUTER_LOCK};
use db_listenable::runtime::{
    Change, Context, Op, ProcessError, Processor, Runtime, RuntimeBuilder, remove_subscriber,
};
use serde::Deserialize;
use sqlx::{Connection, PgConnection, PgPool};

use crate::{Item, Recorder, count, fast, insert_items, install, items_db, pending_of, wait_for};

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

/// Inserts a note and returns its change id.
async fn insert_note(pool: &PgPool, id: i64, body: &str) -> i64 {
    sqlx::query("INSERT INTO notes (id, body) VALUES ($1, $2)").bind(id).bind(body).execute(pool).await.expect("note");
    last_change(pool).await
}

async fn last_change(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT pg_catalog.max(id) FROM db_listenable.changes").fetch_one(pool).await.expect("max id")
}

/// Change ids of a subscriber's deliveries (outside its cursor), in order.
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

/// A table's first subscriber registers after changes of it were committed (and while a
/// router of another table runs): it gets every one of them, then the later ones, in
/// the row's order. (Before the journal was read behind cursors, a router's snapshot
/// taken before the registration kept such entries in `unrouted` past it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tables_first_subscriber_gets_what_was_committed_before_it_registered() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    install(&pool, NOTES_TABLE, &Note::MODEL, &CaptureConfig::default()).await;
    // Generic plans from the first execution (a setting some servers run with).
    sqlx::raw_sql(
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_generic_plan', current_database()); END $$",
    )
    .execute(&pool)
    .await
    .expect("plan_cache_mode");
    let router = items_runtime(db.url(), "items_log", Recorder::default()).await;
    let first = insert_note(&pool, 1, "one").await;
    let second = insert_note(&pool, 2, "two").await;
    // A subscriber of `notes` registered by hand, as `store::register` does: router lock,
    // then the row; its runtime starts later.
    let mut conn = connect(db.url()).await;
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(ROUTER_LOCK.0)
        .bind(ROUTER_LOCK.1)
        .execute(&mut *tx)
        .await
        .expect("router lock");
    sqlx::query("INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ('notes_log', $1, '{id}')")
        .bind(ddl::table_id(&Note::MODEL))
        .execute(&mut *tx)
        .await
        .expect("subscriber");
    tx.commit().await.expect("commit");
    sqlx::query("UPDATE notes SET body = 'one, edited' WHERE id = 1").execute(&pool).await.expect("update");
    let third = last_change(&pool).await;

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
    assert_eq!(count(&pool, "unrouted").await, 0);
}

/// Entries left in `unrouted` for a table that has a subscriber (by an older version, or
/// a subscriber inserted by hand) are adopted by the router, oldest first, before newer
/// entries of the table run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_adopts_entries_kept_for_a_table_that_has_a_subscriber_now() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    install(&pool, NOTES_TABLE, &Note::MODEL, &CaptureConfig::default()).await;
    let lock = hold_router_lock(db.url()).await;
    let first = insert_note(&pool, 1, "one").await;
    // Kept, as emptying a partition does for a table without subscribers.
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
    wait_for("the kept entry adopted", DEADLINE, || async { count(&pool, "unrouted").await == 0 }).await;
    router.shutdown().await;
    assert_eq!(deliveries_of(&pool, "notes_log").await, vec![first]);
    let log = NoteLog::default();
    let notes = RuntimeBuilder::new(crate::pool(db.url(), 8).await)
        .config(fast())
        .without_processor("public.items")
        .processor::<Note, _>("notes_log", log.clone())
        .start()
        .await
        .expect("start the notes runtime");
    wait_for("two notes changes", DEADLINE, || async { log.all().len() == 2 }).await;
    notes.shutdown().await;
    assert_eq!(log.all(), vec![(first, Op::Insert, 1), (second, Op::Update, 1)]);
}

/// A subscriber is removed while another runtime works: nothing is left for it
/// (deliveries, cursor, markers no one claims or counts), and the other goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_subscriber_leaves_no_deliveries_for_it() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    // `gone` is registered, then its process stops for good.
    let gone = items_runtime(db.url(), "gone", Recorder::default()).await;
    gone.shutdown().await;
    let kept = Recorder::default();
    let router = items_runtime(db.url(), "kept", kept.clone()).await;
    insert_items(&pool, [1]).await;
    assert!(remove_subscriber(&pool, "gone").await.expect("remove"), "`gone` existed");
    insert_items(&pool, [2]).await;
    wait_for("`kept` processed the changes", DEADLINE, || async { kept.len() == 2 }).await;
    router.shutdown().await;
    let orphans: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM db_listenable.deliveries d
                 WHERE NOT EXISTS (SELECT 1 FROM db_listenable.subscribers s WHERE s.id = d.subscriber_id))
              + (SELECT count(*) FROM db_listenable.cursors c
                 WHERE NOT EXISTS (SELECT 1 FROM db_listenable.subscribers s WHERE s.id = c.subscriber_id))",
    )
    .fetch_one(&pool)
    .await
    .expect("orphans");
    assert_eq!(orphans, 0, "deliveries or a cursor of a removed subscriber");
}

/// Once every subscriber is past a whole journal partition, it is emptied (storage comes
/// back without VACUUM), and the entries of a table nobody consumes are kept in
/// `unrouted` for its first subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_journal_is_emptied_and_entries_nobody_consumes_are_kept() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    install(&pool, NOTES_TABLE, &Note::MODEL, &CaptureConfig::default()).await;
    let note = insert_note(&pool, 1, "nobody reads me yet").await;
    let rows = ddl::JUMP_AFTER + 10;
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'x' FROM generate_series(1, $1) g")
        .bind(rows)
        .execute(&pool)
        .await
        .expect("items");
    let recorder = Recorder::default();
    let router = items_runtime(db.url(), "items_log", recorder.clone()).await;
    wait_for("every item processed", Duration::from_secs(60), || async {
        recorder.len() == usize::try_from(rows).expect("rows")
    })
    .await;
    wait_for("the journal emptied", Duration::from_secs(30), || async { count(&pool, "changes").await == 0 }).await;
    router.shutdown().await;
    let kept: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM db_listenable.unrouted ORDER BY id").fetch_all(&pool).await.expect("kept");
    assert_eq!(kept, vec![note], "the note, kept for the first subscriber of notes");
    let log = NoteLog::default();
    let notes = RuntimeBuilder::new(crate::pool(db.url(), 8).await)
        .config(fast())
        .without_processor("public.items")
        .processor::<Note, _>("notes_log", log.clone())
        .start()
        .await
        .expect("start the notes runtime");
    wait_for("the kept note", DEADLINE, || async { log.all().len() == 1 }).await;
    notes.shutdown().await;
    assert_eq!(log.all(), vec![(note, Op::Insert, 1)]);
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
    wait_for("three changes pending for `gone`", DEADLINE, || async { pending_of(&pool, "gone").await.len() == 3 })
        .await;
    let pending = pending_of(&pool, "gone").await;

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
