//! The journal schema's version: a version 1 journal is refused, then upgraded in place
//! by the generated migration without losing a change; a newer layout runs this code
//! only when it says so.

use std::collections::BTreeSet;
use std::time::Duration;

use db_listenable::ddl::{self, CaptureConfig, SCHEMA_VERSION};
use db_listenable::runtime::RuntimeBuilder;
use db_listenable::{DbListenable, Error, migrations};
use sqlx::PgPool;

use crate::{ITEMS_TABLE, Item, Recorder, fast, insert_items, items_db, pool, subscriber_at_start, wait_for};

/// The journal as version 1 of the library installed it (frozen, never regenerated).
const JOURNAL_V1: &str = include_str!("../snapshots/journal_v1.sql");

/// Every column, constraint, index, function and privilege of schema `db_listenable`,
/// one sorted line each: two databases with equal lines have the same layout.
const CATALOG_SQL: &str = "
SELECT coalesce(array_agg(line ORDER BY line), '{}') FROM (
    SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl::text, '') AS line
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'db_listenable'
    UNION ALL
    SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           || coalesce(' identity ' || nullif(a.attidentity::text, ''), '')
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'db_listenable' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid)
    FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'db_listenable'
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'db_listenable'
    UNION ALL
    SELECT 'function ' || pg_get_functiondef(p.oid) || ' ' || coalesce(p.proacl::text, '')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'db_listenable'
) lines";

async fn catalog(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(CATALOG_SQL).fetch_one(pool).await.expect("catalog")
}

async fn recorded_version(pool: &PgPool) -> i32 {
    sqlx::query_scalar("SELECT max(version) FROM db_listenable.schema_versions")
        .fetch_one(pool)
        .await
        .expect("schema version")
}

#[tokio::test]
async fn a_version_1_journal_is_refused_then_upgraded_by_the_generated_migration_losing_nothing() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 8).await;
    sqlx::raw_sql(JOURNAL_V1).execute(&pool).await.expect("journal v1");
    sqlx::raw_sql(sqlx::AssertSqlSafe(ITEMS_TABLE)).execute(&pool).await.expect("items");
    // Version 1's capture: the same SQL as today's, less the record of what it provides.
    for statement in ddl::install_script(&Item::MODEL, &CaptureConfig::default()).statements() {
        if !statement.contains("SET capture") {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone())).execute(&pool).await.expect("capture v1");
        }
    }
    insert_items(&pool, 1..=3).await;

    let refused = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", Recorder::default())
        .start()
        .await
        .expect_err("a version 1 journal is refused");
    assert!(matches!(refused, Error::SchemaOutdated { installed: 1, required: SCHEMA_VERSION }), "{refused:?}");
    assert!(refused.to_string().contains("triggers generate"), "names the command: {refused}");

    // What an application does after upgrading the library: generate, then migrate.
    let dir = tempfile::tempdir().expect("tempdir");
    migrations::write_migration(dir.path(), &[Item::MODEL], &CaptureConfig::default())
        .expect("write")
        .expect("a migration");
    sqlx::migrate::Migrator::new(dir.path()).await.expect("read").run(&pool).await.expect("apply");
    assert_eq!(recorded_version(&pool).await, SCHEMA_VERSION);

    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", recorder.clone())
        .start()
        .await
        .expect("starts on the upgraded journal");
    insert_items(&pool, [4]).await;
    wait_for("every change, old and new", Duration::from_secs(10), || async { recorder.len() == 4 }).await;
    runtime.shutdown().await;
    let ids: BTreeSet<i64> = recorder.all().iter().filter_map(|seen| seen.new.as_ref().map(|i| i.id)).collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3, 4]));

    let (_fresh_db, fresh) = items_db(&CaptureConfig::default()).await;
    let (upgraded, fresh) = (catalog(&pool).await, catalog(&fresh).await);
    assert!(upgraded.iter().any(|line| line.starts_with("column schema_versions.version")), "{upgraded:#?}");
    assert_eq!(upgraded, fresh, "the upgraded layout is a fresh install's");
}

