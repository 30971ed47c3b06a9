use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
struct Invoice {
    id: i64,
    #[sqlx(rename = "")]
    total: i64,
}

fn main() {}
