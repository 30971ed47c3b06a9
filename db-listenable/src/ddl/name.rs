//! Names of the objects we create, within PostgreSQL's 63-byte identifier limit.

use super::fingerprint::fingerprint;

/// PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// The schema holding the journal and the generated functions.
pub const JOURNAL_SCHEMA: &str = "db_listenable";

/// Every trigger we create starts with this; trigger names are per table.
pub const TRIGGER_PREFIX: &str = "db_listenable_";

/// Row-level capture of every captured operation ([`super::Granularity::Row`]).
pub const ROW_TRIGGER: &str = "db_listenable_row";

/// Statement-level capture of INSERT (transition tables allow one event per trigger).
pub const INSERT_TRIGGER: &str = "db_listenable_insert";

/// Statement-level capture of UPDATE.
pub const UPDATE_TRIGGER: &str = "db_listenable_update";

/// Statement-level capture of DELETE.
pub const DELETE_TRIGGER: &str = "db_listenable_delete";

/// Row-level capture of UPDATEs that changed a key, created by earlier versions for
/// statement granularity; no longer created (key moves are paired by key in the
/// statement trigger), and dropped when capture is installed again.
pub const KEY_MOVE_TRIGGER: &str = "db_listenable_key_move";

/// The TRUNCATE trigger (captures or refuses TRUNCATE); carries the fingerprint comment.
pub const TRUNCATE_TRIGGER: &str = "db_listenable_truncate";

/// Every trigger name we may create, for uninstalling.
pub const ALL_TRIGGERS: [&str; 6] =
    [ROW_TRIGGER, INSERT_TRIGGER, UPDATE_TRIGGER, DELETE_TRIGGER, KEY_MOVE_TRIGGER, TRUNCATE_TRIGGER];

/// The name of a per-table object: `<prefix>_<schema>_<table>_<hash>`, where the hash of
/// the exact (schema, table) pair keeps names of different tables apart even when the
/// readable part is shortened or ambiguous (`a_b`.`c` vs `a`.`b_c`).
pub fn per_table(prefix: &str, schema: &str, table: &str) -> String {
    let hash = &fingerprint([schema, table])[..8];
    let readable = format!("{prefix}_{schema}_{table}");
    let room = MAX_IDENTIFIER_BYTES - hash.len() - 1;
    format!("{}_{hash}", truncate_to_char_boundary(&readable, room))
}

fn truncate_to_char_boundary(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_limit_and_stay_distinct() {
        let long = "t".repeat(63);
        let a = per_table("capture", "public", &long);
        let b = per_table("capture", "other", &long);
        assert!(a.len() <= MAX_IDENTIFIER_BYTES && b.len() <= MAX_IDENTIFIER_BYTES, "{a} {b}");
        assert_ne!(a, b);
        assert_ne!(per_table("capture", "a_b", "c"), per_table("capture", "a", "b_c"));
        assert_eq!(per_table("capture", "public", "items"), per_table("capture", "public", "items"));
    }

    #[test]
    fn shortening_never_splits_a_character() {
        let name = per_table("capture", "public", &"é".repeat(40));
        assert!(name.len() <= MAX_IDENTIFIER_BYTES);
        assert!(name.starts_with("capture_public_é"));
    }
}
