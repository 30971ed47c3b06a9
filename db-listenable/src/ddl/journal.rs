//! The journal: where every captured change waits, durably, until it is processed.

use super::name::JOURNAL_SCHEMA;
use super::quote::quote_ident;
use super::script::{Script, dollar_quote};

/// `"db_listenable"."<name>"`.
pub(crate) fn journal_object(name: &str) -> String {
    format!("{}.{}", quote_ident(JOURNAL_SCHEMA), quote_ident(name))
}

/// The journal's schema, tables and shared functions. Idempotent: every statement is
/// `IF NOT EXISTS` or `OR REPLACE`, so running it again changes nothing.
///
/// The journal is an append-only log, kept narrow because every captured row writes one
/// entry (see BENCHMARKS.md): the table is a 4-byte id from `db_listenable.tables`, the
/// operation one byte (`I`, `U`, `D`, `T`, and `E` for a changeset's outbox event), the
/// rows `jsonb`. Delivery state (progress, attempts, dead letters) belongs to each
/// subscriber, not to the entry: see [`super::delivery`]'s tables, created here too.
pub fn journal_script() -> Script {
    let schema = quote_ident(JOURNAL_SCHEMA);
    let mut script = Script::new();
    script.push(format!("CREATE SCHEMA IF NOT EXISTS {schema}"));
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    id integer PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    UNIQUE (schema_name, table_name)
)",
        journal_object("tables")
    ));
    // No foreign key to `tables`: a check per captured row would cost, and rows of
    // `tables` are only ever added.
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id integer NOT NULL,
    op \"char\" NOT NULL CHECK (op IN ('I', 'U', 'D', 'T', 'E')),
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_row jsonb,
    new_row jsonb
)",
        journal_object("changes")
    ));
    script.push(truncate_function());
    script.extend(super::delivery::delivery_script());
    script
}

/// `on_truncate(mode, table_id, schema, table)`: captures TRUNCATE as one journal row, or refuses it.
fn truncate_function() -> String {
    let body = format!(
        "
BEGIN
    IF TG_ARGV[0] = 'capture' THEN
        INSERT INTO {changes} (table_id, op) VALUES (TG_ARGV[1]::integer, 'T');
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not captured by db-listenable', TG_ARGV[2], TG_ARGV[3]
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
