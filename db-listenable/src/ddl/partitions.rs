//! The journal's partitions, and how they are emptied without a dead tuple.
//!
//! `db_listenable.changes` is partitioned by the block of its id: ids come from one
//! sequence, block `b` is ids `[b * 2^20, (b + 1) * 2^20)`, and block `b` lives in
//! partition `changes_<b mod 4>`. Writers never choose a partition and read nothing to
//! insert: the id picks it. Entries are never updated or deleted one by one, so they leave
//! no dead tuples, and nothing here depends on VACUUM or on the xmin horizon.
//!
//! A partition is emptied with `TRUNCATE` (one catalog operation, whatever it holds) once
//! every subscriber's cursor is past its newest block (`db_listenable.maintain`). So that
//! storage comes back after a drain without waiting for 2^20 more changes, the router
//! also starts the next block early (`setval`) when every subscriber is past every
//! allocated id, the current block holds at least [`JUMP_AFTER`] ids and the last jump is
//! a second old; the block it leaves is truncated on a later round. A subscriber that
//! lags keeps its partitions: when writers come round to a partition that is still
//! needed, they add to it, and it is emptied once everyone is past all of it.
//!
//! Entries of tables that no subscriber consumes are copied to `db_listenable.unrouted`
//! before their partition is emptied (the next subscriber of the table adopts them), except
//! those a removed subscriber had already processed (`db_listenable.resume_points`).

use super::delivery::ROUTER_LOCK;
use super::journal::journal_object;
use super::quote::quote_literal;
use super::script::{Script, dollar_quote};

/// Bits of an id below its block number.
pub const BLOCK_BITS: u32 = 20;

/// Partitions of the journal: block `b` lives in `changes_<b % PARTITIONS>`.
pub const PARTITIONS: i64 = 4;

/// Ids a block must have used before the router starts the next one early (see the
/// module docs): below this, a drained journal is a few MB at most.
pub const JUMP_AFTER: i64 = 10_000;

/// The table keeping where a table's last removed subscriber stood.
const RESUME_POINTS: &str = "resume_points";

/// The journal table, its partitions and index, and the upgrade of an earlier,
/// unpartitioned journal (versions 1 and 2): its entries move into the new table with
/// their ids and transaction ids, and the identity continues after them.
pub(crate) fn journal_table() -> Script {
    let changes = journal_object("changes");
    let mut script = Script::new();
    // Before version 3 the journal was a plain table with a primary key: renamed out of
    // the way, emptied into the new table below, then dropped.
    script.push(format!(
        "DO {}",
        dollar_quote(
            "
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'db_listenable' AND c.relname = 'changes' AND c.relkind = 'r') THEN
        ALTER TABLE db_listenable.changes RENAME TO changes_before_v3;
        ALTER SEQUENCE db_listenable.changes_id_seq RENAME TO changes_before_v3_id_seq;
        ALTER TABLE db_listenable.changes_before_v3 RENAME CONSTRAINT changes_pkey TO changes_before_v3_pkey;
        ALTER TABLE db_listenable.changes_before_v3 RENAME CONSTRAINT changes_op_check TO changes_before_v3_op_check;
    END IF;
END
"
        )
    ));
    // No foreign key to `tables`: a check per captured row would cost, and rows of
    // `tables` are only ever added. No primary key either: the identity makes ids unique,
    // and the one index serves every read (a subscriber reads one table's entries by id).
    // No CHECK on `op` (only our functions write the journal, and the runtime refuses an
    // unknown op by name): PostgreSQL parses and plans a table's CHECK expressions again
    // in every statement that inserts into it, which was a fifth of the capture's cost of
    // a single-row UPDATE (BENCHMARKS.md, "Capture for issue 18").
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {changes} (
    id bigint GENERATED ALWAYS AS IDENTITY,
    table_id integer NOT NULL,
    op \"char\" NOT NULL,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_row jsonb,
    new_row jsonb
) PARTITION BY LIST (((id >> {BLOCK_BITS}) & {mask}))",
        mask = PARTITIONS - 1
    ));
    for partition in 0..PARTITIONS {
        script.push(format!(
            "CREATE TABLE IF NOT EXISTS {} PARTITION OF {changes} FOR VALUES IN ({partition})",
            journal_object(&partition_name(partition))
        ));
    }
    script.push(format!("CREATE INDEX IF NOT EXISTS changes_table_id ON {changes} (table_id, id)"));
    // A version 3 journal created before the CHECK was dropped (see above).
    script.push(format!("ALTER TABLE {changes} DROP CONSTRAINT IF EXISTS changes_op_check"));
    for statement in allocated_function() {
        script.push(statement);
    }
    script.push(format!(
        "DO {}",
        dollar_quote(
            "
BEGIN
    IF pg_catalog.to_regclass('db_listenable.changes_before_v3') IS NOT NULL THEN
        PERFORM pg_catalog.setval('db_listenable.changes_id_seq',
            GREATEST((SELECT last_value FROM db_listenable.changes_before_v3_id_seq), 1));
        INSERT INTO db_listenable.changes (id, table_id, op, txid, captured_at, old_row, new_row)
        OVERRIDING SYSTEM VALUE
        SELECT id, table_id, op, txid, captured_at, old_row, new_row FROM db_listenable.changes_before_v3 ORDER BY id;
        DROP TABLE db_listenable.changes_before_v3;
    END IF;
END
"
        )
    ));
    script
}

