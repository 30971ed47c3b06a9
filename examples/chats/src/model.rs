//! The captured models: chats and messages. Their changes, whoever makes them, drive the
//! counters and the search index.

use db_listenable::DbListenable;
use serde::{Deserialize, Serialize};

/// A row of `chats`. Capture is generated from this struct
/// (`chats triggers generate examples/chats/migrations`).
///
/// The two bookkeeping columns are `quiet`: the messages counter and message numbering
/// update them all the time, and an UPDATE that changes only them must not come back as
/// a chat change (it would make the chats counter recount for nothing).
#[derive(Debug, Clone, PartialEq, Eq, DbListenable, Serialize, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "chats")]
pub struct Chat {
    /// Key (never shown by the API).
    pub id: i64,
    /// The application it belongs to.
    pub application_id: i64,
    /// Its number within the application, from 1.
    pub number: i64,
    /// Maintained by the messages counter from captured message changes.
    #[db_listenable(quiet)]
    pub messages_count: i64,
    /// The last message number handed out in this chat.
    #[db_listenable(quiet)]
    pub last_message_number: i64,
}

/// A row of `messages`.
#[derive(Debug, Clone, PartialEq, Eq, DbListenable, Serialize, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "messages")]
pub struct Message {
    /// Key (never shown by the API).
    pub id: i64,
    /// The chat it belongs to.
    pub chat_id: i64,
    /// Its number within the chat, from 1.
    pub number: i64,
    /// The text.
    pub body: String,
    /// When it was last changed. Quiet: touching it alone changes nothing the counters or
    /// the index care about.
    #[db_listenable(quiet)]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Message {
    /// The id of the chat of each row of `change` (old and new: a message moved by SQL
    /// leaves one chat and joins another).
    pub fn chat_ids(change: &db_listenable::runtime::Change<Message>) -> impl Iterator<Item = i64> + '_ {
        change.old.iter().chain(change.new.iter()).map(|message| message.chat_id)
    }
}
