use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(DbListenable, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Invoice {
    id: i64,
    #[db_listenable(rename = "total_price")]
    total_price: i64,
}

fn main() {}
