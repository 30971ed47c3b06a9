//! The per-model SQL: a capture function and its triggers.
//!
//! # What is captured, and what is not
//!
//! - **INSERT, UPDATE, DELETE** of the model's table, however issued (plain statements,
//!   `INSERT ... ON CONFLICT`, `MERGE`, `COPY`, cascades of foreign keys, writes from
//!   other triggers), at both granularities.
//! - **The journal holds the change of each key.** A key present before and after a
//!   statement is a `U` (when a captured column changed), a key it removed a `D`, a key
//!   it added an `I`. So an UPDATE that changes a row's key is the `D` of the key left
//!   and the `I` of the key taken, and swaps, cycles and chains of keys within one
//!   statement are the changes of each key involved: replaying the entries in id order
//!   (a `D` removes its key, an `I` or `U` puts its row at its key) rebuilds the table
//!   exactly, and every entry concerns one key, which is what the runtime orders by.
//!   Row granularity sees one row at a time: a moved row's trigger also reports the
//!   key it took as an `I` when another moved row reports that key's change as a `U`
//!   (a harmless repeat for a consumer that puts rows at their keys), and it looks the
//!   key left up in the table (one index probe per moved row), so the journal's owner
//!   needs `SELECT` on the table there. Physical row identity across a key change is
//!   kept (change-data-capture tools such as Debezium also make a key change a delete
//!   and an insert).
//! - **Rows are kept exactly**, as `to_jsonb` of the row: `numeric` digit for digit, every
//!   other type in its text form, which its input function reads back (the runtime turns
//!   the rows back into the table's row type, see `runtime`'s claim). The capture
//!   function pins `extra_float_digits = 3`, the one setting that makes that text lossy:
//!   a session that lowers it (to 0 or below) would otherwise have its floats rounded to
//!   15 digits, in the journal and in the comparison that decides whether an UPDATE
//!   changed anything.
//! - **The writer's `search_path` reaches nothing the capture runs.** The capture
//!   function is `SECURITY DEFINER` (writers need no right on the journal) without
//!   `SET search_path`, which costs every call (see `settings`): every function,
//!   operator and type it names is schema-qualified instead, and the transition tables
//!   are resolved before any schema.
//! - **Keys compare with one equality**, the built-in `=` resolved in `pg_catalog`
//!   ([`KEY_EQUALITY`]): pairing by key and looking a key up both use it. For built-in
//!   types that is the type's own `=`; a `citext` key uses `text`'s, so a change of case
//!   only is a key change, as it is for the runtime's per-row ordering
//!   (`db_listenable.row_key` hashes the key's `jsonb`, which is text-exact too). A key
//!   type without a built-in `=` (directly or through an implicit cast, e.g. `ltree`)
//!   is refused at install, naming the table and column.
//! - **Deferred uniqueness**: a key whose unique constraint is checked at commit
//!   (`DEFERRABLE` with `SET CONSTRAINTS ... DEFERRED`) may hold duplicates between
//!   statements; a statement that leaves duplicate keys behind is paired by key as well
//!   as duplicates allow (the entries of such keys can repeat or mix rows).
//! - **Excluded columns** (`exclude(...)`) are removed from every row before it is
//!   journalled (`to_jsonb(row) - ARRAY[...]`, also for the row looked up on a key move),
//!   so they reach no delivery, dead letter or dashboard page; an UPDATE that changes
//!   only excluded or quiet columns emits nothing. A table without exclusions gets
//!   exactly `pg_catalog.to_jsonb(row)`.
//! - **The SQL depends on the table and its capture settings only** (key, events,
//!   excluded and quiet columns, sorted): never on a model's Rust name or fields, so
//!   several models of one table that agree share one capture and one fingerprint.
//! - **TRUNCATE** is refused unless the model captures it (`events(truncate)`), then
//!   journalled as one `T` entry without rows.
//! - **Partitioned tables, partitions and inheritance trees are refused** at install
//!   (see [`super::tree`]): a statement trigger on a partitioned table misses writes
//!   addressed to a partition. A captured plain table that is attached as a partition or
//!   gains an inheritance parent or child later is reported by the drift check.
//! - **Replica sessions are not captured**: the triggers are ordinary (`ENABLE`), so a
//!   session with `session_replication_role = replica` (logical replication's apply
//!   worker, `pg_restore` run with that role) fires none of them and its writes are not
//!   journalled; that role means "these changes were captured where they originated".
//!   Whoever wants them captured too runs `ALTER TABLE ... ENABLE ALWAYS TRIGGER` on each
//!   capture trigger (the drift check accepts that). A disabled capture trigger
//!   (`DISABLE TRIGGER`, an interrupted `pg_restore --disable-triggers`) or one enabled
//!   for replica sessions only is reported by the drift check, so the runtime refuses
//!   to start on it.

