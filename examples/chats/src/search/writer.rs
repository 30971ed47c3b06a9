//! The index's one writer, lent to one write at a time, all or nothing.
//!
//! tantivy queues deletions and additions in the writer until a commit, and the next
//! commit persists everything queued, whoever queued it. A write that fails or is
//! cancelled after queuing (a rebuild's `delete_all_documents`, then a lost database
//! connection) would have its half persisted by the next change batch's commit. So a
//! write holds a [`WriteSession`]: dropped without [`commit`](WriteSession::commit) (an
//! error, a panic, a cancelled future), it rolls the writer back to the last commit
//! before the next write can have it.
//!
//! Each commit also records whether the index is *complete*: a full rebuild committed,
//! and every commit since applied changes on top (the tantivy commit payload, in the same
//! atomic `meta.json` write as the documents). A new index is incomplete until its first
//! full rebuild commits, so one whose rebuild never finished (failed, interrupted, the
//! process killed) is rebuilt at the next start instead of passing for complete.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tantivy::{Index, IndexWriter, TantivyDocument};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::index::SearchError;

/// Memory for the writer's one indexing thread: tantivy's minimum is 15 MB; several
/// instances may share a machine.
const WRITER_MEMORY: usize = 20_000_000;

/// The commit payload of a complete index.
const COMPLETE: &str = "chats: complete";

/// The commit payload of an index whose first full rebuild has not committed yet.
const INCOMPLETE: &str = "chats: incomplete";

/// Whether the last commit of `index` says it is complete.
///
/// # Errors
/// [`SearchError::Index`] if `meta.json` cannot be read.
pub fn is_complete(index: &Index) -> Result<bool, SearchError> {
    Ok(index.load_metas()?.payload.as_deref() == Some(COMPLETE))
}

/// What a commit says about completeness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completes {
    /// A full rebuild: the index is complete from this commit on.
    Yes,
    /// Changes on top: the index stays as complete as it was.
    Unchanged,
}

struct Slot {
    /// `None` after a roll-back failed (the writer is unusable then): the next session
    /// opens a new one, which starts from the last commit as a roll-back would.
    writer: Option<IndexWriter<TantivyDocument>>,
    /// Whether the last commit was complete.
    complete: bool,
}

/// The writer of an index opened for writing.
#[derive(Clone)]
pub struct Writer {
    index: Index,
    // A tokio mutex: a session holds it across the database reads that precede its
    // writes, so a rebuild and a change batch never interleave.
    slot: Arc<Mutex<Slot>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Takes the writer lock of `index`.
    ///
    /// # Errors
    /// [`SearchError::Index`] when the lock stays busy (another process holds it), or
    /// `meta.json` cannot be read.
    pub fn open(index: &Index) -> Result<Writer, SearchError> {
        let writer = open_writer(index)?;
        let complete = is_complete(index)?;
        Ok(Writer { index: index.clone(), slot: Arc::new(Mutex::new(Slot { writer: Some(writer), complete })) })
    }

    /// Waits for the writer (other writes finish or roll back first), for one write.
    ///
    /// # Errors
    /// [`SearchError::Index`] when a writer lost to a failed roll-back cannot be opened
    /// again.
    pub async fn begin(&self) -> Result<WriteSession, SearchError> {
        let mut slot = Arc::clone(&self.slot).lock_owned().await;
        if slot.writer.is_none() {
            slot.writer = Some(open_writer(&self.index)?);
        }
        Ok(WriteSession { slot: Some(slot) })
    }
}

/// How long opening the writer waits for a lock that is busy.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Opens the writer, waiting up to [`LOCK_WAIT`] while its lock is busy: a write that was
/// abandoned (a failed start, a previous instance stopping) rolls back on a blocking
/// thread and lets the lock go when done. Past that, the lock is someone else's.
fn open_writer(index: &Index) -> Result<IndexWriter<TantivyDocument>, SearchError> {
    let started = Instant::now();
    loop {
        match index.writer_with_num_threads(1, WRITER_MEMORY) {
            Err(tantivy::TantivyError::LockFailure(tantivy::directory::error::LockError::LockBusy, _))
                if started.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            result => return Ok(result?),
        }
    }
}

/// The writer, lent to one write: queue deletions and additions with
/// [`writer`](WriteSession::writer), then [`commit`](WriteSession::commit); dropped
/// uncommitted, it rolls them back.
pub struct WriteSession {
    /// `Some` until committed or dropped.
    slot: Option<OwnedMutexGuard<Slot>>,
}

impl std::fmt::Debug for WriteSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSession").field("open", &self.slot.is_some()).finish()
    }
}

impl WriteSession {
    /// The writer, to queue operations (tantivy's take `&self`).
    ///
    /// # Errors
    /// [`SearchError::WriterLost`] never in practice: a session always holds a writer
    /// until it ends.
    pub fn writer(&self) -> Result<&IndexWriter<TantivyDocument>, SearchError> {
        self.slot.as_ref().and_then(|slot| slot.writer.as_ref()).ok_or(SearchError::WriterLost)
    }

    /// Commits what was queued, with its completeness, and ends the session. Blocking:
    /// call it off the async workers.
    ///
    /// # Errors
    /// [`SearchError::Index`] if tantivy fails; the session is rolled back then.
    pub fn commit(mut self, completes: Completes) -> Result<(), SearchError> {
        let slot = self.slot.as_mut().ok_or(SearchError::WriterLost)?;
        let complete = slot.complete || completes == Completes::Yes;
        let writer = slot.writer.as_mut().ok_or(SearchError::WriterLost)?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(if complete { COMPLETE } else { INCOMPLETE });
        prepared.commit()?;
        slot.complete = complete;
        // Committed: released without a roll-back.
        self.slot = None;
        Ok(())
    }
}

impl Drop for WriteSession {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let rollback = Rollback(slot);
        // A roll-back joins the indexing thread: off the async workers when there are
        // some. The lock goes with it, so no write starts before it is done; and should
        // the task never run (the runtime shutting down), dropping it rolls back too.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(move || drop(rollback))),
            Err(_) => drop(rollback),
        }
    }
}

/// Rolls the writer back when dropped, then releases its lock.
struct Rollback(OwnedMutexGuard<Slot>);

impl Drop for Rollback {
    fn drop(&mut self) {
        let Some(writer) = self.0.writer.as_mut() else { return };
        if let Err(error) = writer.rollback() {
            // The writer is unusable now (tantivy gave its directory lock up): dropped, so
            // that the next write opens a new one from the last commit.
            tracing::error!(%error, "search index: rolling back an unfinished write failed; reopening the writer");
            self.0.writer = None;
        }
    }
}
