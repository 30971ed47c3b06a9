use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    id: i64,
    total: i64,
    #[db_listenable(rename = "total")]
    total_price: i64,
}

fn main() {}
