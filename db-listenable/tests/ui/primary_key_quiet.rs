use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(primary_key = "number", quiet("number"))]
struct Invoice {
    number: i64,
}

fn main() {}
