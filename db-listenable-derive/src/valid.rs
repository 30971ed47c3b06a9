//! Checks across attributes and fields: names PostgreSQL accepts, one column per name,
//! a key that names columns, serde and the table agreeing on every name. Every failed
//! check is recorded; nothing stops at the first.

use std::collections::HashMap;

use crate::ast::{Container, Field, Key, Name, Origin};
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
    key(cx, container);
}

/// A name PostgreSQL takes as it is: not empty, no NUL, at most 63 bytes.
fn identifier(cx: &Ctxt, what: &str, name: &Name) {
    let value = &name.value;
    let from = match name.origin {
        Origin::Attribute => "",
        Origin::SerdeRename => " (from #[serde(rename)])",
        Origin::SerdeRenameAll => " (from #[serde(rename_all)])",
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

/// Checks on one field alone.
fn field_checks(cx: &Ctxt, field: &Field) {
    let attrs = &field.attrs;
    if let Some(flatten) = attrs.serde.flatten {
        cx.error(
            flatten,
            "#[serde(flatten)] cannot map to columns: the journal stores a row as one JSON object keyed by column \
             name; list the columns as fields of this struct instead",
        );
    }
    if attrs.serde.skip.is_some() {
        let name = &field.name;
        for (span, attribute) in [(attrs.key, "key"), (attrs.ignore, "ignore")] {
            if let Some(span) = span {
                cx.error(
                    span,
                    format!(
                        "field `{name}` is skipped by serde, so it is not a column and cannot take \
                         #[db_listenable({attribute})]"
                    ),
                );
            }
        }
        if let Some(rename) = &attrs.rename {
            cx.error(
                rename.span(),
                format!("field `{name}` is skipped by serde, so it is not a column and cannot take a column name"),
            );
        }
        return;
    }
    if !field.is_column() {
        return;
    }
    identifier(cx, "column", &field.column);
    if attrs.key.is_some()
        && let Some(ignore) = attrs.ignore
    {
        cx.error(
            ignore,
            format!(
                "a key column cannot be ignored: `{}` identifies the row in every change; remove \
                 #[db_listenable(ignore)]",
                field.column.value
            ),
        );
    }
    serde_agrees(cx, field);
}

/// With both `#[db_listenable(rename)]` and a serde name, they must be the same name:
/// the journal stores the row keyed by column name and serde decodes it by its own.
fn serde_agrees(cx: &Ctxt, field: &Field) {
    let Some(rename) = &field.attrs.rename else { return };
    let serde = &field.serde_name;
    let column = rename.value();
    if serde.origin == Origin::Rust || serde.value == column || field.attrs.serde.aliases.contains(&column) {
        return;
    }
    let because = match serde.origin {
        Origin::SerdeRename => "#[serde(rename)]".to_owned(),
        _ => "#[serde(rename_all)]".to_owned(),
    };
    cx.error(
        rename.span(),
        format!(
            "column name `{column}` conflicts with `{}`, the name serde decodes field `{}` by ({because}); the \
             journal stores rows keyed by column name, so both must be the same: drop one of them or make them equal",
            serde.value, field.name
        ),
    );
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

/// The key names columns, in one way, none of them ignored.
fn key(cx: &Ctxt, container: &Container) {
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
                match container.columns().find(|field| field.column.value == column) {
                    Some(field) if field.attrs.ignore.is_some() => cx.error(
                        lit.span(),
                        format!(
                            "a key column cannot be ignored: `primary_key` names `{column}`, which field `{}` marks \
                             #[db_listenable(ignore)]",
                            field.name
                        ),
                    ),
                    Some(_) => {}
                    None => cx.error(lit.span(), unknown_key_column(container, &column)),
                }
                listed.push(column);
            }
        }
        // Ignored `key` fields are reported with the field; serde-skipped ones too.
        Key::Fields(_) => {}
        Key::DefaultId(id) => {
            if let Some(ignore) = id.attrs.ignore {
                cx.error(
                    ignore,
                    format!(
                        "a key column cannot be ignored: field `id` is the default key (column `{}`); remove \
                         #[db_listenable(ignore)] or name another key with #[db_listenable(key)]",
                        id.column.value
                    ),
                );
            }
        }
        Key::Missing => cx.error(
            container.input.ident.span(),
            format!(
                "missing key column: `{}` has no field named `id`, the default key; mark the key field(s) with \
                 #[db_listenable(key)], or name the key columns with #[db_listenable(primary_key = \"...\")] on \
                 the struct",
                container.rust_name()
            ),
        ),
    }
}

/// The error for a `primary_key` name that is no column, with a hint when it is a
/// field's name rather than its column's.
fn unknown_key_column(container: &Container, column: &str) -> String {
    let columns: Vec<String> = container.columns().map(|field| format!("`{}`", field.column.value)).collect();
    let columns = if columns.is_empty() { "none".to_owned() } else { columns.join(", ") };
    let hint = match container.fields.iter().find(|field| field.name == column) {
        Some(field) if !field.is_column() => format!("; field `{column}` is not a column (serde skips or flattens it)"),
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
