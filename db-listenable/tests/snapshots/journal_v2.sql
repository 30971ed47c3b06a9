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

CREATE TABLE IF NOT EXISTS "db_listenable"."changes" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id integer NOT NULL,
    op "char" NOT NULL CHECK (op IN ('I', 'U', 'D', 'T', 'E')),
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_row jsonb,
    new_row jsonb
);

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
            SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN ancestors a ON i.inhrelid = a.relid)
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

CREATE OR REPLACE FUNCTION "db_listenable"."route"(route_limit bigint, OUT held boolean, OUT moved_count bigint, OUT delivery_count bigint, OUT kept_count bigint, OUT adopted_count bigint) LANGUAGE plpgsql VOLATILE AS $db_listenable$
BEGIN
    moved_count := 0;
    delivery_count := 0;
    kept_count := 0;
    adopted_count := 0;
    held := pg_catalog.pg_try_advisory_xact_lock(1684171881, 1919907188);
    IF NOT held THEN
        RETURN;
    END IF;
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    IF EXISTS (SELECT 1 FROM "db_listenable"."subscribers" s WHERE EXISTS (SELECT 1 FROM "db_listenable"."unrouted" u WHERE u.table_id = s.table_id)) THEN
        WITH taken AS (
            DELETE FROM "db_listenable"."unrouted" u
            WHERE u.id = ANY(ARRAY(
                SELECT k.id
                FROM (SELECT DISTINCT s.table_id FROM "db_listenable"."subscribers" s) t
                CROSS JOIN LATERAL (
                    SELECT x.id FROM "db_listenable"."unrouted" x WHERE x.table_id = t.table_id ORDER BY x.id LIMIT route_limit
                ) k
                ORDER BY k.id LIMIT route_limit))
            RETURNING u.id, u.table_id, u.op, u.txid, u.captured_at, u.old_row, u.new_row
        ), given AS (
            INSERT INTO "db_listenable"."deliveries"
                (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
            SELECT s.id, e.id, e.table_id, e.op, e.txid, e.captured_at, e.old_row, e.new_row,
                   "db_listenable"."row_key"(e.table_id, e.op, e.id, e.old_row, e.new_row, s.key_columns)
            FROM taken e JOIN "db_listenable"."subscribers" s ON s.table_id = e.table_id
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM taken), (SELECT pg_catalog.count(*) FROM given)
        INTO adopted_count, delivery_count;
    END IF;
    IF adopted_count < route_limit THEN
        WITH taken AS (
            DELETE FROM "db_listenable"."changes" c
            WHERE c.id = ANY(ARRAY(SELECT x.id FROM "db_listenable"."changes" x ORDER BY x.id LIMIT route_limit - adopted_count))
            RETURNING c.id, c.table_id, c.op, c.txid, c.captured_at, c.old_row, c.new_row
        ), given AS (
            INSERT INTO "db_listenable"."deliveries"
                (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
            SELECT s.id, e.id, e.table_id, e.op, e.txid, e.captured_at, e.old_row, e.new_row,
                   "db_listenable"."row_key"(e.table_id, e.op, e.id, e.old_row, e.new_row, s.key_columns)
            FROM taken e JOIN "db_listenable"."subscribers" s ON s.table_id = e.table_id
            RETURNING 1
        ), left_alone AS (
            INSERT INTO "db_listenable"."unrouted" (id, table_id, op, txid, captured_at, old_row, new_row)
            SELECT e.id, e.table_id, e.op, e.txid, e.captured_at, e.old_row, e.new_row
            FROM taken e
            WHERE NOT EXISTS (SELECT 1 FROM "db_listenable"."subscribers" s WHERE s.table_id = e.table_id)
            RETURNING 1
        )
        SELECT (SELECT pg_catalog.count(*) FROM taken), delivery_count + (SELECT pg_catalog.count(*) FROM given),
               (SELECT pg_catalog.count(*) FROM left_alone)
        INTO moved_count, delivery_count, kept_count;
    END IF;
    IF delivery_count > 0 THEN
        -- Sent at commit, once per round that routed anything.
        PERFORM pg_catalog.pg_notify('db_listenable_routed', '');
    END IF;
END
$db_listenable$;

INSERT INTO "db_listenable"."schema_versions" (version, compatible_from) VALUES (2, 1) ON CONFLICT (version) DO NOTHING;
