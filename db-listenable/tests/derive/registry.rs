//! The derive registers every model: `registry::models()` lists exactly the models
//! derived in this test binary, ordered by schema and table.

use db_listenable::DbListenable;
use db_listenable::registry::{self, Registration};

use crate::model::{ALL, InvoiceItem};

#[test]
fn models_lists_every_derived_model_of_the_binary_in_order() {
    let mut expected = ALL.to_vec();
    expected.sort_by(|a, b| (a.schema, a.table, a.rust_name).cmp(&(b.schema, b.table, b.rust_name)));
    let listed = registry::models();
    let names = |models: &[db_listenable::Model]| -> Vec<String> {
        models.iter().map(|model| format!("{}.{} ({})", model.schema, model.table, model.rust_name)).collect()
    };
    assert_eq!(names(&listed), names(&expected), "a model derived in tests/derive is missing from model::ALL?");
    assert_eq!(listed, expected);
}

#[test]
fn a_registration_carries_the_model() {
    assert_eq!(*Registration::of::<InvoiceItem>().model(), InvoiceItem::MODEL);
}
