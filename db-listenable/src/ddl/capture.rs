//! The per-model SQL: a capture function and its triggers.

use super::config::{CaptureConfig, Wakeup};
use super::journal::journal_object;
use super::name::{CAPTURE_TRIGGER, JOURNAL_SCHEMA, TRUNCATE_TRIGGER, WAKE_TRIGGER, per_table};
use super::quote::{quote_ident, quote_literal};
use super::script::{Script, dollar_quote};
use crate::model::Model;

/// Marks our comments on installed objects: `db-listenable <fingerprint>`.
pub const COMMENT_PREFIX: &str = "db-listenable ";

/// `"schema"."table"` of a model, quoted for SQL.
pub fn qualified_table(model: &Model) -> String {
    format!("{}.{}", quote_ident(model.schema), quote_ident(model.table))
}

/// The capture function's name (unquoted) in the journal schema.
pub fn capture_function_name(model: &Model) -> String {
    per_table("capture", model.schema, model.table)
}

/// Installs capture on the model's table: the row-level capture function and trigger,
/// the TRUNCATE trigger (capturing or refusing it), the optional wake-up trigger, and a
/// comment carrying the fingerprint on the TRUNCATE trigger (the one trigger every
/// model has). Idempotent.
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
    let mut script = uninstall_triggers(&qualified_table(model));
    script.push(format!(
        "DROP FUNCTION IF EXISTS {}.{}()",
        quote_ident(JOURNAL_SCHEMA),
        quote_ident(&capture_function_name(model))
    ));
    script
}

/// Everything but the fingerprint comment. `CREATE OR REPLACE TRIGGER` (PostgreSQL 14+)
/// swaps a trigger in place, so a re-install never leaves a moment without capture.
fn definition(model: &Model, config: &CaptureConfig) -> Script {
    let table = qualified_table(model);
    let function = format!("{}.{}", quote_ident(JOURNAL_SCHEMA), quote_ident(&capture_function_name(model)));
    let row_events = row_events(model).join(" OR ");
    let mut script = Script::new();
    if row_events.is_empty() {
        script.push(drop_trigger(CAPTURE_TRIGGER, &table));
        script.push(drop_trigger(WAKE_TRIGGER, &table));
    } else {
        script.push(format!(
            "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER \
             SET search_path = pg_catalog, pg_temp AS {}",
            dollar_quote(&capture_body(model))
        ));
        script.push(format!(
            "CREATE OR REPLACE TRIGGER {} AFTER {row_events} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()",
            quote_ident(CAPTURE_TRIGGER),
        ));
        script.push(match config.wakeup {
            Wakeup::Gated => format!(
                "CREATE OR REPLACE TRIGGER {} AFTER {row_events} ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {}()",
                quote_ident(WAKE_TRIGGER),
                journal_object("wake")
            ),
            Wakeup::Off => drop_trigger(WAKE_TRIGGER, &table),
        });
    }
    let truncate_mode = if model.events.truncate { "capture" } else { "refuse" };
    script.push(format!(
        "CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {}({}, {}, {})",
        quote_ident(TRUNCATE_TRIGGER),
        journal_object("on_truncate"),
        quote_literal(truncate_mode),
        quote_literal(model.schema),
        quote_literal(model.table)
    ));
    script
}

fn drop_trigger(trigger: &str, table: &str) -> String {
    format!("DROP TRIGGER IF EXISTS {} ON {table}", quote_ident(trigger))
}

fn uninstall_triggers(table: &str) -> Script {
    let mut script = Script::new();
    for trigger in [CAPTURE_TRIGGER, TRUNCATE_TRIGGER, WAKE_TRIGGER] {
        script.push(drop_trigger(trigger, table));
    }
    script
}

/// The triggers [`install_script`] leaves on the table, sorted by name.
pub fn expected_triggers(model: &Model, config: &CaptureConfig) -> Vec<&'static str> {
    let mut names = vec![TRUNCATE_TRIGGER];
    if !row_events(model).is_empty() {
        names.push(CAPTURE_TRIGGER);
        if config.wakeup == Wakeup::Gated {
            names.push(WAKE_TRIGGER);
        }
    }
    names.sort_unstable();
    names
}

fn row_events(model: &Model) -> Vec<&'static str> {
    let events = model.events;
    [(events.insert, "INSERT"), (events.update, "UPDATE"), (events.delete, "DELETE")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
}

/// The capture function's body: one journal row per changed row, none for an update
/// that changed no captured column.
fn capture_body(model: &Model) -> String {
    let ignored: Vec<String> = model.ignored_columns().map(quote_literal).collect();
    // `jsonb - text[]` drops the ignored keys before comparing; with nothing ignored the
    // whole rows are compared, so an UPDATE that changes nothing emits nothing either.
    let unchanged = if ignored.is_empty() {
        "old_row = new_row".to_owned()
    } else {
        let list = format!("ARRAY[{}]::text[]", ignored.join(", "));
        format!("old_row - {list} = new_row - {list}")
    };
    let key_parts: Vec<String> =
        model.key.iter().map(|column| format!("coalesce(new_row, old_row) -> {}", quote_literal(column))).collect();
    format!(
        "
DECLARE
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND {unchanged} THEN
        RETURN NULL;
    END IF;
    INSERT INTO {changes} (schema_name, table_name, op, row_key, old_row, new_row)
    VALUES ({schema}, {table}, TG_OP, jsonb_build_array({key}), old_row, new_row);
    RETURN NULL;
END
",
        changes = journal_object("changes"),
        schema = quote_literal(model.schema),
        table = quote_literal(model.table),
        key = key_parts.join(", "),
    )
}
