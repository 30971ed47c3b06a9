//! Delivery state: who consumes the journal, what each consumer still has to process,
//! and what it gave up on.
//!
//! Capture appends to `db_listenable.changes` and nothing else, so writers pay for one
//! narrow insert per change. Each subscriber reads the journal behind its own cursor
//! ([`super::cursor`]), in commit order, without writing per change: on the happy path a
//! batch costs one cursor update to claim and one to settle. What does not go well is
//! written here, per change, by subscriber.
//!
//! - `subscribers`: one row per processor (its name is its identity across restarts and
//!   machines), bound to one table (or outbox topic), with the key columns that order its
//!   deliveries.
//! - `cursors`: how far each subscriber has read the journal ([`super::cursor`]).
//! - `deliveries`: changes a subscriber has left to do outside its cursor: retries,
//!   changes of a row waiting behind a failed one, requeued dead letters, adopted kept
//!   entries; with the attempt count, the time each may run again, and the lease of the
//!   worker holding it. Workers claim them before the journal.
//! - `dead_letters`: deliveries that failed their last attempt or could not be decoded,
//!   with the error text, the captured rows and how many newer changes of the row were
//!   processed since, until requeued (back to `deliveries`, flagged) or discarded.
//! - `unrouted`: committed entries of a table no subscriber consumes yet, kept (never
//!   dropped) until one registers for it; also the pending deliveries of a table's last
//!   subscriber when it is removed, and the entries of tables without a subscriber when
//!   their journal partition is emptied ([`super::partitions`]). Registration adopts
//!   them, and so does the router (`maintain`) for any table that has a subscriber.

use super::journal::journal_object;
use super::script::{Script, dollar_quote};

/// The NOTIFY channel on which new deliveries are announced (kept entries adopted,
/// dead letters requeued), so the workers of other processes claim them at once instead
/// of at their next poll. One notification per round or requeue, never per change.
pub const ROUTED_CHANNEL: &str = "db_listenable_routed";

/// The advisory lock (`pg_try_advisory_xact_lock(int, int)`) held by the one router of a
/// database (`maintain`: adoption of kept entries, emptying journal partitions);
/// subscribers take it too while registering and being removed, so no partition is
/// emptied past a subscriber that is joining, nor kept for one that is leaving.
pub const ROUTER_LOCK: (i32, i32) = (0x6462_6c69, 0x726f_7574);

