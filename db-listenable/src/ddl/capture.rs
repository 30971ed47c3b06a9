//! The per-model SQL: a capture function and its triggers.

use super::config::{CaptureConfig, Granularity, WAKEUP_CHANNEL, WAKEUP_LOCK, Wakeup};
use super::journal::{ancestors_of, journal_object, revoke_from_public};
use super::name::{
    ALL_TRIGGERS, DELETE_TRIGGER, INSERT_TRIGGER, JOURNAL_SCHEMA, KEY_MOVE_TRIGGER, ROW_TRIGGER, TRUNCATE_TRIGGER,
    UPDATE_TRIGGER, per_table,
};
use super::quote::{quote_ident, quote_literal};
use super::script::{Script, dollar_quote};
use crate::model::Model;

/// Marks our comments on installed objects: `db-listenable <fingerprint>`.
pub const COMMENT_PREFIX: &str = "db-listenable ";

/// The transaction-local setting in which key moves of the running statement are
/// remembered, so the statement-level pass does not pair those keys again.
const MOVED_KEYS_SETTING: &str = "db_listenable.moved_keys";

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
/// TRUNCATE trigger (capturing or refusing it), and a comment carrying the fingerprint
/// on the TRUNCATE trigger (the one trigger every model has). Idempotent, and swaps
/// triggers in place (`CREATE OR REPLACE TRIGGER`, PostgreSQL 14+), so a re-install
/// never leaves a moment without capture.
///
/// Needs the journal ([`super::journal_script`]) installed first.
pub fn install_script(model: &Model, config: &CaptureConfig) -> Script {
    let body = definition(model, config);
    let mut script = Script::new();
    let fingerprint = body.fingerprint();
    script.extend(body);
    script.push(format!(
        "COMMENT ON TRIGGER {} ON {} IS {}",
        quote_ident(TRUNCATE_TRIGGER),
        qualified_table(model),
        quote_literal(&format!("{COMMENT_PREFIX}{fingerprint}"))
    ));
    script
}

/// The fingerprint [`install_script`] writes into the trigger comment.
pub fn install_fingerprint(model: &Model, config: &CaptureConfig) -> String {
    definition(model, config).fingerprint()
}

