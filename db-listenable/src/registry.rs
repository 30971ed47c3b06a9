//! Every listenable model of the program, found without listing them by hand.
//!
//! `#[derive(DbListenable)]` registers each model with [`inventory`] (a link-time
//! collection that needs no start-up code). We chose it over an explicit registry built
//! in `main` because the Rails original found models by loading classes, and forgetting
//! a model is exactly the mistake that loses changes: generating one migration for all
//! models, checking drift at start-up and verifying that each model has a processor all
//! need the complete list. `inventory` works on every platform Rust's tier-1 targets
//! cover; on a target without it, build a list by hand with [`Registration::of`].

use crate::error::Error;
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

/// The models of each table: groups in schema and table order, each group in Rust-name
/// order (a table may have several models, say a full and a narrow view of its rows).
pub fn by_table(models: &[Model]) -> Vec<Vec<Model>> {
    let mut sorted = models.to_vec();
    sorted.sort_by(|a, b| (a.schema, a.table, a.rust_name).cmp(&(b.schema, b.table, b.rust_name)));
    sorted.dedup();
    let mut groups: Vec<Vec<Model>> = Vec::new();
    for model in sorted {
        match groups.last_mut() {
            Some(group) if group[0].schema == model.schema && group[0].table == model.table => group.push(model),
            _ => groups.push(vec![model]),
        }
    }
    groups
}

/// [`Error::CaptureConflict`] when models of one table (`group`, from [`by_table`]) ask
/// for different captures: the table has one set of triggers.
pub fn capture_conflict(group: &[Model]) -> Option<Error> {
    let (first, rest) = group.split_first()?;
    let settings = first.capture();
    rest.iter().find_map(|other| {
        let differences = settings.differences(&other.capture());
        (!differences.is_empty()).then(|| Error::CaptureConflict {
            table: format!("{}.{}", first.schema, first.table),
            first: first.rust_name,
            second: other.rust_name,
            differences,
        })
    })
}

/// One model per captured table (the first by Rust name: they agree on everything the
/// capture is made of), or the first conflict between models of one table.
pub fn tables(models: &[Model]) -> Result<Vec<Model>, Error> {
    by_table(models)
        .into_iter()
        .map(|group| match capture_conflict(&group) {
            Some(conflict) => Err(conflict),
            None => Ok(group[0]),
        })
        .collect()
}
