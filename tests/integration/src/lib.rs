//! Cross-crate tests against a real PostgreSQL live in `tests/` of this crate: the
//! places where `changeset`, `db-listenable` and the examples meet (a changeset pushed
//! through the durable outbox, a processor fed by a captured change, both database
//! backends on one database). The harness they use is the `pg-harness` crate.
