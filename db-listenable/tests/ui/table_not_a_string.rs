use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(table = 5)]
struct Invoice {
    id: i64,
}

fn main() {}
