use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(key)]
struct Invoice {
    id: i64,
}

fn main() {}
