use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    id: i64,
    #[db_listenable(quiet("always"))]
    touched_at: i64,
}

fn main() {}
