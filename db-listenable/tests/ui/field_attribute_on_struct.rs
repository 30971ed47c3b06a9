use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(rename = "invoices")]
struct Invoice {
    id: i64,
}

fn main() {}
