//! Locks taken before capture is installed or removed, so that a busy table makes the
//! migration fail fast, naming the table, instead of queueing the table's writers
//! behind it.
//!
//! `CREATE TRIGGER` needs a `SHARE ROW EXCLUSIVE` lock and `DROP TRIGGER` an `ACCESS
//! EXCLUSIVE` one; either waits for every transaction that touched the table, and every
//! writer (for `DROP`, every reader) that comes later waits behind it. A migration
//! therefore starts with `SET LOCAL lock_timeout` ([`lock_timeout_script`]) and takes
//! each table's lock up front, in a block that turns PostgreSQL's `lock_not_available`
//! into an error naming the table and the way out. Up front, and in the strongest mode
//! the script needs, so that a later statement never waits to upgrade its lock.

use std::time::Duration;

use super::quote::quote_literal;
use super::script::{Script, dollar_quote};

/// `SET LOCAL lock_timeout = '<ms>ms'`, or an empty script for `None` (the session's
/// setting applies). Transaction-local: the migration tool's transaction ends it, so it
/// never reaches the application's sessions. Outside a transaction block PostgreSQL warns
/// (`SET LOCAL can only be used in transaction blocks`) and the setting has no effect:
/// plain SQL files run in one transaction (`psql -1 -f`).
pub fn lock_timeout_script(timeout: Option<Duration>) -> Script {
    let mut script = Script::new();
    if let Some(timeout) = timeout {
        // Whole milliseconds, at least one: `0` would mean "no timeout" to PostgreSQL.
        let millis = timeout.as_millis().max(1);
        script.push(format!("SET LOCAL lock_timeout = {}", quote_literal(&format!("{millis}ms"))));
    }
    script
}

/// Locks `table` (quoted, schema-qualified) before capture is installed on it:
/// `ACCESS EXCLUSIVE` when one of `dropped` (triggers the install drops) is on the
/// table, otherwise the `SHARE ROW EXCLUSIVE` of `CREATE TRIGGER`, which lets readers on.
pub(crate) fn lock_for_install(table: &str, dropped: &[&str]) -> String {
    let share = format!("LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE;");
    let lock = if dropped.is_empty() {
        format!("    {share}\n")
    } else {
        let names: Vec<String> = dropped.iter().map(|name| quote_literal(name)).collect();
        format!(
            "    IF EXISTS (
        SELECT 1 FROM pg_catalog.pg_trigger
        WHERE tgrelid = {literal}::regclass AND tgname = ANY (ARRAY[{names}]::name[])
    ) THEN
        LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;
    ELSE
        {share}
    END IF;
",
            literal = quote_literal(table),
            names = names.join(", ")
        )
    };
    guarded(&lock, &quote_literal(table), "install its capture")
}

/// Locks `table` before its capture is removed, when the table still exists (a model
/// whose table was dropped has nothing left to remove).
pub(crate) fn lock_for_uninstall(table: &str) -> String {
    let literal = quote_literal(table);
    let lock = format!(
        "    IF pg_catalog.to_regclass({literal}) IS NOT NULL THEN
        LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;
    END IF;
"
    );
    guarded(&lock, &literal, "remove its capture")
}

/// `DO` block running `lock` and turning a lock timeout into an error naming the table.
fn guarded(lock: &str, table_text: &str, purpose: &str) -> String {
    format!("DO {}", dollar_quote(&format!("\nBEGIN\n{lock}{}END\n", on_lock_timeout(table_text, purpose, ""))))
}

/// The `EXCEPTION` clause of a PL/pgSQL block that locks a table: re-raises PostgreSQL's
/// `lock_not_available` naming the table (`table_text`, an SQL text expression) and what
/// to do. The SQLSTATE stays `55P03`, so tools that retry on it still can. Every line
/// starts with `indent`, for nested blocks.
pub(crate) fn on_lock_timeout(table_text: &str, purpose: &str, indent: &str) -> String {
    let clause = format!(
        "EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'db-listenable: could not lock % to {purpose} within lock_timeout (%)',
        {table_text}, pg_catalog.current_setting('lock_timeout')
        USING ERRCODE = 'lock_not_available',
              HINT = 'Another transaction holds a lock on the table: find it with pg_blocking_pids() and pg_stat_activity, \
let it finish (or end it), then run the migration again; or allow more time (CaptureConfig::lock_timeout, --lock-timeout).';
"
    );
    clause.lines().map(|line| format!("{indent}{line}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_is_transaction_local_and_optional() {
        assert_eq!(
            lock_timeout_script(Some(Duration::from_secs(5))).to_string(),
            "SET LOCAL lock_timeout = '5000ms';\n"
        );
        assert_eq!(
            lock_timeout_script(Some(Duration::from_micros(10))).to_string(),
            "SET LOCAL lock_timeout = '1ms';\n"
        );
        assert!(lock_timeout_script(None).statements().is_empty());
    }

    #[test]
    fn a_lock_block_names_the_table_and_keeps_the_sqlstate() {
        let block = lock_for_install(r#""public"."it's""#, &[]);
        assert!(block.contains(r#"LOCK TABLE "public"."it's" IN SHARE ROW EXCLUSIVE MODE;"#), "{block}");
        assert!(block.contains(r#"'"public"."it''s"', pg_catalog.current_setting"#), "{block}");
        assert!(block.contains("ERRCODE = 'lock_not_available'"), "{block}");
    }
}
