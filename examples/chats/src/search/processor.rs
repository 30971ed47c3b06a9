//! The processor that applies captured message changes to this instance's index.

use std::collections::BTreeSet;
use std::sync::Arc;

use db_listenable::runtime::{BatchProcessor, Change, Context, ProcessError};

use super::index::SearchIndex;
use crate::model::Message;

/// Re-indexes the messages a batch of changes touched, from the database (see
/// [`SearchIndex::refresh_messages`]): one index commit per batch. Each instance
/// subscribes it under its own name, so every instance's index sees every change, and
/// a failure here retries only this subscriber's deliveries, never the counters'.
#[derive(Debug, Clone)]
pub struct SearchIndexer {
    index: Arc<SearchIndex>,
}

impl SearchIndexer {
    /// A processor writing to `index`.
    pub fn new(index: Arc<SearchIndex>) -> Self {
        SearchIndexer { index }
    }
}

impl BatchProcessor<Message> for SearchIndexer {
    async fn process_batch(&self, ctx: &Context<'_>, changes: &[Change<Message>]) -> Result<(), ProcessError> {
        let ids: BTreeSet<i64> =
            changes.iter().flat_map(|c| c.old.iter().chain(c.new.iter())).map(|message| message.id).collect();
        self.index.refresh_messages(ctx.db(), &ids.into_iter().collect::<Vec<_>>()).await?;
        Ok(())
    }
}
