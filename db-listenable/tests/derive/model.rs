//! The `MODEL` constant the derive generates, one attribute at a time.

// The structs exist for their `MODEL`; their fields are never read.
#![allow(dead_code)]

use db_listenable::{Column, DbListenable, Events, Model};
use serde::Deserialize;

/// Every model derived in this test binary; `registry` checks the registry lists them.
pub(crate) const ALL: &[Model] = &[
    InvoiceItem::MODEL,
    Category::MODEL,
    LineItem::MODEL,
    Ledger::MODEL,
    AuditEntry::MODEL,
    Snapshot::MODEL,
    InvoiceLine::MODEL,
    SingleKey::MODEL,
    RenamedKey::MODEL,
    Membership::MODEL,
    Message::MODEL,
    Renamed::MODEL,
    RenamedId::MODEL,
    CamelCase::MODEL,
    Shouting::MODEL,
    Attributes::MODEL,
    AllDefault::MODEL,
    Account::MODEL,
    Keywords::MODEL,
    Combined::MODEL,
];

const fn column(name: &'static str, field: &'static str) -> Column {
    Column { name, field, optional: false }
}

fn column_names(model: &Model) -> Vec<&'static str> {
    model.columns.iter().map(|column| column.name).collect()
}

#[derive(DbListenable)]
pub(crate) struct InvoiceItem {
    id: i64,
    invoice_id: i64,
    quantity: i32,
}

#[test]
fn defaults_name_the_plural_table_in_public_keyed_by_id() {
    const EXPECTED: Model = Model {
        rust_name: "InvoiceItem",
        schema: "public",
        table: "invoice_items",
        key: &["id"],
        columns: &[column("id", "id"), column("invoice_id", "invoice_id"), column("quantity", "quantity")],
        quiet: &[],
        exclude: &[],
        events: Events::DEFAULT,
    };
    assert_eq!(InvoiceItem::MODEL, EXPECTED);
}

#[derive(DbListenable)]
struct Category {
    id: i64,
}

#[derive(DbListenable)]
#[db_listenable(table = "line_items")]
struct LineItem {
    id: i64,
}

#[test]
fn table_defaults_to_the_snake_case_plural_or_is_given() {
    assert_eq!(Category::MODEL.table, "categories");
    assert_eq!(LineItem::MODEL.table, "line_items");
    assert_eq!(LineItem::MODEL.rust_name, "LineItem");
}

#[derive(DbListenable)]
#[db_listenable(schema = "billing")]
struct Ledger {
    id: i64,
}

#[test]
fn schema_is_given() {
    assert_eq!((Ledger::MODEL.schema, Ledger::MODEL.table), ("billing", "ledgers"));
}

#[derive(DbListenable)]
#[db_listenable(events(insert, delete))]
struct AuditEntry {
    id: i64,
}

#[derive(DbListenable)]
#[db_listenable(events(truncate, update, insert, delete))]
struct Snapshot {
    id: i64,
}

#[test]
fn events_are_the_listed_subset_and_truncate_only_when_listed() {
    assert_eq!(AuditEntry::MODEL.events, Events { insert: true, update: false, delete: true, truncate: false });
    assert_eq!(Snapshot::MODEL.events, Events { insert: true, update: true, delete: true, truncate: true });
    assert_eq!(InvoiceItem::MODEL.events, Events::DEFAULT, "truncate is not captured unless listed");
}

#[derive(DbListenable)]
#[db_listenable(primary_key("invoice_id", "line"))]
struct InvoiceLine {
    line: i32,
    invoice_id: i64,
    text: String,
}

#[derive(DbListenable)]
#[db_listenable(primary_key = "code")]
struct SingleKey {
    id: i64,
    code: String,
}

#[derive(DbListenable, sqlx::FromRow)]
#[db_listenable(primary_key("chat", "number"))]
struct RenamedKey {
    #[sqlx(rename = "chat")]
    chat_id: i64,
    number: i32,
}

#[derive(DbListenable)]
struct Membership {
    #[db_listenable(key)]
    chat_id: i64,
    role: String,
    #[db_listenable(key)]
    user_id: i64,
}

#[test]
fn primary_key_names_columns_in_key_order() {
    assert_eq!(InvoiceLine::MODEL.key, ["invoice_id", "line"]);
    assert_eq!(SingleKey::MODEL.key, ["code"], "primary_key replaces the default `id`");
    assert_eq!(RenamedKey::MODEL.key, ["chat", "number"]);
}

#[test]
fn key_fields_make_a_composite_key_in_field_order() {
    assert_eq!(Membership::MODEL.key, ["chat_id", "user_id"]);
}

#[derive(DbListenable)]
struct Message {
    id: i64,
    body: String,
    #[db_listenable(quiet)]
    touched_at: i64,
    #[db_listenable(quiet)]
    read_count: i64,
}

#[test]
fn quiet_fields_stay_columns_and_are_listed_sorted() {
    assert_eq!(column_names(&Message::MODEL), ["id", "body", "touched_at", "read_count"]);
    assert_eq!(Message::MODEL.quiet, ["read_count", "touched_at"], "sorted: field order does not reach the SQL");
}

