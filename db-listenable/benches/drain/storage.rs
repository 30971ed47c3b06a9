//! Storage after a drain: the size of our relations just before the runtime starts,
//! right after the drain, and whether it comes back to a few MB while the runtime keeps
//! running idle, with no VACUUM FULL and no manual step.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::schema_stats::total_size;

/// Below this, our relations count as back to "a few MB" (issue 18's bounded storage).
pub const SHRUNK_BELOW: u64 = 8_000_000;

/// How long the idle runtime is given to get there.
pub const IDLE_WAIT: Duration = Duration::from_secs(30);

/// How often the size is read while waiting.
const SIZE_POLL: Duration = Duration::from_millis(250);

/// The size of our relations around one drain, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Storage {
    /// Just before the runtime started (the backlog written).
    pub before: u64,
    /// Right after the processor had seen every change.
    pub after_drain: u64,
    /// While the runtime kept running idle.
    pub idle: Idle,
}

/// How the size went while the runtime ran idle after the drain.
#[derive(Debug, Clone, Copy)]
pub enum Idle {
    /// Below [`SHRUNK_BELOW`] after this long; the size then.
    Shrunk { after: Duration, size: u64 },
    /// Still at or above [`SHRUNK_BELOW`] after [`IDLE_WAIT`]; the size then.
    DidNotShrink { size: u64 },
}

/// Reads the size until it is below [`SHRUNK_BELOW`] or [`IDLE_WAIT`] has passed (the
/// caller keeps its runtime running meanwhile).
pub async fn watch_idle(pool: &PgPool) -> Idle {
    let started = Instant::now();
    loop {
        let size = total_size(pool).await;
        if size < SHRUNK_BELOW {
            return Idle::Shrunk { after: started.elapsed(), size };
        }
        if started.elapsed() >= IDLE_WAIT {
            return Idle::DidNotShrink { size };
        }
        tokio::time::sleep(SIZE_POLL).await;
    }
}

impl Storage {
    /// `storage: 12.3 MB before, 45.6 MB after the drain, 7.9 MB after 3.2 s idle`.
    pub fn label(&self) -> String {
        let idle = match self.idle {
            Idle::Shrunk { after, size } => format!("{} after {:.1} s idle", mb(size), after.as_secs_f64()),
            Idle::DidNotShrink { size } => format!(
                "did not shrink below {} in {} s idle ({} then)",
                mb(SHRUNK_BELOW),
                IDLE_WAIT.as_secs(),
                mb(size)
            ),
        };
        format!(
            "storage of db_listenable: {} before, {} after the drain, {idle}",
            mb(self.before),
            mb(self.after_drain)
        )
    }
}

/// Decimal megabytes: `12.3 MB`.
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