use super::config::{CaptureConfig, Granularity, WAKEUP_CHANNEL, WAKEUP_LOCK, Wakeup};
use super::journal::{ancestors_of, journal_object, revoke_from_public};
use super::lock::{lock_for_install, lock_for_uninstall};
use super::name::{
    ALL_TRIGGERS, DELETE_TRIGGER, INSERT_TRIGGER, JOURNAL_SCHEMA, ROW_TRIGGER, TRUNCATE_TRIGGER, UPDATE_TRIGGER,
    per_table,
};
use super::quote::{quote_ident, quote_literal};
use super::script::{Script, dollar_quote};
use crate::model::Model;

/// Marks our comments on installed objects: `db-listenable <fingerprint>`.
pub const COMMENT_PREFIX: &str = "db-listenable ";

/// The equality that decides which old and new rows pair up (statement granularity) and
/// which row holds the key a moved row left (row granularity): the built-in `=` PostgreSQL resolves in
/// `pg_catalog`, independent of anyone's `search_path`. For built-in types that is the
/// type's own; a `citext` key resolves to `text`'s (case-sensitive) `=`, so a change of
/// case is a key change.
const KEY_EQUALITY: &str = "OPERATOR(pg_catalog.=)";

/// `"schema"."table"` of a model, quoted for SQL.
pub fn qualified_table(model: &Model) -> String {
    format!("{}.{}", quote_ident(model.schema), quote_ident(model.table))
}

/// The model's id in `db_listenable.tables` and in every journal entry: derived from the
/// schema and table names, so generated SQL (and migration files) can carry it as a
/// constant. Two tables whose ids collide (about one chance in two billion) make the
/// second install fail on the primary key of `db_listenable.tables` instead of mixing.
pub fn table_id(model: &Model) -> i32 {
    let digest =
        u32::from_str_radix(&super::fingerprint::fingerprint([model.schema, model.table])[..8], 16).unwrap_or_default();
    i32::try_from(digest & 0x7fff_ffff).unwrap_or_default()
}

/// The capture function's name (unquoted) in the journal schema.
pub fn capture_function_name(model: &Model) -> String {
    per_table("capture", model.schema, model.table)
}

/// Installs capture on the model's table: the capture function and its triggers, the
/// TRUNCATE trigger (capturing or refusing it), a comment carrying the fingerprint
/// on the TRUNCATE trigger (the one trigger every model has), and the record of what the
/// capture provides ([`super::CaptureManifest`], outside the fingerprint). Idempotent, and swaps
/// triggers in place (`CREATE OR REPLACE TRIGGER`, PostgreSQL 14+), so a re-install
/// never leaves a moment without capture.
///
/// Needs the journal ([`super::journal_script`]) installed first.
///
/// The script first locks the table ([`super::lock`]): a table held by a long
/// transaction makes it fail with an error naming the table once the migration's
/// `lock_timeout` has passed, instead of blocking the table's writers while it waits.
pub fn install_script(model: &Model, config: &CaptureConfig) -> Script {
    let body = definition(model, config);
    let mut script = Script::new();
    script.push(lock_for_install(&qualified_table(model), &dropped_triggers(model, config)));
    let fingerprint = body.fingerprint();
    script.extend(body);
    script.push(format!(
        "COMMENT ON TRIGGER {} ON {} IS {}",
        quote_ident(TRUNCATE_TRIGGER),
        qualified_table(model),
        quote_literal(&format!("{COMMENT_PREFIX}{fingerprint}"))
    ));
    script.push(super::manifest::record_manifest(model, config));
    script
}

