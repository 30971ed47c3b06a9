//! Catalogs: which events exist, and how each one is dispatched (the seed's
//! `EventsCatalog`, with `known_event?` and `dispatch`).
//!
//! Two forms, usable side by side in one changeset:
//!
//! - **Typed** ([`Catalog`] + [`Event`]): the catalog's events are a Rust enum, so an
//!   event the catalog does not know is a compile error, and its payload's shape is
//!   checked by the compiler too. Prefer this form.
//! - **Named** ([`NamedCatalog`], [`FnCatalog`]): events are names checked at run time
//!   with JSON payloads, like the seed. An unknown name is rejected by
//!   [`Changeset::add_named_event`](crate::Changeset::add_named_event) when it is added,
//!   with an error naming it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::error::BoxError;
use crate::operation::BoxFuture;

/// An event of a typed catalog: usually an enum with one variant per event, whose
/// fields are the payload.
///
/// Events are deduplicated with `PartialEq` (the catalog, the variant and the fields
/// all equal) and written to an [`Outbox`](crate::Outbox) as their `serde` JSON form.
///
/// ```
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// enum BillingEvent {
///     CustomerCharged { id: i64 },
///     InsuranceClaimCreated { id: i64 },
/// }
///
/// impl pg_changeset::Event for BillingEvent {
///     fn name(&self) -> &'static str {
///         match self {
///             BillingEvent::CustomerCharged { .. } => "customer_charged",
///             BillingEvent::InsuranceClaimCreated { .. } => "insurance_claim_created",
///         }
///     }
/// }
/// ```
pub trait Event: fmt::Debug + PartialEq + Serialize + Send + Sync + 'static {
    /// The event's name within its catalog (`"customer_charged"`).
    fn name(&self) -> &'static str;
}

/// A typed catalog: its events are the values of [`Catalog::Event`], and it dispatches
/// them.
///
/// ```
/// use pg_changeset::{BoxError, BoxFuture, Catalog, Event};
///
/// #[derive(Debug, PartialEq, serde::Serialize)]
/// enum Planning { Updated { week: String } }
///
/// impl Event for Planning {
///     fn name(&self) -> &'static str { "planning_updated" }
/// }
///
/// struct PlanningCatalog;
///
/// impl Catalog for PlanningCatalog {
///     const NAME: &'static str = "planning";
///     type Event = Planning;
///
///     fn dispatch<'a>(&'a self, event: &'a Planning) -> BoxFuture<'a, Result<(), BoxError>> {
///         Box::pin(async move {
///             match event {
///                 Planning::Updated { week } => println!("enqueue rebuild of {week}"),
///             }
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Catalog: Send + Sync + 'static {
    /// The catalog's name: part of an event's identity (for deduplication) and of its
    /// outbox record, so keep it stable.
    const NAME: &'static str;

    /// The events this catalog knows.
    type Event: Event;

    /// Hands the event to whatever does the work (enqueue a job, publish a message).
    /// Runs after the commit; an error is reported in the
    /// [`PushOutcome`](crate::PushOutcome) and does not undo the commit.
    fn dispatch<'a>(&'a self, event: &'a Self::Event) -> BoxFuture<'a, Result<(), BoxError>>;
}

/// An event of a [`NamedCatalog`]: a name and a JSON payload.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct NamedEvent {
    name: String,
    payload: serde_json::Value,
}

impl NamedEvent {
    /// An event. Name checks happen in
    /// [`Changeset::add_named_event`](crate::Changeset::add_named_event), not here.
    pub fn new(name: impl Into<String>, payload: serde_json::Value) -> Self {
        NamedEvent { name: name.into(), payload }
    }

    /// The event's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event's payload.
    pub fn payload(&self) -> &serde_json::Value {
        &self.payload
    }
}

/// A catalog whose events are checked by name at run time (the seed's form).
pub trait NamedCatalog: Send + Sync + 'static {
    /// The catalog's name: part of an event's identity and of its outbox record.
    fn name(&self) -> &str;

    /// Whether the catalog knows `event` (the seed's `known_event?`).
    fn is_known(&self, event: &str) -> bool;

    /// Hands the event to whatever does the work. Runs after the commit; an error is
    /// reported in the [`PushOutcome`](crate::PushOutcome).
    fn dispatch<'a>(&'a self, event: &'a NamedEvent) -> BoxFuture<'a, Result<(), BoxError>>;
}

type Handler = Arc<dyn Fn(NamedEvent) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// A ready [`NamedCatalog`]: a name and one async handler per known event.
///
/// ```
/// use pg_changeset::{FnCatalog, NamedCatalog};
///
/// let planning = FnCatalog::new("planning").on("planning_updated", |event| async move {
///     println!("rebuild week {}", event.payload()["week"]);
///     Ok(())
/// });
/// assert!(planning.is_known("planning_updated"));
/// assert!(!planning.is_known("planing_updated"));
/// ```
#[derive(Clone)]
pub struct FnCatalog {
    name: String,
    handlers: BTreeMap<String, Handler>,
}

impl FnCatalog {
    /// A catalog that knows no event yet.
    pub fn new(name: impl Into<String>) -> Self {
        FnCatalog { name: name.into(), handlers: BTreeMap::new() }
    }

    /// Makes `event` known, dispatched by `handler` (replacing an earlier handler).
    pub fn on<F, Fut>(mut self, event: impl Into<String>, handler: F) -> Self
    where
        F: Fn(NamedEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |event| Box::pin(handler(event)));
        self.handlers.insert(event.into(), handler);
        self
    }
}

impl NamedCatalog for FnCatalog {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_known(&self, event: &str) -> bool {
        self.handlers.contains_key(event)
    }

    fn dispatch<'a>(&'a self, event: &'a NamedEvent) -> BoxFuture<'a, Result<(), BoxError>> {
        match self.handlers.get(event.name()) {
            Some(handler) => handler(event.clone()),
            None => {
                let message = format!("catalog `{}` has no handler for event `{}`", self.name, event.name());
                Box::pin(async move { Err(message.into()) })
            }
        }
    }
}

impl fmt::Debug for FnCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnCatalog").field("name", &self.name).field("events", &self.handlers.keys()).finish()
    }
}
