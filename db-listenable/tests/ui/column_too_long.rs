use db_listenable::DbListenable;

#[derive(DbListenable, sqlx::FromRow)]
struct Invoice {
    id: i64,
    #[sqlx(rename = "total_price_including_every_tax_and_discount_and_every_rounding_rule")]
    total: i64,
}

fn main() {}
