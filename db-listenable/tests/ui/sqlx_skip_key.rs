use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
struct Invoice {
    id: i64,
    #[sqlx(skip)]
    #[db_listenable(key, quiet)]
    cache_key: i64,
}

fn main() {}