/// The fingerprint [`install_script`] writes into the trigger comment.
pub fn install_fingerprint(model: &Model, config: &CaptureConfig) -> String {
    definition(model, config).fingerprint()
}

/// Removes capture from the model's table. Idempotent; leaves the journal alone. Locks
/// the table first, like [`install_script`]; a table dropped since is skipped.
pub fn uninstall_script(model: &Model) -> Script {
    let table = qualified_table(model);
    let mut script = Script::new();
    script.push(lock_for_uninstall(&table));
    for trigger in ALL_TRIGGERS {
        script.push(drop_trigger(trigger, &table));
    }
    script.push(format!(
        "DROP FUNCTION IF EXISTS {}.{}()",
        quote_ident(JOURNAL_SCHEMA),
        quote_ident(&capture_function_name(model))
    ));
    script
}

/// The triggers [`install_script`] leaves on the table, sorted by name.
pub fn expected_triggers(model: &Model, config: &CaptureConfig) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = capture_triggers(model, config).into_iter().map(|t| t.name).collect();
    names.push(TRUNCATE_TRIGGER);
    names.sort_unstable();
    names
}

/// One trigger calling the capture function.
struct CaptureTrigger {
    name: &'static str,
    /// Everything between `CREATE OR REPLACE TRIGGER name` and `EXECUTE FUNCTION`.
    clause: String,
}

fn capture_triggers(model: &Model, config: &CaptureConfig) -> Vec<CaptureTrigger> {
    let table = qualified_table(model);
    let events = model.events;
    match config.granularity {
        Granularity::Row => {
            let ops: Vec<&str> = [(events.insert, "INSERT"), (events.update, "UPDATE"), (events.delete, "DELETE")]
                .into_iter()
                .filter_map(|(on, op)| on.then_some(op))
                .collect();
            if ops.is_empty() {
                return Vec::new();
            }
            vec![CaptureTrigger {
                name: ROW_TRIGGER,
                clause: format!("AFTER {} ON {table} FOR EACH ROW", ops.join(" OR ")),
            }]
        }
        Granularity::Statement => {
            let mut triggers = Vec::new();
            if events.insert {
                triggers.push(CaptureTrigger {
                    name: INSERT_TRIGGER,
                    clause: format!("AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"),
                });
            }
            if events.update {
                triggers.push(CaptureTrigger {
                    name: UPDATE_TRIGGER,
                    clause: format!(
                        "AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows \
                         FOR EACH STATEMENT"
                    ),
                });
            }
            if events.delete {
                triggers.push(CaptureTrigger {
                    name: DELETE_TRIGGER,
                    clause: format!("AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"),
                });
            }
            triggers
        }
    }
}

/// Everything but the fingerprint comment.
fn definition(model: &Model, config: &CaptureConfig) -> Script {
    let table = qualified_table(model);
    let function = format!("{}.{}", quote_ident(JOURNAL_SCHEMA), quote_ident(&capture_function_name(model)));
    let triggers = capture_triggers(model, config);
    let mut script = Script::new();
    script.push(super::tree::tree_check(&table));
    script.push(format!(
        "INSERT INTO {} (id, schema_name, table_name) VALUES ({}, {}, {}) \
         ON CONFLICT (schema_name, table_name) DO NOTHING",
        journal_object("tables"),
        table_id(model),
        quote_literal(model.schema),
        quote_literal(model.table)
    ));
    for stale in dropped_triggers(model, config) {
        script.push(drop_trigger(stale, &table));
    }
    if model.events.update {
        script.push(key_check(model, config.granularity));
    }
    if !triggers.is_empty() {
        let body = match config.granularity {
            Granularity::Row => row_body(model, config.wakeup),
            Granularity::Statement => statement_body(model, config.wakeup),
        };
        script.push(format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER {} AS {}",
            settings(config.granularity),
            dollar_quote(&body)
        ));
        script.push(revoke_from_public(&format!("{}()", quote_ident(&capture_function_name(model)))));
        for trigger in &triggers {
            script.push(format!(
                "CREATE OR REPLACE TRIGGER {} {} EXECUTE FUNCTION {function}()",
                quote_ident(trigger.name),
                trigger.clause
            ));
        }
    }
    let truncate_mode = if model.events.truncate { "capture" } else { "refuse" };
    script.push(format!(
        "CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT \
         EXECUTE FUNCTION {}({}, {}, {}, {})",
        quote_ident(TRUNCATE_TRIGGER),
        journal_object("on_truncate"),
        quote_literal(truncate_mode),
        quote_literal(&table_id(model).to_string()),
        quote_literal(model.schema),
        quote_literal(model.table)
    ));
    script
}

