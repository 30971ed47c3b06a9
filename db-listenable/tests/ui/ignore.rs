use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Account {
    id: i64,
    #[db_listenable(ignore)]
    password_hash: String,
}

fn main() {}
