//! Privileges: capture needs nothing from the writing role, the runtime runs with the
//! documented grants only, and no role but the journal's owner can write journal entries.

use std::sync::Arc;
use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::{self, Access, CaptureConfig};
use db_listenable::runtime::{JournalOutbox, RuntimeBuilder};
use pg_changeset::PushOptions;
use sqlx::PgPool;

use crate::outbox::{Billing, Jobs, charge};
use crate::{ITEMS_TABLE, Item, Recorder, count, fast, install, pending, pool, wait_for};

/// A login role created for one test (roles are cluster-wide: the name is unique), and
/// a pool connected as it.
struct AppRole {
    name: String,
    pool: PgPool,
}

impl AppRole {
    async fn create(admin: &PgPool, url: &str) -> AppRole {
        let name = format!("app_{:016x}", rand_suffix());
        let password = format!("pw_{:016x}", rand_suffix());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'")))
            .execute(admin)
            .await
            .expect("create role");
        let mut url = url::Url::parse(url).expect("database url");
        url.set_username(&name).expect("user in url");
        url.set_password(Some(&password)).expect("password in url");
        let pool = pool(url.as_str(), 8).await;
        AppRole { name, pool }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// The SQLSTATE of a failed statement.
fn sqlstate(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> String {
    match result {
        Ok(_) => "none: the statement succeeded".to_owned(),
        Err(error) => error
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned())
            .unwrap_or_else(|| error.to_string()),
    }
}

async fn exec(pool: &PgPool, sql: &str) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(pool).await
}

/// Journal entries (pending or routed anywhere) of `items`.
async fn items_entries(admin: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM db_listenable.changes WHERE table_id = $1)
              + (SELECT count(*) FROM db_listenable.unrouted WHERE table_id = $1)
              + (SELECT count(*) FROM db_listenable.deliveries WHERE table_id = $1)",
    )
    .bind(ddl::table_id(&Item::MODEL))
    .fetch_one(admin)
    .await
    .expect("count entries")
}

#[tokio::test]
async fn a_role_with_access_to_the_schema_cannot_forge_journal_entries() {
    let db = pg_harness::TestDb::create().await.expect("db");
    let admin = pool(db.url(), 2).await;
    install(&admin, ITEMS_TABLE, &Item::MODEL, &CaptureConfig::default()).await;
    let app = AppRole::create(&admin, db.url()).await;
    // A role that can see the journal's schema (as the runtime's role must) and owns a table.
    exec(
        &admin,
        &format!("GRANT USAGE ON SCHEMA db_listenable TO {0}; GRANT CREATE ON SCHEMA public TO {0}", app.name),
    )
    .await
    .expect("grant");
    exec(&app.pool, "CREATE TABLE mine (id bigint PRIMARY KEY)").await.expect("own table");

    // TRUNCATE of its own table, journalled as a TRUNCATE of `items`.
    let forged_truncate = format!(
        "CREATE TRIGGER forged_truncate BEFORE TRUNCATE ON mine FOR EACH STATEMENT \
         EXECUTE FUNCTION db_listenable.on_truncate('capture', '{}', 'public', 'items')",
        ddl::table_id(&Item::MODEL)
    );
    assert_eq!(sqlstate(exec(&app.pool, &forged_truncate).await), "42501", "attaching on_truncate must be refused");
    let _ = exec(&app.pool, "TRUNCATE mine").await;

    // Its own rows, journalled as rows of `items` by items' capture function.
    let forged_capture = format!(
        "CREATE TRIGGER forged_insert AFTER INSERT ON mine REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT \
         EXECUTE FUNCTION db_listenable.{}()",
        ddl::quote_ident(&ddl::capture_function_name(&Item::MODEL))
    );
    assert_eq!(
        sqlstate(exec(&app.pool, &forged_capture).await),
        "42501",
        "attaching a capture function must be refused"
    );
    let _ = exec(&app.pool, "INSERT INTO mine VALUES (1), (2)").await;

    // Written directly.
    assert_eq!(
        sqlstate(exec(&app.pool, "INSERT INTO db_listenable.changes (table_id, op) VALUES (1, 'T')").await),
        "42501"
    );
    assert_eq!(items_entries(&admin).await, 0, "no entry of items may exist: none was written to items");
}

