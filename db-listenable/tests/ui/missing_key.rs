use db_listenable::DbListenable;

#[derive(DbListenable)]
struct InvoiceLine {
    invoice_id: i64,
    line: i32,
}

fn main() {}
