use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
#[db_listenable(primary_key = "number")]
struct Invoice {
    #[sqlx(rename = "invoice_number")]
    number: i64,
}

fn main() {}
