use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
struct Invoice {
    #[sqlx(skip)]
    id: i64,
    number: i64,
}

fn main() {}
