//! Cursors: how a subscriber reads the journal in commit order without moving a row.
//!
//! Entries get their ids when they are written, but become visible when their transaction
//! commits, in another order; a reader that remembered "up to id N" would pass entries of
//! transactions still running. Like PgQ, a subscriber's progress is therefore a snapshot
//! (`pg_current_snapshot()`): after a batch, everything visible in snapshot `A` is done.
//! The next range is what a newer snapshot `B` sees and `A` did not (`pg_visible_in_snapshot`
//! on the entry's `txid`), read in id order, `batch` entries at a time, from the cursor's
//! position `pos` within the range.
//!
//! Reading that range by id needs a lower bound: `lo`, an id below every entry `A` does not
//! see. The bound comes from one rule: a transaction gets its id (`txid`) before it writes
//! its first journal entry (capture fires after the row was written; `enqueue_events`
//! asks for the id first), so a transaction whose id is greater than some transaction
//! `X`'s got it after `X` did, and wrote only entry ids above any value the sequence had
//! before `X` got its id. Each claim that takes a new snapshot records the pair
//! `(X + 1, before)`: `X` its own transaction id, `before` the sequence's value read
//! before it had one. A later snapshot `B` whose `xmin` is at least a pair's first half
//! has no transaction older than it running, so every entry `B` does not see is above the
//! pair's `before`. The newest such pair is `B`'s `lo`. (A snapshot's `xmax` cannot serve:
//! it is one past the newest *completed* transaction, and a transaction with a greater id
//! may already be running and have written entries.) Only a transaction that holds an id for long (one that wrote and stays
//! open) holds `lo` back, and then a claim reads past entries it already processed until
//! that transaction ends; read-only transactions, however long, do not (they have no id).
//!
//! So the happy path writes one cursor row per claim and one per settlement, whatever the
//! batch size, and an idle subscriber none: a claim that finds nothing new, with nothing
//! allocated since the row was written, keeps its older snapshot and leaves the row
//! alone. What a batch does not finish goes to `db_listenable.deliveries` (see
//! [`super::delivery`]): retries, changes of a row waiting behind one of its failed
//! changes, changes whose processor's own transaction did not commit. Dead letters go to
//! `dead_letters`. Changes a processor settled in its own transaction leave a marker in
//! `settled`, so a batch run again after a lost lease skips them.

use super::journal::journal_object;
use super::script::{Script, dollar_quote};

/// The cursor of each subscriber, and the markers of changes settled in a processor's
/// transaction.
pub(crate) fn cursor_tables() -> Script {
    let mut script = Script::new();
    // `snap`/`lo`: the processed snapshot and the bound below what it does not see.
    // `target`/`target_lo`/`target_hi`: the range being read (entries up to `target_hi`
    // that `target` sees), `pos` the last id done in it. `hi`: the sequence's value when
    // the row was last written (an idle claim that finds it unchanged leaves the row as it
    // is), and `hist_*` the pairs that bound later snapshots (module docs). The
    // lease covers the batch from `pos`: `attempts` counts its claims, `in_flight` its size.
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    subscriber_id integer PRIMARY KEY REFERENCES {} ON DELETE CASCADE,
    snap pg_snapshot NOT NULL,
    lo bigint NOT NULL,
    target pg_snapshot,
    target_lo bigint,
    target_hi bigint,
    pos bigint NOT NULL,
    hi bigint NOT NULL,
    hist_xmax xid8[] NOT NULL DEFAULT '{{}}',
    hist_hi bigint[] NOT NULL DEFAULT '{{}}',
    lease_token bigint,
    leased_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    in_flight integer NOT NULL DEFAULT 0
) WITH (fillfactor = 20)",
        journal_object("cursors"),
        journal_object("subscribers")
    ));
    script.push(format!(
        "CREATE TABLE IF NOT EXISTS {} (
    subscriber_id integer NOT NULL,
    change_id bigint NOT NULL,
    PRIMARY KEY (subscriber_id, change_id)
)",
        journal_object("settled")
    ));
    // Subscribers of an earlier layout start at the beginning of the journal, which the
    // upgrade filled with the entries they had not been given yet.
    script.push(format!(
        "INSERT INTO {} (subscriber_id, snap, lo, pos, hi) SELECT s.id, '1:1:', 0, 0, 0 FROM {} s \
         ON CONFLICT (subscriber_id) DO NOTHING",
        journal_object("cursors"),
        journal_object("subscribers")
    ));
    script
}

