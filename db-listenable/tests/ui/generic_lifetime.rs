use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Message<'a> {
    id: i64,
    body: &'a str,
}

fn main() {}
