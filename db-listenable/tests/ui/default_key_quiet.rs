use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    #[db_listenable(quiet)]
    id: i64,
    total: i64,
}

fn main() {}
