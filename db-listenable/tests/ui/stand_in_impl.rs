use db_listenable::DbListenable;
use db_listenable::registry::Registration;

#[derive(DbListenable)]
struct InvoiceLine {
    invoice_id: i64,
    line: i32,
}

#[derive(DbListenable)]
struct Row<'a, T> {
    id: i64,
    value: &'a T,
}

fn main() {
    // The errors above are the only ones: the derive still implements the trait.
    let _ = InvoiceLine::MODEL.table;
    let _ = Registration::of::<InvoiceLine>();
    let _ = <Row<'static, u8>>::MODEL.key;
}
