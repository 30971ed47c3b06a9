//! Attribute parsing: `#[db_listenable(...)]` on the struct and on its fields, and the
//! `#[sqlx(...)]` keys that decide which column `sqlx::FromRow` reads a field from.
//!
//! Every problem is recorded in the [`Ctxt`] and parsing goes on with the next setting,
//! so one compile reports every typo. Checks that need more than one attribute (keys,
//! column names) are in `valid`.

use std::collections::HashSet;

use proc_macro2::{Group, Span};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Path, Token, token};

use crate::ctxt::Ctxt;
use crate::naming::RenameAll;

/// The settings a struct takes, in the order the docs list them.
const CONTAINER_KEYS: &[&str] = &["table", "schema", "events", "primary_key", "exclude", "quiet", "crate"];
/// The settings a field takes.
const FIELD_KEYS: &[&str] = &["key", "quiet"];
/// Settings that no longer exist, refused with a message saying what replaced them.
const RETIRED_KEYS: &[&str] = &["ignore", "rename"];
/// The operations `events(...)` can list.
const EVENT_NAMES: &[&str] = &["insert", "update", "delete", "truncate"];
/// Keys that would carry SQL (a trigger's `WHEN` condition and the like). Named so the
/// error says why they are refused rather than "unknown attribute".
const RAW_SQL_KEYS: &[&str] = &["when", "where", "condition", "filter", "check", "sql", "raw_sql"];

/// `#[db_listenable(...)]` and `#[sqlx(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Container {
    /// `table = "..."`.
    pub(crate) table: Option<LitStr>,
    /// `schema = "..."`.
    pub(crate) schema: Option<LitStr>,
    /// `events(...)`.
    pub(crate) events: Option<Events>,
    /// `primary_key = "..."` or `primary_key("...", ...)`.
    pub(crate) primary_key: Option<ColumnList>,
    /// `exclude("...", ...)`: columns never journalled.
    pub(crate) exclude: Option<ColumnList>,
    /// `quiet("...", ...)`: columns whose changes alone emit nothing, named on the struct.
    pub(crate) quiet: Option<ColumnList>,
    /// `crate = "..."`.
    pub(crate) crate_path: CratePath,
    /// `#[sqlx(rename_all = "...")]`.
    pub(crate) sqlx_rename_all: Option<RenameAll>,
    /// `#[sqlx(default)]` on the struct: every field may lack its column.
    pub(crate) sqlx_default: bool,
}

/// The operations `events(...)` lists.
pub(crate) struct Events {
    pub(crate) insert: bool,
    pub(crate) update: bool,
    pub(crate) delete: bool,
    pub(crate) truncate: bool,
}

impl Events {
    /// Insert, update and delete: what a struct without `events(...)` captures.
    pub(crate) const DEFAULT: Events = Events { insert: true, update: true, delete: true, truncate: false };
}

/// `primary_key = "id"`, `primary_key("a", "b")`, `exclude(...)` or `quiet(...)`: column
/// names, in the order given (none when the setting was malformed, which is reported).
pub(crate) struct ColumnList {
    /// The setting's word, where errors about the setting as a whole point.
    pub(crate) key: Path,
    pub(crate) columns: Vec<LitStr>,
}

/// Where the generated code finds `db_listenable`.
#[derive(Default)]
pub(crate) enum CratePath {
    /// `::db_listenable`.
    #[default]
    Default,
    /// `crate = "..."`, parsed.
    Given(Path),
    /// `crate = ...` that is not a path: no code can name the crate.
    Invalid,
}

/// `#[db_listenable(...)]` and `#[sqlx(...)]` on a field.
#[derive(Default)]
pub(crate) struct Field {
    /// `key`, where it was written.
    pub(crate) key: Option<Span>,
    /// `quiet`, where it was written.
    pub(crate) quiet: Option<Span>,
    /// What `sqlx::FromRow` makes of the field.
    pub(crate) sqlx: SqlxField,
}