/// Capture triggers of other configurations, which the install drops: switching
/// granularity or events must not leave two captures on the table.
fn dropped_triggers(model: &Model, config: &CaptureConfig) -> Vec<&'static str> {
    let triggers = capture_triggers(model, config);
    ALL_TRIGGERS
        .into_iter()
        .filter(|name| *name != TRUNCATE_TRIGGER && !triggers.iter().any(|t| t.name == *name))
        .collect()
}

fn drop_trigger(trigger: &str, table: &str) -> String {
    format!("DROP TRIGGER IF EXISTS {} ON {table}", quote_ident(trigger))
}

/// `old - ARRAY[...] <> new - ARRAY[...]` (operators qualified): whether a column that is
/// not quiet changed. With nothing quiet the whole rows are compared, so an UPDATE that
/// changes nothing emits nothing either. `old` and `new` are the rows as journalled
/// (without excluded columns), so a change of excluded columns alone emits nothing too:
/// its entry would show no difference.
fn changed(model: &Model, old: &str, new: &str) -> String {
    match column_list(&model.capture().quiet) {
        None => format!("{old} OPERATOR(pg_catalog.<>) {new}"),
        Some(list) => format!(
            "({old} OPERATOR(pg_catalog.-) {list}) OPERATOR(pg_catalog.<>) ({new} OPERATOR(pg_catalog.-) {list})"
        ),
    }
}

/// `ARRAY['a', 'b']::pg_catalog.text[]`, or `None` for no column.
fn column_list(columns: &[&str]) -> Option<String> {
    if columns.is_empty() {
        return None;
    }
    let quoted: Vec<String> = columns.iter().map(|column| quote_literal(column)).collect();
    Some(format!("ARRAY[{}]::pg_catalog.text[]", quoted.join(", ")))
}

/// The `jsonb` of a row as the journal stores it: `to_jsonb(row)`, minus the excluded
/// columns. Without exclusions the expression is exactly `pg_catalog.to_jsonb(row)`, and the
/// capture of such tables has no trace of exclusions.
fn journalled(model: &Model, row: &str) -> String {
    match column_list(&model.capture().exclude) {
        None => format!("pg_catalog.to_jsonb({row})"),
        Some(list) => format!("(pg_catalog.to_jsonb({row}) OPERATOR(pg_catalog.-) {list})"),
    }
}

/// Refuses to run for a table other than the model's (or its partitions and inheritance
/// children). Only the journal's owner can attach the function to a table (EXECUTE is
/// revoked from PUBLIC), so this guards against a misplaced trigger, not an attacker: one
/// OID comparison per call, the ancestry query only when it fails. Two `IF`s, not one
/// `AND`: a condition with a sub-query leaves PL/pgSQL's fast path for simple
/// expressions and made row-level capture a third slower (BENCHMARKS.md).
fn caller_check(model: &Model) -> String {
    let table = format!("{}::pg_catalog.regclass", quote_literal(&qualified_table(model)));
    format!(
        "    IF TG_RELID OPERATOR(pg_catalog.<>) {table} THEN
        IF NOT ({table} OPERATOR(pg_catalog.=) ANY ({ancestors})) THEN
            RAISE EXCEPTION 'db-listenable: the capture function of % was called by a trigger on %.%',
                {table}, TG_TABLE_SCHEMA, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
",
        ancestors = ancestors_of("TG_RELID")
    )
}

