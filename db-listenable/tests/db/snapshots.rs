//! The SQL a user runs, kept in files so a change to it shows up in review.
//!
//! `UPDATE_SNAPSHOTS=1 cargo test -p db-listenable --test db snapshots` rewrites them.

use std::path::PathBuf;

use db_listenable::ddl::{self, CaptureConfig, Granularity, Wakeup};
use db_listenable::{Column, Events, Model};

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("snapshot dir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run with UPDATE_SNAPSHOTS=1 to create it", path.display()));
    assert!(expected == actual, "{} differs from the generated SQL:\n{actual}", path.display());
}

const INVOICE_ITEMS: Model = Model {
    rust_name: "InvoiceItem",
    schema: "public",
    table: "invoice_items",
    key: &["id"],
    columns: &[
        Column { name: "id", field: "id", optional: false },
        Column { name: "invoice_id", field: "invoice_id", optional: false },
        Column { name: "quantity", field: "quantity", optional: false },
        Column { name: "updated_at", field: "updated_at", optional: false },
    ],
    quiet: &["updated_at"],
    exclude: &[],
    events: Events::DEFAULT,
};

#[test]
fn journal_sql() {
    check("journal.sql", &ddl::journal_script().to_string());
}

#[test]
fn invoice_items_capture_sql() {
    check("invoice_items.sql", &ddl::install_script(&INVOICE_ITEMS, &CaptureConfig::default()).to_string());
}

#[test]
fn row_level_poll_only_capture_sql_with_truncate() {
    let model = Model { events: Events { truncate: true, ..Events::DEFAULT }, ..INVOICE_ITEMS };
    check(
        "invoice_items_poll_only.sql",
        &ddl::install_script(
            &model,
            &CaptureConfig { wakeup: Wakeup::Off, granularity: Granularity::Row, ..CaptureConfig::default() },
        )
        .to_string(),
    );
}

#[test]
fn uninstall_sql() {
    check("invoice_items_uninstall.sql", &ddl::uninstall_script(&INVOICE_ITEMS).to_string());
}

#[test]
fn uninstall_everything_sql() {
    check("uninstall_all.sql", &ddl::uninstall_all_script(Some(ddl::DEFAULT_LOCK_TIMEOUT)).to_string());
}
