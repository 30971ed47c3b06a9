use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(crate = "my reexport")]
struct Invoice {
    id: i64,
}

fn main() {}