/// `pending_entries(subscriber)`: the journal entries a subscriber still has to process
/// behind its cursor, the batch it holds under a lease included: above `lo`, not seen by
/// the processed snapshot `snap`, and not among those of the range in progress already done
/// (up to `pos`). Entries of transactions still running are in it as soon as they commit.
/// The one definition of a subscriber's journal backlog: stats, the removal of a
/// subscriber and the tests read it. A plain `STABLE` SQL function
/// without `SET`, so PostgreSQL inlines it into the calling statement, where it stays a
/// scan of the journal's `(table_id, id)` index from `lo`.
pub(crate) fn pending_function() -> String {
    let body = format!(
        "
SELECT j.*
FROM {cursors} c
JOIN {subscribers} s ON s.id = c.subscriber_id
JOIN {changes} j ON j.table_id = s.table_id AND j.id > c.lo
WHERE c.subscriber_id = pending_entries.subscriber
  AND NOT pg_catalog.pg_visible_in_snapshot(j.txid, c.snap)
  AND NOT (c.target IS NOT NULL AND j.id <= c.pos AND pg_catalog.pg_visible_in_snapshot(j.txid, c.target))
",
        cursors = journal_object("cursors"),
        subscribers = journal_object("subscribers"),
        changes = journal_object("changes"),
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}(subscriber integer) RETURNS SETOF {} LANGUAGE sql STABLE AS {}",
        journal_object("pending_entries"),
        journal_object("changes"),
        dollar_quote(&body)
    )
}

/// The journal range of a claim, as a `WHERE` clause over `j` (`db_listenable.changes`)
/// and the plpgsql variables of [`claim_function`].
const RANGE: &str = "j.table_id = tid AND j.id > c.pos AND j.id <= c.target_hi
                      AND pg_catalog.pg_visible_in_snapshot(j.txid, c.target)
                      AND NOT pg_catalog.pg_visible_in_snapshot(j.txid, c.snap)";

