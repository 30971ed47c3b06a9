use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(tabel = "invoices", schema = "", events(insert, upsert), when = "true")]
struct Invoice {
    #[db_listenable(rename = 1)]
    number: i64,
    #[db_listenable(key, ignore)]
    total: i64,
}

fn main() {}
