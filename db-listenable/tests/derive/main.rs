//! `#[derive(DbListenable)]`: the models it generates, their registration, its use
//! through a re-exporting crate, and every compile error (trybuild). One test binary,
//! modules per topic.

mod model;
mod reexport;
mod registry;
mod ui;
