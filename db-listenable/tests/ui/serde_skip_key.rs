use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(DbListenable, Deserialize)]
struct Invoice {
    id: i64,
    #[serde(skip)]
    #[db_listenable(key)]
    cache_key: i64,
}

fn main() {}
