use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(DbListenable, Deserialize)]
#[db_listenable(primary_key = "number")]
struct Invoice {
    #[serde(skip)]
    number: i64,
    total: i64,
}

fn main() {}