/// Removes capture from the model's table. Idempotent; leaves the journal alone.
pub fn uninstall_script(model: &Model) -> Script {
    let table = qualified_table(model);
    let mut script = Script::new();
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
                let key = |side: &str| {
                    let columns: Vec<String> =
                        model.key.iter().map(|column| format!("{side}.{}", quote_ident(column))).collect();
                    format!("({})", columns.join(", "))
                };
                triggers.push(CaptureTrigger {
                    name: KEY_MOVE_TRIGGER,
                    clause: format!(
                        "AFTER UPDATE ON {table} FOR EACH ROW WHEN ({} IS DISTINCT FROM {})",
                        key("OLD"),
                        key("NEW")
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
    script.push(format!(
        "INSERT INTO {} (id, schema_name, table_name) VALUES ({}, {}, {}) \
         ON CONFLICT (schema_name, table_name) DO NOTHING",
        journal_object("tables"),
        table_id(model),
        quote_literal(model.schema),
        quote_literal(model.table)
    ));
    for stale in ALL_TRIGGERS.iter().filter(|name| **name != TRUNCATE_TRIGGER) {
        if !triggers.iter().any(|t| t.name == *stale) {
            script.push(drop_trigger(stale, &table));
        }
    }
    if config.granularity == Granularity::Statement && model.events.update {
        script.push(key_check(model));
    }
    if !triggers.is_empty() {
        let body = match config.granularity {
            Granularity::Row => row_body(model, config.wakeup),
            Granularity::Statement => statement_body(model, config.wakeup),
        };
        script.push(format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
             SET search_path = pg_catalog, pg_temp AS {}",
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

fn drop_trigger(trigger: &str, table: &str) -> String {
    format!("DROP TRIGGER IF EXISTS {} ON {table}", quote_ident(trigger))
}

/// `jsonb_build_array(r."a", r."b")`: a row's key, comparable and hashable.
fn key_of(model: &Model, row: &str) -> String {
    let parts: Vec<String> = model.key.iter().map(|column| format!("{row}.{}", quote_ident(column))).collect();
    format!("jsonb_build_array({})", parts.join(", "))
}

/// `old - ARRAY[...]::text[] <> new - ARRAY[...]::text[]`: whether a captured column
/// changed. With nothing ignored the whole rows are compared, so an UPDATE that changes
/// nothing emits nothing either.
fn changed(model: &Model, old: &str, new: &str) -> String {
    let ignored: Vec<String> = model.ignored_columns().map(quote_literal).collect();
    if ignored.is_empty() {
        return format!("{old} <> {new}");
    }
    let list = format!("ARRAY[{}]::text[]", ignored.join(", "));
    format!("{old} - {list} <> {new} - {list}")
}

/// Refuses to run for a table other than the model's (or its partitions and inheritance
/// children). Only the journal's owner can attach the function to a table (EXECUTE is
/// revoked from PUBLIC), so this guards against a misplaced trigger, not an attacker: one
/// OID comparison per call, the ancestry query only when it fails.
fn caller_check(model: &Model) -> String {
    let table = format!("{}::regclass", quote_literal(&qualified_table(model)));
    format!(
        "    IF TG_RELID <> {table} AND {table} NOT IN ({ancestors}) THEN
        RAISE EXCEPTION 'db-listenable: the capture function of % was called by a trigger on %.%',
            {table}, TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
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
            "    IF pg_try_advisory_xact_lock({}, {}) THEN\n        PERFORM pg_notify({}, '');\n    END IF;\n",
            WAKEUP_LOCK.0,
            WAKEUP_LOCK.1,
            quote_literal(WAKEUP_CHANNEL)
        ),
    }
}

/// Row granularity: one journal row per changed row.
fn row_body(model: &Model, wakeup: Wakeup) -> String {
    format!(
        "
DECLARE
    old_row jsonb;
    new_row jsonb;
BEGIN
{guard}    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND NOT ({changed}) THEN
        RETURN NULL;
    END IF;
    INSERT INTO {changes} (table_id, op, old_row, new_row)
    VALUES ({table_id}, left(TG_OP, 1)::\"char\", old_row, new_row);
{wake}    RETURN NULL;
END
",
        guard = caller_check(model),
        changed = changed(model, "old_row", "new_row"),
        changes = journal_object("changes"),
        table_id = table_id(model),
        wake = wake(wakeup),
    )
}

/// Statement granularity: one `INSERT ... SELECT` per statement from the transition
/// tables. UPDATE pairs old and new rows by key; a row whose key changed is captured by
/// the row-level branch (key-move trigger) and its keys are left out of the pairing.
fn statement_body(model: &Model, wakeup: Wakeup) -> String {
    let changes = journal_object("changes");
    let table_id = table_id(model);
    let moved = quote_literal(MOVED_KEYS_SETTING);
    format!(
        "
DECLARE
    moved jsonb;
BEGIN
{guard}    IF TG_LEVEL = 'ROW' THEN
        -- An UPDATE that changed the key: paired here, where OLD and NEW are known.
        INSERT INTO {changes} (table_id, op, old_row, new_row)
        VALUES ({table_id}, 'U', to_jsonb(OLD), to_jsonb(NEW));
        PERFORM set_config({moved},
            (coalesce(nullif(current_setting({moved}, true), ''), '[]')::jsonb
             || jsonb_build_array({old_key}, {new_key}))::text, true);
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {changes} (table_id, op, new_row)
        SELECT {table_id}, 'I', to_jsonb(n) FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {changes} (table_id, op, old_row)
        SELECT {table_id}, 'D', to_jsonb(o) FROM old_rows o;
    ELSIF TG_OP = 'UPDATE' THEN
        moved := nullif(current_setting({moved}, true), '')::jsonb;
        IF moved IS NOT NULL THEN
            PERFORM set_config({moved}, '', true);
        END IF;
        INSERT INTO {changes} (table_id, op, old_row, new_row)
        SELECT {table_id}, 'U', pair.old_row, pair.new_row
        FROM (SELECT to_jsonb(o) AS old_row, to_jsonb(n) AS new_row, {o_key} AS key
              FROM old_rows o JOIN new_rows n ON {join}) pair
        WHERE ({changed})
          AND (moved IS NULL OR NOT moved @> jsonb_build_array(pair.key));
    END IF;
{wake}    RETURN NULL;
END
",
        guard = caller_check(model),
        old_key = key_of(model, "OLD"),
        new_key = key_of(model, "NEW"),
        o_key = key_of(model, "o"),
        join = key_join(model),
        changed = changed(model, "pair.old_row", "pair.new_row"),
        wake = wake(wakeup),
    )
}

/// `o."a" = n."a" AND o."b" = n."b"`: pairs old and new rows by their typed key columns,
/// which PostgreSQL hashes far faster than `jsonb` keys (a third of the capture time of
/// a bulk UPDATE). Correct because [`key_check`] makes installation refuse keys that
/// are nullable or not unique.
fn key_join(model: &Model) -> String {
    let parts: Vec<String> =
        model.key.iter().map(|column| format!("o.{col} = n.{col}", col = quote_ident(column))).collect();
    parts.join(" AND ")
}

/// A `DO` block that refuses to install statement-level UPDATE capture unless the key
/// columns are NOT NULL and covered by a unique index: only then does pairing old and
/// new rows by key find each row's own versions.
fn key_check(model: &Model) -> String {
    let table = quote_literal(&qualified_table(model));
    let key: Vec<String> = model.key.iter().map(|column| quote_literal(column)).collect();
    let key = format!("ARRAY[{}]::text[]", key.join(", "));
    let body = format!(
        "
DECLARE
    key_columns text[] := {key};
    nullable text[];
BEGIN
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO nullable
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
END
"
    );
    format!("DO {}", dollar_quote(&body))
}
