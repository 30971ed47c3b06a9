use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    id: i64,
    #[db_listenable(table = "totals")]
    total: i64,
}

fn main() {}
