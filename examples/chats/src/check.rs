//! `chats check`: the counters against the rows, and an instance's index against the
//! messages (and whether its last full rebuild completed).

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgPool;

use crate::counters::{self, CounterMismatch};
use crate::search::{IndexedMessage, SearchError, SearchIndex};

/// What `chats check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Counters that differ from their rows.
    pub counters: Vec<CounterMismatch>,
    /// Messages in the database.
    pub messages: usize,
    /// Differences between the index and the database, one line each.
    pub index: Vec<String>,
}

impl Report {
    /// Whether everything matched.
    pub fn is_clean(&self) -> bool {
        self.counters.is_empty() && self.index.is_empty()
    }
}

/// Checks the counters, and `index` (when there is one) against the messages.
///
/// # Errors
/// The database or the index cannot be read.
pub async fn run(pool: &PgPool, index: Result<SearchIndex, SearchError>) -> anyhow::Result<Report> {
    let counters = counters::mismatches(pool).await?;
    let messages: Vec<IndexedMessage> =
        sqlx::query_as("SELECT id, chat_id, number, body FROM messages ORDER BY id").fetch_all(pool).await?;
    let count = messages.len();
    let index = match index {
        Ok(index) => {
            let mut differences = Vec::new();
            if !index.is_complete()? {
                differences.push(
                    "the index is incomplete: its last full rebuild did not finish (restart the server or run \
                     `chats reindex` to rebuild it)"
                        .to_owned(),
                );
            }
            differences.extend(compare(&messages, &index.documents()?));
            differences
        }
        Err(error) => vec![format!("no usable index: {error}")],
    };
    Ok(Report { counters, messages: count, index })
}

/// The differences between the database's messages and the index's documents.
pub fn compare(database: &[IndexedMessage], indexed: &[IndexedMessage]) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_index: BTreeMap<i64, Vec<&IndexedMessage>> = BTreeMap::new();
    for document in indexed {
        in_index.entry(document.id).or_default().push(document);
    }
    for message in database {
        match in_index.remove(&message.id).as_deref() {
            None => out.push(format!(
                "message {} (chat id {}, number {}) is not indexed",
                message.id, message.chat_id, message.number
            )),
            Some([document]) if *document == message => {}
            Some([_]) => out.push(format!("message {} is indexed with outdated content", message.id)),
            Some(documents) => out.push(format!("message {} is indexed {} times", message.id, documents.len())),
        }
    }
    for id in in_index.keys() {
        out.push(format!("message {id} is indexed but does not exist"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, body: &str) -> IndexedMessage {
        IndexedMessage { id, chat_id: 1, number: id, body: body.into() }
    }

    #[test]
    fn missing_outdated_duplicate_and_extra_documents_are_named() {
        let database = [message(1, "a"), message(2, "b"), message(3, "c"), message(4, "d")];
        let indexed = [message(1, "a"), message(2, "old"), message(4, "d"), message(4, "d"), message(9, "x")];
        let found = compare(&database, &indexed);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].contains("message 2 is indexed with outdated"));
        assert!(found[1].contains("message 3 (chat id 1, number 3) is not indexed"));
        assert!(found[2].contains("message 4 is indexed 2 times"));
        assert!(found[3].contains("message 9 is indexed but does not exist"));
        assert!(compare(&database, &database).is_empty());
    }
}
