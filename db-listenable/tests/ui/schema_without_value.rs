use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(schema)]
struct Invoice {
    id: i64,
}

fn main() {}
