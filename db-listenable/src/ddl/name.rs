//! Names of the objects we create, within PostgreSQL's 63-byte identifier limit.

use super::fingerprint::fingerprint;

/// PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// The schema holding the journal and the generated functions.
pub const JOURNAL_SCHEMA: &str = "db_listenable";

/// The capture trigger's name on every captured table (names are per table).
pub const CAPTURE_TRIGGER: &str = "db_listenable_capture";

/// The TRUNCATE trigger's name (captures or refuses TRUNCATE).
pub const TRUNCATE_TRIGGER: &str = "db_listenable_truncate";

/// The wake-up trigger's name (statement level, optional).
pub const WAKE_TRIGGER: &str = "db_listenable_wake";

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