/// `allocated_id()`: the greatest id the journal's sequence has handed out (0 before the
/// first), for the bounds of claims and the router.
///
/// Read with `pg_sequence_last_value`, which takes the sequence's buffer lock, and never
/// with a `SELECT` from the sequence: `nextval` writes the value 32 ids ahead into the
/// sequence's row for its WAL record and puts the real one back, in place, and a plain
/// read could see the value ahead (2,021 of 500,000 reads under two allocating sessions,
/// `runtime::cursors::the_allocated_id_never_runs_ahead_of_the_sequence`). A claim taking
/// it as a bound passed over the ids in between once they were handed out.
///
/// `pg_sequence_last_value` knows no value before the first `nextval` after a
/// `setval(.., false)`: the early jump of [`maintain_function`] sets the value before the
/// block instead, and the script moves a sequence left so by an earlier jump on.
fn allocated_function() -> Vec<String> {
    vec![
        format!(
            "CREATE OR REPLACE FUNCTION {}() RETURNS bigint LANGUAGE sql VOLATILE AS {}",
            journal_object("allocated_id"),
            dollar_quote(
                "SELECT coalesce(pg_catalog.pg_sequence_last_value('db_listenable.changes_id_seq'::pg_catalog.regclass), 0)"
            )
        ),
        // A jump of the first version 3 (`setval(start, false)`) not yet followed by an
        // entry: one id is taken, so the next is the block's second and the value is known.
        format!(
            "DO {}",
            dollar_quote(
                "
BEGIN
    IF pg_catalog.pg_sequence_last_value('db_listenable.changes_id_seq'::pg_catalog.regclass) IS NULL
       AND (SELECT q.last_value FROM db_listenable.changes_id_seq q) > 1 THEN
        PERFORM pg_catalog.nextval('db_listenable.changes_id_seq'::pg_catalog.regclass);
    END IF;
END
"
            )
        ),
    ]
}

/// `changes_<n>`.
pub(crate) fn partition_name(partition: i64) -> String {
    format!("changes_{partition}")
}

/// The tables of rotation: when the last early jump happened, and where the removed last
/// subscriber of a table stood.
pub(crate) fn rotation_tables() -> Script {
    let mut script = Script::new();
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    jumped_at timestamptz NOT NULL DEFAULT now()
)",
        journal_object("rotation")
    ));
    script.push(format!("INSERT INTO {} DEFAULT VALUES ON CONFLICT DO NOTHING", journal_object("rotation")));
    // Entries of the table visible in `snap`, or with ids up to `lo`, were processed by
    // its last subscriber before it was removed; the next one starts there.
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    table_id integer PRIMARY KEY,
    snap pg_snapshot NOT NULL,
    lo bigint NOT NULL
)",
        journal_object(RESUME_POINTS)
    ));
    script
}

