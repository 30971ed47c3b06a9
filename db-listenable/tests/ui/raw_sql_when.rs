use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(when = "NEW.total <> OLD.total")]
struct Invoice {
    id: i64,
    total: i64,
}

fn main() {}
