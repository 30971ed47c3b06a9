use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(exclude("email"))]
struct Account {
    #[db_listenable(key)]
    email: String,
}

fn main() {}
