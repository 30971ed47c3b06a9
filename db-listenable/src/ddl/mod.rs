//! Generated SQL: every identifier and literal goes through this module, quoted.

mod quote;

pub use quote::{quote_ident, quote_literal};

use crate::DbListenable;

/// `"schema"."table"` of a model, quoted for SQL.
pub fn qualified_table<T: DbListenable>() -> String {
    format!("{}.{}", quote_ident(T::SCHEMA), quote_ident(T::TABLE))
}
