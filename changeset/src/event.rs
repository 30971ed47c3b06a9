//! Events inside a changeset: pending (known or lazy), resolved, deduplicated, and their
//! serialisable form, [`EventRecord`].
//!
//! Identity follows the seed: an event is unique by (catalog, event name, payload).
//! Known payloads are deduplicated when added; lazy ones after they are evaluated,
//! during the push. Either way the first insertion's position is kept.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Event, NamedCatalog, NamedEvent};
use crate::error::{BoxError, EventError};
use crate::operation::BoxFuture;
use crate::payload::{Lazy, Payload};

/// An event as data: what an [`Outbox`](crate::Outbox) stores and what
/// [`Changeset::resolve_events`](crate::Changeset::resolve_events) returns.
///
/// For a typed catalog the payload is the whole event value as `serde` serialises it,
/// so a worker recovers the typed event with [`EventRecord::decode`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The catalog's name.
    pub catalog: String,
    /// The event's name.
    pub name: String,
    /// The payload (typed catalogs: the whole event value).
    pub payload: serde_json::Value,
}

impl EventRecord {
    /// The typed event back from a typed catalog's record.
    ///
    /// # Errors
    /// serde's error when the payload is not an `E`.
    pub fn decode<E: DeserializeOwned>(&self) -> Result<E, serde_json::Error> {
        E::deserialize(&self.payload)
    }
}

/// An event with its payload known: compared, recorded and dispatched without knowing
/// its catalog's type.
pub(crate) trait ResolvedEvent: Send + Sync + fmt::Debug {
    fn catalog(&self) -> &str;
    fn name(&self) -> &str;
    fn as_any(&self) -> &dyn Any;
    /// Same catalog, name and payload.
    fn same(&self, other: &dyn ResolvedEvent) -> bool;
    fn record(&self) -> Result<EventRecord, EventError>;
    fn dispatch(&self) -> BoxFuture<'_, Result<(), BoxError>>;
}

struct Typed<C: Catalog> {
    catalog: Arc<C>,
    event: C::Event,
}

impl<C: Catalog> ResolvedEvent for Typed<C> {
    fn catalog(&self) -> &str {
        C::NAME
    }

    fn name(&self) -> &str {
        self.event.name()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn ResolvedEvent) -> bool {
        other.as_any().downcast_ref::<Typed<C>>().is_some_and(|other| other.event == self.event)
    }

    fn record(&self) -> Result<EventRecord, EventError> {
        let payload = serde_json::to_value(&self.event).map_err(|source| EventError::Serialize {
            catalog: C::NAME.to_owned(),
            event: self.event.name().to_owned(),
            source,
        })?;
        Ok(EventRecord { catalog: C::NAME.to_owned(), name: self.event.name().to_owned(), payload })
    }

    fn dispatch(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.catalog.dispatch(&self.event)
    }
}

impl<C: Catalog> fmt::Debug for Typed<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{:?}", C::NAME, self.event)
    }
}

struct Named {
    catalog: Arc<dyn NamedCatalog>,
    event: NamedEvent,
}

impl ResolvedEvent for Named {
    fn catalog(&self) -> &str {
        self.catalog.name()
    }

    fn name(&self) -> &str {
        self.event.name()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn same(&self, other: &dyn ResolvedEvent) -> bool {
        other
            .as_any()
            .downcast_ref::<Named>()
            .is_some_and(|other| other.catalog.name() == self.catalog.name() && other.event == self.event)
    }

    fn record(&self) -> Result<EventRecord, EventError> {
        Ok(EventRecord {
            catalog: self.catalog.name().to_owned(),
            name: self.event.name().to_owned(),
            payload: self.event.payload().clone(),
        })
    }

    fn dispatch(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        self.catalog.dispatch(&self.event)
    }
}

impl fmt::Debug for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}({})", self.catalog.name(), self.event.name(), self.event.payload())
    }
}

/// An event whose payload is computed after the operations ran.
pub(crate) trait LazyEvent: Send + Sync {
    fn catalog(&self) -> &str;
    /// The name, when known before evaluation (named events).
    fn name(&self) -> Option<&str>;
    fn resolve(&self) -> Result<Box<dyn ResolvedEvent>, EventError>;
}

struct LazyTyped<C: Catalog> {
    catalog: Arc<C>,
    lazy: Lazy<C::Event>,
}

impl<C: Catalog> LazyEvent for LazyTyped<C> {
    fn catalog(&self) -> &str {
        C::NAME
    }

    fn name(&self) -> Option<&str> {
        None
    }