/// The `#[sqlx(...)]` keys of a field that name its column, make it no column, or make
/// the column optional. `json` and `try_from` change only how the column's value is
/// decoded, so they are not recorded: such a field is an ordinary column.
#[derive(Default)]
pub(crate) struct SqlxField {
    /// `rename = "..."`: the column FromRow reads.
    pub(crate) rename: Option<LitStr>,
    /// `skip`: FromRow fills the field with its default and reads no column.
    pub(crate) skip: Option<Span>,
    /// `flatten`: FromRow reads a nested struct from the same row.
    pub(crate) flatten: Option<Span>,
    /// `default`: FromRow tolerates a missing column.
    pub(crate) default: Option<Span>,
}

/// One setting inside an attribute's parentheses: `key`, `key = value` or `key(...)`.
struct Item {
    /// The key as written (keywords such as `crate` and `where` included).
    key: Path,
    /// The key as text, without `r#`.
    name: String,
    value: Value,
}

enum Value {
    Flag,
    Assign(Expr),
    List(Group),
}

impl Item {
    /// Reads one setting; consumes its value whatever it is, so parsing can go on with
    /// the next setting after an error about this one.
    fn parse(meta: &ParseNestedMeta) -> syn::Result<Item> {
        let key = meta.path.clone();
        let name = match key.get_ident() {
            Some(ident) => ident.unraw().to_string(),
            None => key.to_token_stream().to_string().replace(' ', ""),
        };
        let value = if meta.input.peek(Token![=]) {
            Value::Assign(meta.value()?.parse()?)
        } else if meta.input.peek(token::Paren) {
            Value::List(meta.input.parse()?)
        } else {
            Value::Flag
        };
        Ok(Item { key, name, value })
    }

    /// The string of `key = "..."`; anything else is an error naming the expected form.
    fn string(&self, cx: &Ctxt, example: &str) -> Option<LitStr> {
        if let Value::Assign(expr) = &self.value
            && let Some(lit) = string_literal(expr)
        {
            return Some(lit.clone());
        }
        cx.error_spanned(self.tokens(), format!("`{}` expects a string: `{example}`", self.name));
        None
    }

    /// A bare `key`; a value is an error, but the flag still counts, so the error is not
    /// followed by others that assume it is missing ("missing key column").
    fn flag(&self, cx: &Ctxt) -> Span {
        if !matches!(self.value, Value::Flag) {
            cx.error_spanned(self.tokens(), format!("`{0}` takes no value: `#[db_listenable({0})]`", self.name));
        }
        span_of(&self.key)
    }

