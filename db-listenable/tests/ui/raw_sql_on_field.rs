use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    id: i64,
    #[db_listenable(filter = "total > 0")]
    total: i64,
}

fn main() {}
