use db_listenable::DbListenable;

#[derive(DbListenable)]
struct InvoiceItem(i64, i32);

fn main() {}
