//! `crate = "..."` naming a re-export inside the same crate.

mod framework {
    pub use db_listenable;
}

#[derive(framework::db_listenable::DbListenable)]
#[db_listenable(crate = "crate::framework::db_listenable")]
pub struct Invoice {
    pub id: i64,
}

fn main() {
    use framework::db_listenable::DbListenable;
    assert_eq!(Invoice::MODEL.table, "invoices");
}