    /// The whole setting, for errors about its form.
    fn tokens(&self) -> proc_macro2::TokenStream {
        let key = &self.key;
        match &self.value {
            Value::Flag => key.to_token_stream(),
            Value::Assign(expr) => quote::quote!(#key = #expr),
            Value::List(group) => quote::quote!(#key #group),
        }
    }
}

/// The span of a path's first segment (keys are single words).
fn span_of(path: &Path) -> Span {
    path.segments.first().map_or_else(Span::call_site, |segment| segment.ident.span())
}

/// `"..."`, also when a macro_rules macro wrapped it in an invisible group.
fn string_literal(mut expr: &Expr) -> Option<&LitStr> {
    loop {
        match expr {
            Expr::Group(group) => expr = &group.expr,
            Expr::Lit(ExprLit { lit: Lit::Str(lit), .. }) => return Some(lit),
            _ => return None,
        }
    }
}

/// The settings of one `#[db_listenable(...)]`; a syntax error is recorded and the
/// settings read before it are still returned.
fn db_listenable_items(cx: &Ctxt, attr: &Attribute) -> Vec<Item> {
    let mut items = Vec::new();
    let parsed = attr.parse_nested_meta(|meta| {
        items.push(Item::parse(&meta)?);
        Ok(())
    });
    if let Err(error) = parsed {
        cx.syn_error(error);
    }
    items
}

/// The settings of a `(...)` list inside a setting (`events(...)`).
fn nested_items(cx: &Ctxt, group: &Group) -> Vec<Item> {
    let mut items = Vec::new();
    let parser = syn::meta::parser(|meta| {
        items.push(Item::parse(&meta)?);
        Ok(())
    });
    if let Err(error) = parser.parse2(group.stream()) {
        cx.syn_error(error);
    }
    items
}

/// The settings of a `#[sqlx(...)]`, read leniently: sqlx's own derive reports its
/// syntax errors, and reporting them twice helps nobody.
fn sqlx_items(attr: &Attribute) -> Vec<Item> {
    let mut items = Vec::new();
    let _ = attr.parse_nested_meta(|meta| {
        items.push(Item::parse(&meta)?);
        Ok(())
    });
    items
}

/// Records a duplicate setting; `true` when the setting is seen for the first time.
fn first_time(cx: &Ctxt, seen: &mut HashSet<String>, item: &Item) -> bool {
    if seen.insert(item.name.clone()) {
        return true;
    }
    cx.error(span_of(&item.key), format!("duplicate db_listenable attribute `{}`", item.name));
    false
}

/// The error for a key this position does not take.
fn unknown(cx: &Ctxt, item: &Item, position: &str, expected: &[&str]) {
    let span = span_of(&item.key);
    let name = item.name.as_str();
    if RETIRED_KEYS.contains(&name) {
        retired(cx, item, position);
        return;
    }
    if RAW_SQL_KEYS.contains(&name) {
        cx.error(
            span,
            format!(
                "`{name}` would take raw SQL, and raw SQL is not accepted from attributes: only names reach the \
                 generated DDL, always quoted; filter changes in the processor instead"
            ),
        );
        return;
    }
    if let Some(example) = example(name) {
        let message = if position == "struct" {
            format!("`{name}` goes on a field, not on the struct: `#[db_listenable({example})]`")
        } else {
            format!("`{name}` goes on the struct, not on a field: `#[db_listenable({example})]`")
        };
        cx.error(span, message);
        return;
    }
    let list = expected.iter().map(|key| format!("`{key}`")).collect::<Vec<_>>().join(", ");
    let hint = match closest(name, expected) {
        Some(close) => format!("; did you mean `{close}`?"),
        None => String::new(),
    };
    cx.error(span, format!("unknown db_listenable {position} attribute `{name}`; expected one of {list}{hint}"));
}

/// The error for a setting that was replaced: what it did, and what to write now.
fn retired(cx: &Ctxt, item: &Item, position: &str) {
    let span = span_of(&item.key);
    let message = match (item.name.as_str(), position) {
        ("ignore", _) => {
            "`ignore` no longer exists: it never hid a column, the column was journalled all the same. To keep \
             columns out of the journal (secrets, large values), list them on the struct with \
             `#[db_listenable(exclude(\"password_hash\"))]` and drop their fields; to journal a column but emit \
             nothing for an UPDATE that changes only it, mark the field `#[db_listenable(quiet)]`"
        }
        (_, "struct") => "`rename` is not a struct setting; the table is named by `#[db_listenable(table = \"...\")]`",
        _ => {
            "`#[db_listenable(rename)]` no longer exists: processors receive rows decoded by `sqlx::FromRow`, which \
             reads the column its own attribute names, so the column is named in one place: \
             `#[sqlx(rename = \"...\")]` (with `#[derive(sqlx::FromRow)]`)"
        }
    };
    cx.error(span, message);
}

/// How a setting is written, for errors that show it.
fn example(name: &str) -> Option<&'static str> {
    Some(match name {
        "table" => "table = \"...\"",
        "schema" => "schema = \"...\"",
        "events" => "events(...)",
        "primary_key" => "primary_key = \"...\"",
        "exclude" => "exclude(\"...\")",
        "crate" => "crate = \"...\"",
        "key" => "key",
        _ => return None,
    })
}

/// The expected word nearest to `name`, if it looks like a typo of it.
fn closest<'a>(name: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

impl Container {
    /// Reads the struct's attributes.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Container {
        let mut container = Container::default();
        let mut seen = HashSet::new();
        for attr in attrs {
            if attr.path().is_ident("db_listenable") {
                for item in db_listenable_items(cx, attr) {
                    container.apply(cx, &mut seen, &item);
                }
            } else if attr.path().is_ident("sqlx") {
                for item in sqlx_items(attr) {
                    match item.name.as_str() {
                        "rename_all" => {
                            if let Value::Assign(expr) = &item.value
                                && let Some(lit) = string_literal(expr)
                                && let Some(rule) = RenameAll::from_name(&lit.value())
                            {
                                container.sqlx_rename_all = Some(rule);
                            }
                        }
                        "default" => container.sqlx_default = true,
                        _ => {}
                    }
                }
            }
        }
        container
    }

