//! Excluded columns never reach the dashboard: a dead letter's page shows the row as
//! journalled, without them.

use axum::Router;
use axum::http::StatusCode;
use db_listenable::DbListenable;
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};
use db_listenable::web::{Credential, Dashboard};
use serde::Deserialize;
use sqlx::postgres::PgPoolOptions;

use crate::{MOUNT, TOKEN, config, count, get, wait_for};

/// `accounts` without its secrets.
#[derive(Debug, Clone, PartialEq, DbListenable, sqlx::FromRow, Deserialize)]
#[db_listenable(table = "accounts", exclude("password_hash", "avatar"))]
struct Account {
    id: i64,
    email: String,
}

/// Fails every change.
struct Refuse;

impl Processor<Account> for Refuse {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<Account>) -> Result<(), ProcessError> {
        Err("refused".into())
    }
}

#[tokio::test]
async fn a_dead_letters_page_shows_no_excluded_column() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = PgPoolOptions::new().max_connections(8).connect(db.url()).await.expect("connect");
    sqlx::raw_sql(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, password_hash text NOT NULL, avatar bytea)",
    )
    .execute(&pool)
    .await
    .expect("table");
    let script = db_listenable::migrations::desired_script(&[Account::MODEL], &Default::default()).expect("script");
    sqlx::raw_sql(sqlx::AssertSqlSafe(script.to_string())).execute(&pool).await.expect("install");
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(config())
        .processor::<Account, _>("accounts", Refuse)
        .start()
        .await
        .expect("start");
    sqlx::raw_sql("INSERT INTO accounts VALUES (1, 'ada@example.com', 'secret-hash', 'secret-avatar')")
        .execute(&pool)
        .await
        .expect("insert");
    wait_for("the dead letter", || async { count(&pool, "dead_letters").await == 1 }).await;
    runtime.shutdown().await;

    let dashboard = Dashboard::new(pool.clone())
        .credential(Credential::Bearer(TOKEN.into()))
        .models(vec![Account::MODEL])
        .router()
        .expect("dashboard");
    let app = Router::new().nest(MOUNT, dashboard);
    let (status, _, page) = get(&app, "/dead-letters?subscriber=accounts").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("ada@example.com"), "the row is shown: {page}");
    assert!(!page.contains("password_hash") && !page.contains("avatar") && !page.contains("secret"), "{page}");
}
