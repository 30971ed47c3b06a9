//! The columns are the ones `sqlx::FromRow` reads; serde's names do not matter.

use db_listenable::{Column, DbListenable};
use serde::Deserialize;

#[derive(DbListenable, sqlx::FromRow, Deserialize)]
#[sqlx(rename_all = "camelCase")]
#[serde(rename_all = "kebab-case")]
#[db_listenable(exclude("passwordHash"), quiet("touchedAt"))]
pub struct Account {
    pub id: i64,
    pub display_name: String,
    #[sqlx(rename = "mail")]
    #[serde(rename = "email")]
    pub email_address: String,
    #[sqlx(skip)]
    pub cache: Option<String>,
    #[sqlx(json)]
    pub settings: serde_json::Value,
    #[sqlx(try_from = "i64")]
    pub logins: u64,
    #[sqlx(default)]
    #[db_listenable(quiet)]
    pub seen_count: i64,
}

fn main() {
    let names: Vec<_> = Account::MODEL.columns.iter().map(|column| column.name).collect();
    assert_eq!(names, ["id", "displayName", "mail", "settings", "logins", "seenCount"]);
    assert_eq!(Account::MODEL.columns[5], Column { name: "seenCount", field: "seen_count", optional: true });
    assert_eq!(Account::MODEL.exclude, ["passwordHash"]);
    assert_eq!(Account::MODEL.quiet, ["seenCount", "touchedAt"]);
}
