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

/// The static description of a listenable model: its table, key, columns and how the
/// table is captured. Built by the derive as a constant.
///
/// The capture of a table (its triggers and their SQL) depends only on the table and
/// [`Model::capture`]: several models of one table (a full and a narrow view) share one
/// capture, which they must agree on.
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
    /// Columns an UPDATE changing only them emits nothing for (`quiet`); they are
    /// journalled with every other change. Sorted by the derive.
    pub quiet: &'static [&'static str],
    /// Columns never written to the journal (`exclude`): absent from every captured row,
    /// so from deliveries, dead letters and the dashboard. Sorted by the derive.
    pub exclude: &'static [&'static str],
    /// The operations captured.
    pub events: Events,
}

/// One column a model's struct maps: the column `sqlx::FromRow` reads the field from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Column {
    /// The column's name in the table (after `#[sqlx(rename)]` or `rename_all`).
    pub name: &'static str,
    /// The Rust field's name.
    pub field: &'static str,
    /// `#[sqlx(default)]` (on the field, or on the struct for a non-key column): the table
    /// may lack the column, FromRow then fills the field with its default, so the column
    /// checks do not require it.
    pub optional: bool,
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

/// Everything a table's capture SQL is made of, besides the table's names: two models
/// of one table with equal settings install the same triggers; models that differ in
/// them cannot share the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaptureSettings {
    /// The key columns, in order.
    pub key: Vec<&'static str>,
    /// The operations captured.
    pub events: Events,
    /// Excluded columns, sorted, without repeats.
    pub exclude: Vec<&'static str>,
    /// Quiet columns, sorted, without repeats.
    pub quiet: Vec<&'static str>,
}

impl CaptureSettings {
    /// What differs from `other`, one phrase per setting (empty when equal).
    pub fn differences(&self, other: &CaptureSettings) -> Vec<String> {
        let mut differences = Vec::new();
        if self.key != other.key {
            differences.push(format!("key {:?} vs {:?}", self.key, other.key));
        }
        if self.events != other.events {
            differences.push(format!("events {} vs {}", self.events.names(), other.events.names()));
        }
        if self.exclude != other.exclude {
            differences.push(format!("exclude {:?} vs {:?}", self.exclude, other.exclude));
        }
        if self.quiet != other.quiet {
            differences.push(format!("quiet {:?} vs {:?}", self.quiet, other.quiet));
        }
        differences
    }
}

impl Events {
    /// `insert, update, delete`: the captured operations, for messages.
    fn names(&self) -> String {
        let names: Vec<&str> =
            [(self.insert, "insert"), (self.update, "update"), (self.delete, "delete"), (self.truncate, "truncate")]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
        format!("({})", names.join(", "))
    }
}

impl Model {
    /// The settings the table's capture SQL is made of.
    pub fn capture(&self) -> CaptureSettings {
        let sorted = |names: &[&'static str]| {
            let mut names = names.to_vec();
            names.sort_unstable();
            names.dedup();
            names
        };
        CaptureSettings {
            key: self.key.to_vec(),
            events: self.events,
            exclude: sorted(self.exclude),
            quiet: sorted(self.quiet),
        }
    }

    /// The columns the table must have for this model: the key, every mapped column that
    /// is not optional, and the excluded ones (an exclusion naming no column would leave
    /// the real one in the journal), each once, in that order.
    pub fn required_columns(&self) -> Vec<&'static str> {
        let mut required: Vec<&'static str> = Vec::new();
        let mapped = self.columns.iter().filter(|column| !column.optional).map(|column| column.name);
        for name in self.key.iter().copied().chain(mapped).chain(self.exclude.iter().copied()) {
            if !required.contains(&name) {
                required.push(name);
            }
        }
        required
    }
}
