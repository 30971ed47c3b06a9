use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(exclude())]
struct Account {
    id: i64,
}

#[derive(DbListenable)]
#[db_listenable(exclude = 1)]
struct Profile {
    id: i64,
}

#[derive(DbListenable)]
#[db_listenable(exclude("avatar", "", "avatar"))]
struct Picture {
    id: i64,
}

fn main() {}
