use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    id: i64,
    #[db_listenable(colour = "red")]
    total: i64,
}

fn main() {}
