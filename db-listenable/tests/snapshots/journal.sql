CREATE SCHEMA IF NOT EXISTS "db_listenable";

CREATE TABLE IF NOT EXISTS "db_listenable"."schema_versions" (
    version integer PRIMARY KEY CHECK (version > 0),
    compatible_from integer NOT NULL CHECK (compatible_from BETWEEN 1 AND version),
    installed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS "db_listenable"."tables" (
    id integer PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    UNIQUE (schema_name, table_name)
);

ALTER TABLE "db_listenable"."tables" ADD COLUMN IF NOT EXISTS capture jsonb;

DO $db_listenable$
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'db_listenable' AND c.relname = 'changes' AND c.relkind = 'r') THEN
        ALTER TABLE db_listenable.changes RENAME TO changes_before_v3;
        ALTER SEQUENCE db_listenable.changes_id_seq RENAME TO changes_before_v3_id_seq;
        ALTER TABLE db_listenable.changes_before_v3 RENAME CONSTRAINT changes_pkey TO changes_before_v3_pkey;
        ALTER TABLE db_listenable.changes_before_v3 RENAME CONSTRAINT changes_op_check TO changes_before_v3_op_check;
    END IF;
END
$db_listenable$;

CREATE TABLE IF NOT EXISTS "db_listenable"."changes" (
    id bigint GENERATED ALWAYS AS IDENTITY,
    table_id integer NOT NULL,
    op "char" NOT NULL,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_row jsonb,
    new_row jsonb
) PARTITION BY LIST (((id >> 20) & 3));

CREATE TABLE IF NOT EXISTS "db_listenable"."changes_0" PARTITION OF "db_listenable"."changes" FOR VALUES IN (0);

CREATE TABLE IF NOT EXISTS "db_listenable"."changes_1" PARTITION OF "db_listenable"."changes" FOR VALUES IN (1);

CREATE TABLE IF NOT EXISTS "db_listenable"."changes_2" PARTITION OF "db_listenable"."changes" FOR VALUES IN (2);

CREATE TABLE IF NOT EXISTS "db_listenable"."changes_3" PARTITION OF "db_listenable"."changes" FOR VALUES IN (3);

CREATE INDEX IF NOT EXISTS changes_table_id ON "db_listenable"."changes" (table_id, id);

ALTER TABLE "db_listenable"."changes" DROP CONSTRAINT IF EXISTS changes_op_check;

CREATE OR REPLACE FUNCTION "db_listenable"."allocated_id"() RETURNS bigint LANGUAGE sql VOLATILE AS $db_listenable$SELECT coalesce(pg_catalog.pg_sequence_last_value('db_listenable.changes_id_seq'::pg_catalog.regclass), 0)$db_listenable$;

DO $db_listenable$
BEGIN
    IF pg_catalog.pg_sequence_last_value('db_listenable.changes_id_seq'::pg_catalog.regclass) IS NULL
       AND (SELECT q.last_value FROM db_listenable.changes_id_seq q) > 1 THEN
        PERFORM pg_catalog.nextval('db_listenable.changes_id_seq'::pg_catalog.regclass);
    END IF;
END
$db_listenable$;

DO $db_listenable$
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
$db_listenable$;

CREATE OR REPLACE FUNCTION "db_listenable"."on_truncate"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $db_listenable$
DECLARE
    captured_id integer;
BEGIN
    SELECT t.id INTO captured_id
    FROM "db_listenable"."tables" t
    WHERE TG_NARGS = 4 AND t.id::text = TG_ARGV[1]
      AND pg_catalog.to_regclass(pg_catalog.quote_ident(t.schema_name) || '.' || pg_catalog.quote_ident(t.table_name))
          IN (WITH RECURSIVE ancestors(relid) AS (
            SELECT TG_RELID
            UNION
            SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN ancestors a ON i.inhrelid OPERATOR(pg_catalog.=) a.relid)
        SELECT relid FROM ancestors);
    IF captured_id IS NULL THEN
        RAISE EXCEPTION 'db-listenable: on_truncate was called by a trigger on %.% that db-listenable did not install',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_ARGV[0] = 'capture' THEN
        INSERT INTO "db_listenable"."changes" (table_id, op) VALUES (captured_id, 'T');
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not captured by db-listenable', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Delete the rows with DELETE, or add truncate to the model''s events(...) to capture it.';
END
$db_listenable$;

