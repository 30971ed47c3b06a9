//! serde's names become column names; skipped fields are no columns.

use db_listenable::DbListenable;
use serde::Deserialize;

#[derive(DbListenable, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Invoice {
    pub id: i64,
    pub customer_name: String,
    #[serde(rename = "total")]
    #[db_listenable(rename = "total")]
    pub total_price: i64,
    #[serde(skip)]
    pub cache: Option<String>,
    #[serde(default, with = "plain")]
    pub note: String,
}

mod plain {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        String::deserialize(deserializer)
    }
}

fn main() {
    let names: Vec<_> = Invoice::MODEL.columns.iter().map(|column| column.name).collect();
    assert_eq!(names, ["id", "customerName", "total", "note"]);
}
