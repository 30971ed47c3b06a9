use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(DbListenable, Deserialize)]
struct Invoice {
    id: i64,
    #[serde(rename = "total")]
    #[db_listenable(rename = "total_price")]
    price: i64,
}

fn main() {}
