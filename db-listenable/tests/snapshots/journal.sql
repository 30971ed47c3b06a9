CREATE SCHEMA IF NOT EXISTS "db_listenable";

CREATE TABLE IF NOT EXISTS "db_listenable"."changes" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
    row_key jsonb,
    old_row jsonb,
    new_row jsonb,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    attempts integer NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL DEFAULT now(),
    last_error text
);

CREATE INDEX IF NOT EXISTS "changes_available_at_id" ON "db_listenable"."changes" (available_at, id);

CREATE TABLE IF NOT EXISTS "db_listenable"."dead_letters" (
    id bigint PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    op text NOT NULL,
    row_key jsonb,
    old_row jsonb,
    new_row jsonb,
    txid xid8 NOT NULL,
    captured_at timestamptz NOT NULL,
    attempts integer NOT NULL,
    last_error text,
    died_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION "db_listenable"."on_truncate"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $db_listenable$
BEGIN
    IF TG_ARGV[0] = 'capture' THEN
        INSERT INTO "db_listenable"."changes" (schema_name, table_name, op) VALUES (TG_ARGV[1], TG_ARGV[2], 'TRUNCATE');
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not captured by db-listenable', TG_ARGV[1], TG_ARGV[2]
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Delete the rows with DELETE, or add truncate to the model''s events(...) to capture it.';
END
$db_listenable$;

CREATE OR REPLACE FUNCTION "db_listenable"."wake"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $db_listenable$
BEGIN
    -- Only the transaction holding this lock notifies: NOTIFY serialises commits.
    IF pg_try_advisory_xact_lock(1684171881, 2002873189) THEN
        PERFORM pg_notify('db_listenable', '');
    END IF;
    RETURN NULL;
END
$db_listenable$;
