use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
struct Invoice {
    #[db_listenable(key)]
    #[sqlx(default)]
    number: i64,
}

fn main() {}
