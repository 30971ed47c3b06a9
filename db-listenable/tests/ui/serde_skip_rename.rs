use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(DbListenable, Deserialize)]
struct Invoice {
    id: i64,
    #[serde(skip_deserializing)]
    #[db_listenable(rename = "summary", ignore)]
    cached_summary: String,
}

fn main() {}
