use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(tabel = "invoices")]
struct Invoice {
    id: i64,
}

fn main() {}
