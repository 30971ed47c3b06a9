CREATE SCHEMA IF NOT EXISTS "db_listenable";

CREATE TABLE IF NOT EXISTS "db_listenable"."tables" (
    id integer PRIMARY KEY,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    UNIQUE (schema_name, table_name)
);

CREATE TABLE IF NOT EXISTS "db_listenable"."changes" (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id integer NOT NULL,
    op "char" NOT NULL CHECK (op IN ('I', 'U', 'D', 'T')),
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    captured_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_row jsonb,
    new_row jsonb
);

CREATE OR REPLACE FUNCTION "db_listenable"."on_truncate"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $db_listenable$
BEGIN
    IF TG_ARGV[0] = 'capture' THEN
        INSERT INTO "db_listenable"."changes" (table_id, op) VALUES (TG_ARGV[1]::integer, 'T');
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'TRUNCATE of %.% is not captured by db-listenable', TG_ARGV[2], TG_ARGV[3]
        USING ERRCODE = 'feature_not_supported',
              HINT = 'Delete the rows with DELETE, or add truncate to the model''s events(...) to capture it.';
END
$db_listenable$;
