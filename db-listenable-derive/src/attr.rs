//! Attribute parsing: `#[db_listenable(...)]` on the struct and on its fields, and the
//! few `#[serde(...)]` keys that decide which name serde decodes a field by.
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
use crate::naming::RenameRule;

/// The settings a struct takes, in the order the docs list them.
const CONTAINER_KEYS: &[&str] = &["table", "schema", "events", "primary_key", "crate"];
/// The settings a field takes.
const FIELD_KEYS: &[&str] = &["key", "ignore", "rename"];
/// The operations `events(...)` can list.
const EVENT_NAMES: &[&str] = &["insert", "update", "delete", "truncate"];
/// Keys that would carry SQL (a trigger's `WHEN` condition and the like). Named so the
/// error says why they are refused rather than "unknown attribute".
const RAW_SQL_KEYS: &[&str] = &["when", "where", "condition", "filter", "check", "sql", "raw_sql"];

/// `#[db_listenable(...)]` and `#[serde(...)]` on the struct.
#[derive(Default)]
pub(crate) struct Container {
    /// `table = "..."`.
    pub(crate) table: Option<LitStr>,
    /// `schema = "..."`.
    pub(crate) schema: Option<LitStr>,
    /// `events(...)`.
    pub(crate) events: Option<Events>,
    /// `primary_key = "..."` or `primary_key("...", ...)`.
    pub(crate) primary_key: Option<PrimaryKey>,
    /// `crate = "..."`.
    pub(crate) crate_path: CratePath,
    /// `#[serde(rename_all = "...")]`, the deserialize side.
    pub(crate) serde_rename_all: Option<RenameRule>,
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

/// `primary_key = "id"` or `primary_key("a", "b")`: column names, in key order (none
/// when the setting was malformed, which is reported).
pub(crate) struct PrimaryKey {
    /// The `primary_key` word, where errors about the setting as a whole point.
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

/// `#[db_listenable(...)]` and `#[serde(...)]` on a field.
#[derive(Default)]
pub(crate) struct Field {
    /// `key`, where it was written.
    pub(crate) key: Option<Span>,
    /// `ignore`, where it was written.
    pub(crate) ignore: Option<Span>,
    /// `rename = "..."`.
    pub(crate) rename: Option<LitStr>,
    /// What serde makes of the field.
    pub(crate) serde: SerdeField,
}

/// The `#[serde(...)]` keys of a field that change its name or make it not a column.
#[derive(Default)]
pub(crate) struct SerdeField {
    /// `rename = "..."` or `rename(deserialize = "...")`: the name serde decodes by.
    pub(crate) rename: Option<LitStr>,
    /// `alias = "..."`: further names serde accepts.
    pub(crate) aliases: Vec<String>,
    /// `skip` or `skip_deserializing`: serde never reads the field, so it is not a column.
    pub(crate) skip: Option<Span>,
    /// `flatten`: the field's own fields sit in the parent's JSON object.
    pub(crate) flatten: Option<Span>,
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

/// The settings of a `#[serde(...)]`, read leniently: serde's own derive reports its
/// syntax errors, and reporting them twice helps nobody.
fn serde_items(attr: &Attribute) -> Vec<Item> {
    let mut items = Vec::new();
    let _ = attr.parse_nested_meta(|meta| {
        items.push(Item::parse(&meta)?);
        Ok(())
    });
    items
}

/// The deserialize-side string of a serde setting: `key = "..."` or
/// `key(deserialize = "...")`.
fn serde_deserialize_string(item: &Item) -> Option<LitStr> {
    match &item.value {
        Value::Assign(expr) => string_literal(expr).cloned(),
        Value::List(group) => {
            let mut found = None;
            let _ = syn::meta::parser(|meta| {
                let nested = Item::parse(&meta)?;
                if nested.name == "deserialize"
                    && let Value::Assign(expr) = &nested.value
                {
                    found = string_literal(expr).cloned();
                }
                Ok(())
            })
            .parse2(group.stream());
            found
        }
        Value::Flag => None,
    }
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
            let hint = if name == "rename" { " (the table is named by `table = \"...\"`)" } else { "" };
            format!("`{name}` goes on a field, not on the struct: `#[db_listenable({example})]`{hint}")
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

/// How a setting is written, for errors that show it.
fn example(name: &str) -> Option<&'static str> {
    Some(match name {
        "table" => "table = \"...\"",
        "schema" => "schema = \"...\"",
        "events" => "events(...)",
        "primary_key" => "primary_key = \"...\"",
        "crate" => "crate = \"...\"",
        "key" => "key",
        "ignore" => "ignore",
        "rename" => "rename = \"...\"",
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
            } else if attr.path().is_ident("serde") {
                for item in serde_items(attr) {
                    if item.name == "rename_all"
                        && let Some(lit) = serde_deserialize_string(&item)
                        && let Some(rule) = RenameRule::from_name(&lit.value())
                    {
                        container.serde_rename_all = Some(rule);
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
            "primary_key" => self.primary_key = Some(primary_key(cx, item)),
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

/// `primary_key = "id"` or `primary_key("a", "b")`. A malformed one has no columns but
/// still counts as given, so it is not followed by "missing key column".
fn primary_key(cx: &Ctxt, item: &Item) -> PrimaryKey {
    let columns = primary_key_columns(cx, item).unwrap_or_default();
    PrimaryKey { key: item.key.clone(), columns }
}

fn primary_key_columns(cx: &Ctxt, item: &Item) -> Option<Vec<LitStr>> {
    const EXPECTED: &str = "`primary_key` expects a column name or a list of them: `primary_key = \"id\"` or \
                            `primary_key(\"invoice_id\", \"line\")`";
    let columns = match &item.value {
        Value::Assign(expr) => match string_literal(expr) {
            Some(lit) => vec![lit.clone()],
            None => {
                cx.error_spanned(item.tokens(), EXPECTED);
                return None;
            }
        },
        Value::List(group) => match Punctuated::<LitStr, Token![,]>::parse_terminated.parse2(group.stream()) {
            Ok(columns) if columns.is_empty() => {
                cx.error_spanned(
                    item.tokens(),
                    "`primary_key()` names no column; list the key columns: `primary_key(\"invoice_id\", \"line\")`",
                );
                return None;
            }
            Ok(columns) => columns.into_iter().collect(),
            Err(error) => {
                cx.error(error.span(), EXPECTED);
                return None;
            }
        },
        Value::Flag => {
            cx.error_spanned(item.tokens(), EXPECTED);
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
            } else if attr.path().is_ident("serde") {
                for item in serde_items(attr) {
                    field.serde.apply(&item);
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
            "ignore" => self.ignore = Some(item.flag(cx)),
            "rename" => self.rename = item.string(cx, "rename = \"column_name\""),
            _ => unknown(cx, item, "field", FIELD_KEYS),
        }
    }
}

impl SerdeField {
    fn apply(&mut self, item: &Item) {
        match item.name.as_str() {
            "rename" => {
                if let Some(lit) = serde_deserialize_string(item) {
                    self.rename = Some(lit);
                }
            }
            "alias" => {
                if let Some(lit) = serde_deserialize_string(item) {
                    self.aliases.push(lit.value());
                }
            }
            "skip" | "skip_deserializing" => self.skip = Some(span_of(&item.key)),
            "flatten" => self.flatten = Some(span_of(&item.key)),
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
