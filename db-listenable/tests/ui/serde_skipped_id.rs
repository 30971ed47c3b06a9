use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(DbListenable, Deserialize)]
struct Invoice {
    #[serde(skip)]
    id: i64,
    number: i64,
}

fn main() {}
