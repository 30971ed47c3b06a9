//! The columns a model needs, checked against the live table: by the generated install
//! (a `DO` block that refuses) and by the drift check and the runtime's start (a query
//! of the table's columns). A model's field without a column would turn every change of
//! the table into a dead letter; an exclusion naming no column would journal the column
//! it meant to keep out.

use super::capture::qualified_table;
use super::quote::quote_literal;
use super::script::{Script, dollar_quote};
use crate::model::Model;

/// `name`, `name (key)` or `name (excluded)`: a required column as errors name it.
pub(crate) fn column_label(model: &Model, name: &str) -> String {
    if model.key.contains(&name) {
        format!("{name} (key)")
    } else if model.exclude.contains(&name) {
        format!("{name} (excluded)")
    } else {
        name.to_owned()
    }
}

/// The labels of the columns `model` requires that are not in `live` (the table's
/// columns), in [`Model::required_columns`] order.
pub fn missing_columns(model: &Model, live: &[String]) -> Vec<String> {
    model
        .required_columns()
        .into_iter()
        .filter(|name| !live.iter().any(|column| column == name))
        .map(|name| column_label(model, name))
        .collect()
}

/// Lists the columns of tables: `$1` schema names and `$2` table names (text arrays,
/// pairwise). Columns: schema, table, its columns (dropped ones left out). A table that
/// does not exist has no row.
pub const LIVE_COLUMNS_SQL: &str = "SELECT n.nspname::text, c.relname::text,
       array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped)
FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) AS wanted(schema_name, table_name)
JOIN pg_catalog.pg_namespace n ON n.nspname = wanted.schema_name
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = wanted.table_name
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
GROUP BY n.nspname, c.relname";

/// A `DO` block that refuses (SQLSTATE `undefined_column`) when the model's table lacks
/// any column the model requires, naming the model, the table and every missing column
/// (key and excluded ones marked). Part of the migrations `triggers generate` writes,
/// before the table's capture; not part of [`super::install_script`], whose SQL and
/// fingerprint are the table's capture alone.
pub fn column_check(model: &Model) -> Script {
    let table = quote_literal(&qualified_table(model));
    let required = model.required_columns();
    let names: Vec<String> = required.iter().map(|name| quote_literal(name)).collect();
    let labels: Vec<String> = required.iter().map(|name| quote_literal(&column_label(model, name))).collect();
    let body = format!(
        "
DECLARE
    missing text[];
BEGIN
    SELECT pg_catalog.array_agg(w.label ORDER BY w.ord) INTO missing
    FROM ROWS FROM (pg_catalog.unnest(ARRAY[{names}]::text[]), pg_catalog.unnest(ARRAY[{labels}]::text[]))
        WITH ORDINALITY AS w(name, label, ord)
    WHERE NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = {table}::regclass AND a.attname::text = w.name AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: % needs columns that % does not have: %', {model}, {table},
            pg_catalog.array_to_string(missing, ', ')
            USING ERRCODE = 'undefined_column',
                  HINT = 'Add the columns to the table, or change the model (#[sqlx(rename)], #[sqlx(skip)], exclude).';
    END IF;
END
",
        names = names.join(", "),
        labels = labels.join(", "),
        model = quote_literal(model.rust_name),
    );
    let mut script = Script::new();
    script.push(format!("DO {}", dollar_quote(&body)));
    script
}
