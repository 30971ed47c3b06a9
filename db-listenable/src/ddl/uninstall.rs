//! Removing db-listenable from a database: every capture trigger, every function and the
//! journal schema, whatever models the code still has.

use std::time::Duration;

use super::lock::{lock_timeout_script, on_lock_timeout};
use super::name::JOURNAL_SCHEMA;
use super::quote::{quote_ident, quote_literal};
use super::script::{Script, dollar_quote};

/// The script that removes db-listenable: the capture triggers of every table (found in
/// the catalog when the script runs, so tables no model mentions any more are included),
/// then the `db_listenable` schema with the journal, the delivery state and every
/// function. User tables and their rows stay as they are.
///
/// A trigger is ours when its function lives in the journal schema. Each table is locked
/// before its triggers are dropped, within `lock_timeout` (`SET LOCAL`, as in the
/// install; `None` leaves the session's setting), and a table held by another
/// transaction fails the script with an error naming it. Undelivered changes and dead
/// letters are dropped with the schema: stop the runtime and drain it first if they
/// matter. Run it in one transaction (`psql -1 -f`), so that it removes everything or
/// nothing.
pub fn uninstall_all_script(lock_timeout: Option<Duration>) -> Script {
    let mut script = lock_timeout_script(lock_timeout);
    let schema = quote_literal(JOURNAL_SCHEMA);
    let body = format!(
        "
DECLARE
    captured record;
    trigger_name name;
BEGIN
    FOR captured IN
        SELECT DISTINCT c.oid AS table_oid, pg_catalog.format('%I.%I', tn.nspname, c.relname) AS table_name,
               tn.nspname, c.relname
        FROM pg_catalog.pg_trigger t
        JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
        JOIN pg_catalog.pg_namespace tn ON tn.oid = c.relnamespace
        JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
        JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
        WHERE pn.nspname = {schema} AND NOT t.tgisinternal
        -- One order for every run, so two uninstalls cannot deadlock on each other.
        ORDER BY tn.nspname, c.relname
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', captured.table_name);
{on_timeout}        END;
        FOR trigger_name IN
            SELECT t.tgname
            FROM pg_catalog.pg_trigger t
            JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
            JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
            WHERE t.tgrelid = captured.table_oid AND pn.nspname = {schema} AND NOT t.tgisinternal
            ORDER BY t.tgname
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trigger_name, captured.table_name);
        END LOOP;
    END LOOP;
END
",
        on_timeout = on_lock_timeout("captured.table_name", "remove its capture", "        ")
    );
    script.push(format!("DO {}", dollar_quote(&body)));
    script.push(format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(JOURNAL_SCHEMA)));
    script
}
