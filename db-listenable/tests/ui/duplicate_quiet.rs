use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    id: i64,
    #[db_listenable(quiet)]
    #[db_listenable(quiet)]
    touched_at: i64,
}

fn main() {}
