use db_listenable::DbListenable;

#[derive(DbListenable)]
struct InvoiceItemWithANameLongEnoughToPassThePostgresLimitOnIdentifiers {
    id: i64,
}

fn main() {}
