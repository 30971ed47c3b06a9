//! The reindex rate limit: a reindex reads a whole chat and holds the index writer
//! meanwhile (change batches wait), so one application looping on it would keep every
//! application's search behind. Each application gets a burst of [`REINDEX_BURST`]
//! reindexes, then one more every [`REINDEX_EVERY`]; past that, 429 with `Retry-After`.
//!
//! Per server instance, in memory: each instance rebuilds its own index, so each limits
//! what is asked of it, and a restart forgets the counts.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Reindexes an application may ask of one instance at once.
pub const REINDEX_BURST: u32 = 3;

/// How long one more reindex takes to come back.
pub const REINDEX_EVERY: Duration = Duration::from_secs(10);

/// A rate limit per key (an application's token): a bucket of `burst` requests that
/// refills one every `every` (the generic cell rate algorithm: one instant per key, the
/// moment its bucket is full again).
#[derive(Debug)]
pub struct RateLimiter {
    burst: u32,
    every: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Per key, when its bucket is full again; keys with full buckets are forgotten.
    full_at: HashMap<String, Instant>,
    /// When full buckets are forgotten next (at most once per refill period, so the
    /// sweep costs nothing per request).
    next_sweep: Instant,
}

/// A refused request: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up (the `Retry-After` header's unit; never 0).
    pub fn seconds(self) -> u64 {
        let whole = self.0.as_secs();
        if self.0.subsec_nanos() > 0 || whole == 0 { whole + 1 } else { whole }
    }
}

impl RateLimiter {
    /// A limiter of `burst` requests per key (at least 1), one more every `every`.
    pub fn new(burst: u32, every: Duration) -> Self {
        let state = State { full_at: HashMap::new(), next_sweep: Instant::now() + every };
        RateLimiter { burst: burst.max(1), every, state: Mutex::new(state) }
    }

    /// The reindex limit: [`REINDEX_BURST`], one more every [`REINDEX_EVERY`].
    pub fn reindex() -> Self {
        RateLimiter::new(REINDEX_BURST, REINDEX_EVERY)
    }

    /// Takes one request of `key`'s bucket at `now`.
    ///
    /// # Errors
    /// [`RetryAfter`] when the bucket is empty: how long until it holds one again.
    pub fn try_acquire(&self, key: &str, now: Instant) -> Result<(), RetryAfter> {
        // The map stays consistent whatever a panicking holder did: each update is one
        // insert.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now >= state.next_sweep {
            state.full_at.retain(|_, full_at| *full_at > now);
            state.next_sweep = now + self.every;
        }
        let full_at = state.full_at.get(key).copied().unwrap_or(now).max(now);
        // The bucket holds `burst` requests: it may be up to `burst - 1` periods from full.
        let allowed = self.every * (self.burst - 1);
        let behind = full_at - now;
        if behind > allowed {
            return Err(RetryAfter(behind - allowed));
        }
        state.full_at.insert(key.to_owned(), full_at + self.every);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_period_per_key() {
        let limiter = RateLimiter::new(3, Duration::from_secs(10));
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire("a", start), Ok(()));
        }
        assert_eq!(limiter.try_acquire("a", start), Err(RetryAfter(Duration::from_secs(10))));
        assert_eq!(limiter.try_acquire("b", start), Ok(()), "keys are independent");
        let later = start + Duration::from_millis(2_500);
        let refused = limiter.try_acquire("a", later).expect_err("still empty");
        assert_eq!((refused, refused.seconds()), (RetryAfter(Duration::from_millis(7_500)), 8));
        assert_eq!(limiter.try_acquire("a", start + Duration::from_secs(10)), Ok(()));
        assert!(limiter.try_acquire("a", start + Duration::from_secs(10)).is_err());
        // Idle long enough, the bucket is full again: a whole burst.
        let idle = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.try_acquire("a", idle), Ok(()));
        }
        assert!(limiter.try_acquire("a", idle).is_err());
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limiter = RateLimiter::new(1, Duration::from_secs(1));
        let start = Instant::now();
        for key in 0..100 {
            assert_eq!(limiter.try_acquire(&key.to_string(), start), Ok(()));
        }
        assert_eq!(limiter.try_acquire("last", start + Duration::from_secs(5)), Ok(()));
        let state = limiter.state.lock().expect("not poisoned");
        assert_eq!(state.full_at.len(), 1, "only the key still refilling is kept");
    }
}