/// The gated wake-up, or nothing.
fn wake(wakeup: Wakeup) -> String {
    match wakeup {
        Wakeup::Off => String::new(),
        // Only the transaction holding this lock notifies: NOTIFY serialises commits.
        Wakeup::Gated => format!(
            "    IF pg_catalog.pg_try_advisory_xact_lock({}, {}) THEN\n        PERFORM pg_catalog.pg_notify({}, '');\n    END IF;\n",
            WAKEUP_LOCK.0,
            WAKEUP_LOCK.1,
            quote_literal(WAKEUP_CHANNEL)
        ),
    }
}

/// Row granularity: one journal row per changed row, and, like statement granularity,
/// the changes of each key: an UPDATE that changes the key is the `I` of the key taken
/// and, for the key left, a `D`, or a `U` to the row that took it in the same statement
/// (a swap, a cycle, a chain). AFTER ROW triggers run when the statement is over, so the
/// key left is looked up in the table as the statement left it; a key move is rare, and
/// the lookup is one index probe.
fn row_body(model: &Model, wakeup: Wakeup) -> String {
    let key_same: Vec<String> = model
        .key
        .iter()
        .map(|column| {
            let column = quote_literal(column);
            format!(
                "(old_row OPERATOR(pg_catalog.->) {column}) OPERATOR(pg_catalog.=) (new_row OPERATOR(pg_catalog.->) {column})"
            )
        })
        .collect();
    let occupied: Vec<String> =
        model.key.iter().map(|column| format!("t.{col} {KEY_EQUALITY} OLD.{col}", col = quote_ident(column))).collect();
    format!(
        "
DECLARE
    old_row pg_catalog.jsonb;
    new_row pg_catalog.jsonb;
    occupant pg_catalog.jsonb;
BEGIN
{guard}    IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
        old_row := {old};
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        new_row := {new};
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NOT ({key_same}) THEN
        SELECT {occupant} INTO occupant FROM {table} t WHERE {occupied};
        IF occupant IS NULL THEN
            INSERT INTO {changes} (table_id, op, old_row) VALUES ({table_id}, 'D', old_row);
        ELSIF occupant OPERATOR(pg_catalog.<>) old_row THEN
            INSERT INTO {changes} (table_id, op, old_row, new_row) VALUES ({table_id}, 'U', old_row, occupant);
        END IF;
        INSERT INTO {changes} (table_id, op, new_row) VALUES ({table_id}, 'I', new_row);
{wake}    ELSIF TG_OP OPERATOR(pg_catalog.<>) 'UPDATE' OR ({changed}) THEN
        INSERT INTO {changes} (table_id, op, old_row, new_row)
        VALUES ({table_id}, pg_catalog.left(TG_OP, 1)::pg_catalog.\"char\", old_row, new_row);
{wake}    END IF;
    RETURN NULL;
END
",
        guard = caller_check(model),
        old = journalled(model, "OLD"),
        new = journalled(model, "NEW"),
        occupant = journalled(model, "t.*"),
        key_same = key_same.join(" AND "),
        table = qualified_table(model),
        occupied = occupied.join(" AND "),
        changed = changed(model, "old_row", "new_row"),
        changes = journal_object("changes"),
        table_id = table_id(model),
        wake = wake(wakeup),
    )
}

/// Statement granularity: one `INSERT ... SELECT` per statement from the transition
/// tables. An UPDATE is the difference of the table by key: old and new rows are
/// paired by key (a full join), so a key present before and after is a `U` (when a
/// captured column changed), a key only before is a `D`, a key only after an `I`. A row
/// whose key changed is thus the `D` of the key it left and the `I` of the key it took,
/// and swaps, cycles and chains of keys within one statement come out as the changes of
/// each key: replaying the entries in any order reproduces the table, and every entry
/// concerns exactly one key (what per-row ordering needs).
///
/// Rows and columns are referenced through `o` and `n` only, and the function has no
/// variables, so no column name can be confused with anything of ours. A side missing from the full join is told by
/// its first key column (NOT NULL, see [`key_check`]), not by its `jsonb`: every mention
/// of a row's `jsonb` converts the row again, and testing the converted rows for NULL
/// made a bulk UPDATE a quarter slower (BENCHMARKS.md).
///
/// The statements run without JIT compilation and without merge joins ([`settings`]).
fn statement_body(model: &Model, wakeup: Wakeup) -> String {
    let changes = journal_object("changes");
    let table_id = table_id(model);
    format!(
        "
BEGIN
{guard}    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        INSERT INTO {changes} (table_id, op, new_row)
        SELECT {table_id}, 'I', {new} FROM new_rows n;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        INSERT INTO {changes} (table_id, op, old_row)
        SELECT {table_id}, 'D', {old} FROM old_rows o;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        INSERT INTO {changes} (table_id, op, old_row, new_row)
        SELECT {table_id},
               CASE WHEN o.{first_key} IS NULL THEN 'I' WHEN n.{first_key} IS NULL THEN 'D' ELSE 'U' END::pg_catalog.\"char\",
               {old}, {new}
        FROM old_rows o FULL JOIN new_rows n ON {join}
        WHERE o.{first_key} IS NULL OR n.{first_key} IS NULL OR ({changed});
    END IF;
{wake}    RETURN NULL;
END
",
        guard = caller_check(model),
        first_key = quote_ident(model.key.first().copied().unwrap_or_default()),
        join = key_join(model),
        old = journalled(model, "o.*"),
        new = journalled(model, "n.*"),
        changed = pair_changed(model),
        wake = wake(wakeup),
    )
}

/// The capture function's `SET` clauses: what it changes for its own run, restored by
/// PostgreSQL when it returns (or fails).
///
/// - `extra_float_digits = 3`, the one setting that makes the text of floats lossy (see
///   the module doc).
/// - Statement granularity: `jit = off` and `enable_mergejoin = off`. PostgreSQL plans
///   the capture's statements once per session, with the transition tables' sizes of
///   the first call, and estimates the pairing of an UPDATE's old and new rows
///   quadratically (transition tables have no statistics: 100,000 rows are estimated as
///   50 million pairs). Such a plan is costly enough to be JIT-compiled, and is compiled
///   again at every execution: 100-150 ms added to a bulk UPDATE of 100,000 rows, and
///   70-160 ms to every later single-row UPDATE of that session (measured,
///   BENCHMARKS.md); the capture gains nothing from JIT, its work is converting rows and
///   inserting them. The same estimate made the planner pair the rows by sorting both
///   sides (a merge join, spilling to disk past `work_mem`) where hashing one side is
///   faster.
///
/// No `search_path`: that clause makes PostgreSQL recompute the path on entry and on
/// return (with the `extra_float_digits` clause it cost about 6 % of single-row UPDATE
/// throughput at 32 clients); every name the body uses is schema-qualified instead (test
/// `db::search_path`). Nor are settings changed in the body with `set_config`: PL/pgSQL
/// takes a new snapshot for every expression that calls a function that is not immutable
/// (`set_config`, `current_setting`), and saving, setting and restoring three settings
/// that way cost about a tenth of that throughput, where these clauses cost about nothing
/// measurable (BENCHMARKS.md, "The capture function's fixed costs").
fn settings(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Row => "SET extra_float_digits = 3",
        Granularity::Statement => "SET extra_float_digits = 3 SET jit = off SET enable_mergejoin = off",
    }
}

