//! Delivery of events after the commit, and the guarantee of each mode.
//!
//! | mode | when | guarantee |
//! |---|---|---|
//! | [`Delivery::InProcess`] (default) | after `COMMIT`, in the pushing task, in order | **at most once**: a crash between commit and dispatch loses the events; a failing handler is reported, not retried |
//! | [`Delivery::Outbox`] | written in the transaction; a worker dispatches later | **at least once**, given a worker that marks a record done only after its handler succeeded (the `db-listenable` worker does): a crash loses nothing, a handler may see an event twice |
//!
//! Neither mode ever dispatches an event of a transaction that rolled back.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use crate::backend::Backend;
use crate::error::BoxError;
use crate::event::Resolved;
use crate::outbox::Outbox;

/// How a push delivers its events, and what each mode guarantees.
///
/// | mode | when | guarantee |
/// |---|---|---|
/// | `InProcess` (default) | after `COMMIT`, in the pushing task, in order | **at most once**: a crash between commit and dispatch loses the events; a failing handler is reported in [`PushOutcome::failures`](crate::PushOutcome::failures), not retried |
/// | `Outbox` | written inside the transaction; a worker dispatches later | **at least once**, given a worker that marks a record done only after its handler succeeded (the `db-listenable` worker does): a crash loses nothing, a handler may see an event twice |
///
/// Neither mode ever dispatches an event of a transaction that rolled back.
pub enum Delivery<B: Backend> {
    /// Dispatch through each event's catalog after the commit. At most once.
    InProcess,
    /// Write the events to an outbox inside the transaction; do not dispatch them here.
    /// At least once, delivered by the outbox's worker.
    Outbox(Arc<dyn Outbox<B>>),
}

impl<B: Backend> Clone for Delivery<B> {
    fn clone(&self) -> Self {
        match self {
            Delivery::InProcess => Delivery::InProcess,
            Delivery::Outbox(outbox) => Delivery::Outbox(Arc::clone(outbox)),
        }
    }
}

impl<B: Backend> fmt::Debug for Delivery<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::InProcess => f.write_str("InProcess"),
            Delivery::Outbox(_) => f.write_str("Outbox(..)"),
        }
    }
}

/// An event whose handler failed (returned an error or panicked) after the commit.
/// The data stays committed; the event is not retried by the in-process mode.
#[derive(Debug)]
pub struct DispatchFailure {
    /// The event's catalog.
    pub catalog: String,
    /// The event's name.
    pub event: String,
    /// The event as `Debug` prints it, payload included, for the log.
    pub detail: String,
    /// The handler's error (a panic becomes an error carrying the panic message).
    pub error: BoxError,
}

impl fmt::Display for DispatchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handler for event `{}` of catalog `{}` failed: {}", self.event, self.catalog, self.error)
    }
}

/// A handler panicked; the panic was caught so the other events still go out.
#[derive(Debug, thiserror::Error)]
#[error("handler panicked: {message}")]
pub struct HandlerPanicked {
    /// The panic message, when it was a string.
    pub message: String,
}

/// Dispatches every event in order; returns how many succeeded and the failures.
pub(crate) async fn dispatch_in_process(events: &[Resolved<'_>]) -> (usize, Vec<DispatchFailure>) {
    let mut delivered = 0;
    let mut failures = Vec::new();
    for resolved in events {
        let event = resolved.event();
        // A panicking handler must not abort the dispatch of the remaining events, and
        // must not unwind out of `push` after the data was committed.
        let outcome = AssertUnwindSafe(event.dispatch()).catch_unwind().await;
        let error: BoxError = match outcome {
            Ok(Ok(())) => {
                delivered += 1;
                continue;
            }
            Ok(Err(error)) => error,
            Err(panic) => Box::new(HandlerPanicked { message: panic_message(panic.as_ref()) }),
        };
        tracing::warn!(catalog = event.catalog(), event = event.name(), %error, "event handler failed after commit");
        failures.push(DispatchFailure {
            catalog: event.catalog().to_owned(),
            event: event.name().to_owned(),
            detail: format!("{event:?}"),
            error,
        });
    }
    (delivered, failures)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}
