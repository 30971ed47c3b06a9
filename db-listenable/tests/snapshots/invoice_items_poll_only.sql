DO $db_listenable$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_catalog.pg_trigger
        WHERE tgrelid = '"public"."invoice_items"'::regclass AND tgname = ANY (ARRAY['db_listenable_insert', 'db_listenable_update', 'db_listenable_delete', 'db_listenable_key_move']::name[])
    ) THEN
        LOCK TABLE "public"."invoice_items" IN ACCESS EXCLUSIVE MODE;
    ELSE
        LOCK TABLE "public"."invoice_items" IN SHARE ROW EXCLUSIVE MODE;
    END IF;
EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'db-listenable: could not lock % to install its capture within lock_timeout (%)',
        '"public"."invoice_items"', pg_catalog.current_setting('lock_timeout')
        USING ERRCODE = 'lock_not_available',
              HINT = 'Another transaction holds a lock on the table: find it with pg_blocking_pids() and pg_stat_activity, let it finish (or end it), then run the migration again; or allow more time (CaptureConfig::lock_timeout, --lock-timeout).';
END
$db_listenable$;

DO $db_listenable$
DECLARE
    problem text;
BEGIN
    SELECT CASE
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
    END INTO problem
    FROM pg_catalog.pg_class c WHERE c.oid = '"public"."invoice_items"'::regclass;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: cannot capture %: it %', '"public"."invoice_items"', problem
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'db-listenable captures plain tables only: its triggers do not see every write of a partitioned or inheritance table. Capture a plain table (or detach it from the tree).';
    END IF;
END
$db_listenable$;

INSERT INTO "db_listenable"."tables" (id, schema_name, table_name) VALUES (1132144556, 'public', 'invoice_items') ON CONFLICT (schema_name, table_name) DO NOTHING;

DROP TRIGGER IF EXISTS "db_listenable_insert" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_update" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_delete" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_key_move" ON "public"."invoice_items";

DO $db_listenable$
DECLARE
    key_columns text[] := ARRAY['id']::text[];
    nullable text[];
    no_equality text[];
    key_column record;
BEGIN
    -- Caught here rather than by CREATE TRIGGER, to name the table and the way out.
    FOR key_column IN
        SELECT a.attname::text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = '"public"."invoice_items"'::regclass AND a.attname::text = ANY (key_columns) ORDER BY a.attnum
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('SELECT NULL::%s OPERATOR(pg_catalog.=) NULL::%s', key_column.type, key_column.type);
        EXCEPTION WHEN undefined_function OR ambiguous_function THEN
            no_equality := pg_catalog.array_append(no_equality, key_column.name);
        END;
    END LOOP;
    IF no_equality IS NOT NULL THEN
        RAISE EXCEPTION 'db-listenable: key column(s) % of % have no built-in equality (%)', no_equality, '"public"."invoice_items"', 'OPERATOR(pg_catalog.=)'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Key the table on a type whose = is built in (or implicitly castable to one).';
    END IF;
END
$db_listenable$;

CREATE OR REPLACE FUNCTION "db_listenable"."capture_public_invoice_items_c37b27ac"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET extra_float_digits = 3 AS $db_listenable$
DECLARE
    old_row pg_catalog.jsonb;
    new_row pg_catalog.jsonb;
    occupant pg_catalog.jsonb;
BEGIN
    IF TG_RELID OPERATOR(pg_catalog.<>) '"public"."invoice_items"'::pg_catalog.regclass THEN
        IF NOT ('"public"."invoice_items"'::pg_catalog.regclass OPERATOR(pg_catalog.=) ANY (WITH RECURSIVE ancestors(relid) AS (
            SELECT TG_RELID
            UNION
            SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN ancestors a ON i.inhrelid OPERATOR(pg_catalog.=) a.relid)
        SELECT relid FROM ancestors)) THEN
            RAISE EXCEPTION 'db-listenable: the capture function of % was called by a trigger on %.%',
                '"public"."invoice_items"'::pg_catalog.regclass, TG_TABLE_SCHEMA, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
        old_row := pg_catalog.to_jsonb(OLD);
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        new_row := pg_catalog.to_jsonb(NEW);
    END IF;
    IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' AND NOT ((old_row OPERATOR(pg_catalog.->) 'id') OPERATOR(pg_catalog.=) (new_row OPERATOR(pg_catalog.->) 'id')) THEN
        SELECT pg_catalog.to_jsonb(t.*) INTO occupant FROM "public"."invoice_items" t WHERE t."id" OPERATOR(pg_catalog.=) OLD."id";
        IF occupant IS NULL THEN
            INSERT INTO "db_listenable"."changes" (table_id, op, old_row) VALUES (1132144556, 'D', old_row);
        ELSIF occupant OPERATOR(pg_catalog.<>) old_row THEN
            INSERT INTO "db_listenable"."changes" (table_id, op, old_row, new_row) VALUES (1132144556, 'U', old_row, occupant);
        END IF;
        INSERT INTO "db_listenable"."changes" (table_id, op, new_row) VALUES (1132144556, 'I', new_row);
    ELSIF TG_OP OPERATOR(pg_catalog.<>) 'UPDATE' OR ((old_row OPERATOR(pg_catalog.-) ARRAY['updated_at']::pg_catalog.text[]) OPERATOR(pg_catalog.<>) (new_row OPERATOR(pg_catalog.-) ARRAY['updated_at']::pg_catalog.text[])) THEN
        INSERT INTO "db_listenable"."changes" (table_id, op, old_row, new_row)
        VALUES (1132144556, pg_catalog.left(TG_OP, 1)::pg_catalog."char", old_row, new_row);
    END IF;
    RETURN NULL;
END
$db_listenable$;

REVOKE ALL ON FUNCTION "db_listenable"."capture_public_invoice_items_c37b27ac"() FROM PUBLIC;

CREATE OR REPLACE TRIGGER "db_listenable_row" AFTER INSERT OR UPDATE OR DELETE ON "public"."invoice_items" FOR EACH ROW EXECUTE FUNCTION "db_listenable"."capture_public_invoice_items_c37b27ac"();

CREATE OR REPLACE TRIGGER "db_listenable_truncate" BEFORE TRUNCATE ON "public"."invoice_items" FOR EACH STATEMENT EXECUTE FUNCTION "db_listenable"."on_truncate"('capture', '1132144556', 'public', 'invoice_items');

COMMENT ON TRIGGER "db_listenable_truncate" ON "public"."invoice_items" IS 'db-listenable 67ec505d1811b4fd';

UPDATE "db_listenable"."tables" SET capture = '{"events":["insert","update","delete","truncate"],"exclude":[],"fingerprint":"67ec505d1811b4fd","granularity":"row","key":["id"],"quiet":["updated_at"]}'::jsonb WHERE id = 1132144556;
