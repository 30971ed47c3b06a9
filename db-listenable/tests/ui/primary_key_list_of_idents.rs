use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(primary_key(invoice_id, line))]
struct InvoiceLine {
    invoice_id: i64,
    line: i32,
}

fn main() {}
