//! The journal: where every captured change waits, durably, until it is processed.

use super::config::{WAKEUP_CHANNEL, WAKEUP_LOCK};
use super::name::JOURNAL_SCHEMA;
use super::quote::quote_ident;
use super::quote::quote_literal;
use super::script::{Script, dollar_quote};

/// `"db_listenable"."<name>"`.
pub(crate) fn journal_object(name: &str) -> String {
    format!("{}.{}", quote_ident(JOURNAL_SCHEMA), quote_ident(name))
}

/// The journal's schema, tables and shared functions, ending with the record of its
/// version ([`super::SchemaVersion`]). Idempotent: every statement is `IF NOT EXISTS`,
/// `OR REPLACE` or `ON CONFLICT DO NOTHING`, so running it again changes nothing, and run
/// on an earlier layout it upgrades it to [`super::SCHEMA_VERSION`].
///
/// The journal is an append-only log, kept narrow because every captured row writes one
/// entry (see BENCHMARKS.md): the table is a 4-byte id from `db_listenable.tables`, the
/// operation one byte (`I`, `U`, `D`, `T`, and `E` for a changeset's outbox event), the
/// rows `jsonb`. Entries are never updated or deleted one by one: subscribers read them
/// behind cursors ([`super::cursor`]) and whole partitions are emptied with `TRUNCATE`
/// once every subscriber is past them ([`super::partitions`]). Delivery state (progress,
/// attempts, dead letters) belongs to each subscriber, not to the entry: see
/// [`super::delivery`]'s tables, created here too.
pub fn journal_script() -> Script {
    let schema = quote_ident(JOURNAL_SCHEMA);
    let mut script = Script::new();
    script.push(format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
    script.push(super::version::versions_table());
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    id integer PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    UNIQUE (schema_name, table_name)
)",
        journal_object("tables")
    ));
    // Version 2: what each table's installed capture provides ([`super::manifest`]).
    script.push(format!("ALTER TABLE {} ADD COLUMN IF NOT EXISTS capture jsonb", journal_object("tables")));
    script.extend(super::partitions::journal_table());
    script.push(truncate_function());
    script.push(revoke_from_public("on_truncate()"));
    script.push(enqueue_function());
    script.push(revoke_from_public("enqueue_events(jsonb)"));
    script.extend(super::delivery::delivery_script());
    script.push(super::version::record_version());
    script
}

/// `REVOKE ALL ON FUNCTION db_listenable.<signature> FROM PUBLIC`.
///
/// Our `SECURITY DEFINER` functions write the journal as its owner. PostgreSQL lets
/// every role execute a new function, and a role that may execute a trigger function may
/// attach it to a table of its own: it could then journal entries in another table's
/// name. Firing a trigger checks no privilege, so revoking costs capture nothing.
pub(crate) fn revoke_from_public(signature: &str) -> String {
    format!("REVOKE ALL ON FUNCTION {}.{signature} FROM PUBLIC", quote_ident(JOURNAL_SCHEMA))
}

/// The recursive query of `relid` and every table it is a partition or inheritance child
/// of: the tables whose capture may legitimately fire for a row of `relid`. Every name is
/// schema-qualified: the capture functions run it under the writer's `search_path`.
pub(crate) fn ancestors_of(relid: &str) -> String {
    format!(
        "WITH RECURSIVE ancestors(relid) AS (
            SELECT {relid}
            UNION
            SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN ancestors a ON i.inhrelid OPERATOR(pg_catalog.=) a.relid)
        SELECT relid FROM ancestors"
    )
}

/// `on_truncate(mode, table_id, schema, table)`: captures TRUNCATE as one journal row, or
/// refuses it. The arguments are checked against the table that fired the trigger: a
/// trigger elsewhere with another table's id must not journal a TRUNCATE in its name.
fn truncate_function() -> String {
    let body = format!(
        "
DECLARE
    captured_id integer;
BEGIN
    SELECT t.id INTO captured_id
    FROM {tables} t
    WHERE TG_NARGS = 4 AND t.id::text = TG_ARGV[1]
      AND pg_catalog.to_regclass(pg_catalog.quote_ident(t.schema_name) || '.' || pg_catalog.quote_ident(t.table_name))
          IN ({ancestors});
    IF captured_id IS NULL THEN
        RAISE EXCEPTION 'db-listenable: on_truncate was called by a trigger on %.% that db-listenable did not install',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_ARGV[0] = 'capture' THEN
        INSERT INTO {changes} (table_id, op) VALUES (captured_id, 'T');
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not captured by db-listenable', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Delete the rows with DELETE, or add truncate to the model''s events(...) to capture it.';
END
",
        tables = journal_object("tables"),
        changes = journal_object("changes"),
        ancestors = ancestors_of("TG_RELID"),
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
         SET search_path = pg_catalog, pg_temp AS {}",
        journal_object("on_truncate"),
        dollar_quote(&body)
    )
}

/// `enqueue_events(entries jsonb)`: journals a changeset's outbox events, given as a JSON
/// array of `{topic, event}` in delivery order, then sends the gated wake-up.
///
/// The one way for a role other than the journal's owner to write journal entries
/// ([`super::Access::Outbox`]): it writes events only (`op = 'E'`), and refuses a topic
/// that is a captured table's id, so no event can pose as a table's change.
fn enqueue_function() -> String {
    let body = format!(
        "
DECLARE
    posing text;
BEGIN
    SELECT t.schema_name || '.' || t.table_name INTO posing
    FROM {tables} t
    WHERE t.id IN (SELECT (e.value ->> 'topic')::integer FROM pg_catalog.jsonb_array_elements(entries) e)
    LIMIT 1;
    IF posing IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: an outbox event cannot use the journal id of the captured table %', posing
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The transaction id before the entries' ids: cursors rely on it (see ddl::cursor).
    PERFORM pg_catalog.pg_current_xact_id();
    INSERT INTO {changes} (table_id, op, new_row)
    SELECT (e.value ->> 'topic')::integer, 'E', e.value -> 'event'
    FROM pg_catalog.jsonb_array_elements(entries) WITH ORDINALITY AS e(value, n)
    ORDER BY e.n;
    IF pg_try_advisory_xact_lock({lock_a}, {lock_b}) THEN
        PERFORM pg_notify({channel}, '');
    END IF;
END
",
        tables = journal_object("tables"),
        changes = journal_object("changes"),
        lock_a = WAKEUP_LOCK.0,
        lock_b = WAKEUP_LOCK.1,
        channel = quote_literal(WAKEUP_CHANNEL),
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}(entries jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER \
         SET search_path = pg_catalog, pg_temp AS {}",
        journal_object("enqueue_events"),
        dollar_quote(&body)
    )
}