/// `claim_journal(sub, claim_limit, budget, lease_ms, token, with_rows)`: leases the next
/// batch of a subscriber's journal range, up to `claim_limit` entries and `budget` bytes
/// of rows (the first entry is always taken), and returns it in id order; nothing if
/// another worker holds the subscriber's lease. See the module docs.
///
/// When the range is used up, the cursor moves to its end and, under READ COMMITTED, the
/// same call takes a newer snapshot and reads again. An ordered subscriber with changes in
/// `deliveries` first moves the range's changes of the same rows there (they wait behind
/// them); changes settled in a processor's transaction (`settled`) are skipped.
///
/// The function runs without bitmap scans and sorts: the range read must be the
/// partitions' `(table_id, id)` indexes merged in id order and cut at the batch, whatever
/// the planner estimates (an index scan stops at the batch; a bitmap, or a sort of the
/// range, reads the whole range first). And without JIT: the cost PostgreSQL gives a sort
/// it is told not to use pushed the function's plans over `jit_above_cost`, and compiling
/// them at every call cost a tenth of the drain rate (measured against graphile-worker,
/// 2.5-2.9x instead of 3.1-3.5x). Without statistics on the partitions (autovacuum off,
/// or not run yet on a partition just emptied) it had estimated a backlog of 100,000
/// entries at a few rows and read all of them behind a bitmap, then sorted them, in every
/// claim (`runtime::statistics`; the drain bench measured 0.14x of the rate after a
/// history).
///
/// Its statements keep their generic plans (`plan_cache_mode = force_generic_plan`), as
/// those of [`settle_function`] do: PL/pgSQL hands them the cursor's values as
/// parameters, and a custom plan that saw them looked cheaper than the generic one, so
/// PostgreSQL planned them again at every call. The plans' shape does not depend on the
/// values (the settings above fix it), and the drain bench measured 77,000-81,000
/// changes/s at batch size 100 planned at every call and 91,000-95,000 with generic
/// plans (BENCHMARKS.md, "Planned once").
pub(crate) fn claim_function() -> String {
    let (cursors, subscribers, changes, deliveries, settled) = (
        journal_object("cursors"),
        journal_object("subscribers"),
        journal_object("changes"),
        journal_object("deliveries"),
        journal_object("settled"),
    );
    // The OUT parameters share names with columns (`change_id`...): columns win, so a
    // statement's `change_id` is never read as the parameter (an `ON CONFLICT
    // (subscriber_id, change_id)` was refused as ambiguous, failing every claim while a
    // delivery waited).
    let body = format!(
        "
#variable_conflict use_column
DECLARE
    c {cursors};
    stored {cursors};
    tid integer;
    keys text[];
    fresh boolean := false;
    changed boolean;
    deferring boolean := false;
    marked boolean;
    s pg_snapshot;
    h bigint;
    before bigint;
    bound bigint;
    taken bigint := 0;
BEGIN
    -- The sequence's value before this transaction has an id: with the id this
    -- transaction gets below (locking the cursor), it makes a pair for later snapshots.
    IF pg_catalog.pg_current_xact_id_if_assigned() IS NULL THEN
        before := db_listenable.allocated_id();
    END IF;
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- A cursor under a live lease is not locked at all: workers that find another one's
    -- batch in flight leave at once, without making its settlement wait for them.
    SELECT * INTO c FROM {cursors} x
    WHERE x.subscriber_id = sub AND (x.leased_until IS NULL OR x.leased_until < pg_catalog.now())
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    stored := c;
    SELECT x.table_id, x.key_columns INTO tid, keys FROM {subscribers} x WHERE x.id = sub;
    -- A lease that ran out: its batch runs again, one attempt further (and if it is
    -- empty now, the lease is cleared).
    changed := c.lease_token IS NOT NULL;
    attempt := CASE WHEN c.lease_token IS NULL THEN 1 ELSE c.attempts + 1 END;
    marked := EXISTS (SELECT FROM {settled} m WHERE m.subscriber_id = sub);
    LOOP
        IF c.target IS NULL THEN
            SELECT pg_catalog.pg_current_snapshot(), db_listenable.allocated_id() INTO s, h;
            IF before IS NOT NULL THEN
                c.hist_xmax := c.hist_xmax || (pg_catalog.pg_current_xact_id()::text::numeric + 1)::text::xid8;
                c.hist_hi := c.hist_hi || before;
                before := NULL;
            END IF;
            SELECT pg_catalog.max(p.hi) INTO bound
            FROM ROWS FROM (pg_catalog.unnest(c.hist_xmax), pg_catalog.unnest(c.hist_hi)) AS p(xmax, hi)
            WHERE p.xmax <= pg_catalog.pg_snapshot_xmin(s);
            -- Pairs not yet usable, the newest 16; the usable ones are folded into `lo`.
            SELECT coalesce(pg_catalog.array_agg(p.xmax ORDER BY p.xmax), '{{}}'),
                   coalesce(pg_catalog.array_agg(p.hi ORDER BY p.xmax), '{{}}')
            INTO c.hist_xmax, c.hist_hi
            FROM (SELECT * FROM ROWS FROM (pg_catalog.unnest(c.hist_xmax), pg_catalog.unnest(c.hist_hi)) AS u(xmax, hi)
                  WHERE u.xmax > pg_catalog.pg_snapshot_xmin(s) ORDER BY u.xmax DESC LIMIT 16) p;
            changed := changed OR c.snap::text <> s::text;
            c.target := s;
            c.target_lo := GREATEST(c.lo, bound);
            c.target_hi := h;
            c.hi := h;
            c.pos := c.lo;
            fresh := true;
        END IF;
        IF pg_catalog.cardinality(keys) > 0 AND EXISTS (SELECT FROM {deliveries} d WHERE d.subscriber_id = sub) THEN
            deferring := true;
            INSERT INTO {deliveries} (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
            SELECT sub, k.id, k.table_id, k.op, k.txid, k.captured_at, k.old_row, k.new_row, k.row_key
            FROM (SELECT j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row,
                         {row_key}(j.table_id, j.op, j.id, j.old_row, j.new_row, keys) AS row_key
                  FROM {changes} j
                  WHERE {RANGE}
                  ORDER BY j.id LIMIT claim_limit) k
            WHERE EXISTS (SELECT FROM {deliveries} d WHERE d.subscriber_id = sub AND d.row_key = k.row_key)
            ON CONFLICT (subscriber_id, change_id) DO NOTHING;
        END IF;
        RETURN QUERY
        SELECT w.id, w.op, w.txid, w.captured_at, attempt,
               CASE WHEN with_rows THEN w.old_row END, CASE WHEN with_rows THEN w.new_row END
        FROM (SELECT p.*, pg_catalog.row_number() OVER (ORDER BY p.id) AS n,
                     pg_catalog.sum(p.size) OVER (ORDER BY p.id) AS running
              FROM (SELECT j.id, j.op, j.txid, j.captured_at, j.old_row, j.new_row,
                           coalesce(pg_catalog.pg_column_size(j.old_row), 0)
                           + coalesce(pg_catalog.pg_column_size(j.new_row), 0) AS size
                    FROM {changes} j
                    WHERE {RANGE}
                      AND (NOT deferring OR NOT EXISTS (
                          SELECT FROM {deliveries} d WHERE d.subscriber_id = sub AND d.change_id = j.id))
                      AND (NOT marked OR NOT EXISTS (
                          SELECT FROM {settled} m WHERE m.subscriber_id = sub AND m.change_id = j.id))
                    ORDER BY j.id LIMIT claim_limit) p) w
        WHERE w.n = 1 OR w.running <= budget
        ORDER BY w.id;
        GET DIAGNOSTICS taken = ROW_COUNT;
        EXIT WHEN taken > 0;
        -- The range is used up: its snapshot is processed.
        changed := changed OR c.snap::text <> c.target::text OR c.lo <> c.target_lo;
        c.snap := c.target;
        c.lo := c.target_lo;
        c.pos := c.target_lo;
        c.target := NULL;
        -- A newer snapshot, once: a transaction whose snapshot is fixed would read the same.
        EXIT WHEN fresh OR pg_catalog.current_setting('transaction_isolation') <> 'read committed';
    END LOOP;
    -- An idle claim leaves the row as it is: nothing taken, no lease or range in progress,
    -- nothing allocated since the row was written (`hi`), `lo` where it was, and the newer
    -- snapshot shows no entry up to `hi` that the stored one did not (one still running
    -- then is not in it either), as the range read just showed, unless it moved entries
    -- to `deliveries` or skipped settled ones: those must not be read again once their
    -- delivery is done, so such a claim writes the row (reading the backlog to tell would
    -- cost more than the write). Keeping the stored snapshot is then the same cursor, and
    -- truncation waits for nothing new; it saves a row version per poll.
    IF taken > 0 OR (changed AND NOT (
        stored.lease_token IS NULL AND stored.target IS NULL AND c.hi = stored.hi AND c.lo = stored.lo
        AND NOT deferring AND NOT marked))
    THEN
        UPDATE {cursors} x
        SET snap = c.snap, lo = c.lo, target = c.target, target_lo = c.target_lo, target_hi = c.target_hi,
            pos = c.pos, hi = c.hi, hist_xmax = c.hist_xmax, hist_hi = c.hist_hi,
            lease_token = CASE WHEN taken > 0 THEN token END,
            leased_until = CASE WHEN taken > 0 THEN pg_catalog.now() + lease_ms * interval '1 millisecond' END,
            attempts = CASE WHEN taken > 0 THEN attempt ELSE 0 END,
            in_flight = taken
        WHERE x.subscriber_id = sub;
    END IF;
END
",
        row_key = journal_object("row_key"),
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}(sub integer, claim_limit integer, budget bigint, lease_ms bigint, \
         token bigint, with_rows boolean, OUT change_id bigint, OUT op \"char\", OUT txid xid8, \
         OUT captured_at timestamptz, OUT attempt integer, OUT old_row jsonb, OUT new_row jsonb) \
         RETURNS SETOF record LANGUAGE plpgsql VOLATILE SET enable_bitmapscan = off SET enable_sort = off SET jit = off SET plan_cache_mode = force_generic_plan AS {}",
        journal_object("claim_journal"),
        dollar_quote(&body)
    )
}

/// `settle_journal(...)`: the end of a journal batch held under `token`, in one call
/// (its statements planned once per session, as [`claim_function`]'s are):
/// the cursor moves past `upto` and the lease is released; retries and the changes settled
/// in a processor's transaction that did not commit go to `deliveries`, the dead ones to
/// `dead_letters`; the subscriber's older dead letters of the rows done count them
/// (`newer_processed`). Returns whether the lease
/// was still held (nothing is written otherwise: another worker has the batch now) and
/// which of `settled_ids` had not committed.
pub(crate) fn settle_function() -> String {
    let (cursors, subscribers, changes, deliveries, dead_letters, settled) = (
        journal_object("cursors"),
        journal_object("subscribers"),
        journal_object("changes"),
        journal_object("deliveries"),
        journal_object("dead_letters"),
        journal_object("settled"),
    );
    let body = format!(
        "
DECLARE
    tid integer;
    keys text[];
    batch_first bigint;
BEGIN
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    UPDATE {cursors} x
    SET pos = GREATEST(x.pos, upto), lease_token = NULL, leased_until = NULL, attempts = 0, in_flight = 0
    WHERE x.subscriber_id = sub AND x.lease_token = token;
    held := FOUND;
    uncommitted := '{{}}';
    IF NOT held THEN
        RETURN;
    END IF;
    SELECT x.table_id, x.key_columns INTO tid, keys FROM {subscribers} x WHERE x.id = sub;
    -- The span of what goes wrong bounds the reads of the journal below, so that no plan
    -- reads more than the batch (see `claim_journal` on plans without statistics). Those
    -- arrays are empty on the happy path.
    SELECT pg_catalog.min(i.id) INTO batch_first
    FROM pg_catalog.unnest(retry_ids || dead_ids || settled_ids) AS i(id);
    IF pg_catalog.cardinality(settled_ids) > 0 THEN
        SELECT coalesce(pg_catalog.array_agg(i.id), '{{}}') INTO uncommitted
        FROM pg_catalog.unnest(settled_ids) AS i(id)
        WHERE NOT EXISTS (SELECT FROM {settled} m WHERE m.subscriber_id = sub AND m.change_id = i.id);
    END IF;
    IF EXISTS (SELECT FROM {settled} m WHERE m.subscriber_id = sub) THEN
        DELETE FROM {settled} m WHERE m.subscriber_id = sub AND m.change_id <= upto;
    END IF;
    IF pg_catalog.cardinality(retry_ids) + pg_catalog.cardinality(uncommitted) > 0 THEN
        INSERT INTO {deliveries}
            (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key,
             attempts, available_at, last_error)
        SELECT sub, j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row,
               {row_key}(j.table_id, j.op, j.id, j.old_row, j.new_row, keys),
               f.attempts, pg_catalog.now() + f.delay * interval '1 millisecond', f.error
        FROM (SELECT r.id, r.delay, r.error, attempt AS attempts
              FROM ROWS FROM (pg_catalog.unnest(retry_ids), pg_catalog.unnest(retry_delays),
                              pg_catalog.unnest(retry_errors)) AS r(id, delay, error)
              UNION ALL
              SELECT u.id, 0, uncommitted_error, attempt FROM pg_catalog.unnest(uncommitted) AS u(id)) f
        JOIN {changes} j ON j.table_id = tid AND j.id = f.id AND j.id >= batch_first AND j.id <= upto
        ON CONFLICT (subscriber_id, change_id) DO NOTHING;
    END IF;
    IF pg_catalog.cardinality(dead_ids) > 0 THEN
        INSERT INTO {dead_letters}
            (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, attempts, last_error)
        SELECT sub, j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row,
               {row_key}(j.table_id, j.op, j.id, j.old_row, j.new_row, keys), attempt, f.error
        FROM ROWS FROM (pg_catalog.unnest(dead_ids), pg_catalog.unnest(dead_errors)) AS f(id, error)
        JOIN {changes} j ON j.table_id = tid AND j.id = f.id AND j.id >= batch_first AND j.id <= upto
        ON CONFLICT (subscriber_id, change_id) DO UPDATE
            SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, dead_at = pg_catalog.now();
    END IF;
    -- Dead letters of the rows just processed, older than what was processed: the requeue
    -- confirmation and `Change::requeued` tell how many newer changes ran since.
    IF pg_catalog.cardinality(keys) > 0 AND pg_catalog.cardinality(done_ids) > 0
       AND EXISTS (SELECT FROM {dead_letters} e WHERE e.subscriber_id = sub) THEN
        UPDATE {dead_letters} x SET newer_processed = x.newer_processed + n.newer
        FROM (SELECT l.change_id, pg_catalog.count(*)::integer AS newer
              FROM (SELECT j.id, {row_key}(j.table_id, j.op, j.id, j.old_row, j.new_row, keys) AS row_key
                    FROM {changes} j
                    WHERE j.table_id = tid AND j.id = ANY(done_ids) AND j.id <= upto
                      AND j.id >= (SELECT pg_catalog.min(i.id) FROM pg_catalog.unnest(done_ids) AS i(id))) d
              JOIN {dead_letters} l ON l.subscriber_id = sub AND l.row_key = d.row_key AND l.change_id < d.id
              GROUP BY l.change_id) n
        WHERE x.subscriber_id = sub AND x.change_id = n.change_id;
    END IF;
END
",
        row_key = journal_object("row_key"),
    );
    format!(
        "CREATE OR REPLACE FUNCTION {}(sub integer, token bigint, upto bigint, attempt integer, done_ids bigint[], \
         retry_ids bigint[], retry_delays bigint[], retry_errors text[], dead_ids bigint[], dead_errors text[], \
         settled_ids bigint[], uncommitted_error text, OUT held boolean, \
         OUT uncommitted bigint[]) LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS {}",
        journal_object("settle_journal"),
        dollar_quote(&body)
    )
}