#[tokio::test]
async fn a_newer_journal_runs_this_code_only_when_it_declares_it_compatible() {
    let (_db, pool) = items_db(&CaptureConfig::default()).await;
    let start =
        || RuntimeBuilder::new(pool.clone()).config(fast()).processor::<Item, _>("r", Recorder::default()).start();
    sqlx::query("INSERT INTO db_listenable.schema_versions (version, compatible_from) VALUES ($1, $2)")
        .bind(SCHEMA_VERSION + 1)
        .bind(SCHEMA_VERSION)
        .execute(&pool)
        .await
        .expect("a compatible newer version");
    start().await.expect("a newer layout that runs this code").shutdown().await;

    sqlx::query("INSERT INTO db_listenable.schema_versions (version, compatible_from) VALUES ($1, $1)")
        .bind(SCHEMA_VERSION + 2)
        .execute(&pool)
        .await
        .expect("an incompatible newer version");
    let refused = start().await.expect_err("a newer layout that does not run this code");
    assert!(
        matches!(refused, Error::SchemaTooNew { installed, known: SCHEMA_VERSION, .. } if installed == SCHEMA_VERSION + 2),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(
        message.contains(&format!("version {}", SCHEMA_VERSION + 2))
            && message.contains(&format!("knows version {SCHEMA_VERSION}")),
        "names both versions: {message}"
    );
}

/// A database with the journal as `journal` installs it, the `items` table, and today's
/// capture of it.
async fn items_db_with_journal(journal: &'static str) -> (pg_harness::TestDb, PgPool) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 8).await;
    sqlx::raw_sql(journal).execute(&pool).await.expect("the earlier journal");
    sqlx::raw_sql(sqlx::AssertSqlSafe(ITEMS_TABLE)).execute(&pool).await.expect("items");
    for statement in ddl::install_script(&Item::MODEL, &CaptureConfig::default()).statements() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone())).execute(&pool).await.expect("capture");
    }
    (db, pool)
}

/// Starts a runtime with subscriber `r` on the upgraded journal, writes item 4, and checks
/// that items 1 to 3 (written before the upgrade) and 4 each reached it once. They are four
/// rows, whose changes have no order among them: a change kept in `deliveries` and the
/// journal's next batch may run at once on two workers.
async fn delivers_items_1_to_3_and_a_new_one_once(pool: &PgPool) {
    let recorder = Recorder::default();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("r", recorder.clone())
        .start()
        .await
        .expect("starts on the upgraded journal");
    insert_items(pool, [4]).await;
    wait_for("every change, old and new", Duration::from_secs(10), || async { recorder.len() >= 4 }).await;
    runtime.shutdown().await;
    let mut ids: Vec<i64> = recorder.all().iter().filter_map(|seen| seen.new.as_ref().map(|i| i.id)).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3, 4], "each once");
}

/// The journal as version 2 of the library installed it (frozen, never regenerated).
const JOURNAL_V2: &str = include_str!("../snapshots/journal_v2.sql");

/// A version 2 journal in use (a subscriber registered, with a delivery in its
/// `deliveries` and entries not yet routed to it) is upgraded to the journal read behind
/// cursors: every change reaches the subscriber once, the old and the new.
#[tokio::test]
async fn a_version_2_journal_in_use_is_upgraded_losing_nothing_and_repeating_nothing() {
    let (_db, pool) = items_db_with_journal(JOURNAL_V2).await;
    // As version 2's runtime left it: `r` registered, change 1 routed to it, 2 and 3 not yet.
    sqlx::query("INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ('r', $1, '{id}')")
        .bind(ddl::table_id(&Item::MODEL))
        .execute(&pool)
        .await
        .expect("subscriber");
    insert_items(&pool, 1..=3).await;
    sqlx::query(
        "WITH routed AS (DELETE FROM db_listenable.changes WHERE id = (SELECT min(id) FROM db_listenable.changes)
                         RETURNING *)
         INSERT INTO db_listenable.deliveries
             (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
         SELECT s.id, r.id, r.table_id, r.op, r.txid, r.captured_at, r.old_row, r.new_row, 0
         FROM routed r CROSS JOIN db_listenable.subscribers s",
    )
    .execute(&pool)
    .await
    .expect("route the first change");

    let dir = tempfile::tempdir().expect("tempdir");
    migrations::write_migration(dir.path(), &[Item::MODEL], &CaptureConfig::default())
        .expect("write")
        .expect("a migration");
    sqlx::migrate::Migrator::new(dir.path()).await.expect("read").run(&pool).await.expect("apply");
    assert_eq!(recorded_version(&pool).await, SCHEMA_VERSION);

    delivers_items_1_to_3_and_a_new_one_once(&pool).await;
}