REVOKE ALL ON FUNCTION "db_listenable".on_truncate() FROM PUBLIC;

CREATE OR REPLACE FUNCTION "db_listenable"."enqueue_events"(entries jsonb) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $db_listenable$
DECLARE
    posing text;
BEGIN
    SELECT t.schema_name || '.' || t.table_name INTO posing
    FROM "db_listenable"."tables" t
    WHERE t.id IN (SELECT (e.value ->> 'topic')::integer FROM pg_catalog.jsonb_array_elements(entries) e)
    LIMIT 1;
    IF posing IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: an outbox event cannot use the journal id of the captured table %', posing
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The transaction id before the entries' ids: cursors rely on it (see ddl::cursor).
    PERFORM pg_catalog.pg_current_xact_id();
    INSERT INTO "db_listenable"."changes" (table_id, op, new_row)
    SELECT (e.value ->> 'topic')::integer, 'E', e.value -> 'event'
    FROM pg_catalog.jsonb_array_elements(entries) WITH ORDINALITY AS e(value, n)
    ORDER BY e.n;
    IF pg_try_advisory_xact_lock(1684171881, 2002873189) THEN
        PERFORM pg_notify('db_listenable', '');
    END IF;
END
$db_listenable$;

REVOKE ALL ON FUNCTION "db_listenable".enqueue_events(jsonb) FROM PUBLIC;

CREATE TABLE IF NOT EXISTS "db_listenable"."subscribers" (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    table_id integer NOT NULL,
    key_columns text[] NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS subscribers_table_id ON "db_listenable"."subscribers" (table_id);

CREATE TABLE IF NOT EXISTS "db_listenable"."deliveries" (
    subscriber_id integer NOT NULL,
    change_id bigint NOT NULL,
    table_id integer NOT NULL,
    op "char" NOT NULL,
    txid xid8 NOT NULL,
    captured_at timestamptz NOT NULL,
    old_row jsonb,
    new_row jsonb,
    row_key bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    lease_token bigint,
    last_error text,
    PRIMARY KEY (subscriber_id, change_id)
);

ALTER TABLE "db_listenable"."deliveries" SET (fillfactor = 50);

CREATE INDEX IF NOT EXISTS deliveries_row_key ON "db_listenable"."deliveries" (subscriber_id, row_key, change_id);

CREATE TABLE IF NOT EXISTS "db_listenable"."dead_letters" (
    subscriber_id integer NOT NULL REFERENCES "db_listenable"."subscribers" ON DELETE CASCADE,
    change_id bigint NOT NULL,
    table_id integer NOT NULL,
    op "char" NOT NULL,
    txid xid8 NOT NULL,
    captured_at timestamptz NOT NULL,
    old_row jsonb,
    new_row jsonb,
    row_key bigint NOT NULL,
    attempts integer NOT NULL,
    last_error text NOT NULL,
    dead_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, change_id)
);

ALTER TABLE "db_listenable"."deliveries" ADD COLUMN IF NOT EXISTS requeued jsonb;

ALTER TABLE "db_listenable"."dead_letters" ADD COLUMN IF NOT EXISTS newer_processed integer NOT NULL DEFAULT 0;

CREATE INDEX IF NOT EXISTS dead_letters_row_key ON "db_listenable"."dead_letters" (subscriber_id, row_key);

CREATE TABLE IF NOT EXISTS "db_listenable"."unrouted" (
    id bigint PRIMARY KEY,
    table_id integer NOT NULL,
    op "char" NOT NULL,
    txid xid8 NOT NULL,
    captured_at timestamptz NOT NULL,
    old_row jsonb,
    new_row jsonb
);

CREATE INDEX IF NOT EXISTS unrouted_table_id ON "db_listenable"."unrouted" (table_id, id);

CREATE OR REPLACE FUNCTION "db_listenable"."row_key"(table_id integer, op "char", change_id bigint, old_row jsonb, new_row jsonb, key_columns text[]) RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $db_listenable$
SELECT pg_catalog.hashtextextended(
    table_id::text || ':' || CASE
        WHEN op IN ('T', 'E') OR pg_catalog.cardinality(key_columns) = 0 THEN 'change:' || change_id::text
        ELSE (SELECT pg_catalog.jsonb_agg(COALESCE(new_row, old_row) -> k ORDER BY n)
              FROM pg_catalog.unnest(key_columns) WITH ORDINALITY AS u(k, n))::text
    END,
    0)