/// Whether a paired old and new row differ in a captured column that is not quiet.
/// First the rows' binary images (`*<>`, no conversion): identical images have identical
/// text, so such a pair is never a change. With nothing quiet or excluded a differing
/// image is the change; otherwise the journalled `jsonb` (without quiet and excluded
/// columns) decides, as [`changed`] does. Comparing `jsonb` converted each row twice more
/// than the journal needs: dropping that made a bulk UPDATE of 100,000 rows 15-20 %
/// faster (BENCHMARKS.md). An image comparison is exact where `jsonb`'s `=` compares
/// numbers by value: with nothing quiet or excluded, an UPDATE that changes a `numeric`
/// from `1.0` to `1.00` is a change (the journal keeps digits); row granularity, which
/// compares `jsonb`, does not report it.
fn pair_changed(model: &Model) -> String {
    let images = "o.* OPERATOR(pg_catalog.*<>) n.*";
    let capture = model.capture();
    if capture.quiet.is_empty() && capture.exclude.is_empty() {
        return images.to_owned();
    }
    format!("{images} AND ({})", changed(model, &journalled(model, "o.*"), &journalled(model, "n.*")))
}

/// `o."a" OPERATOR(pg_catalog.=) n."a" AND ...`: pairs old and new rows by their typed key columns,
/// which PostgreSQL hashes far faster than `jsonb` keys (a third of the capture time of
/// a bulk UPDATE). Correct because [`key_check`] makes installation refuse keys that
/// are nullable or not unique.
fn key_join(model: &Model) -> String {
    let parts: Vec<String> =
        model.key.iter().map(|column| format!("o.{col} {KEY_EQUALITY} n.{col}", col = quote_ident(column))).collect();
    parts.join(" AND ")
}

