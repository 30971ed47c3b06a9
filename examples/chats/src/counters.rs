//! The processors that keep `applications.chats_count` and `chats.messages_count` equal
//! to the rows that exist, from captured changes: rows written by this API, by `psql` or
//! by any other program are counted alike.
//!
//! Both recompute from the database instead of adding deltas, so a change delivered
//! twice (delivery is at least once) changes nothing. Their subscriber names are the
//! same in every process, so each change is counted by one instance only.

use std::collections::BTreeSet;

use db_listenable::runtime::{BatchProcessor, Change, Context, ProcessError};
use sqlx::PgPool;

use crate::model::{Chat, Message};

/// The subscriber name of [`ChatsCount`], shared by every instance.
pub const CHATS_COUNT: &str = "chats_count";

/// The subscriber name of [`MessagesCount`], shared by every instance.
pub const MESSAGES_COUNT: &str = "messages_count";

/// Recounts the chats of every application a batch of chat changes touched.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChatsCount;

impl BatchProcessor<Chat> for ChatsCount {
    async fn process_batch(&self, ctx: &Context<'_>, changes: &[Change<Chat>]) -> Result<(), ProcessError> {
        let ids: BTreeSet<i64> =
            changes.iter().flat_map(|c| c.old.iter().chain(c.new.iter())).map(|chat| chat.application_id).collect();
        recount_chats(ctx.db(), &ids.into_iter().collect::<Vec<_>>()).await?;
        Ok(())
    }
}

/// Recounts the messages of every chat a batch of message changes touched.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessagesCount;

impl BatchProcessor<Message> for MessagesCount {
    async fn process_batch(&self, ctx: &Context<'_>, changes: &[Change<Message>]) -> Result<(), ProcessError> {
        let ids: BTreeSet<i64> = changes.iter().flat_map(Message::chat_ids).collect();
        recount_messages(ctx.db(), &ids.into_iter().collect::<Vec<_>>()).await?;
        Ok(())
    }
}

/// Sets each application's `chats_count` to its number of chats; returns how many
/// counters changed.
///
/// The applications are locked first (in id order, so two runs cannot deadlock) and
/// counted by a second statement: under READ COMMITTED that statement's snapshot is
/// taken after the lock is granted, so a run that waited for another sees every chat the
/// other saw and more. Counting inside the UPDATE could let a run with an older snapshot
/// commit last and write a stale count.
pub async fn recount_chats(pool: &PgPool, application_ids: &[i64]) -> sqlx::Result<u64> {
    recount(
        pool,
        application_ids,
        "SELECT id FROM applications WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        "UPDATE applications a SET chats_count = s.n
         FROM (SELECT a2.id, count(c.id) AS n
               FROM applications a2 LEFT JOIN chats c ON c.application_id = a2.id
               WHERE a2.id = ANY($1) GROUP BY a2.id) s
         WHERE a.id = s.id AND a.chats_count <> s.n",
    )
    .await
}

/// Sets each chat's `messages_count` to its number of messages (see [`recount_chats`]
/// for the locking); returns how many counters changed.
pub async fn recount_messages(pool: &PgPool, chat_ids: &[i64]) -> sqlx::Result<u64> {
    recount(
        pool,
        chat_ids,
        "SELECT id FROM chats WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        "UPDATE chats c SET messages_count = s.n
         FROM (SELECT c2.id, count(m.id) AS n
               FROM chats c2 LEFT JOIN messages m ON m.chat_id = c2.id
               WHERE c2.id = ANY($1) GROUP BY c2.id) s
         WHERE c.id = s.id AND c.messages_count <> s.n",
    )
    .await
}

async fn recount(pool: &PgPool, ids: &[i64], lock: &'static str, update: &'static str) -> sqlx::Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    sqlx::query(lock).bind(ids).execute(&mut *tx).await?;
    let changed = sqlx::query(update).bind(ids).execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok(changed)
}

/// A counter that differs from the rows it counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CounterMismatch {
    /// `application <token>` or `application <token> chat <number>`.
    pub what: String,
    /// The stored counter.
    pub stored: i64,
    /// The rows that exist.
    pub actual: i64,
}

/// Every counter that differs from the rows it counts (for `chats check`).
pub async fn mismatches(pool: &PgPool) -> sqlx::Result<Vec<CounterMismatch>> {
    let applications: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT a.token, a.chats_count, (SELECT count(*) FROM chats c WHERE c.application_id = a.id)
         FROM applications a ORDER BY a.id",
    )
    .fetch_all(pool)
    .await?;
    let chats: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT a.token, c.number, c.messages_count, (SELECT count(*) FROM messages m WHERE m.chat_id = c.id)
         FROM chats c JOIN applications a ON a.id = c.application_id ORDER BY c.id",
    )
    .fetch_all(pool)
    .await?;
    let mut out: Vec<CounterMismatch> = applications
        .into_iter()
        .filter(|(_, stored, actual)| stored != actual)
        .map(|(token, stored, actual)| CounterMismatch { what: format!("application {token}"), stored, actual })
        .collect();
    out.extend(chats.into_iter().filter(|(_, _, stored, actual)| stored != actual).map(
        |(token, number, stored, actual)| CounterMismatch {
            what: format!("application {token} chat {number}"),
            stored,
            actual,
        },
    ));
    Ok(out)
}