    fn resolve(&self) -> Result<Box<dyn ResolvedEvent>, EventError> {
        let event = self.lazy.evaluate().map_err(|source| EventError::Payload {
            catalog: C::NAME.to_owned(),
            event: None,
            source,
        })?;
        Ok(Box::new(Typed { catalog: Arc::clone(&self.catalog), event }))
    }
}

struct LazyNamed {
    catalog: Arc<dyn NamedCatalog>,
    name: String,
    lazy: Lazy<serde_json::Value>,
}

impl LazyEvent for LazyNamed {
    fn catalog(&self) -> &str {
        self.catalog.name()
    }

    fn name(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn resolve(&self) -> Result<Box<dyn ResolvedEvent>, EventError> {
        let payload = self.lazy.evaluate().map_err(|source| EventError::Payload {
            catalog: self.catalog.name().to_owned(),
            event: Some(self.name.clone()),
            source,
        })?;
        Ok(Box::new(Named { catalog: Arc::clone(&self.catalog), event: NamedEvent::new(self.name.clone(), payload) }))
    }
}

/// An event as a changeset holds it until the push.
pub(crate) enum PendingEvent {
    Ready(Box<dyn ResolvedEvent>),
    Lazy(Box<dyn LazyEvent>),
}

impl PendingEvent {
    pub(crate) fn typed<C: Catalog>(catalog: &Arc<C>, payload: Payload<C::Event>) -> Self {
        let catalog = Arc::clone(catalog);
        match payload {
            Payload::Known(event) => PendingEvent::Ready(Box::new(Typed { catalog, event })),
            Payload::Lazy(lazy) => PendingEvent::Lazy(Box::new(LazyTyped { catalog, lazy })),
        }
    }

    pub(crate) fn named(catalog: Arc<dyn NamedCatalog>, name: &str, payload: Payload<serde_json::Value>) -> Self {
        match payload {
            Payload::Known(payload) => {
                PendingEvent::Ready(Box::new(Named { catalog, event: NamedEvent::new(name, payload) }))
            }
            Payload::Lazy(lazy) => PendingEvent::Lazy(Box::new(LazyNamed { catalog, name: name.to_owned(), lazy })),
        }
    }
}

/// Before a push, a lazy event can only be compared by what is known of it: its catalog
/// and (named events) its name. Use
/// [`Changeset::resolve_events`](crate::Changeset::resolve_events) to compare payloads.
impl PartialEq for PendingEvent {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PendingEvent::Ready(a), PendingEvent::Ready(b)) => a.same(b.as_ref()),
            (PendingEvent::Lazy(a), PendingEvent::Lazy(b)) => a.catalog() == b.catalog() && a.name() == b.name(),
            _ => false,
        }
    }
}

impl fmt::Debug for PendingEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PendingEvent::Ready(event) => fmt::Debug::fmt(event, f),
            PendingEvent::Lazy(event) => write!(f, "{}::{}(lazy)", event.catalog(), event.name().unwrap_or("?")),
        }
    }
}

/// A resolved event, borrowed from the changeset (known payloads) or just computed
/// (lazy payloads).
pub(crate) enum Resolved<'a> {
    Borrowed(&'a dyn ResolvedEvent),
    Owned(Box<dyn ResolvedEvent>),
}

impl Resolved<'_> {
    pub(crate) fn event(&self) -> &dyn ResolvedEvent {
        match self {
            Resolved::Borrowed(event) => *event,
            Resolved::Owned(event) => event.as_ref(),
        }
    }
}

/// Evaluates lazy payloads and keeps the first of each (catalog, name, payload), in
/// insertion order.
pub(crate) fn resolve_all(pending: &[PendingEvent]) -> Result<Vec<Resolved<'_>>, EventError> {
    let mut resolved: Vec<Resolved<'_>> = Vec::with_capacity(pending.len());
    for event in pending {
        let candidate = match event {
            PendingEvent::Ready(event) => Resolved::Borrowed(event.as_ref()),
            PendingEvent::Lazy(lazy) => Resolved::Owned(lazy.resolve()?),
        };
        if !contains(&resolved, candidate.event()) {
            resolved.push(candidate);
        }
    }
    Ok(resolved)
}

/// Whether `events` already holds an event equal to `candidate`. Quadratic, which is
/// fine for the handful of events a unit of work carries; the cheap string checks run
/// before the payload comparison.
pub(crate) fn contains(events: &[Resolved<'_>], candidate: &dyn ResolvedEvent) -> bool {
    events.iter().map(Resolved::event).any(|existing| {
        existing.catalog() == candidate.catalog() && existing.name() == candidate.name() && existing.same(candidate)
    })
}
