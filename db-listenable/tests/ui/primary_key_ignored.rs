use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(primary_key = "number")]
struct Invoice {
    #[db_listenable(ignore)]
    number: i64,
}

fn main() {}
