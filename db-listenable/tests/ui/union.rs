use db_listenable::DbListenable;

#[derive(DbListenable)]
union Bits {
    id: i64,
    bytes: [u8; 8],
}

fn main() {}
