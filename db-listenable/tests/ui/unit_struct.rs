use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Marker;

fn main() {}