/// `maintain(adopt_limit) -> (held, adopted_count, kept_count, truncated_count)`: one
/// round of the router, called by whichever worker gets the router lock first.
///
/// 1. Adopts entries kept in `unrouted` whose table has a subscriber now (a table's first
///    subscriber registered elsewhere, a subscriber removed and replaced), oldest first,
///    into that subscriber's deliveries.
/// 2. Empties the partitions every cursor is past, oldest block first (see the module
///    docs), after copying the entries of tables without a subscriber to `unrouted`.
///    Each `TRUNCATE` waits at most 100 ms for its lock (a claim in progress holds it);
///    when it cannot get it, the next round tries again.
/// 3. Starts the next block early when everything allocated so far is consumed.
///
/// `SECURITY DEFINER`: emptying a partition takes its owner's rights, and the runtime's
/// role needs none on the journal beyond reading it.
pub(crate) fn maintain_function() -> String {
    let (deliveries, unrouted, subscribers, cursors, resume, rotation) = (
        journal_object("deliveries"),
        journal_object("unrouted"),
        journal_object("subscribers"),
        journal_object("cursors"),
        journal_object(RESUME_POINTS),
        journal_object("rotation"),
    );
    let body = format!(
        "
DECLARE
    allocated bigint;
    current_block bigint;
    consumed bigint;
    block bigint;
    part text;
    copied bigint;
BEGIN
    adopted_count := 0;
    kept_count := 0;
    truncated_count := 0;
    held := pg_catalog.pg_try_advisory_xact_lock({lock_a}, {lock_b});
    IF NOT held THEN
        RETURN;
    END IF;
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    IF EXISTS (SELECT FROM {subscribers} s WHERE EXISTS (SELECT FROM {unrouted} u WHERE u.table_id = s.table_id)) THEN
        WITH taken AS (
            DELETE FROM {unrouted} u
            WHERE u.id = ANY(ARRAY(
                SELECT k.id
                FROM (SELECT DISTINCT s.table_id FROM {subscribers} s) t
                CROSS JOIN LATERAL (
                    SELECT x.id FROM {unrouted} x WHERE x.table_id = t.table_id ORDER BY x.id LIMIT adopt_limit
                ) k
                ORDER BY k.id LIMIT adopt_limit))
            RETURNING u.id, u.table_id, u.op, u.txid, u.captured_at, u.old_row, u.new_row
        ), given AS (
            INSERT INTO {deliveries}
                (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
            SELECT s.id, e.id, e.table_id, e.op, e.txid, e.captured_at, e.old_row, e.new_row,
                   {row_key}(e.table_id, e.op, e.id, e.old_row, e.new_row, s.key_columns)
            FROM taken e JOIN {subscribers} s ON s.table_id = e.table_id
            ON CONFLICT (subscriber_id, change_id) DO NOTHING
            RETURNING 1
        )
        SELECT pg_catalog.count(*) INTO adopted_count FROM taken;
        IF adopted_count > 0 THEN
            PERFORM pg_catalog.pg_notify({channel}, '');
        END IF;
    END IF;

    allocated := db_listenable.allocated_id();
    -- The block the next id comes from (after an early jump, no id of it exists yet).
    current_block := (allocated + 1) >> {bits};
    -- Every subscriber has processed every entry up to `consumed`.
    SELECT coalesce(pg_catalog.min(c.lo), allocated) INTO consumed FROM {cursors} c;
    FOR age IN REVERSE {oldest}..1 LOOP
        block := current_block - age;
        CONTINUE WHEN block < 0;
        -- Newer blocks are not consumed either; an older partition must go first, so
        -- what `unrouted` keeps is always older than what the journal keeps.
        EXIT WHEN ((block + 1) << {bits}) - 1 > consumed;
        part := 'changes_' || (block & {mask});
        CONTINUE WHEN pg_catalog.pg_relation_size(pg_catalog.format('db_listenable.%I', part)::regclass) = 0;
        BEGIN
            PERFORM pg_catalog.set_config('lock_timeout', '100ms', true);
            EXECUTE pg_catalog.format('LOCK TABLE db_listenable.%I IN ACCESS EXCLUSIVE MODE', part);
        EXCEPTION WHEN lock_not_available THEN
            EXIT;
        END;
        EXECUTE pg_catalog.format(
            'INSERT INTO {unrouted} (id, table_id, op, txid, captured_at, old_row, new_row)
             SELECT j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row
             FROM db_listenable.%I j
             WHERE NOT EXISTS (SELECT FROM {subscribers} s WHERE s.table_id = j.table_id)
               AND NOT EXISTS (SELECT FROM {resume} r WHERE r.table_id = j.table_id
                                 AND (j.id <= r.lo OR pg_catalog.pg_visible_in_snapshot(j.txid, r.snap)))
             ON CONFLICT (id) DO NOTHING', part);
        GET DIAGNOSTICS copied = ROW_COUNT;
        kept_count := kept_count + copied;
        EXECUTE pg_catalog.format('TRUNCATE db_listenable.%I', part);
        truncated_count := truncated_count + 1;
    END LOOP;

    IF consumed >= allocated AND allocated + 1 - (current_block << {bits}) >= {jump_after}
       AND (SELECT r.jumped_at FROM {rotation} r) < pg_catalog.now() - interval '1 second' THEN
        PERFORM pg_catalog.setval('db_listenable.changes_id_seq', ((current_block + 1) << {bits}) - 1, true);
        UPDATE {rotation} SET jumped_at = pg_catalog.now();
    END IF;
END
",
        lock_a = ROUTER_LOCK.0,
        lock_b = ROUTER_LOCK.1,
        channel = quote_literal(super::delivery::ROUTED_CHANNEL),
        row_key = journal_object("row_key"),
        bits = BLOCK_BITS,
        mask = PARTITIONS - 1,
        oldest = PARTITIONS - 1,
        jump_after = JUMP_AFTER,
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}(adopt_limit bigint, OUT held boolean, OUT adopted_count bigint, \
         OUT kept_count bigint, OUT truncated_count integer) LANGUAGE plpgsql VOLATILE SECURITY DEFINER \
         SET search_path = pg_catalog, pg_temp AS {}",
        journal_object("maintain"),
        dollar_quote(&body)
    )
}
