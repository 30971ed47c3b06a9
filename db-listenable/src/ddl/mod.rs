//! Generated SQL, built in one place: every identifier and literal is quoted here.
//!
//! - [`journal_script`]: the journal (`db_listenable.changes`), the delivery tables
//!   ([`delivery`]), their shared functions and the layout's version ([`SchemaVersion`]).
//! - [`install_script`] / [`uninstall_script`]: capture on one model's table.
//! - [`column_check`]: refuses a table that lacks a column a model needs.
//! - [`uninstall_all_script`]: removes every capture, function and the journal schema.
//! - [`lock_timeout_script`]: how long a migration waits for a table's lock ([`lock`]).
//! - [`grants_script`]: what a role other than the journal's owner needs ([`Access`]).
//!
//! Every script is idempotent and can be run again; the capture trigger carries a
//! comment with the fingerprint of the SQL that made it, for the drift check.

mod capture;
mod columns;
mod config;
pub mod cursor;
pub mod delivery;
mod fingerprint;
mod grants;
mod journal;
pub mod lock;
mod manifest;
mod name;
pub mod partitions;
mod quote;
mod script;
mod tree;
mod uninstall;
mod version;

pub use capture::{
    COMMENT_PREFIX, capture_function_name, expected_triggers, install_fingerprint, install_script, qualified_table,
    table_id, uninstall_script,
};
pub use columns::{LIVE_COLUMNS_SQL, column_check, missing_columns};
pub use config::{CaptureConfig, DEFAULT_LOCK_TIMEOUT, Granularity, WAKEUP_CHANNEL, WAKEUP_LOCK, Wakeup};
pub use delivery::{ROUTED_CHANNEL, ROUTER_LOCK, topic_id, topic_label};
pub use fingerprint::fingerprint;
pub use grants::{Access, grants_script};
pub use journal::journal_script;
pub use lock::lock_timeout_script;
pub use manifest::{CaptureManifest, MANIFESTS_SQL};
pub use name::{
    ALL_TRIGGERS, DELETE_TRIGGER, INSERT_TRIGGER, JOURNAL_SCHEMA, KEY_MOVE_TRIGGER, MAX_IDENTIFIER_BYTES, ROW_TRIGGER,
    TRIGGER_PREFIX, TRUNCATE_TRIGGER, UPDATE_TRIGGER, per_table,
};
pub use partitions::{BLOCK_BITS, JUMP_AFTER, PARTITIONS};
pub use quote::{quote_ident, quote_literal};
pub use script::Script;
pub use tree::{TREE_HINT, TREE_PROBLEM_SQL};
pub use uninstall::uninstall_all_script;
pub use version::{
    COMPATIBLE_FROM, JOURNAL_TABLES_SQL, SCHEMA_VERSION, SCHEMA_VERSION_SQL, SchemaVersion, installed_version,
};
