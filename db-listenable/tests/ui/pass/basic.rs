//! The plain derive: defaults everywhere.

use db_listenable::DbListenable;

#[derive(DbListenable)]
pub struct InvoiceItem {
    pub id: i64,
    pub invoice_id: i64,
    pub quantity: i32,
}

fn main() {
    assert_eq!(InvoiceItem::MODEL.table, "invoice_items");
    assert_eq!(InvoiceItem::MODEL.key, ["id"]);
    assert_eq!(db_listenable::registry::models(), [InvoiceItem::MODEL]);
}
