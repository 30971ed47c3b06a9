//! Every listenable model of the program, found without listing them by hand.
//!
//! `#[derive(DbListenable)]` registers each model with [`inventory`] (a link-time
//! collection that needs no start-up code). We chose it over an explicit registry built
//! in `main` because the Rails original found models by loading classes, and forgetting
//! a model is exactly the mistake that loses changes: generating one migration for all
//! models, checking drift at start-up and verifying that each model has a processor all
//! need the complete list. `inventory` works on every platform Rust's tier-1 targets
//! cover; on a target without it, build a list by hand with [`Registration::of`].

use crate::model::{DbListenable, Model};

/// One registered model. Created by the derive; see [`models`].
#[derive(Debug, Clone, Copy)]
pub struct Registration {
    model: Model,
}

impl Registration {
    /// The registration of `T` (what the derive submits).
    pub const fn of<T: DbListenable>() -> Self {
        Registration { model: T::MODEL }
    }

    /// The registered model.
    pub const fn model(&self) -> &Model {
        &self.model
    }
}

inventory::collect!(Registration);

/// Every model registered in this program, ordered by schema and table.
pub fn models() -> Vec<Model> {
    let mut models: Vec<Model> = inventory::iter::<Registration>.into_iter().map(|r| r.model).collect();
    models.sort_by(|a, b| (a.schema, a.table, a.rust_name).cmp(&(b.schema, b.table, b.rust_name)));
    models
}