/// A `DO` block that refuses to install UPDATE capture on keys it cannot compare with
/// [`KEY_EQUALITY`] (both granularities look keys up with it) and, for statement
/// granularity, unless the key columns are NOT NULL and covered by a unique index: only
/// then does pairing old and new rows by key find each key's own versions.
fn key_check(model: &Model, granularity: Granularity) -> String {
    let table = quote_literal(&qualified_table(model));
    let key: Vec<String> = model.key.iter().map(|column| quote_literal(column)).collect();
    let key = format!("ARRAY[{}]::text[]", key.join(", "));
    let key_equality = quote_literal(KEY_EQUALITY);
    let pairing = if granularity == Granularity::Statement {
        format!(
            "    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO nullable
    FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = {table}::regclass AND a.attname::text = ANY (key_columns) AND NOT a.attnotnull;
    IF nullable IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: key column(s) % of % may be NULL', nullable, {table}
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'Make the key columns NOT NULL (a primary key is), or capture with Granularity::Row.';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid = {table}::regclass AND i.indisunique AND i.indpred IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM pg_catalog.unnest(i.indkey::int2[]) AS k(attnum)
              JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
              WHERE NOT (a.attname::text = ANY (key_columns)))
          AND NOT (0 = ANY (i.indkey::int2[]))
    ) THEN
        RAISE EXCEPTION 'db-listenable: key % of % is not covered by a unique index', key_columns, {table}
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'Declare the primary key (or a unique index) on the key columns, or capture with Granularity::Row.';
    END IF;
"
        )
    } else {
        String::new()
    };
    let body = format!(
        "
DECLARE
    key_columns text[] := {key};
    nullable text[];
    no_equality text[];
    key_column record;
BEGIN
{pairing}    -- Caught here rather than by CREATE TRIGGER, to name the table and the way out.
    FOR key_column IN
        SELECT a.attname::text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = {table}::regclass AND a.attname::text = ANY (key_columns) ORDER BY a.attnum
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('SELECT NULL::%s {KEY_EQUALITY} NULL::%s', key_column.type, key_column.type);
        EXCEPTION WHEN undefined_function OR ambiguous_function THEN
            no_equality := pg_catalog.array_append(no_equality, key_column.name);
        END;
    END LOOP;
    IF no_equality IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: key column(s) % of % have no built-in equality (%)', no_equality, {table}, {key_equality}
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Key the table on a type whose = is built in (or implicitly castable to one).';
    END IF;
END
"
    );
    format!("DO {}", dollar_quote(&body))
}
