use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(schema = "billing\0; DROP TABLE invoices")]
struct Invoice {
    id: i64,
}

fn main() {}