/// The journal as the first release of version 3 installed it (frozen, never regenerated).
const JOURNAL_V3_INITIAL: &str = include_str!("../snapshots/journal_v3_initial.sql");

/// A journal of the first release of version 3, in use (a subscriber whose cursor holds a
/// batch under a lease that ran out), takes this release's journal script in place: the
/// same layout as a fresh install, the first release's settlement still callable by its
/// instances during a rolling deploy, and every change reaches the subscriber once.
#[tokio::test]
async fn a_version_3_journal_of_the_first_release_takes_this_releases_script_losing_nothing() {
    let (_db, pool) = items_db_with_journal(JOURNAL_V3_INITIAL).await;
    let sub = subscriber_at_start(&pool, "r").await;
    insert_items(&pool, 1..=3).await;
    // A worker of the first release claimed two changes, then stopped: its lease runs out.
    let claimed: Vec<i64> =
        sqlx::query_scalar("SELECT change_id FROM db_listenable.claim_journal($1, 2, 16777216, 1, 7, false)")
            .bind(sub)
            .fetch_all(&pool)
            .await
            .expect("claim with the first release's function");
    assert_eq!(claimed.len(), 2);

    for statement in ddl::journal_script().statements() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone())).execute(&pool).await.expect("this release's journal");
    }
    let (_fresh_db, fresh) = items_db(&CaptureConfig::default()).await;
    assert_eq!(catalog(&pool).await, catalog(&fresh).await, "the upgraded layout is a fresh install's");
    // An instance of the first release settling with its parameter list, under a lease it
    // no longer holds: the call is understood, and changes nothing.
    let held: bool = sqlx::query_scalar(
        "SELECT held FROM db_listenable.settle_journal($1, 8, 2, 1, '{}', '{}', '{}', '{}', '{}', '{}', '{1}', '{}', '')",
    )
    .bind(sub)
    .fetch_one(&pool)
    .await
    .expect("the first release's settlement");
    assert!(!held, "another token's lease");

    delivers_items_1_to_3_and_a_new_one_once(&pool).await;
}

/// The first release of version 3 started a new block of ids with `setval(start, false)`,
/// a state in which the sequence's value cannot be read under its lock. A journal left so
/// (no entry written since the jump) takes this release's script: the allocated id is
/// known again, and changes before and after the jump each reach the subscriber once.
#[tokio::test]
async fn a_block_jump_of_the_first_release_is_taken_over_by_this_releases_script() {
    let (_db, pool) = items_db_with_journal(JOURNAL_V3_INITIAL).await;
    subscriber_at_start(&pool, "r").await;
    insert_items(&pool, 1..=3).await;
    let start = 1_i64 << ddl::BLOCK_BITS;
    sqlx::query("SELECT setval('db_listenable.changes_id_seq', $1, false)")
        .bind(start)
        .execute(&pool)
        .await
        .expect("the first release's jump");

    for statement in ddl::journal_script().statements() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.clone())).execute(&pool).await.expect("this release's journal");
    }
    let allocated: i64 =
        sqlx::query_scalar("SELECT db_listenable.allocated_id()").fetch_one(&pool).await.expect("allocated id");
    assert_eq!(allocated, start, "the block's first id is taken, and the value is known");

    delivers_items_1_to_3_and_a_new_one_once(&pool).await;
    let newest: i64 =
        sqlx::query_scalar("SELECT max(id) FROM db_listenable.changes").fetch_one(&pool).await.expect("newest id");
    assert_eq!(newest, start + 1, "the new change is in the new block");
}
