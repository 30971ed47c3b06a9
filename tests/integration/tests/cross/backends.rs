//! Both supported clients, sqlx and tokio-postgres, work on one harness database and
//! see each other's committed writes (and not uncommitted ones).

use sqlx::Connection;

#[tokio::test]
async fn sqlx_and_tokio_postgres_share_one_database() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let (mut client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    let mut sqlx_conn = sqlx::PgConnection::connect(db.url()).await.expect("sqlx connect");

    client.batch_execute("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)").await.expect("create");
    let tx = client.transaction().await.expect("begin");
    tx.execute("INSERT INTO notes VALUES (1, 'from tokio-postgres')", &[]).await.expect("insert");
    let before_commit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notes").fetch_one(&mut sqlx_conn).await.expect("count");
    assert_eq!(before_commit, 0, "uncommitted rows are invisible to the other client");
    tx.commit().await.expect("commit");

    let body: String =
        sqlx::query_scalar("SELECT body FROM notes WHERE id = 1").fetch_one(&mut sqlx_conn).await.expect("select");
    assert_eq!(body, "from tokio-postgres");
    sqlx::query("INSERT INTO notes VALUES (2, 'from sqlx')").execute(&mut sqlx_conn).await.expect("insert");
    let row = client.query_one("SELECT body FROM notes WHERE id = 2", &[]).await.expect("select");
    assert_eq!(row.get::<_, String>(0), "from sqlx");
}
