use db_listenable::DbListenable;

#[derive(sqlx::FromRow)]
struct Address {
    street: String,
    city: String,
}

#[derive(DbListenable, sqlx::FromRow)]
struct Customer {
    id: i64,
    #[sqlx(flatten)]
    address: Address,
}

fn main() {}