    fn apply(&mut self, cx: &Ctxt, seen: &mut HashSet<String>, item: &Item) {
        if CONTAINER_KEYS.contains(&item.name.as_str()) && !first_time(cx, seen, item) {
            return;
        }
        match item.name.as_str() {
            "table" => self.table = item.string(cx, "table = \"invoice_items\""),
            "schema" => self.schema = item.string(cx, "schema = \"billing\""),
            "events" => self.events = events(cx, item),
            "primary_key" => self.primary_key = Some(column_list(cx, item, PRIMARY_KEY_FORM)),
            "exclude" => self.exclude = Some(column_list(cx, item, EXCLUDE_FORM)),
            "quiet" => self.quiet = Some(column_list(cx, item, QUIET_FORM)),
            "crate" => self.crate_path = crate_path(cx, item),
            _ => unknown(cx, item, "struct", CONTAINER_KEYS),
        }
    }
}

/// `events(insert, update, delete, truncate)`.
fn events(cx: &Ctxt, item: &Item) -> Option<Events> {
    let Value::List(group) = &item.value else {
        cx.error_spanned(item.tokens(), "`events` expects a list: `events(insert, update, delete, truncate)`");
        return None;
    };
    let mut events = Events { insert: false, update: false, delete: false, truncate: false };
    let mut valid = true;
    let mut listed = HashSet::new();
    let items = nested_items(cx, group);
    for event in &items {
        let slot = match event.name.as_str() {
            "insert" => &mut events.insert,
            "update" => &mut events.update,
            "delete" => &mut events.delete,
            "truncate" => &mut events.truncate,
            name => {
                let hint = match closest(name, EVENT_NAMES) {
                    Some(close) => format!("; did you mean `{close}`?"),
                    None => String::new(),
                };
                cx.error(
                    span_of(&event.key),
                    format!("unknown event `{name}`; expected `insert`, `update`, `delete` or `truncate`{hint}"),
                );
                valid = false;
                continue;
            }
        };
        if !matches!(event.value, Value::Flag) {
            cx.error_spanned(event.tokens(), format!("an event takes no value: `events({})`", event.name));
            valid = false;
        } else if !listed.insert(event.name.clone()) {
            cx.error(span_of(&event.key), format!("event `{}` is listed twice", event.name));
            valid = false;
        }
        *slot = true;
    }
    if items.is_empty() && group.stream().is_empty() {
        cx.error_spanned(
            item.tokens(),
            "`events()` lists no event, so nothing would be captured; list at least one of `insert`, `update`, \
             `delete`, `truncate` (without `events`, insert, update and delete are captured)",
        );
        valid = false;
    }
    valid.then_some(events)
}

/// How `primary_key` is written, for errors.
const PRIMARY_KEY_FORM: &str = "`primary_key = \"id\"` or `primary_key(\"invoice_id\", \"line\")`";
/// How `exclude` is written, for errors.
const EXCLUDE_FORM: &str = "`exclude = \"password_hash\"` or `exclude(\"password_hash\", \"avatar\")`";
/// How struct-level `quiet` is written, for errors.
const QUIET_FORM: &str = "`quiet = \"touched_at\"` or `quiet(\"touched_at\", \"view_count\")`";

