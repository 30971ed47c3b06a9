//! Checks across attributes and fields: names PostgreSQL accepts, one column per name,
//! a key that names columns, excluded and quiet columns that agree with the fields and
//! the key, and `#[sqlx(...)]` settings a capture cannot honour. Every failed check is
//! recorded; nothing stops at the first.

use std::collections::HashMap;

use syn::LitStr;

use crate::ast::{Container, Field, Key, Name, Origin};
use crate::attr::ColumnList;
use crate::ctxt::Ctxt;

/// PostgreSQL truncates identifiers longer than this many bytes (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Runs every check on `container`.
pub(crate) fn check(cx: &Ctxt, container: &Container) {
    identifier(cx, "table", &container.table());
    identifier(cx, "schema", &container.schema());
    if !container.named_struct {
        // The shape error is recorded; "missing key" and the like would only add noise.
        return;
    }
    for field in &container.fields {
        field_checks(cx, field);
    }
    unique_columns(cx, container);
    let key_columns = key(cx, container);
    exclude(cx, container, &key_columns);
    quiet(cx, container, &key_columns);
}

/// A name PostgreSQL takes as it is: not empty, no NUL, at most 63 bytes.
fn identifier(cx: &Ctxt, what: &str, name: &Name) {
    let value = &name.value;
    let from = match name.origin {
        Origin::Attribute => "",
        Origin::SqlxRename => " (from #[sqlx(rename)])",
        Origin::SqlxRenameAll => " (from #[sqlx(rename_all)])",
        Origin::Rust if what == "table" => " (derived from the struct name; set `#[db_listenable(table = \"...\")]`)",
        Origin::Rust => "",
    };
    if value.is_empty() {
        cx.error(name.span, format!("{what} name must not be empty"));
    } else if value.contains('\0') {
        cx.error(name.span, format!("{what} name must not contain a NUL character"));
    } else if value.len() > MAX_IDENTIFIER_BYTES {
        cx.error(
            name.span,
            format!(
                "{what} name `{value}`{from} is {} bytes long, over PostgreSQL's limit of {MAX_IDENTIFIER_BYTES} bytes \
                 for identifiers (longer names are truncated, so the trigger would name something else)",
                value.len()
            ),
        );
    }
}

/// A column named in a struct setting (`exclude`, `quiet`), checked like any name.
fn listed_identifier(cx: &Ctxt, lit: &LitStr) {
    identifier(cx, "column", &Name { value: lit.value(), span: lit.span(), origin: Origin::Attribute });
}

/// Checks on one field alone.
fn field_checks(cx: &Ctxt, field: &Field) {
    let attrs = &field.attrs;
    let name = &field.name;
    if let Some(flatten) = attrs.sqlx.flatten {
        cx.error(
            flatten,
            format!(
                "#[sqlx(flatten)] cannot be captured: the columns field `{name}` reads come from another struct, so \
                 DbListenable cannot check or capture them; list those columns as fields of this struct instead"
            ),
        );
    }
    if attrs.sqlx.skip.is_some() {
        for (span, attribute) in [(attrs.key, "key"), (attrs.quiet, "quiet")] {
            if let Some(span) = span {
                cx.error(
                    span,
                    format!(
                        "field `{name}` is #[sqlx(skip)], so it is not a column and cannot take \
                         #[db_listenable({attribute})]"
                    ),
                );
            }
        }
        return;
    }
    if !field.is_column() {
        return;
    }
    identifier(cx, "column", &field.column);
    if let (Some(_), Some(default)) = (attrs.key, attrs.sqlx.default) {
        cx.error(
            default,
            format!(
                "key column `{}` cannot be #[sqlx(default)]: a key identifies the row in every change, so the table \
                 must have it",
                field.column.value
            ),
        );
    }
}

/// No two fields map the same column.
fn unique_columns(cx: &Ctxt, container: &Container) {
    let mut seen: HashMap<&str, &Field> = HashMap::new();
    for field in container.columns() {
        match seen.get(field.column.value.as_str()) {
            Some(first) => cx.error(
                field.column.span,
                format!(
                    "column `{}` is mapped twice: by field `{}` and by field `{}`",
                    field.column.value, first.name, field.name
                ),
            ),
            None => {
                seen.insert(&field.column.value, field);
            }
        }
    }
}

