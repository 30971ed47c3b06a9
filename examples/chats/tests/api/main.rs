//! The chats example against a real PostgreSQL.

use sqlx::PgPool;

async fn migrated_pool(db: &pg_harness::TestDb) -> PgPool {
    let pool = PgPool::connect(db.url()).await.expect("connect");
    chats::migrate(&pool).await.expect("migrate");
    pool
}

#[tokio::test]
async fn migrations_apply_once_and_again_without_change() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = migrated_pool(&db).await;
    chats::migrate(&pool).await.expect("second run is a no-op");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'
         AND table_name IN ('applications', 'chats', 'messages') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("catalog");
    assert_eq!(tables, ["applications", "chats", "messages"]);
}

#[tokio::test]
async fn chat_numbers_are_unique_per_application_only() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = migrated_pool(&db).await;
    let apps: Vec<i64> =
        sqlx::query_scalar("INSERT INTO applications (token, name) VALUES ('t1', 'one'), ('t2', 'two') RETURNING id")
            .fetch_all(&pool)
            .await
            .expect("applications");
    for app in &apps {
        sqlx::query("INSERT INTO chats (application_id, number) VALUES ($1, 1)")
            .bind(app)
            .execute(&pool)
            .await
            .expect("number 1 is free in each application");
    }
    let duplicate = sqlx::query("INSERT INTO chats (application_id, number) VALUES ($1, 1)")
        .bind(apps[0])
        .execute(&pool)
        .await
        .expect_err("number 1 is taken in this application");
    let code = duplicate.as_database_error().and_then(|err| err.code()).map(|code| code.into_owned());
    assert_eq!(code.as_deref(), Some("23505"), "unique violation: {duplicate}");
}
