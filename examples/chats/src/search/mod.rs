//! The message search index: tantivy on disk, one per server instance, fed from captured
//! message changes.
//!
//! [`index`] holds the index (schema, n-gram analysis, queries, rebuild from the
//! database); [`processor`] is the db-listenable processor that applies message changes
//! to it; [`query`] turns what a user typed into index terms.

pub mod index;
pub mod processor;
pub mod query;

pub use index::{IndexedMessage, Opened, SearchError, SearchIndex};
pub use processor::SearchIndexer;
pub use query::{QueryError, SearchQuery};
