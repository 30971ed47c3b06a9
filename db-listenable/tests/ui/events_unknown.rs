use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(events(insert, upsert))]
struct Invoice {
    id: i64,
}

fn main() {}
