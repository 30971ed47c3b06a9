//! The journal's cursors against transactions that commit out of id order: the claim
//! function driven statement by statement, with the interleavings that could pass an
//! entry reproduced deterministically on connections of their own.

use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use sqlx::{Connection, PgConnection};

use crate::{Item, items_db};

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.expect("test connection")
}

/// Change ids one call of `claim_journal` returns for subscriber `sub`, then settled.
async fn claim(conn: &mut PgConnection, sub: i32) -> Vec<i64> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT change_id FROM db_listenable.claim_journal($1, 1000, 16777216, 60000, 7, false) ORDER BY 1",
    )
    .bind(sub)
    .fetch_all(&mut *conn)
    .await
    .expect("claim");
    if let Some(upto) = ids.last() {
        sqlx::query(
            "SELECT held FROM db_listenable.settle_journal($1, 7, $2, 1, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '')",
        )
        .bind(sub)
        .bind(upto)
        .execute(&mut *conn)
        .await
        .expect("settle");
    }
    ids
}

/// A writer took its transaction id after the registering transaction took its own, and
/// wrote its journal entry before the registration read the sequence: the entry is below
/// the cursor's first `hi`, and its transaction is newer than every one that completed
/// when the first claim takes its snapshot. It must still be claimed once it commits.
#[tokio::test]
async fn an_entry_written_before_the_cursor_existed_by_a_transaction_still_running_is_claimed_once_committed() {
    let (db, pool) = items_db(&CaptureConfig::default()).await;
    let mut register = connect(db.url()).await;
    let mut writer = connect(db.url()).await;
    let mut claims = connect(db.url()).await;
    sqlx::query("BEGIN").execute(&mut register).await.expect("begin");
    let sub: i32 = sqlx::query_scalar(
        "INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ('s', $1, '{id}') RETURNING id",
    )
    .bind(ddl::table_id(&Item::MODEL))
    .fetch_one(&mut register)
    .await
    .expect("subscriber");
    sqlx::query("BEGIN").execute(&mut writer).await.expect("begin");
    sqlx::query("INSERT INTO items (id, name) VALUES (1, 'late')").execute(&mut writer).await.expect("insert");
    // As `store::register` does: the cursor's `hi` is the sequence's value now.
    sqlx::query(
        "INSERT INTO db_listenable.cursors (subscriber_id, snap, lo, pos, hi)
         SELECT $1, '1:1:', 0, 0, q.last_value - CASE WHEN q.is_called THEN 0 ELSE 1 END
         FROM db_listenable.changes_id_seq q",
    )
    .bind(sub)
    .execute(&mut register)
    .await
    .expect("cursor");
    sqlx::query("COMMIT").execute(&mut register).await.expect("commit");

    assert_eq!(claim(&mut claims, sub).await, Vec::<i64>::new(), "nothing committed yet");
    assert_eq!(claim(&mut claims, sub).await, Vec::<i64>::new(), "nothing committed yet");
    sqlx::query("COMMIT").execute(&mut writer).await.expect("commit the writer");
    let entry: i64 =
        sqlx::query_scalar("SELECT max(id) FROM db_listenable.changes").fetch_one(&pool).await.expect("id");
    let mut seen = claim(&mut claims, sub).await;
    seen.extend(claim(&mut claims, sub).await);
    assert_eq!(seen, [entry], "the late transaction's entry is claimed once");
}
