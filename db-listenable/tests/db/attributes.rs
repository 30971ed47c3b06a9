//! Model attributes against a real table: sqlx's column names, excluded columns, the
//! column checks, and several models of one table.

use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::drift::Drift;
use db_listenable::migrations::desired_script;
use db_listenable::{Column, DbListenable, Error, Model};
use serde::Deserialize;

use crate::drift::check;
use crate::{ITEMS, journal, journal_db};

/// Runs every statement of the migration `triggers generate` would write for `models`.
async fn apply_migration(client: &tokio_postgres::Client, models: &[Model], config: &CaptureConfig) {
    let script = desired_script(models, config).expect("models agree");
    client.batch_execute(&script.to_string()).await.expect("the migration applies");
}

#[derive(Debug, PartialEq, Deserialize)]
struct Settings {
    theme: String,
}

/// Every sqlx attribute that names (or un-names) a column.
#[derive(Debug, PartialEq, DbListenable, sqlx::FromRow, Deserialize)]
#[sqlx(rename_all = "camelCase")]
#[serde(rename_all = "camelCase")]
#[db_listenable(table = "profiles")]
struct Profile {
    id: i64,
    display_name: String,
    #[sqlx(rename = "mail")]
    #[serde(rename = "mail")]
    email_address: String,
    #[sqlx(skip)]
    #[serde(skip)]
    cache: Option<String>,
    #[sqlx(json)]
    settings: Settings,
    r#type: String,
}

const PROFILES: &str = r#"CREATE TABLE profiles (id bigint PRIMARY KEY, "displayName" text NOT NULL,
    mail text NOT NULL, settings jsonb NOT NULL, type text NOT NULL)"#;

#[tokio::test]
async fn sqlx_named_columns_install_pass_the_drift_check_and_are_what_from_row_reads() {
    let (db, client) = journal_db().await;
    client.batch_execute(PROFILES).await.expect("table");
    apply_migration(&client, &[Profile::MODEL], &CaptureConfig::default()).await;
    assert!(check(&db, &[Profile::MODEL]).await.is_clean(), "no drift, no missing column");

    client
        .batch_execute(r#"INSERT INTO profiles VALUES (1, 'Ada', 'ada@example.com', '{"theme": "dark"}', 'admin')"#)
        .await
        .expect("insert");
    let rows = journal(&client).await;
    let new = rows[0].new.clone().expect("a new row");
    let mut keys: Vec<&str> = new.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut columns: Vec<&str> = Profile::MODEL.columns.iter().map(|column| column.name).collect();
    columns.sort_unstable();
    assert_eq!(keys, columns, "the journal holds exactly the columns the model maps");

    // The captured row, turned back into the table's row type, is what FromRow reads.
    let pool = sqlx::PgPool::connect(db.url()).await.expect("pool");
    let decoded: Profile = sqlx::query_as("SELECT * FROM jsonb_populate_record(NULL::profiles, $1)")
        .bind(&new)
        .fetch_one(&pool)
        .await
        .expect("FromRow reads the captured row");
    pool.close().await;
    assert_eq!(
        decoded,
        Profile {
            id: 1,
            display_name: "Ada".into(),
            email_address: "ada@example.com".into(),
            cache: None,
            settings: Settings { theme: "dark".into() },
            r#type: "admin".into(),
        }
    );
}

/// Secrets and large values that must never be journalled.
#[derive(Debug, PartialEq, DbListenable, sqlx::FromRow, Deserialize)]
#[db_listenable(table = "accounts", exclude("password_hash", "avatar"))]
struct Account {
    id: i64,
    email: String,
}

const ACCOUNTS: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL,
    password_hash text NOT NULL, avatar bytea)";

