//! Model attributes at run time: excluded columns are in no delivery nor dead letter,
//! two models of one table are both served, and the start refuses a model whose table
//! lacks its columns or models that disagree on a table's capture.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::runtime::{Change, Context, JsonRow, ProcessError, Processor, RuntimeBuilder, dead_letters};
use db_listenable::{DbListenable, Error, migrations};
use serde::Deserialize;
use sqlx::PgPool;

use crate::{Item, Recorder, count, fast, insert_items, items_db, pool, wait_for};

/// `accounts` without its secrets.
#[derive(Debug, Clone, PartialEq, DbListenable, sqlx::FromRow, Deserialize)]
#[db_listenable(table = "accounts", exclude("password_hash", "avatar"))]
struct Account {
    id: i64,
    email: String,
}

/// Keeps the columns of every delivered row, as captured ([`JsonRow`]: every column the
/// journal holds, whatever the struct maps).
#[derive(Clone, Default)]
struct DeliveredKeys(Arc<Mutex<Vec<Vec<String>>>>);

impl Processor<JsonRow<Account>> for DeliveredKeys {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<JsonRow<Account>>) -> Result<(), ProcessError> {
        for row in change.old.iter().chain(change.new.iter()) {
            let keys = row.object().keys().cloned().collect();
            self.0.lock().expect("keys").push(keys);
        }
        Ok(())
    }
}

/// Installs the journal and `accounts` through the generated migration.
async fn accounts_db() -> (pg_harness::TestDb, PgPool) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 8).await;
    sqlx::raw_sql(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, password_hash text NOT NULL, avatar bytea)",
    )
    .execute(&pool)
    .await
    .expect("table");
    let script = migrations::desired_script(&[Account::MODEL], &Default::default()).expect("one model");
    sqlx::raw_sql(sqlx::AssertSqlSafe(script.to_string())).execute(&pool).await.expect("install");
    (db, pool)
}

/// Keeps every change; fails those of `refused@example.com`.
#[derive(Clone, Default)]
struct Accounts {
    seen: Arc<Mutex<Vec<Change<Account>>>>,
}

impl Processor<Account> for Accounts {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Account>) -> Result<(), ProcessError> {
        self.seen.lock().expect("seen").push(change.clone());
        match change.row() {
            Some(account) if account.email == "refused@example.com" => Err("refused".into()),
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn excluded_columns_are_in_no_delivery_and_no_dead_letter() {
    let (_db, pool) = accounts_db().await;
    let (accounts, delivered) = (Accounts::default(), DeliveredKeys::default());
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast().max_attempts(1))
        .processor::<Account, _>("accounts", accounts.clone())
        .processor::<JsonRow<Account>, _>("delivered", delivered.clone())
        .start()
        .await
        .expect("start");
    sqlx::raw_sql(
        "INSERT INTO accounts VALUES (1, 'ok@example.com', 'secret-hash-1', 'secret-avatar'),
                                     (2, 'refused@example.com', 'secret-hash-2', NULL);
         UPDATE accounts SET email = 'still-ok@example.com', password_hash = 'secret-hash-3' WHERE id = 1;",
    )
    .execute(&pool)
    .await
    .expect("writes");
    wait_for("two processed and one dead", Duration::from_secs(10), || async {
        accounts.seen.lock().expect("seen").len() == 3
            && delivered.0.lock().expect("keys").len() == 4
            && count(&pool, "dead_letters").await == 1
    })
    .await;
    runtime.shutdown().await;

    let seen = accounts.seen.lock().expect("seen").clone();
    let rows: Vec<&Account> = seen.iter().flat_map(|change| change.old.iter().chain(change.new.iter())).collect();
    assert_eq!(rows.len(), 4, "two inserts and one update with both rows");
    let keys = delivered.0.lock().expect("keys").clone();
    assert!(keys.iter().all(|keys| keys == &["email", "id"]), "delivered rows hold only id and email: {keys:?}");
    let dead = dead_letters::list(&pool, Some("accounts"), 10).await.expect("list");
    let row = dead[0].new_row.clone().expect("the dead letter's row");
    assert_eq!(row, serde_json::json!({ "id": 2, "email": "refused@example.com" }));
    let stored: String = sqlx::query_scalar(
        "SELECT concat((SELECT string_agg(concat(old_row::text, new_row::text), '') FROM db_listenable.changes),
                       (SELECT string_agg(concat(old_row::text, new_row::text), '') FROM db_listenable.dead_letters))",
    )
    .fetch_one(&pool)
    .await
    .expect("stored rows");
    assert!(stored.contains("refused@example.com") && !stored.contains("secret"), "{stored}");
}

