use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(Deserialize)]
struct Address {
    street: String,
    city: String,
}

#[derive(DbListenable, Deserialize)]
struct Customer {
    id: i64,
    #[serde(flatten)]
    address: Address,
}

fn main() {}
