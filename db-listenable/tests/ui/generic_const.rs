use db_listenable::DbListenable;

#[derive(DbListenable)]
struct Reading<const N: usize> {
    id: i64,
    samples: [f64; N],
}

fn main() {}