/// A narrow view of `items`: only the name.
#[derive(Debug, Clone, PartialEq, DbListenable, sqlx::FromRow, Deserialize)]
#[db_listenable(table = "items")]
struct ItemName {
    id: i64,
    name: String,
}

/// Keeps the names it is given.
#[derive(Clone, Default)]
struct Names(Arc<Mutex<Vec<String>>>);

impl Processor<ItemName> for Names {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<ItemName>) -> Result<(), ProcessError> {
        if let Some(item) = change.row() {
            self.0.lock().expect("names").push(item.name.clone());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_full_and_a_narrow_model_of_one_table_are_both_processed() {
    let (_db, pool) = items_db(&Default::default()).await;
    let (full, names) = (Recorder::default(), Names::default());
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("full", full.clone())
        .processor::<ItemName, _>("names", names.clone())
        .start()
        .await
        .expect("both models start: no drift, no conflict");
    insert_items(&pool, [1, 2]).await;
    wait_for("both subscribers", Duration::from_secs(10), || async {
        full.len() == 2 && names.0.lock().expect("names").len() == 2
    })
    .await;
    runtime.shutdown().await;
    assert_eq!(*names.0.lock().expect("names"), ["item 1", "item 2"]);
    assert_eq!(full.all().iter().filter_map(|seen| seen.new.as_ref().map(|item| item.id)).collect::<Vec<_>>(), [1, 2]);
}

/// `items` with a column it does not have.
#[derive(Debug, Clone, PartialEq, DbListenable, sqlx::FromRow, Deserialize)]
#[db_listenable(table = "items")]
struct ItemWithPrice {
    id: i64,
    name: String,
    price: i64,
}

/// `items` captured with every column quiet but the key: a capture `Item` does not share.
#[derive(Debug, Clone, PartialEq, DbListenable, sqlx::FromRow, Deserialize)]
#[db_listenable(table = "items", quiet("name", "qty"))]
struct QuietItem {
    id: i64,
}

struct Ignore;

impl Processor<ItemWithPrice> for Ignore {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<ItemWithPrice>) -> Result<(), ProcessError> {
        Ok(())
    }
}

impl Processor<QuietItem> for Ignore {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<QuietItem>) -> Result<(), ProcessError> {
        Ok(())
    }
}

#[tokio::test]
async fn the_start_refuses_missing_columns_and_disagreeing_models_by_name() {
    let (_db, pool) = items_db(&Default::default()).await;
    let missing = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<ItemWithPrice, _>("priced", Ignore)
        .start()
        .await
        .expect_err("items has no price");
    match &missing {
        Error::Columns { model, table, missing } => {
            assert_eq!((*model, table.as_str()), ("ItemWithPrice", "public.items"));
            assert_eq!(missing, &["price"]);
        }
        other => panic!("expected Error::Columns, got {other:?}"),
    }
    assert_eq!(missing.to_string(), "ItemWithPrice needs columns that public.items does not have: price");

    let conflict = RuntimeBuilder::new(pool.clone())
        .config(fast())
        .processor::<Item, _>("full", Recorder::default())
        .processor::<QuietItem, _>("quiet", Ignore)
        .start()
        .await
        .expect_err("two captures of one table");
    match &conflict {
        Error::CaptureConflict { table, first, second, differences } => {
            assert_eq!((table.as_str(), *first, *second), ("public.items", "Item", "QuietItem"));
            assert_eq!(differences, &[r#"quiet [] vs ["name", "qty"]"#]);
        }
        other => panic!("expected Error::CaptureConflict, got {other:?}"),
    }
}
