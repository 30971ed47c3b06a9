use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(events(insert, truncate = true))]
struct Invoice {
    id: i64,
}

fn main() {}
