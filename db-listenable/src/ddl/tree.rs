//! Partitioned tables, partitions and inheritance trees: capture refuses them.
//!
//! A statement-level trigger fires only for the table a statement names, so on a
//! partitioned table it misses writes addressed to a partition, and partitions attached
//! later carry none of it; row triggers are not inherited by inheritance children at
//! all, and a key is not unique across an inheritance tree. Rather than capture part of
//! such a table, installation refuses it, and the drift check reports a captured table
//! that becomes part of such a tree later (`ATTACH PARTITION`, `INHERIT`).
//!
//! Partitioned tables could be captured: a row moving between partitions is a DELETE
//! and an INSERT, which is how the journal records a key change anyway (see the capture
//! module); what is missing is installing the statement triggers on every partition and
//! reporting partitions attached later as drift.

use super::quote::quote_literal;
use super::script::dollar_quote;

/// A `text` expression over `pg_catalog.pg_class c`: why capture cannot cover the
/// table (`is partitioned`, `is a partition of x`, `inherits from x`, `is inherited by
/// x`), or NULL for a plain table. Shared by the install check and the drift check.
pub const TREE_PROBLEM_SQL: &str = "CASE
        WHEN c.relkind = 'p' THEN 'is partitioned'
        WHEN c.relispartition THEN 'is a partition of ' || (
            SELECT pg_catalog.string_agg(i.inhparent::regclass::text, ', ') FROM pg_catalog.pg_inherits i
            WHERE i.inhrelid = c.oid)
        WHEN EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) THEN 'inherits from ' || (
            SELECT pg_catalog.string_agg(i.inhparent::regclass::text, ', ') FROM pg_catalog.pg_inherits i
            WHERE i.inhrelid = c.oid)
        WHEN EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid) THEN 'is inherited by ' || (
            SELECT pg_catalog.string_agg(i.inhrelid::regclass::text, ', ') FROM pg_catalog.pg_inherits i
            WHERE i.inhparent = c.oid)
    END";

/// What to do about it, for the install error's hint and the drift reason.
pub const TREE_HINT: &str = "db-listenable captures plain tables only: its triggers do not see every write of a \
     partitioned or inheritance table. Capture a plain table (or detach it from the tree).";

/// A `DO` block that refuses to install capture on `qualified_table` when it is
/// partitioned, a partition, or part of an inheritance tree.
pub(crate) fn tree_check(qualified_table: &str) -> String {
    let table = quote_literal(qualified_table);
    let body = format!(
        "
DECLARE
    problem text;
BEGIN
    SELECT {TREE_PROBLEM_SQL} INTO problem
    FROM pg_catalog.pg_class c WHERE c.oid = {table}::regclass;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: cannot capture %: it %', {table}, problem
            USING ERRCODE = 'feature_not_supported',
                  HINT = {hint};
    END IF;
END
",
        hint = quote_literal(TREE_HINT),
    );
    format!("DO {}", dollar_quote(&body))
}