/// `name = "a"` or `name("a", "b")`. A malformed one has no columns but still counts as
/// given, so `primary_key` is not followed by "missing key column".
fn column_list(cx: &Ctxt, item: &Item, form: &str) -> ColumnList {
    let columns = column_list_columns(cx, item, form).unwrap_or_default();
    ColumnList { key: item.key.clone(), columns }
}

fn column_list_columns(cx: &Ctxt, item: &Item, form: &str) -> Option<Vec<LitStr>> {
    let name = &item.name;
    let expected = format!("`{name}` expects a column name or a list of them: {form}");
    let columns = match &item.value {
        Value::Assign(expr) => match string_literal(expr) {
            Some(lit) => vec![lit.clone()],
            None => {
                cx.error_spanned(item.tokens(), &expected);
                return None;
            }
        },
        Value::List(group) => match Punctuated::<LitStr, Token![,]>::parse_terminated.parse2(group.stream()) {
            Ok(columns) if columns.is_empty() => {
                cx.error_spanned(item.tokens(), format!("`{name}()` names no column; list the columns: {form}"));
                return None;
            }
            Ok(columns) => columns.into_iter().collect(),
            Err(error) => {
                cx.error(error.span(), &expected);
                return None;
            }
        },
        Value::Flag => {
            cx.error_spanned(item.tokens(), &expected);
            return None;
        }
    };
    Some(columns)
}

/// `crate = "my_reexport::db_listenable"`.
fn crate_path(cx: &Ctxt, item: &Item) -> CratePath {
    let Some(lit) = item.string(cx, "crate = \"my_reexport::db_listenable\"") else {
        return CratePath::Invalid;
    };
    match lit.parse_with(Path::parse_mod_style) {
        Ok(path) => CratePath::Given(path),
        Err(_) => {
            cx.error(
                lit.span(),
                format!(
                    "`crate = {:?}` is not a Rust path; name the crate or its re-export, \
                     such as `crate = \"my_reexport::db_listenable\"`",
                    lit.value()
                ),
            );
            CratePath::Invalid
        }
    }
}

impl Field {
    /// Reads a field's attributes.
    pub(crate) fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Field {
        let mut field = Field::default();
        let mut seen = HashSet::new();
        for attr in attrs {
            if attr.path().is_ident("db_listenable") {
                for item in db_listenable_items(cx, attr) {
                    field.apply(cx, &mut seen, &item);
                }
            } else if attr.path().is_ident("sqlx") {
                for item in sqlx_items(attr) {
                    field.sqlx.apply(&item);
                }
            }
        }
        field
    }

    fn apply(&mut self, cx: &Ctxt, seen: &mut HashSet<String>, item: &Item) {
        if FIELD_KEYS.contains(&item.name.as_str()) && !first_time(cx, seen, item) {
            return;
        }
        match item.name.as_str() {
            "key" => self.key = Some(item.flag(cx)),
            "quiet" => self.quiet = Some(item.flag(cx)),
            _ => unknown(cx, item, "field", FIELD_KEYS),
        }
    }
}

impl SqlxField {
    fn apply(&mut self, item: &Item) {
        match item.name.as_str() {
            "rename" => {
                if let Value::Assign(expr) = &item.value
                    && let Some(lit) = string_literal(expr)
                {
                    self.rename = Some(lit.clone());
                }
            }
            "skip" => self.skip = Some(span_of(&item.key)),
            "flatten" => self.flatten = Some(span_of(&item.key)),
            "default" => self.default = Some(span_of(&item.key)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{closest, edit_distance};

    #[test]
    fn typos_get_a_hint_and_other_words_do_not() {
        assert_eq!(edit_distance("tabel", "table"), 2);
        assert_eq!(closest("tabel", &["table", "schema"]), Some("table"));
        assert_eq!(closest("primarykey", &["table", "primary_key"]), Some("primary_key"));
        assert_eq!(closest("colour", &["table", "schema", "events"]), None);
    }
}
