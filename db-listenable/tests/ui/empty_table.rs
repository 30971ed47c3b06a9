use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(table = "")]
struct Invoice {
    id: i64,
}

fn main() {}
