use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Row<T> {
    id: i64,
    value: T,
}

fn main() {}
