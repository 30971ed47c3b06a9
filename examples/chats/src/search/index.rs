//! The tantivy index of one instance: schema, opening (and rebuilding when missing or
//! corrupt), applying message rows, searching.
//!
//! Fields: `message_id` and `chat_id` are indexed `u64`s (the database ids: the first to
//! replace or delete a message's document, the second to keep a search inside its chat;
//! neither ever leaves the server), `number` is stored and fast (to return and order
//! hits), `body` is stored as written, and `grams` indexes the body's 2- to 10-character
//! n-grams, lower-cased, for partial matching.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::PgPool;
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Query, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, TextAnalyzer};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term, doc};
use tokio::sync::Mutex;

use super::query::{MAX_GRAM, MIN_GRAM, SearchQuery};

/// The name the n-gram analyzer is registered under (tokenizers are not stored in the
/// index, so it is registered at every opening).
const NGRAM_TOKENIZER: &str = "chats_ngram";

/// Memory for the writer's one indexing thread: tantivy's minimum is 15 MB; several
/// instances may share a machine.
const WRITER_MEMORY: usize = 20_000_000;

/// Messages read from the database per round of a rebuild.
const REBUILD_BATCH: i64 = 1_000;

/// What went wrong with the index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy failed (I/O, a corrupt file, the writer lock held by another process).
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// Reading messages failed.
    #[error("search index: reading messages: {0}")]
    Database(#[from] sqlx::Error),
    /// Preparing the index directory failed.
    #[error("search index: {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A blocking task of the index panicked or was cancelled.
    #[error("search index: a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// There is no valid index to read.
    #[error("search index {path}: {reason}")]
    Unusable {
        /// The index directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The index was opened for reading only.
    #[error("search index {0} is open read-only")]
    ReadOnly(PathBuf),
}

/// How [`SearchIndex::open_or_create`] found the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A valid index: it is up to date as far as its subscriber's deliveries go.
    Existing,
    /// A new, empty index (the directory was missing, corrupt or of another schema):
    /// rebuild it from the database.
    Created {
        /// Why it was created, for the log.
        reason: String,
    },
}

/// A message as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub struct IndexedMessage {
    /// Database id.
    pub id: i64,
    /// The chat's database id.
    pub chat_id: i64,
    /// Its number in the chat.
    pub number: i64,
    /// The text.
    pub body: String,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    message_id: Field,
    chat_id: Field,
    number: Field,
    body: Field,
    grams: Field,
}

impl Fields {
    fn of(schema: &Schema) -> Result<Fields, SearchError> {
        Ok(Fields {
            message_id: schema.get_field("message_id")?,
            chat_id: schema.get_field("chat_id")?,
            number: schema.get_field("number")?,
            body: schema.get_field("body")?,
            grams: schema.get_field("grams")?,
        })
    }
}

/// The index's schema.
pub fn schema() -> Schema {
    let mut builder = Schema::builder();
    builder.add_u64_field("message_id", INDEXED | STORED);
    builder.add_u64_field("chat_id", INDEXED | STORED);
    builder.add_u64_field("number", STORED | FAST);
    builder.add_text_field("body", STORED);
    let grams = TextFieldIndexing::default().set_tokenizer(NGRAM_TOKENIZER).set_index_option(IndexRecordOption::Basic);
    builder.add_text_field("grams", TextOptions::default().set_indexing_options(grams));
    builder.build()
}

fn analyzer() -> Result<TextAnalyzer, SearchError> {
    Ok(TextAnalyzer::builder(NgramTokenizer::all_ngrams(MIN_GRAM, MAX_GRAM)?).filter(LowerCaser).build())
}

