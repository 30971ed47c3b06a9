//! The trait a listenable model implements, and the static description it carries.

/// A Rust type whose table's changes are captured.
///
/// Implemented by `#[derive(DbListenable)]`, which also registers the model so a
/// program can list every listenable model ([`crate::registry::models`]).
/// Implementing it by hand is possible; the derive keeps it in step with the struct.
pub trait DbListenable: 'static {
    /// Everything about the model's table that capture needs.
    const MODEL: Model;
}

/// The static description of a listenable model: its table, key, columns and which
/// operations are captured. Built by the derive as a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Model {
    /// The Rust type's name, for messages (`InvoiceItem`).
    pub rust_name: &'static str,
    /// The PostgreSQL schema, unquoted (`public`).
    pub schema: &'static str,
    /// The table, unquoted (`invoice_items`).
    pub table: &'static str,
    /// The key columns, in order; never empty for a derived model.
    pub key: &'static [&'static str],
    /// Every column the struct maps, in field order.
    pub columns: &'static [Column],
    /// The operations captured.
    pub events: Events,
}

/// One column a model's struct maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Column {
    /// The column's name in the table (after `rename`).
    pub name: &'static str,
    /// The Rust field's name.
    pub field: &'static str,
    /// The key serde decodes the field from (its name after `#[serde(rename)]` or
    /// `rename_all`). Differs from [`Column::name`] when `#[db_listenable(rename)]`
    /// gives the column another name; [`Model::row_for_serde`] bridges the two.
    pub serde_key: &'static str,
    /// `#[db_listenable(ignore)]`: an update that changes only ignored columns emits nothing.
    pub ignored: bool,
}

/// Which operations on the table are captured.
///
/// TRUNCATE is captured as its own event when asked for (`events(truncate)`): it removes
/// rows without row triggers, so a model that does not capture it gets a trigger that
/// refuses TRUNCATE with an error instead of silently missing the deleted rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Events {
    /// `INSERT` (also the insert half of `INSERT ... ON CONFLICT` and `COPY`).
    pub insert: bool,
    /// `UPDATE` (also `ON CONFLICT DO UPDATE`).
    pub update: bool,
    /// `DELETE`.
    pub delete: bool,
    /// `TRUNCATE`, as one event for the whole table.
    pub truncate: bool,
}

impl Events {
    /// Insert, update and delete: the default.
    pub const DEFAULT: Events = Events { insert: true, update: true, delete: true, truncate: false };
}

impl Default for Events {
    fn default() -> Self {
        Events::DEFAULT
    }
}

impl Model {
    /// The columns whose changes count (all but the ignored ones).
    pub fn captured_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|column| !column.ignored)
    }

    /// The names of the ignored columns.
    pub fn ignored_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().filter(|column| column.ignored).map(|column| column.name)
    }

    /// Turns a captured row (a JSON object keyed by column name, as the journal stores
    /// it) into the object serde expects for the model: each column whose serde key
    /// differs from its name is moved to that key. Other values pass through unchanged.
    pub fn row_for_serde(&self, row: serde_json::Value) -> serde_json::Value {
        let serde_json::Value::Object(mut object) = row else {
            return row;
        };
        for column in self.columns.iter().filter(|column| column.name != column.serde_key) {
            if let Some(value) = object.remove(column.name) {
                object.insert(column.serde_key.to_owned(), value);
            }
        }
        serde_json::Value::Object(object)
    }
}
