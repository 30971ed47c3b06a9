use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
#[db_listenable(exclude("password_hash", "avatar"))]
struct Account {
    id: i64,
    #[sqlx(rename = "password_hash")]
    password: String,
}

fn main() {}