/// The tables and the function of delivery. Idempotent.
pub(crate) fn delivery_script() -> Script {
    let mut script = Script::new();
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    table_id integer NOT NULL,
    key_columns text[] NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
)",
        journal_object("subscribers")
    ));
    script.push(format!(
        "CREATE INDEX IF NOT EXISTS subscribers_table_id ON {} (table_id)",
        journal_object("subscribers")
    ));
    let entry_columns = "    table_id integer NOT NULL,
    op \"char\" NOT NULL,
    txid xid8 NOT NULL,
    captured_at timestamptz NOT NULL,
    old_row jsonb,
    new_row jsonb";
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    subscriber_id integer NOT NULL,
    change_id bigint NOT NULL,
{entry_columns},
    row_key bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    lease_token bigint,
    last_error text,
    PRIMARY KEY (subscriber_id, change_id)
)",
        journal_object("deliveries")
    ));
    // Half-empty pages leave room for the claim's update of each row (lease, attempt) on
    // the same page, so it is a HOT update: no new index entries for claims to step over,
    // and about 28 % less WAL per change (BENCHMARKS.md). An ALTER rather than a CREATE
    // option, so an existing installation gets it too (it applies to pages written next).
    script.push(format!("ALTER TABLE {} SET (fillfactor = 50)", journal_object("deliveries")));
    // No foreign key to `subscribers`: its check would cost every written row (measured
    // 4 ms per 1000); `runtime::remove_subscriber` deletes a subscriber's deliveries.
    // The ordering rule looks for an earlier delivery of the same row: this index answers it.
    script.push(format!(
        "CREATE INDEX IF NOT EXISTS deliveries_row_key ON {} (subscriber_id, row_key, change_id)",
        journal_object("deliveries")
    ));
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    subscriber_id integer NOT NULL REFERENCES {} ON DELETE CASCADE,
    change_id bigint NOT NULL,
{entry_columns},
    row_key bigint NOT NULL,
    attempts integer NOT NULL,
    last_error text NOT NULL,
    dead_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, change_id)
)",
        journal_object("dead_letters"),
        journal_object("subscribers")
    ));
    // A requeued dead letter (see `runtime::dead_letters`): NULL for a fresh delivery;
    // for a requeued one `{dead_at, requeued_at, previous_attempts, newer_processed}`
    // (times as epoch seconds), which the processor receives as `Change::requeued`.
    // Added, not created, so an existing installation gets it too.
    script.push(format!("ALTER TABLE {} ADD COLUMN IF NOT EXISTS requeued jsonb", journal_object("deliveries")));
    // Newer changes of the dead letter's row that its subscriber processed since: counted
    // by the settlement of each done delivery of the row (ordered subscribers only, whose
    // row keys group a row's changes), found through the index below.
    script.push(format!(
        "ALTER TABLE {} ADD COLUMN IF NOT EXISTS newer_processed integer NOT NULL DEFAULT 0",
        journal_object("dead_letters")
    ));
    script.push(format!(
        "CREATE INDEX IF NOT EXISTS dead_letters_row_key ON {} (subscriber_id, row_key)",
        journal_object("dead_letters")
    ));
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    id bigint PRIMARY KEY,
{entry_columns}
)",
        journal_object("unrouted")
    ));
    script
        .push(format!("CREATE INDEX IF NOT EXISTS unrouted_table_id ON {} (table_id, id)", journal_object("unrouted")));
    script.push(row_key_function());
    script.extend(super::cursor::cursor_tables());
    script.extend(super::partitions::rotation_tables());
    // Version 3 reads the journal behind cursors: nothing routes any more.
    script.push(format!("DROP FUNCTION IF EXISTS {}(bigint)", journal_object("route")));
    script.push(super::cursor::pending_function());
    script.push(super::cursor::claim_function());
    script.push(super::cursor::settle_function());
    // The parameter list of the first release of version 3, kept for its instances still
    // running during a rolling deploy: it also took the changes of a batch deferred behind
    // a failed change of their row (which batches of one change per row never have), and
    // they go back to `deliveries` as retries due at once.
    let settle = journal_object("settle_journal");
    script.push(format!(
        "CREATE OR REPLACE FUNCTION {settle}(sub integer, token bigint, upto bigint, attempt integer, \
         done_ids bigint[], retry_ids bigint[], retry_delays bigint[], retry_errors text[], dead_ids bigint[], \
         dead_errors text[], deferred_ids bigint[], settled_ids bigint[], uncommitted_error text, \
         OUT held boolean, OUT uncommitted bigint[]) LANGUAGE sql VOLATILE AS {}",
        dollar_quote(&format!(
            "SELECT s.held, s.uncommitted FROM {settle}(sub, token, upto, attempt, done_ids, \
             retry_ids || deferred_ids, \
             retry_delays || pg_catalog.array_fill(0::bigint, ARRAY[pg_catalog.cardinality(deferred_ids)]), \
             retry_errors || pg_catalog.array_fill(NULL::text, ARRAY[pg_catalog.cardinality(deferred_ids)]), \
             dead_ids, dead_errors, settled_ids, uncommitted_error) s"
        ))
    ));
    script.push(super::partitions::maintain_function());
    script.push(super::journal::revoke_from_public("maintain(bigint)"));
    script
}

/// `row_key(table_id, op, change_id, old_row, new_row, key_columns)`: the 64-bit hash
/// that groups the deliveries of one row, so they run one at a time in journal order.
/// Capture journals the change of each key (old and new rows of an entry share their
/// key), so the key is read from either row; TRUNCATE, outbox events and subscribers without key
/// columns get a key of their own (no ordering among them). A collision only makes two
/// rows wait for each other.
fn row_key_function() -> String {
    // Every function is schema-qualified instead of pinning `search_path` with SET: a SET
    // clause stops PostgreSQL from inlining the function into the statements that call
    // it per row, which made it a separate call per row.
    let body = "
SELECT pg_catalog.hashtextextended(
    table_id::text || ':' || CASE
        WHEN op IN ('T', 'E') OR pg_catalog.cardinality(key_columns) = 0 THEN 'change:' || change_id::text
        ELSE (SELECT pg_catalog.jsonb_agg(COALESCE(new_row, old_row) -> k ORDER BY n)
              FROM pg_catalog.unnest(key_columns) WITH ORDINALITY AS u(k, n))::text
    END,
    0)
";
    format!(
        "CREATE OR REPLACE FUNCTION {}(table_id integer, op \"char\", change_id bigint, old_row jsonb, \
         new_row jsonb, key_columns text[]) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS {}",
        journal_object("row_key"),
        dollar_quote(body)
    )
}

/// The id under which a changeset catalog's outbox events are journalled (their
/// "table"): derived from the catalog's name like [`super::table_id`] from a table's, in
/// a namespace of its own so no table can share it.
pub fn topic_id(catalog: &str) -> i32 {
    let digest = u32::from_str_radix(&super::fingerprint::fingerprint(["db_listenable.outbox", catalog])[..8], 16)
        .unwrap_or_default();
    i32::try_from(digest & 0x7fff_ffff).unwrap_or_default()
}

/// The journal entry's name for a topic, as stats and dead letters show it.
pub fn topic_label(catalog: &str) -> String {
    format!("outbox:{catalog}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_are_stable_and_distinct() {
        assert_eq!(topic_id("billing"), topic_id("billing"));
        assert_ne!(topic_id("billing"), topic_id("planning"));
        assert!(topic_id("billing") >= 0);
    }
}