#[tokio::test]
async fn a_capture_function_refuses_to_run_for_another_table() {
    // Even the owner (who may attach any function) cannot make one table's capture
    // journal another table's rows: the function checks the table that fired it.
    let db = pg_harness::TestDb::create().await.expect("db");
    let admin = pool(db.url(), 2).await;
    install(&admin, ITEMS_TABLE, &Item::MODEL, &CaptureConfig::default()).await;
    exec(&admin, "CREATE TABLE mine (id bigint PRIMARY KEY, name text, qty int NOT NULL DEFAULT 0)")
        .await
        .expect("table");
    let function = ddl::quote_ident(&ddl::capture_function_name(&Item::MODEL));
    exec(
        &admin,
        &format!(
            "CREATE TRIGGER misplaced AFTER INSERT ON mine REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT \
             EXECUTE FUNCTION db_listenable.{function}()"
        ),
    )
    .await
    .expect("the owner may attach it");
    let error = exec(&admin, "INSERT INTO mine (id) VALUES (1)").await.expect_err("misplaced capture must fail");
    assert!(error.to_string().contains("public.mine"), "the error names the table: {error}");
    exec(&admin, "CREATE TRIGGER misplaced_truncate BEFORE TRUNCATE ON mine FOR EACH STATEMENT EXECUTE FUNCTION db_listenable.on_truncate('capture', '1', 'public', 'items')")
        .await
        .expect("the owner may attach it");
    let error = exec(&admin, "TRUNCATE mine").await.expect_err("misplaced truncate capture must fail");
    assert!(error.to_string().contains("public.mine"), "the error names the table: {error}");
    assert_eq!(items_entries(&admin).await, 0);
}