/// The key names columns, in one way; returns the key's column names (empty when the
/// key is missing, which is reported).
fn key(cx: &Ctxt, container: &Container) -> Vec<String> {
    match container.key() {
        Key::Listed(primary_key) => {
            if let Some(marked) = container.fields.iter().find(|field| field.attrs.key.is_some()) {
                cx.error_spanned(
                    &primary_key.key,
                    format!(
                        "the key is named twice: by `primary_key` and by #[db_listenable(key)] on field `{}`; use one \
                         of them",
                        marked.name
                    ),
                );
            }
            let mut listed = Vec::new();
            for lit in &primary_key.columns {
                let column = lit.value();
                if listed.contains(&column) {
                    cx.error(lit.span(), format!("column `{column}` is listed twice in `primary_key`"));
                    continue;
                }
                if !container.columns().any(|field| field.column.value == column) {
                    cx.error(lit.span(), unknown_key_column(container, &column));
                }
                listed.push(column);
            }
            listed
        }
        Key::Fields(fields) => fields.iter().map(|field| field.column.value.clone()).collect(),
        Key::DefaultId(id) => vec![id.column.value.clone()],
        Key::Missing => {
            cx.error(
                container.input.ident.span(),
                format!(
                    "missing key column: `{}` has no field named `id`, the default key; mark the key field(s) with \
                     #[db_listenable(key)], or name the key columns with #[db_listenable(primary_key = \"...\")] on \
                     the struct",
                    container.rust_name()
                ),
            );
            Vec::new()
        }
    }
}

/// The error for a `primary_key` name that is no column, with a hint when it is a
/// field's name rather than its column's.
fn unknown_key_column(container: &Container, column: &str) -> String {
    let columns: Vec<String> = container.columns().map(|field| format!("`{}`", field.column.value)).collect();
    let columns = if columns.is_empty() { "none".to_owned() } else { columns.join(", ") };
    let hint = match container.fields.iter().find(|field| field.name == column) {
        Some(field) if !field.is_column() => format!("; field `{column}` is not a column (sqlx skips or flattens it)"),
        Some(field) => {
            format!("; `primary_key` takes column names, and field `{column}` is column `{}`", field.column.value)
        }
        None => String::new(),
    };
    format!(
        "`primary_key` names `{column}`, which is not a column of `{}` (its columns: {columns}){hint}",
        container.rust_name()
    )
}

/// Names listed twice in one struct setting.
fn no_repeats(cx: &Ctxt, list: &ColumnList, setting: &str) {
    let mut seen = Vec::new();
    for lit in &list.columns {
        let column = lit.value();
        if seen.contains(&column) {
            cx.error(lit.span(), format!("column `{column}` is listed twice in `{setting}`"));
        }
        seen.push(column);
    }
}

/// `exclude(...)` names columns the struct does not map, outside the key: an excluded
/// column is never journalled, so a field reading it could never be filled.
fn exclude(cx: &Ctxt, container: &Container, key_columns: &[String]) {
    let Some(exclude) = &container.attrs.exclude else { return };
    no_repeats(cx, exclude, "exclude");
    for lit in &exclude.columns {
        listed_identifier(cx, lit);
        let column = lit.value();
        if key_columns.contains(&column) {
            cx.error(
                lit.span(),
                format!("key column `{column}` cannot be excluded: it identifies the row in every change"),
            );
        } else if let Some(field) = container.columns().find(|field| field.column.value == column) {
            cx.error(
                lit.span(),
                format!(
                    "column `{column}` is excluded from the journal, so field `{}` that reads it would never be \
                     filled; remove the field (or mark it #[sqlx(skip)]), or stop excluding the column",
                    field.name
                ),
            );
        }
    }
}

/// Quiet columns (on fields or listed on the struct) are not key columns nor excluded.
fn quiet(cx: &Ctxt, container: &Container, key_columns: &[String]) {
    let excluded: Vec<String> =
        container.attrs.exclude.iter().flat_map(|list| list.columns.iter().map(LitStr::value)).collect();
    for field in container.columns() {
        let Some(span) = field.attrs.quiet else { continue };
        if key_columns.contains(&field.column.value) {
            cx.error(
                span,
                format!(
                    "key column `{}` cannot be quiet: it identifies the row in every change; remove \
                     #[db_listenable(quiet)]",
                    field.column.value
                ),
            );
        }
    }
    let Some(quiet) = &container.attrs.quiet else { return };
    no_repeats(cx, quiet, "quiet");
    for lit in &quiet.columns {
        listed_identifier(cx, lit);
        let column = lit.value();
        if key_columns.contains(&column) {
            cx.error(
                lit.span(),
                format!("key column `{column}` cannot be quiet: it identifies the row in every change"),
            );
        } else if excluded.contains(&column) {
            cx.error(
                lit.span(),
                format!("column `{column}` is excluded, so it is never journalled and cannot be quiet as well"),
            );
        }
    }
}
