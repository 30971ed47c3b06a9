//! The tantivy index of one instance: schema, opening (and rebuilding when missing,
//! corrupt or never completely built), applying message rows, searching.
//!
//! Fields: `message_id` and `chat_id` are indexed `u64`s (the database ids: the first to
//! replace or delete a message's document, the second to keep a search inside its chat;
//! neither ever leaves the server), `number` is stored and fast (to return and order
//! hits), `body` is stored as written, and `grams` indexes the body's 2- to 10-character
//! n-grams, lower-cased, for partial matching.
//!
//! Every write (a change batch, a rebuild) is all or nothing: see [`super::writer`]. A
//! search reads at most [`MAX_CHECKED_MISSES`] stored bodies that turn out not to match
//! (see [`SearchIndex::search`]).

use std::path::{Path, PathBuf};

use sqlx::{Connection, PgConnection, PgPool};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, Query, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, TextAnalyzer};
use tantivy::{DocAddress, Index, IndexReader, Order, ReloadPolicy, TantivyDocument, Term, doc};

use super::query::{MAX_GRAM, MIN_GRAM, SearchQuery};
use super::writer::{self, Completes, WriteSession, Writer};

/// The name the n-gram analyzer is registered under (tokenizers are not stored in the
/// index, so it is registered at every opening).
const NGRAM_TOKENIZER: &str = "chats_ngram";

/// Messages read from the database per round of a rebuild.
const REBUILD_BATCH: i64 = 1_000;

/// The `application_name` of a rebuild's own database connection: an operator finds (or
/// terminates) a long rebuild in `pg_stat_activity` by it.
pub const REBUILD_APPLICATION_NAME: &str = "chats index rebuild";

/// The most candidates a search reads from the store and finds not matching before it
/// gives up ([`SearchError::TooBroad`]): a word the index cannot look up (one character,
/// or a longer word's order) is checked on each candidate's body, and a candidate that
/// fails the check is work without a hit. So one search reads at most the hits of its
/// page and those before it, plus this many bodies.
pub const MAX_CHECKED_MISSES: usize = 1_000;

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
    /// A write session without its writer (a bug: a session holds one until it ends).
    #[error("search index: the write session lost its writer")]
    WriterLost,
    /// A search checked [`MAX_CHECKED_MISSES`] candidates without finding its page (the
    /// client's to narrow).
    #[error(
        "the search would check too many messages: the index cannot look up {words}, and over \
         {MAX_CHECKED_MISSES} messages with the other words do not contain {them}; add a word of \
         {MIN_GRAM} to {MAX_GRAM} characters that the messages you want contain",
        words = quoted(.checked),
        them = if .checked.len() == 1 { "it" } else { "them" },
    )]
    TooBroad {
        /// The words that are checked on bodies, not looked up.
        checked: Vec<String>,
    },
}