#[derive(DbListenable, sqlx::FromRow)]
struct Renamed {
    id: i64,
    #[sqlx(rename = "total_price")]
    total: i64,
}

#[derive(DbListenable, sqlx::FromRow)]
struct RenamedId {
    #[sqlx(rename = "item_id")]
    id: i64,
}

#[test]
fn sqlx_rename_sets_the_column_name_and_keeps_the_field_name() {
    assert_eq!(Renamed::MODEL.columns, [column("id", "id"), column("total_price", "total")]);
    assert_eq!(RenamedId::MODEL.key, ["item_id"], "the default key is the `id` field's column");
}

#[derive(DbListenable, sqlx::FromRow, Deserialize)]
#[sqlx(rename_all = "camelCase")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct CamelCase {
    id: i64,
    customer_name: String,
    #[sqlx(rename = "total")]
    total_price: i64,
    r#type: String,
    address_line2: String,
}

#[derive(DbListenable, sqlx::FromRow)]
#[sqlx(rename_all = "SCREAMING_SNAKE_CASE")]
#[db_listenable(primary_key = "ID")]
struct Shouting {
    id: i64,
    unit_price: i64,
}

#[test]
fn column_names_are_the_ones_sqlx_from_row_reads_and_serde_does_not_matter() {
    assert_eq!(
        column_names(&CamelCase::MODEL),
        ["id", "customerName", "total", "type", "addressLine2"],
        "rename beats rename_all; r# is dropped before rename_all"
    );
    assert_eq!(column_names(&Shouting::MODEL), ["ID", "UNIT_PRICE"]);
}

#[derive(DbListenable, sqlx::FromRow)]
struct Attributes {
    id: i64,
    #[sqlx(skip)]
    cache: Option<String>,
    #[sqlx(json)]
    settings: serde_json::Value,
    #[sqlx(json(nullable))]
    extra: Option<serde_json::Value>,
    #[sqlx(try_from = "i64")]
    count: u64,
    #[sqlx(default)]
    nickname: String,
}

#[derive(Default, DbListenable, sqlx::FromRow)]
#[sqlx(default)]
struct AllDefault {
    id: i64,
    note: String,
}

#[test]
fn skip_is_no_column_json_and_try_from_are_columns_default_is_optional() {
    assert_eq!(
        Attributes::MODEL.columns,
        [
            column("id", "id"),
            column("settings", "settings"),
            column("extra", "extra"),
            column("count", "count"),
            Column { name: "nickname", field: "nickname", optional: true },
        ]
    );
    assert_eq!(Attributes::MODEL.required_columns(), ["id", "settings", "extra", "count"]);
    assert_eq!(
        AllDefault::MODEL.columns,
        [column("id", "id"), Column { name: "note", field: "note", optional: true }],
        "a struct-level default leaves the key required"
    );
}

#[derive(DbListenable)]
#[db_listenable(exclude("password_hash", "avatar"), quiet("touched_at"))]
struct Account {
    id: i64,
    email: String,
}

#[test]
fn exclude_and_struct_level_quiet_name_columns_the_struct_does_not_map() {
    assert_eq!(Account::MODEL.exclude, ["avatar", "password_hash"]);
    assert_eq!(Account::MODEL.quiet, ["touched_at"]);
    assert_eq!(Account::MODEL.required_columns(), ["id", "email", "avatar", "password_hash"]);
}

#[derive(DbListenable)]
#[db_listenable(table = "order")]
struct Keywords {
    r#id: i64,
    r#type: String,
}

#[test]
fn raw_identifiers_lose_their_prefix() {
    assert_eq!(Keywords::MODEL.columns, [column("id", "id"), column("type", "type")]);
    assert_eq!(Keywords::MODEL.key, ["id"]);
    assert_eq!(Keywords::MODEL.table, "order", "SQL keywords are fine: the generated SQL quotes every name");
}

#[derive(DbListenable, sqlx::FromRow)]
#[db_listenable(schema = "chat", table = "message_log")]
#[db_listenable(events(insert, update), crate = "::db_listenable")]
struct Combined {
    #[db_listenable(key)]
    #[sqlx(rename = "log_id")]
    id: i64,
    #[db_listenable(key)]
    seq: i32,
    #[db_listenable(quiet)]
    #[sqlx(rename = "seen")]
    seen_by: i32,
}

#[test]
fn settings_combine_in_one_attribute_or_several() {
    const EXPECTED: Model = Model {
        rust_name: "Combined",
        schema: "chat",
        table: "message_log",
        key: &["log_id", "seq"],
        columns: &[
            column("log_id", "id"),
            column("seq", "seq"),
            Column { name: "seen", field: "seen_by", optional: false },
        ],
        quiet: &["seen"],
        exclude: &[],
        events: Events { insert: true, update: true, delete: false, truncate: false },
    };
    assert_eq!(Combined::MODEL, EXPECTED);
}
