use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Invoice {
    id: i64,
    #[db_listenable(rename = "total_price")]
    total: i64,
}

fn main() {}
