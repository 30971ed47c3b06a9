use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
#[db_listenable(primary_key = "number")]
struct Invoice {
    #[sqlx(skip)]
    number: i64,
    total: i64,
}

fn main() {}
