use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
#[sqlx(rename_all = "camelCase")]
struct Invoice {
    id: i64,
    total_price: i64,
    #[sqlx(rename = "totalPrice")]
    price: i64,
}

fn main() {}
