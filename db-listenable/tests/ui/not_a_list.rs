use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable]
struct Invoice {
    id: i64,
}

fn main() {}