/// One instance's index. Cheap to share (`Arc`); searches run concurrently, writes
/// (change batches, rebuilds) one at a time.
pub struct SearchIndex {
    dir: PathBuf,
    reader: IndexReader,
    // A tokio mutex: a writer holds it across the database read that precedes the write,
    // so a rebuild and a change batch never interleave their reads and writes.
    writer: Option<Arc<Mutex<IndexWriter<TantivyDocument>>>>,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir` for writing; a missing, unreadable or outdated index is
    /// replaced by an empty one (the caller rebuilds it, see [`Opened`]).
    ///
    /// # Errors
    /// [`SearchError::Index`] when the writer lock is held (another process writes this
    /// index) or the directory cannot be written; [`SearchError::Io`] likewise.
    pub fn open_or_create(dir: &Path) -> Result<(SearchIndex, Opened), SearchError> {
        let (index, opened) = match open_valid(dir) {
            Ok(index) => (index, Opened::Existing),
            Err(reason) => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(|source| SearchError::Io { path: dir.to_owned(), source })?;
                }
                std::fs::create_dir_all(dir).map_err(|source| SearchError::Io { path: dir.to_owned(), source })?;
                let index = Index::create_in_dir(dir, schema())?;
                index.tokenizers().register(NGRAM_TOKENIZER, analyzer()?);
                (index, Opened::Created { reason })
            }
        };
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let search_index = SearchIndex::new(dir, index, Some(writer))?;
        Ok((search_index, opened))
    }

    /// Opens the index in `dir` for reading only (`chats check` next to a running server,
    /// which holds the writer).
    ///
    /// # Errors
    /// [`SearchError::Unusable`] when there is no valid index in `dir`.
    pub fn open_read_only(dir: &Path) -> Result<SearchIndex, SearchError> {
        let index = open_valid(dir).map_err(|reason| SearchError::Unusable { path: dir.to_owned(), reason })?;
        SearchIndex::new(dir, index, None)
    }

    fn new(dir: &Path, index: Index, writer: Option<IndexWriter<TantivyDocument>>) -> Result<SearchIndex, SearchError> {
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let fields = Fields::of(&index.schema())?;
        Ok(SearchIndex {
            dir: dir.to_owned(),
            reader,
            writer: writer.map(|writer| Arc::new(Mutex::new(writer))),
            fields,
        })
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the index's documents of messages `ids` match the database: each one that
    /// exists is (re)indexed, each one that does not is removed. Idempotent, and correct
    /// in any order, since it writes what the database holds now.
    ///
    /// # Errors
    /// [`SearchError`] if the database or the index fails; nothing is committed then.
    pub async fn refresh_messages(&self, pool: &PgPool, ids: &[i64]) -> Result<(), SearchError> {
        if ids.is_empty() {
            return Ok(());
        }
        let writer = self.lock_writer().await?;
        let rows: Vec<IndexedMessage> =
            sqlx::query_as("SELECT id, chat_id, number, body FROM messages WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(pool)
                .await?;
        let fields = self.fields;
        let ids = ids.to_vec();
        tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
            let mut writer = writer;
            for id in ids {
                writer.delete_term(Term::from_field_u64(fields.message_id, as_u64(id)));
            }
            for row in &rows {
                writer.add_document(document(&fields, row))?;
            }
            writer.commit()?;
            Ok(())
        })
        .await??;
        self.reader.reload()?;
        Ok(())
    }

    /// Replaces the documents of every message (`chat_id` `None`) or of one chat with
    /// what the database holds; returns how many messages were indexed.
    ///
    /// Change batches wait meanwhile, and those that arrive later are applied after it,
    /// so the index ends up equal to the database either way.
    ///
    /// # Errors
    /// [`SearchError`] if the database or the index fails; nothing is committed then.
    pub async fn rebuild(&self, pool: &PgPool, chat_id: Option<i64>) -> Result<u64, SearchError> {
        let mut writer = self.lock_writer().await?;
        let fields = self.fields;
        match chat_id {
            Some(chat) => {
                writer.delete_term(Term::from_field_u64(fields.chat_id, as_u64(chat)));
            }
            None => {
                writer.delete_all_documents()?;
            }
        }
        let mut after = 0_i64;
        let mut indexed = 0_u64;
        loop {
            // Keyset pages: a rebuild of millions of messages holds one page at a time.
            let rows: Vec<IndexedMessage> = sqlx::query_as(
                "SELECT id, chat_id, number, body FROM messages
                 WHERE id > $1 AND ($2::bigint IS NULL OR chat_id = $2)
                 ORDER BY id LIMIT $3",
            )
            .bind(after)
            .bind(chat_id)
            .bind(REBUILD_BATCH)
            .fetch_all(pool)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            indexed += rows.len() as u64;
            writer = tokio::task::spawn_blocking(move || -> Result<_, SearchError> {
                for row in &rows {
                    writer.add_document(document(&fields, row))?;
                }
                Ok(writer)
            })
            .await??;
        }
        tokio::task::spawn_blocking(move || writer.commit().map(drop)).await??;
        self.reader.reload()?;
        Ok(indexed)
    }

    /// The hits of `query` in chat `chat_id`, by number, `limit` of them after skipping
    /// `offset`: `(number, body)`.
    ///
    /// # Errors
    /// [`SearchError::Index`] if the index cannot be read.
    pub fn search(
        &self,
        chat_id: i64,
        query: &SearchQuery,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, SearchError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<Box<dyn Query>> = vec![Box::new(TermQuery::new(
            Term::from_field_u64(self.fields.chat_id, as_u64(chat_id)),
            IndexRecordOption::Basic,
        ))];
        for gram in query.grams() {
            clauses.push(Box::new(TermQuery::new(
                Term::from_field_text(self.fields.grams, &gram),
                IndexRecordOption::Basic,
            )));
        }
        let tantivy_query = BooleanQuery::intersection(clauses);
        let searcher = self.reader.searcher();
        let by_number = |limit: usize, offset: usize| {
            TopDocs::with_limit(limit).and_offset(offset).order_by_fast_field::<u64>("number", Order::Asc)
        };
        let read = |address: DocAddress| -> Result<(i64, String), SearchError> {
            let document: TantivyDocument = searcher.doc(address)?;
            let number = document.get_first(self.fields.number).and_then(|v| v.as_u64()).unwrap_or_default();
            let body = document.get_first(self.fields.body).and_then(|v| v.as_str()).unwrap_or_default();
            Ok((i64::try_from(number).unwrap_or(i64::MAX), body.to_owned()))
        };
        if query.is_exact() {
            // The n-grams decide every hit: the index pages by itself.
            let top = searcher.search(&tantivy_query, &by_number(limit, offset))?;
            return top.into_iter().map(|(_, address)| read(address)).collect();
        }
        // Some word needs checking on the stored body: candidates are read in number order
        // from the first, more of them while hits are missing, never more than the index
        // holds (past that, the round is the last one).
        let wanted = offset.saturating_add(limit);
        let max_docs = usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX).saturating_add(1);
        let mut candidates = wanted.min(max_docs);
        loop {
            let top = searcher.search(&tantivy_query, &by_number(candidates, 0))?;
            let mut hits = Vec::new();
            for (_, address) in &top {
                let hit = read(*address)?;
                if query.matches(&hit.1) {
                    hits.push(hit);
                }
            }
            if hits.len() >= wanted || top.len() < candidates {
                return Ok(hits.into_iter().skip(offset).take(limit).collect());
            }
            candidates = candidates.saturating_mul(4).min(max_docs);
        }
    }

    /// Every document of the index, sorted by message id (for `chats check`).
    ///
    /// # Errors
    /// [`SearchError::Index`] if the index cannot be read.
    pub fn documents(&self) -> Result<Vec<IndexedMessage>, SearchError> {
        self.reader.reload()?;
        let searcher = self.reader.searcher();
        let mut out = Vec::new();
        for address in searcher.search(&AllQuery, &DocSetCollector)? {
            let document: TantivyDocument = searcher.doc(address)?;
            let u64_of = |field| document.get_first(field).and_then(|v| v.as_u64()).unwrap_or_default();
            out.push(IndexedMessage {
                id: i64::try_from(u64_of(self.fields.message_id)).unwrap_or(-1),
                chat_id: i64::try_from(u64_of(self.fields.chat_id)).unwrap_or(-1),
                number: i64::try_from(u64_of(self.fields.number)).unwrap_or(-1),
                body: document.get_first(self.fields.body).and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
            });
        }
        out.sort();
        Ok(out)
    }

    async fn lock_writer(&self) -> Result<tokio::sync::OwnedMutexGuard<IndexWriter<TantivyDocument>>, SearchError> {
        match &self.writer {
            Some(writer) => Ok(Arc::clone(writer).lock_owned().await),
            None => Err(SearchError::ReadOnly(self.dir.clone())),
        }
    }
}

/// Opens the index in `dir` if it is there, readable and of our schema; otherwise says
/// why not.
fn open_valid(dir: &Path) -> Result<Index, String> {
    if !dir.join("meta.json").exists() {
        return Err(format!("no index in {}", dir.display()));
    }
    let index = Index::open_in_dir(dir).map_err(|error| format!("unreadable index: {error}"))?;
    let ours = serde_json::to_value(schema()).map_err(|error| error.to_string())?;
    let theirs = serde_json::to_value(index.schema()).map_err(|error| error.to_string())?;
    if ours != theirs {
        return Err("the index has another schema".into());
    }
    index.tokenizers().register(NGRAM_TOKENIZER, analyzer().map_err(|error| error.to_string())?);
    // Opening a reader loads every segment: missing or damaged segment files show here.
    let reader: IndexReader = index.reader().map_err(|error| format!("unreadable segments: {error}"))?;
    let searcher = reader.searcher();
    for segment in searcher.segment_readers() {
        segment.get_store_reader(0).map_err(|error| format!("unreadable document store: {error}"))?;
    }
    Ok(index)
}

fn document(fields: &Fields, row: &IndexedMessage) -> TantivyDocument {
    doc!(
        fields.message_id => as_u64(row.id),
        fields.chat_id => as_u64(row.chat_id),
        fields.number => as_u64(row.number),
        fields.body => row.body.as_str(),
        fields.grams => row.body.as_str(),
    )
}

/// Database ids and numbers are positive (`bigserial`, `CHECK (number > 0)`).
fn as_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}
