use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(exclude("avatar"), quiet("avatar"))]
struct Account {
    id: i64,
}

fn main() {}
