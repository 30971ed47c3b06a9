use db_listenable::DbListenable;

#[derive(DbListenable)]
#[db_listenable(table = "invoice_items_with_a_name_long_enough_to_pass_the_postgres_limit")]
struct InvoiceItem {
    id: i64,
}

fn main() {}
