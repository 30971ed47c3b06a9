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
    RenamedOnlyForTheTable::MODEL,
    SerdeRenamed::MODEL,
    CamelCase::MODEL,
    SerdeDeserializeName::MODEL,
    AliasAgrees::MODEL,
    Skipped::MODEL,
    Keywords::MODEL,
    Combined::MODEL,
];

const fn column(name: &'static str, field: &'static str) -> Column {
    Column { name, field, serde_key: field, ignored: false }
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

#[derive(DbListenable)]
#[db_listenable(primary_key("chat", "number"))]
struct RenamedKey {
    #[db_listenable(rename = "chat")]
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
    #[db_listenable(ignore)]
    read_count: i64,
    #[db_listenable(ignore)]
    touched_at: i64,
}

#[test]
fn ignored_fields_stay_columns_marked_ignored() {
    assert_eq!(column_names(&Message::MODEL), ["id", "body", "read_count", "touched_at"]);
    assert_eq!(Message::MODEL.ignored_columns().collect::<Vec<_>>(), ["read_count", "touched_at"]);
    assert_eq!(Message::MODEL.captured_columns().map(|column| column.name).collect::<Vec<_>>(), ["id", "body"]);
}

#[derive(DbListenable)]
struct Renamed {
    id: i64,
    #[db_listenable(rename = "total_price")]
    total: i64,
}

#[derive(DbListenable)]
struct RenamedId {
    #[db_listenable(rename = "item_id")]
    id: i64,
}

#[test]
fn rename_sets_the_column_name_and_keeps_the_field_name() {
    assert_eq!(Renamed::MODEL.columns, [column("id", "id"), column("total_price", "total")]);
    assert_eq!(RenamedId::MODEL.key, ["item_id"], "the default key is the `id` field's column");
}

#[derive(Debug, PartialEq, DbListenable, Deserialize)]
struct RenamedOnlyForTheTable {
    id: i64,
    #[db_listenable(rename = "qty")]
    quantity: i32,
}

#[test]
fn captured_rows_decode_by_column_name_even_when_only_the_table_renames() {
    // The journal stores `qty`; serde looks for `quantity`.
    let row = serde_json::json!({ "id": 7, "qty": 3, "not_in_the_struct": true });
    let decoded: RenamedOnlyForTheTable =
        serde_json::from_value(RenamedOnlyForTheTable::MODEL.row_for_serde(row)).expect("decodes");
    assert_eq!(decoded, RenamedOnlyForTheTable { id: 7, quantity: 3 });
    let serde_renamed = serde_json::json!({ "id": 1, "qty": 2, "price": 3 });
    assert_eq!(SerdeRenamed::MODEL.row_for_serde(serde_renamed.clone()), serde_renamed, "nothing to move");
}

#[derive(DbListenable, Deserialize)]
struct SerdeRenamed {
    id: i64,
    #[serde(rename = "qty")]
    quantity: i32,
    #[serde(rename = "price")]
    #[db_listenable(rename = "price")]
    unit_price: i64,
}

#[derive(DbListenable, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CamelCase {
    id: i64,
    customer_name: String,
    #[serde(rename = "total")]
    total_price: i64,
    #[db_listenable(rename = "createdAt")]
    created_at: i64,
}

#[derive(DbListenable, Deserialize)]
#[serde(rename_all(serialize = "UPPERCASE", deserialize = "kebab-case"))]
struct SerdeDeserializeName {
    id: i64,
    #[serde(rename(serialize = "out", deserialize = "in"))]
    in_out: i32,
    unit_price: i64,
}

#[derive(DbListenable, Deserialize)]
struct AliasAgrees {
    id: i64,
    #[serde(rename = "qty", alias = "quantity")]
    #[db_listenable(rename = "quantity")]
    quantity: i32,
}

#[derive(DbListenable, Deserialize)]
struct Skipped {
    id: i64,
    #[serde(skip)]
    cache: Option<String>,
    #[serde(skip_deserializing)]
    computed: i64,
    #[serde(skip_serializing)]
    secret: String,
}

#[test]
fn serde_names_are_column_names() {
    let serde_renamed = |name, field| Column { name, field, serde_key: name, ignored: false };
    assert_eq!(
        SerdeRenamed::MODEL.columns,
        [column("id", "id"), serde_renamed("qty", "quantity"), serde_renamed("price", "unit_price")]
    );
    assert_eq!(column_names(&CamelCase::MODEL), ["id", "customerName", "total", "createdAt"]);
    assert_eq!(column_names(&SerdeDeserializeName::MODEL), ["id", "in", "unit-price"], "the deserialize side counts");
    assert_eq!(column_names(&AliasAgrees::MODEL), ["id", "quantity"], "a serde alias agrees with a column name");
}

#[test]
fn fields_serde_skips_are_no_columns() {
    assert_eq!(column_names(&Skipped::MODEL), ["id", "secret"]);
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

#[derive(DbListenable)]
#[db_listenable(schema = "chat", table = "message_log")]
#[db_listenable(events(insert, update), crate = "::db_listenable")]
struct Combined {
    #[db_listenable(key, rename = "log_id")]
    id: i64,
    #[db_listenable(key)]
    seq: i32,
    #[db_listenable(ignore)]
    #[db_listenable(rename = "seen")]
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
            Column { name: "seen", field: "seen_by", serde_key: "seen_by", ignored: true },
        ],
        events: Events { insert: true, update: true, delete: false, truncate: false },
    };
    assert_eq!(Combined::MODEL, EXPECTED);
}
