use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(events(insert, update, insert))]
struct Invoice {
    id: i64,
}

fn main() {}
