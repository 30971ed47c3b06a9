use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(tabel = "invoices", schema = "", events(insert, upsert), when = "true")]
struct Invoice {
    #[db_listenable(quiet = 1)]
    number: i64,
    #[db_listenable(key, quiet)]
    total: i64,
}

fn main() {}
