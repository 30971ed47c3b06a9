use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(table = "invoices", table = "bills")]
struct Invoice {
    id: i64,
}

fn main() {}
