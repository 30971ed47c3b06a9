//! Outcomes a processor asks for beyond "done" and "failed, retry with backoff": errors
//! the runtime recognises in a processor's [`ProcessError`] (River's `JobCancel` and
//! `JobSnooze`, apalis' `Abort`).
//!
//! A processor keeps returning `Result<(), ProcessError>`; it returns one of these as
//! its error, boxed by `.into()` or `?`:
//!
//! | returned | the change | recorded |
//! |---|---|---|
//! | [`Permanent`] | dead-lettered now, no further attempt | the dead letter's `last_error` |
//! | [`RetryAfter`] | tried again after the processor's delay; **counts as an attempt** | the delivery's `last_error`, then the dead letter's |
//! | [`Skip`] | settled as done, without effect | logged with its reason; [`SubscriberStats::skipped_here`](super::SubscriberStats::skipped_here) |
//!
//! The runtime looks at the returned error itself, not at its sources: wrapping one in
//! another error type turns it into an ordinary failure.
//!
//! A [`RetryAfter`] spends an attempt like a failure does, so a change that keeps asking
//! for one is dead-lettered after [`RuntimeConfig::max_attempts`](super::RuntimeConfig::max_attempts)
//! with the last reason: it cannot wait forever unnoticed. A processor waiting for
//! something slow picks a longer delay rather than more attempts.

use std::fmt;
use std::time::Duration;

use super::processor::ProcessError;

/// The change can never succeed: dead-letter it now, with this error as its reason
/// (`last_error`), instead of spending the remaining attempts.
///
/// ```
/// use db_listenable::runtime::{Permanent, ProcessError};
///
/// fn check(quantity: i32) -> Result<(), ProcessError> {
///     if quantity < 0 {
///         return Err(Permanent::because(format!("a negative quantity ({quantity}) cannot be invoiced")).into());
///     }
///     Ok(())
/// }
/// assert!(check(-1).is_err());
/// ```
#[derive(Debug)]
pub struct Permanent {
    reason: String,
}

impl Permanent {
    /// A permanent failure explained by `reason`.
    pub fn because(reason: impl Into<String>) -> Self {
        Permanent { reason: reason.into() }
    }

    /// A permanent failure whose reason is `error`'s text with its sources
    /// (`.map_err(Permanent::from_error)?`).
    pub fn from_error(error: impl Into<ProcessError>) -> Self {
        Permanent { reason: super::subscriber::error_text(&*error.into()) }
    }

    /// Why the change can never succeed.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Permanent {}

/// Try the change again after `delay` (the processor's choice, not the backoff's), for
/// `reason`: a rate limit's `Retry-After`, a dependency still warming up.
///
/// It counts as an attempt: on the last one the change is dead-lettered with this
/// reason. The delivery's `last_error` reads `retry after <delay>: <reason>` meanwhile.
///
/// ```
/// use std::time::Duration;
/// use db_listenable::runtime::{ProcessError, RetryAfter};
///
/// fn index(throttled_for: Option<u64>) -> Result<(), ProcessError> {
///     if let Some(seconds) = throttled_for {
///         return Err(RetryAfter::new(Duration::from_secs(seconds), "the search cluster throttles writes").into());
///     }
///     Ok(())
/// }
/// assert!(index(Some(30)).is_err());
/// ```
#[derive(Debug)]
pub struct RetryAfter {
    delay: Duration,
    reason: String,
}

impl RetryAfter {
    /// Try again after `delay`, because of `reason`.
    pub fn new(delay: Duration, reason: impl Into<String>) -> Self {
        RetryAfter { delay, reason: reason.into() }
    }

    /// How long to wait before the next attempt.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Why the change waits.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "retry after {:?}: {}", self.delay, self.reason)
    }
}

impl std::error::Error for RetryAfter {}

/// Nothing to do for this change: settle it as done, without effect, for `reason`
/// (logged at `info`, counted in [`SubscriberStats::skipped_here`](super::SubscriberStats::skipped_here)).
///
/// ```
/// use db_listenable::runtime::{ProcessError, Skip};
///
/// fn apply(already_applied: bool) -> Result<(), ProcessError> {
///     if already_applied {
///         return Err(Skip::because("already applied").into());
///     }
///     Ok(())
/// }
/// assert!(apply(true).is_err());
/// ```
#[derive(Debug)]
pub struct Skip {
    reason: String,
}

impl Skip {
    /// Skip the change, because of `reason`.
    pub fn because(reason: impl Into<String>) -> Self {
        Skip { reason: reason.into() }
    }

    /// Why the change was skipped.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped: {}", self.reason)
    }
}

impl std::error::Error for Skip {}
