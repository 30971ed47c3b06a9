//! The trait a listenable model implements (usually through the derive).

/// A Rust type whose table's changes are captured.
///
/// Implemented by `#[derive(DbListenable)]`; implementing it by hand is possible but
/// the derive keeps it in step with the struct.
pub trait DbListenable {
    /// The PostgreSQL schema of the table, e.g. `public`.
    const SCHEMA: &'static str;
    /// The table name, unquoted, e.g. `invoice_items`.
    const TABLE: &'static str;
}
