//! The journal: where every captured change waits, durably, until it is processed.

use super::config::{WAKEUP_CHANNEL, WAKEUP_LOCK};
use super::name::JOURNAL_SCHEMA;
use super::quote::{quote_ident, quote_literal};
use super::script::{Script, dollar_quote};

/// `"db_listenable"."<name>"`.
pub(crate) fn journal_object(name: &str) -> String {
    format!("{}.{}", quote_ident(JOURNAL_SCHEMA), quote_ident(name))
}

/// The journal's schema, tables, indexes and shared functions. Idempotent: every
/// statement is `IF NOT EXISTS` or `OR REPLACE`, so running it again changes nothing.
pub fn journal_script() -> Script {
    let schema = quote_ident(JOURNAL_SCHEMA);
    let changes = journal_object("changes");
    let dead = journal_object("dead_letters");
    let mut script = Script::new();
    script.push(format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {changes} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
    row_key jsonb,
    old_row jsonb,
    new_row jsonb,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts integer NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL DEFAULT now(),
    last_error text
)"
    ));
    script.push(format!(
        "CREATE INDEX IF NOT EXISTS {} ON {changes} (available_at, id)",
        quote_ident("changes_available_at_id")
    ));
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {dead} (
    id bigint PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    op text NOT NULL,
    row_key jsonb,
    old_row jsonb,
    new_row jsonb,
    txid xid8 NOT NULL,
    captured_at timestamptz NOT NULL,
    attempts integer NOT NULL,
    last_error text,
    died_at timestamptz NOT NULL DEFAULT now()
)"
    ));
    script.push(truncate_function());
    script.push(wake_function());
    script
}

/// `on_truncate(mode, schema, table)`: captures TRUNCATE as one journal row, or refuses it.
fn truncate_function() -> String {
    let body = format!(
        "
BEGIN
    IF TG_ARGV[0] = 'capture' THEN
        INSERT INTO {changes} (schema_name, table_name, op) VALUES (TG_ARGV[1], TG_ARGV[2], 'TRUNCATE');
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not captured by db-listenable', TG_ARGV[1], TG_ARGV[2]
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Delete the rows with DELETE, or add truncate to the model''s events(...) to capture it.';
END
",
        changes = journal_object("changes")
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
         SET search_path = pg_catalog, pg_temp AS {}",
        journal_object("on_truncate"),
        dollar_quote(&body)
    )
}

/// `wake()`: the gated statement-level wake-up (installed on a table only when
/// [`Wakeup::Gated`](super::Wakeup::Gated) is chosen).
fn wake_function() -> String {
    let body = format!(
        "
BEGIN
    -- Only the transaction holding this lock notifies: NOTIFY serialises commits.
    IF pg_try_advisory_xact_lock({}, {}) THEN
        PERFORM pg_notify({}, '');
    END IF;
    RETURN NULL;
END
",
        WAKEUP_LOCK.0,
        WAKEUP_LOCK.1,
        quote_literal(WAKEUP_CHANNEL)
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
         SET search_path = pg_catalog, pg_temp AS {}",
        journal_object("wake"),
        dollar_quote(&body)
    )
}