$db_listenable$;

CREATE TABLE IF NOT EXISTS "db_listenable"."cursors" (
    subscriber_id integer PRIMARY KEY REFERENCES "db_listenable"."subscribers" ON DELETE CASCADE,
    snap pg_snapshot NOT NULL,
    lo bigint NOT NULL,
    target pg_snapshot,
    target_lo bigint,
    target_hi bigint,
    pos bigint NOT NULL,
    hi bigint NOT NULL,
    hist_xmax xid8[] NOT NULL DEFAULT '{}',
    hist_hi bigint[] NOT NULL DEFAULT '{}',
    lease_token bigint,
    leased_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    in_flight integer NOT NULL DEFAULT 0
) WITH (fillfactor = 20);

CREATE TABLE IF NOT EXISTS "db_listenable"."settled" (
    subscriber_id integer NOT NULL,
    change_id bigint NOT NULL,
    PRIMARY KEY (subscriber_id, change_id)
);

INSERT INTO "db_listenable"."cursors" (subscriber_id, snap, lo, pos, hi) SELECT s.id, '1:1:', 0, 0, 0 FROM "db_listenable"."subscribers" s ON CONFLICT (subscriber_id) DO NOTHING;

CREATE TABLE IF NOT EXISTS "db_listenable"."rotation" (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    jumped_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO "db_listenable"."rotation" DEFAULT VALUES ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS "db_listenable"."resume_points" (
    table_id integer PRIMARY KEY,
    snap pg_snapshot NOT NULL,
    lo bigint NOT NULL
);

DROP FUNCTION IF EXISTS "db_listenable"."route"(bigint);

CREATE OR REPLACE FUNCTION "db_listenable"."pending_entries"(subscriber integer) RETURNS SETOF "db_listenable"."changes" LANGUAGE sql STABLE AS $db_listenable$
SELECT j.*
FROM "db_listenable"."cursors" c
JOIN "db_listenable"."subscribers" s ON s.id = c.subscriber_id
JOIN "db_listenable"."changes" j ON j.table_id = s.table_id AND j.id > c.lo
WHERE c.subscriber_id = pending_entries.subscriber
  AND NOT pg_catalog.pg_visible_in_snapshot(j.txid, c.snap)
  AND NOT (c.target IS NOT NULL AND j.id <= c.pos AND pg_catalog.pg_visible_in_snapshot(j.txid, c.target))
$db_listenable$;

CREATE OR REPLACE FUNCTION "db_listenable"."claim_journal"(sub integer, claim_limit integer, budget bigint, lease_ms bigint, token bigint, with_rows boolean, OUT change_id bigint, OUT op "char", OUT txid xid8, OUT captured_at timestamptz, OUT attempt integer, OUT old_row jsonb, OUT new_row jsonb) RETURNS SETOF record LANGUAGE plpgsql VOLATILE SET enable_bitmapscan = off SET enable_sort = off SET jit = off SET plan_cache_mode = force_generic_plan AS $db_listenable$
#variable_conflict use_column
DECLARE
    c "db_listenable"."cursors";
    stored "db_listenable"."cursors";
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
    SELECT * INTO c FROM "db_listenable"."cursors" x
    WHERE x.subscriber_id = sub AND (x.leased_until IS NULL OR x.leased_until < pg_catalog.now())
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    stored := c;
    SELECT x.table_id, x.key_columns INTO tid, keys FROM "db_listenable"."subscribers" x WHERE x.id = sub;
    -- A lease that ran out: its batch runs again, one attempt further (and if it is
    -- empty now, the lease is cleared).
    changed := c.lease_token IS NOT NULL;
    attempt := CASE WHEN c.lease_token IS NULL THEN 1 ELSE c.attempts + 1 END;
    marked := EXISTS (SELECT FROM "db_listenable"."settled" m WHERE m.subscriber_id = sub);
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
            SELECT coalesce(pg_catalog.array_agg(p.xmax ORDER BY p.xmax), '{}'),
                   coalesce(pg_catalog.array_agg(p.hi ORDER BY p.xmax), '{}')
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
        IF pg_catalog.cardinality(keys) > 0 AND EXISTS (SELECT FROM "db_listenable"."deliveries" d WHERE d.subscriber_id = sub) THEN
            deferring := true;
            INSERT INTO "db_listenable"."deliveries" (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
            SELECT sub, k.id, k.table_id, k.op, k.txid, k.captured_at, k.old_row, k.new_row, k.row_key
            FROM (SELECT j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row,
                         "db_listenable"."row_key"(j.table_id, j.op, j.id, j.old_row, j.new_row, keys) AS row_key
                  FROM "db_listenable"."changes" j
                  WHERE j.table_id = tid AND j.id > c.pos AND j.id <= c.target_hi
                      AND pg_catalog.pg_visible_in_snapshot(j.txid, c.target)
                      AND NOT pg_catalog.pg_visible_in_snapshot(j.txid, c.snap)
                  ORDER BY j.id LIMIT claim_limit) k
            WHERE EXISTS (SELECT FROM "db_listenable"."deliveries" d WHERE d.subscriber_id = sub AND d.row_key = k.row_key)
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
                    FROM "db_listenable"."changes" j
                    WHERE j.table_id = tid AND j.id > c.pos AND j.id <= c.target_hi
                      AND pg_catalog.pg_visible_in_snapshot(j.txid, c.target)
                      AND NOT pg_catalog.pg_visible_in_snapshot(j.txid, c.snap)
                      AND (NOT deferring OR NOT EXISTS (
                          SELECT FROM "db_listenable"."deliveries" d WHERE d.subscriber_id = sub AND d.change_id = j.id))
                      AND (NOT marked OR NOT EXISTS (
                          SELECT FROM "db_listenable"."settled" m WHERE m.subscriber_id = sub AND m.change_id = j.id))
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
        UPDATE "db_listenable"."cursors" x
        SET snap = c.snap, lo = c.lo, target = c.target, target_lo = c.target_lo, target_hi = c.target_hi,
            pos = c.pos, hi = c.hi, hist_xmax = c.hist_xmax, hist_hi = c.hist_hi,
            lease_token = CASE WHEN taken > 0 THEN token END,
            leased_until = CASE WHEN taken > 0 THEN pg_catalog.now() + lease_ms * interval '1 millisecond' END,
            attempts = CASE WHEN taken > 0 THEN attempt ELSE 0 END,
            in_flight = taken
        WHERE x.subscriber_id = sub;
    END IF;
END
$db_listenable$;

CREATE OR REPLACE FUNCTION "db_listenable"."settle_journal"(sub integer, token bigint, upto bigint, attempt integer, done_ids bigint[], retry_ids bigint[], retry_delays bigint[], retry_errors text[], dead_ids bigint[], dead_errors text[], settled_ids bigint[], uncommitted_error text, OUT held boolean, OUT uncommitted bigint[]) LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $db_listenable$
DECLARE
    tid integer;
    keys text[];
    batch_first bigint;
BEGIN
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    UPDATE "db_listenable"."cursors" x
    SET pos = GREATEST(x.pos, upto), lease_token = NULL, leased_until = NULL, attempts = 0, in_flight = 0
    WHERE x.subscriber_id = sub AND x.lease_token = token;
    held := FOUND;
    uncommitted := '{}';
    IF NOT held THEN
        RETURN;
    END IF;
    SELECT x.table_id, x.key_columns INTO tid, keys FROM "db_listenable"."subscribers" x WHERE x.id = sub;
    -- The span of what goes wrong bounds the reads of the journal below, so that no plan
    -- reads more than the batch (see `claim_journal` on plans without statistics). Those
    -- arrays are empty on the happy path.
    SELECT pg_catalog.min(i.id) INTO batch_first
    FROM pg_catalog.unnest(retry_ids || dead_ids || settled_ids) AS i(id);
    IF pg_catalog.cardinality(settled_ids) > 0 THEN
        SELECT coalesce(pg_catalog.array_agg(i.id), '{}') INTO uncommitted
        FROM pg_catalog.unnest(settled_ids) AS i(id)
        WHERE NOT EXISTS (SELECT FROM "db_listenable"."settled" m WHERE m.subscriber_id = sub AND m.change_id = i.id);
    END IF;
    IF EXISTS (SELECT FROM "db_listenable"."settled" m WHERE m.subscriber_id = sub) THEN
        DELETE FROM "db_listenable"."settled" m WHERE m.subscriber_id = sub AND m.change_id <= upto;
    END IF;
    IF pg_catalog.cardinality(retry_ids) + pg_catalog.cardinality(uncommitted) > 0 THEN
        INSERT INTO "db_listenable"."deliveries"
            (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key,
             attempts, available_at, last_error)
        SELECT sub, j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row,
               "db_listenable"."row_key"(j.table_id, j.op, j.id, j.old_row, j.new_row, keys),
               f.attempts, pg_catalog.now() + f.delay * interval '1 millisecond', f.error
        FROM (SELECT r.id, r.delay, r.error, attempt AS attempts
              FROM ROWS FROM (pg_catalog.unnest(retry_ids), pg_catalog.unnest(retry_delays),
                              pg_catalog.unnest(retry_errors)) AS r(id, delay, error)
              UNION ALL
              SELECT u.id, 0, uncommitted_error, attempt FROM pg_catalog.unnest(uncommitted) AS u(id)) f
        JOIN "db_listenable"."changes" j ON j.table_id = tid AND j.id = f.id AND j.id >= batch_first AND j.id <= upto
        ON CONFLICT (subscriber_id, change_id) DO NOTHING;
    END IF;
    IF pg_catalog.cardinality(dead_ids) > 0 THEN
        INSERT INTO "db_listenable"."dead_letters"
            (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, attempts, last_error)
        SELECT sub, j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row,
               "db_listenable"."row_key"(j.table_id, j.op, j.id, j.old_row, j.new_row, keys), attempt, f.error
        FROM ROWS FROM (pg_catalog.unnest(dead_ids), pg_catalog.unnest(dead_errors)) AS f(id, error)
        JOIN "db_listenable"."changes" j ON j.table_id = tid AND j.id = f.id AND j.id >= batch_first AND j.id <= upto
        ON CONFLICT (subscriber_id, change_id) DO UPDATE
            SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, dead_at = pg_catalog.now();
    END IF;
    -- Dead letters of the rows just processed, older than what was processed: the requeue
    -- confirmation and `Change::requeued` tell how many newer changes ran since.
    IF pg_catalog.cardinality(keys) > 0 AND pg_catalog.cardinality(done_ids) > 0
       AND EXISTS (SELECT FROM "db_listenable"."dead_letters" e WHERE e.subscriber_id = sub) THEN
        UPDATE "db_listenable"."dead_letters" x SET newer_processed = x.newer_processed + n.newer
        FROM (SELECT l.change_id, pg_catalog.count(*)::integer AS newer
              FROM (SELECT j.id, "db_listenable"."row_key"(j.table_id, j.op, j.id, j.old_row, j.new_row, keys) AS row_key
                    FROM "db_listenable"."changes" j
                    WHERE j.table_id = tid AND j.id = ANY(done_ids) AND j.id <= upto
                      AND j.id >= (SELECT pg_catalog.min(i.id) FROM pg_catalog.unnest(done_ids) AS i(id))) d
              JOIN "db_listenable"."dead_letters" l ON l.subscriber_id = sub AND l.row_key = d.row_key AND l.change_id < d.id
              GROUP BY l.change_id) n
        WHERE x.subscriber_id = sub AND x.change_id = n.change_id;
    END IF;
END
$db_listenable$;

CREATE OR REPLACE FUNCTION "db_listenable"."settle_journal"(sub integer, token bigint, upto bigint, attempt integer, done_ids bigint[], retry_ids bigint[], retry_delays bigint[], retry_errors text[], dead_ids bigint[], dead_errors text[], deferred_ids bigint[], settled_ids bigint[], uncommitted_error text, OUT held boolean, OUT uncommitted bigint[]) LANGUAGE sql VOLATILE AS $db_listenable$SELECT s.held, s.uncommitted FROM "db_listenable"."settle_journal"(sub, token, upto, attempt, done_ids, retry_ids || deferred_ids, retry_delays || pg_catalog.array_fill(0::bigint, ARRAY[pg_catalog.cardinality(deferred_ids)]), retry_errors || pg_catalog.array_fill(NULL::text, ARRAY[pg_catalog.cardinality(deferred_ids)]), dead_ids, dead_errors, settled_ids, uncommitted_error) s$db_listenable$;

CREATE OR REPLACE FUNCTION "db_listenable"."maintain"(adopt_limit bigint, OUT held boolean, OUT adopted_count bigint, OUT kept_count bigint, OUT truncated_count integer) LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $db_listenable$
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
    held := pg_catalog.pg_try_advisory_xact_lock(1684171881, 1919907188);
    IF NOT held THEN
        RETURN;
    END IF;
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    IF EXISTS (SELECT FROM "db_listenable"."subscribers" s WHERE EXISTS (SELECT FROM "db_listenable"."unrouted" u WHERE u.table_id = s.table_id)) THEN
        WITH taken AS (
            DELETE FROM "db_listenable"."unrouted" u
            WHERE u.id = ANY(ARRAY(
                SELECT k.id
                FROM (SELECT DISTINCT s.table_id FROM "db_listenable"."subscribers" s) t
                CROSS JOIN LATERAL (
                    SELECT x.id FROM "db_listenable"."unrouted" x WHERE x.table_id = t.table_id ORDER BY x.id LIMIT adopt_limit
                ) k
                ORDER BY k.id LIMIT adopt_limit))
            RETURNING u.id, u.table_id, u.op, u.txid, u.captured_at, u.old_row, u.new_row
        ), given AS (
            INSERT INTO "db_listenable"."deliveries"
                (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
            SELECT s.id, e.id, e.table_id, e.op, e.txid, e.captured_at, e.old_row, e.new_row,
                   "db_listenable"."row_key"(e.table_id, e.op, e.id, e.old_row, e.new_row, s.key_columns)
            FROM taken e JOIN "db_listenable"."subscribers" s ON s.table_id = e.table_id
            ON CONFLICT (subscriber_id, change_id) DO NOTHING
            RETURNING 1
        )
        SELECT pg_catalog.count(*) INTO adopted_count FROM taken;
        IF adopted_count > 0 THEN
            PERFORM pg_catalog.pg_notify('db_listenable_routed', '');
        END IF;
    END IF;

    allocated := db_listenable.allocated_id();
    -- The block the next id comes from (after an early jump, no id of it exists yet).
    current_block := (allocated + 1) >> 20;
    -- Every subscriber has processed every entry up to `consumed`.
    SELECT coalesce(pg_catalog.min(c.lo), allocated) INTO consumed FROM "db_listenable"."cursors" c;
    FOR age IN REVERSE 3..1 LOOP
        block := current_block - age;
        CONTINUE WHEN block < 0;
        -- Newer blocks are not consumed either; an older partition must go first, so
        -- what `unrouted` keeps is always older than what the journal keeps.
        EXIT WHEN ((block + 1) << 20) - 1 > consumed;
        part := 'changes_' || (block & 3);
        CONTINUE WHEN pg_catalog.pg_relation_size(pg_catalog.format('db_listenable.%I', part)::regclass) = 0;
        BEGIN
            PERFORM pg_catalog.set_config('lock_timeout', '100ms', true);
            EXECUTE pg_catalog.format('LOCK TABLE db_listenable.%I IN ACCESS EXCLUSIVE MODE', part);
        EXCEPTION WHEN lock_not_available THEN
            EXIT;
        END;
        EXECUTE pg_catalog.format(
            'INSERT INTO "db_listenable"."unrouted" (id, table_id, op, txid, captured_at, old_row, new_row)
             SELECT j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row
             FROM db_listenable.%I j
             WHERE NOT EXISTS (SELECT FROM "db_listenable"."subscribers" s WHERE s.table_id = j.table_id)
               AND NOT EXISTS (SELECT FROM "db_listenable"."resume_points" r WHERE r.table_id = j.table_id
                                 AND (j.id <= r.lo OR pg_catalog.pg_visible_in_snapshot(j.txid, r.snap)))
             ON CONFLICT (id) DO NOTHING', part);
        GET DIAGNOSTICS copied = ROW_COUNT;
        kept_count := kept_count + copied;
        EXECUTE pg_catalog.format('TRUNCATE db_listenable.%I', part);
        truncated_count := truncated_count + 1;
    END LOOP;

    IF consumed >= allocated AND allocated + 1 - (current_block << 20) >= 10000
       AND (SELECT r.jumped_at FROM "db_listenable"."rotation" r) < pg_catalog.now() - interval '1 second' THEN
        PERFORM pg_catalog.setval('db_listenable.changes_id_seq', ((current_block + 1) << 20) - 1, true);
        UPDATE "db_listenable"."rotation" SET jumped_at = pg_catalog.now();
    END IF;
END
$db_listenable$;

REVOKE ALL ON FUNCTION "db_listenable".maintain(bigint) FROM PUBLIC;

INSERT INTO "db_listenable"."schema_versions" (version, compatible_from) VALUES (3, 3) ON CONFLICT (version) DO NOTHING;
