//! The message search index: tantivy on disk, one per server instance, fed from captured
//! message changes.
//!
//! [`index`] holds the index (schema, n-gram analysis, queries, rebuild from the
//! database); [`writer`] lends its one writer to one write at a time, all or nothing
//! (rolled back when a write fails or is cancelled), and records whether a full rebuild
//! completed; [`processor`] is the db-listenable processor that applies message changes
//! to it; [`query`] turns what a user typed into index terms.

pub mod index;
pub mod processor;
pub mod query;
pub mod writer;

pub use index::{IndexedMessage, MAX_CHECKED_MISSES, Opened, REBUILD_APPLICATION_NAME, SearchError, SearchIndex};
pub use processor::SearchIndexer;
pub use query::{QueryError, SearchQuery};
