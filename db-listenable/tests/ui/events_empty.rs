use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(events())]
struct Invoice {
    id: i64,
}

fn main() {}