for_each_granularity! {
    async fn excluded_columns_never_reach_the_journal(config: CaptureConfig) {
        let (_db, client) = journal_db().await;
        client.batch_execute(ACCOUNTS).await.expect("table");
        apply_migration(&client, &[Account::MODEL], &config).await;
        client
            .batch_execute(
                "INSERT INTO accounts VALUES (1, 'a@example.com', 'secret-hash-1', 'secret-avatar');
                 UPDATE accounts SET email = 'b@example.com', password_hash = 'secret-hash-2';
                 UPDATE accounts SET password_hash = 'secret-hash-3', avatar = NULL; -- excluded only: nothing
                 UPDATE accounts SET id = 11;                                        -- a key move
                 DELETE FROM accounts;",
            )
            .await
            .expect("writes");
        let rows = journal(&client).await;
        let ops: Vec<&str> = rows.iter().map(|c| c.op.as_str()).collect();
        assert_eq!(ops, ["INSERT", "UPDATE", "DELETE", "INSERT", "DELETE"]);
        for row in rows.iter().flat_map(|c| [&c.old, &c.new]).flatten() {
            let keys: Vec<&String> = row.as_object().expect("an object").keys().collect();
            assert_eq!(keys, ["email", "id"], "{row}");
        }
        let text: String = client
            .query_one("SELECT string_agg(concat(old_row::text, new_row::text), '') FROM db_listenable.changes", &[])
            .await
            .expect("journal text")
            .get(0);
        assert!(!text.contains("secret"), "{text}");
    }
}

#[test]
fn without_exclusions_the_capture_sql_has_no_trace_of_them() {
    let script = ddl::install_script(&ITEMS, &CaptureConfig::default()).to_string();
    assert!(script.contains("pg_catalog.to_jsonb(o.*), pg_catalog.to_jsonb(n.*)\n"), "{script}");
    let excluded = Model { exclude: &["secret"], ..ITEMS };
    let script = ddl::install_script(&excluded, &CaptureConfig::default()).to_string();
    assert!(
        script.contains("(pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) ARRAY['secret']::pg_catalog.text[])"),
        "{script}"
    );
}

/// A model of `gadgets` whose key, one mapped column and one excluded column the table
/// lacks; its optional column is missing too, which is fine.
const GADGET: Model = Model {
    rust_name: "Gadget",
    schema: "public",
    table: "gadgets",
    key: &["code"],
    columns: &[
        crate::col("code"),
        crate::col("name"),
        crate::col("colour"),
        Column { name: "nickname", field: "nickname", optional: true },
    ],
    quiet: &[],
    exclude: &["secret"],
    events: db_listenable::Events::DEFAULT,
};

#[tokio::test]
async fn a_table_without_a_column_the_model_needs_is_refused_at_install_and_reported_as_drift() {
    let (db, client) = journal_db().await;
    client.batch_execute("CREATE TABLE gadgets (id bigint PRIMARY KEY, name text)").await.expect("table");
    let script = desired_script(&[GADGET], &CaptureConfig::default()).expect("one model").to_string();
    let error = client.batch_execute(&script).await.expect_err("the install refuses");
    let db_error = error.as_db_error().expect("a database error");
    assert_eq!(db_error.code(), &tokio_postgres::error::SqlState::UNDEFINED_COLUMN);
    assert_eq!(
        db_error.message(),
        r#"db-listenable: Gadget needs columns that "public"."gadgets" does not have: code (key), colour, secret (excluded)"#
    );
    let installed: i64 = client
        .query_one("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'gadgets'::regclass", &[])
        .await
        .expect("triggers")
        .get(0);
    assert_eq!(installed, 0, "nothing was installed");

    let report = check(&db, &[GADGET]).await;
    assert!(
        report.drifts.contains(&Drift::Columns {
            model: "Gadget",
            table: "public.gadgets".into(),
            missing: vec!["code (key)".into(), "colour".into(), "secret (excluded)".into()],
        }),
        "{report}"
    );
    assert!(
        report.to_string().contains("columns: public.gadgets (Gadget) lacks code (key), colour, secret (excluded)")
    );

    client
        .batch_execute("ALTER TABLE gadgets ADD code text UNIQUE NOT NULL, ADD colour text, ADD secret text")
        .await
        .expect("fix");
    client.batch_execute(&script).await.expect("now it installs");
    assert!(check(&db, &[GADGET]).await.is_clean(), "the optional column is not required");
}

