use db_listenable::DbListenable;

#[derive(DbListenable)]
enum Status {
    Open,
    Closed,
}

fn main() {}
