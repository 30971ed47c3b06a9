use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(primary_key = 1)]
struct Invoice {
    id: i64,
}

fn main() {}
