//! Chat and message numbers: per parent, from 1, unique and gapless.
//!
//! The parent row holds the last number handed out. Creating a child increments it with
//! `UPDATE ... RETURNING` and inserts the child in the same short transaction: the
//! UPDATE's row lock queues concurrent creators of the same parent (in any number of
//! processes), and a failed insert rolls the increment back, so no number is lost or
//! given twice. No cache, no sync job: the number is in the response at once.

use sqlx::PgPool;

/// Creates the next chat of the application with `token`; its number, or `None` when
/// there is no such application.
pub async fn create_chat(pool: &PgPool, token: &str) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let parent: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE applications SET last_chat_number = last_chat_number + 1
         WHERE token = $1 RETURNING id, last_chat_number",
    )
    .bind(token)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((application_id, number)) = parent else {
        return Ok(None);
    };
    sqlx::query("INSERT INTO chats (application_id, number) VALUES ($1, $2)")
        .bind(application_id)
        .bind(number)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(number))
}

/// Creates the next message of chat `chat_number` of the application with `token`; its
/// number, or `None` when there is no such chat.
pub async fn create_message(pool: &PgPool, token: &str, chat_number: i64, body: &str) -> sqlx::Result<Option<i64>> {
    let mut tx = pool.begin().await?;
    let parent: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE chats c SET last_message_number = c.last_message_number + 1
         FROM applications a
         WHERE a.id = c.application_id AND a.token = $1 AND c.number = $2
         RETURNING c.id, c.last_message_number",
    )
    .bind(token)
    .bind(chat_number)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((chat_id, number)) = parent else {
        return Ok(None);
    };
    sqlx::query("INSERT INTO messages (chat_id, number, body) VALUES ($1, $2, $3)")
        .bind(chat_id)
        .bind(number)
        .bind(body)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(number))
}
