use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    #[db_listenable(key, quiet)]
    number: i64,
}

fn main() {}