#[tokio::test]
async fn an_application_role_that_owns_nothing_in_the_journal_is_captured_and_runs_the_runtime() {
    let db = pg_harness::TestDb::create().await.expect("db");
    let admin = pool(db.url(), 2).await;
    install(&admin, ITEMS_TABLE, &Item::MODEL, &CaptureConfig::default()).await;
    exec(&admin, "CREATE TABLE charges (id bigint PRIMARY KEY)").await.expect("charges");
    let app = AppRole::create(&admin, db.url()).await;
    // The application's own tables are the application's; the journal is not.
    exec(&admin, &format!("ALTER TABLE items OWNER TO {0}; ALTER TABLE charges OWNER TO {0}", app.name))
        .await
        .expect("owner");
    for statement in ddl::grants_script(&app.name, Access::Runtime).statements() {
        exec(&admin, statement).await.expect("documented grants");
    }

    // Writes of every kind are captured without any privilege on the journal.
    exec(&app.pool, "INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 20) g")
        .await
        .expect("insert");
    exec(&app.pool, "UPDATE items SET qty = qty + 1 WHERE id <= 10").await.expect("update");
    exec(&app.pool, "UPDATE items SET id = id + 100 WHERE id = 20").await.expect("key move");
    exec(&app.pool, "DELETE FROM items WHERE id > 15").await.expect("delete");
    let jobs = Arc::new(Jobs::default());
    let pushed = charge::<pg_changeset::Sqlx>(&jobs, 7)
        .push_with(&app.pool, &PushOptions::new().outbox(JournalOutbox))
        .await
        .expect("push through the outbox as the application role");
    assert!(pushed.written_to_outbox());

    // The runtime runs as the application role, with those grants only.
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(app.pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", recorder.clone())
        .outbox_catalog(Arc::clone(&jobs))
        .start()
        .await
        .expect("start as the application role");
    // 20 inserts, 10 updates, 1 key move (the DELETE of 20, the INSERT of 120), 5 deletes
    // (16..=19 and the moved 120).
    wait_for("every change processed", Duration::from_secs(20), || async {
        recorder.len() == 37 && pending(&admin).await == 0
    })
    .await;
    wait_for("the outbox event dispatched", Duration::from_secs(20), || async {
        jobs.dispatched.lock().expect("jobs").len() == 1
    })
    .await;
    assert_eq!(jobs.dispatched.lock().expect("jobs")[0], Billing::CustomerCharged { id: 7 });
    let stats = runtime.stats().await.expect("stats as the application role");
    assert_eq!(stats.subscribers.iter().map(|s| s.pending).sum::<i64>(), 0);
    runtime.shutdown().await;

    // The journal itself stays read-only to it: no entry can be forged or altered.
    assert_eq!(
        sqlstate(exec(&app.pool, "INSERT INTO db_listenable.changes (table_id, op) VALUES (1, 'T')").await),
        "42501"
    );
    assert_eq!(sqlstate(exec(&app.pool, "UPDATE db_listenable.changes SET op = 'D'").await), "42501");
    assert_eq!(
        sqlstate(
            exec(&app.pool, "CREATE TRIGGER t BEFORE TRUNCATE ON charges EXECUTE FUNCTION db_listenable.on_truncate()")
                .await
        ),
        "42501"
    );
    // Outbox events cannot pose as a table's changes.
    let forged = serde_json::json!([{ "topic": ddl::table_id(&Item::MODEL), "event": {} }]);
    let error = sqlx::query("SELECT db_listenable.enqueue_events($1)")
        .bind(forged)
        .execute(&app.pool)
        .await
        .expect_err("an event under a table's id must be refused");
    assert!(error.to_string().contains("public.items"), "{error}");
}

#[tokio::test]
async fn a_role_without_the_grants_is_refused_with_the_sqlstate() {
    let db = pg_harness::TestDb::create().await.expect("db");
    let admin = pool(db.url(), 2).await;
    install(&admin, ITEMS_TABLE, &Item::MODEL, &CaptureConfig::default()).await;
    let app = AppRole::create(&admin, db.url()).await;
    let refused = RuntimeBuilder::new(app.pool.clone())
        .config(fast())
        .processor::<Item, _>("recorder", Recorder::default())
        .start()
        .await
        .expect_err("no grants, no runtime");
    assert_eq!(refused.sqlstate(), Some("42501"), "insufficient_privilege: {refused}");
}

/// Fails an item's insert for good while set: for a dead letter.
#[derive(Clone, Default)]
struct Refusing {
    recorder: Recorder,
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl db_listenable::runtime::Processor<Item> for Refusing {
    async fn process(
        &self,
        ctx: &db_listenable::runtime::Context<'_>,
        change: &db_listenable::runtime::Change<Item>,
    ) -> Result<(), db_listenable::runtime::ProcessError> {
        if self.refuse.load(std::sync::atomic::Ordering::SeqCst) && change.old.is_none() {
            return Err(db_listenable::runtime::Permanent::because("refused").into());
        }
        self.recorder.process(ctx, change).await
    }
}

#[tokio::test]
async fn the_table_owner_installs_with_the_generated_migration_and_the_application_role_needs_only_the_generated_grants()
 {
    let db = pg_harness::TestDb::create().await.expect("db");
    let admin = pool(db.url(), 2).await;
    // The owner: not a superuser; owns the database (so it may create the journal's
    // schema, and tables in `public`), the business tables, and runs the migrations.
    let owner = AppRole::create(&admin, db.url()).await;
    exec(&admin, &format!("ALTER DATABASE {} OWNER TO {}", db.name(), owner.name)).await.expect("database owner");
    let dir = tempfile::tempdir().expect("migrations dir");
    std::fs::write(dir.path().join("20200101000000_items.sql"), ITEMS_TABLE).expect("the application's migration");
    db_listenable::migrations::write_migration(dir.path(), &[Item::MODEL], &CaptureConfig::default())
        .expect("generate the capture migration")
        .expect("a new migration");
    sqlx::migrate::Migrator::new(dir.path())
        .await
        .expect("read migrations")
        .run(&owner.pool)
        .await
        .expect("the owner applies the migrations");

    // The application role: LOGIN, no superuser, owns nothing; its table privileges and
    // the generated grants, nothing else.
    let app = AppRole::create(&admin, db.url()).await;
    exec(&owner.pool, &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {}", app.name))
        .await
        .expect("table privileges");
    exec(&owner.pool, &ddl::grants_script(&app.name, Access::Runtime).to_string()).await.expect("generated grants");
    let (superuser, creates, owns): (bool, bool, i64) = sqlx::query_as(
        "SELECT r.rolsuper, has_database_privilege(r.rolname, current_database(), 'CREATE'),
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
                  + (SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid)
         FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(&app.name)
    .fetch_one(&admin)
    .await
    .expect("the role's powers");
    assert_eq!((superuser, creates, owns), (false, false, 0), "the application role must be an ordinary one");

    // Its writes are captured; the runtime runs as it, with the drift check.
    exec(&app.pool, "INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 10) g")
        .await
        .expect("insert as the application role");
    let processor = Refusing::default();
    processor.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let jobs = Arc::new(Jobs::default());
    let runtime = RuntimeBuilder::new(app.pool.clone())
        .config(fast())
        .processor::<Item, _>("refusing", processor.clone())
        .outbox_catalog(Arc::clone(&jobs))
        .start()
        .await
        .expect("start as the application role");
    wait_for("every insert dead-lettered", Duration::from_secs(20), || async {
        count(&admin, "dead_letters").await == 10
    })
    .await;
    exec(&app.pool, "UPDATE items SET qty = qty + 1").await.expect("update as the application role");
    wait_for("the updates processed", Duration::from_secs(20), || async { processor.recorder.len() == 10 }).await;

    // Dead letters listed and requeued as it, through the CLI's and the dashboard's calls.
    let letters = db_listenable::runtime::dead_letters::list(&app.pool, Some("refusing"), 100)
        .await
        .expect("list dead letters as the application role");
    assert_eq!(letters.len(), 10);
    processor.refuse.store(false, std::sync::atomic::Ordering::SeqCst);
    let preview = db_listenable::runtime::dead_letters::preview(&app.pool, "refusing", None)
        .await
        .expect("preview a requeue as the application role");
    assert_eq!(preview.letters, 10);
    let requeued = db_listenable::runtime::dead_letters::requeue(&app.pool, "refusing", None)
        .await
        .expect("requeue as the application role");
    assert_eq!(requeued, 10);
    wait_for("the requeued inserts processed", Duration::from_secs(20), || async {
        processor.recorder.len() == 20 && count(&admin, "dead_letters").await == 0
    })
    .await;

    // An outbox changeset pushed as it.
    exec(&owner.pool, "CREATE TABLE charges (id bigint PRIMARY KEY)").await.expect("charges");
    exec(&owner.pool, &format!("GRANT INSERT ON charges TO {}", app.name)).await.expect("charges privilege");
    let pushed = charge::<pg_changeset::Sqlx>(&jobs, 3)
        .push_with(&app.pool, &PushOptions::new().outbox(JournalOutbox))
        .await
        .expect("push through the outbox as the application role");
    assert!(pushed.written_to_outbox());
    wait_for("the outbox event dispatched", Duration::from_secs(20), || async {
        jobs.dispatched.lock().expect("jobs").len() == 1
    })
    .await;
    let stats = runtime.stats().await.expect("stats as the application role");
    assert_eq!(stats.subscribers.iter().map(|s| s.dead).sum::<i64>(), 0);
    runtime.shutdown().await;
}