/// `a`, `a` or `b`, ...: words in backquotes.
fn quoted(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|word| format!("`{word}`")).collect();
    quoted.join(" or ")
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
    /// A valid index whose first full rebuild never committed (it failed, was cancelled,
    /// or the process stopped meanwhile), or one written before completeness was
    /// recorded: rebuild it from the database.
    Incomplete,
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
    index: Index,
    reader: IndexReader,
    writer: Option<Writer>,
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
            Ok(index) if writer::is_complete(&index)? => (index, Opened::Existing),
            Ok(index) => (index, Opened::Incomplete),
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
        let writer = Writer::open(&index)?;
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

    fn new(dir: &Path, index: Index, writer: Option<Writer>) -> Result<SearchIndex, SearchError> {
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let fields = Fields::of(&index.schema())?;
        Ok(SearchIndex { dir: dir.to_owned(), index, reader, writer, fields })
    }

    /// Whether the index's last commit says it is complete: a full rebuild committed
    /// (see [`Opened::Incomplete`]). Read from disk, so a read-only view sees the writer's
    /// last commit.
    ///
    /// # Errors
    /// [`SearchError::Index`] if the index metadata cannot be read.
    pub fn is_complete(&self) -> Result<bool, SearchError> {
        writer::is_complete(&self.index)
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
        let session = self.begin_write().await?;
        let rows: Vec<IndexedMessage> =
            sqlx::query_as("SELECT id, chat_id, number, body FROM messages WHERE id = ANY($1)")
                .bind(ids)
                .fetch_all(pool)
                .await?;
        let fields = self.fields;
        let ids = ids.to_vec();
        tokio::task::spawn_blocking(move || -> Result<(), SearchError> {
            let writer = session.writer()?;
            for id in ids {
                writer.delete_term(Term::from_field_u64(fields.message_id, as_u64(id)));
            }
            for row in &rows {
                writer.add_document(document(&fields, row))?;
            }
            session.commit(Completes::Unchanged)
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
    /// All or nothing: one commit at the end. Failed, or dropped before it (a cancelled
    /// request), it rolls the writer back, so the documents stay as they were. It reads
    /// on a connection of its own named [`REBUILD_APPLICATION_NAME`], which asks the
    /// server to check every second that it is still there: a rebuild dropped while its
    /// query runs or waits leaves no query behind for long. A full rebuild that commits
    /// marks the index complete.
    ///
    /// # Errors
    /// [`SearchError`] if the database or the index fails; nothing is committed then.
    pub async fn rebuild(&self, pool: &PgPool, chat_id: Option<i64>) -> Result<u64, SearchError> {
        let mut connection = rebuild_connection(pool).await?;
        let mut session = self.begin_write().await?;
        let fields = self.fields;
        match chat_id {
            Some(chat) => {
                session.writer()?.delete_term(Term::from_field_u64(fields.chat_id, as_u64(chat)));
            }
            None => {
                session.writer()?.delete_all_documents()?;
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
            .fetch_all(&mut connection)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            indexed += rows.len() as u64;
            // The session travels with the work: dropped with it (an error, a panic, the
            // result of a task whose caller was cancelled), it rolls back.
            session = tokio::task::spawn_blocking(move || -> Result<WriteSession, SearchError> {
                {
                    let writer = session.writer()?;
                    for row in &rows {
                        writer.add_document(document(&fields, row))?;
                    }
                }
                Ok(session)
            })
            .await??;
        }
        // Everything is read: a failure to say goodbye loses nothing.
        if let Err(error) = connection.close().await {
            tracing::debug!(%error, "search index: closing the rebuild's connection");
        }
        let completes = if chat_id.is_none() { Completes::Yes } else { Completes::Unchanged };
        tokio::task::spawn_blocking(move || session.commit(completes)).await??;
        self.reader.reload()?;
        Ok(indexed)
    }

    /// The hits of `query` in chat `chat_id`, by number, `limit` of them after skipping
    /// `offset`: `(number, body)`.
    ///
    /// A query whose every word is looked up in the index pages in the index. Otherwise
    /// candidates are checked on their stored bodies, at most `offset + limit` hits plus
    /// [`MAX_CHECKED_MISSES`] misses of them.
    ///
    /// # Errors
    /// [`SearchError::TooBroad`] when the misses run out before the page is full;
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
        // from the first until the page is full. The page's hits and those before it, plus
        // MAX_CHECKED_MISSES candidates that fail the check, are the most that can be
        // needed before an answer or a refusal: only that many are collected.
        let wanted = offset.saturating_add(limit);
        let candidates = wanted.saturating_add(MAX_CHECKED_MISSES).saturating_add(1);
        let mut hits = Vec::new();
        let mut misses = 0_usize;
        for (_, address) in searcher.search(&tantivy_query, &by_number(candidates, 0))? {
            let hit = read(address)?;
            if query.matches(&hit.1) {
                hits.push(hit);
                if hits.len() >= wanted {
                    break;
                }
            } else {
                misses += 1;
                if misses > MAX_CHECKED_MISSES {
                    return Err(SearchError::TooBroad { checked: query.checked_words() });
                }
            }
        }
        // Every candidate was read, or the page is full: exact either way.
        Ok(hits.into_iter().skip(offset).take(limit).collect())
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

    async fn begin_write(&self) -> Result<WriteSession, SearchError> {
        match &self.writer {
            Some(writer) => writer.begin().await,
            None => Err(SearchError::ReadOnly(self.dir.clone())),
        }
    }
}

/// A connection of its own for a rebuild (see [`SearchIndex::rebuild`]): named, and
/// checked by the server every second while a query runs, so that a rebuild dropped
/// mid-query (its socket closed) has its query stopped rather than finished for nobody.
async fn rebuild_connection(pool: &PgPool) -> Result<PgConnection, SearchError> {
    let options = (*pool.connect_options())
        .clone()
        .application_name(REBUILD_APPLICATION_NAME)
        .options([("client_connection_check_interval", "1s")]);
    Ok(PgConnection::connect_with(&options).await?)
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