/// A narrow view of `items`: other Rust name, fewer columns, same capture settings.
const ITEM_NAME: Model = Model { rust_name: "ItemName", columns: &[crate::col("id"), crate::col("name")], ..ITEMS };
/// A view of `items` that would capture it differently.
const LOUD_ITEM: Model = Model {
    rust_name: "LoudItem",
    quiet: &[],
    events: db_listenable::Events { truncate: true, ..db_listenable::Events::DEFAULT },
    ..ITEMS
};

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int, updated_at timestamptz)";

#[test]
fn the_capture_sql_depends_on_the_table_and_its_settings_only() {
    for config in [CaptureConfig::default(), CaptureConfig { granularity: ddl::Granularity::Row, ..Default::default() }]
    {
        assert_eq!(ddl::install_script(&ITEMS, &config), ddl::install_script(&ITEM_NAME, &config));
        assert_eq!(ddl::install_fingerprint(&ITEMS, &config), ddl::install_fingerprint(&ITEM_NAME, &config));
    }
    // Field order does not matter either: quiet columns are compared as a set.
    let two_quiet = Model { quiet: &["updated_at", "qty"], ..ITEMS };
    let sorted = Model { quiet: &["qty", "updated_at"], ..ITEMS };
    let config = CaptureConfig::default();
    assert_eq!(ddl::install_script(&two_quiet, &config), ddl::install_script(&sorted, &config));
}

#[tokio::test]
async fn a_full_and_a_narrow_model_of_one_table_share_one_capture_and_no_drift() {
    let (db, client) = journal_db().await;
    client.batch_execute(ITEMS_TABLE).await.expect("table");
    let config = CaptureConfig::default();
    let script = desired_script(&[ITEMS, ITEM_NAME], &config).expect("they agree").to_string();
    let function = format!("CREATE OR REPLACE FUNCTION \"db_listenable\".\"{}\"", ddl::capture_function_name(&ITEMS));
    assert_eq!(script.matches(&function).count(), 1, "the capture is installed once");
    assert_eq!(script.matches("needs columns that").count(), 2, "each model's columns are checked");
    client.batch_execute(&script).await.expect("install");
    let report = check(&db, &[ITEMS, ITEM_NAME]).await;
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn models_of_one_table_that_disagree_are_refused_by_generate_and_reported_by_drift() {
    let error = desired_script(&[ITEMS, LOUD_ITEM], &CaptureConfig::default()).expect_err("they disagree");
    let Error::CaptureConflict { table, first, second, differences } = &error else {
        panic!("expected a capture conflict, got {error:?}");
    };
    assert_eq!((table.as_str(), *first, *second), ("public.items", "Item", "LoudItem"));
    assert_eq!(
        differences,
        &["events (insert, update, delete) vs (insert, update, delete, truncate)", r#"quiet ["updated_at"] vs []"#]
    );
    assert_eq!(
        error.to_string(),
        "Item and LoudItem both capture public.items but differ in events (insert, update, delete) vs (insert, update, \
         delete, truncate); quiet [\"updated_at\"] vs []; give them the same key, events, exclude and quiet columns"
    );

    let (db, client) = journal_db().await;
    client.batch_execute(ITEMS_TABLE).await.expect("table");
    apply_migration(&client, &[ITEMS], &CaptureConfig::default()).await;
    let report = check(&db, &[ITEMS, LOUD_ITEM]).await;
    assert_eq!(
        report.drifts,
        [Drift::Conflict { table: "public.items".into(), reason: error.to_string() }],
        "one conflict, no false missing or outdated capture"
    );
}
