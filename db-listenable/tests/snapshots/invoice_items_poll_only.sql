CREATE OR REPLACE FUNCTION "db_listenable"."capture_public_invoice_items_c37b27ac"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $db_listenable$
DECLARE
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_row := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_row := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND old_row - ARRAY['updated_at']::text[] = new_row - ARRAY['updated_at']::text[] THEN
        RETURN NULL;
    END IF;
    INSERT INTO "db_listenable"."changes" (schema_name, table_name, op, row_key, old_row, new_row)
    VALUES ('public', 'invoice_items', TG_OP, jsonb_build_array(coalesce(new_row, old_row) -> 'id'), old_row, new_row);
    RETURN NULL;
END
$db_listenable$;

CREATE OR REPLACE TRIGGER "db_listenable_capture" AFTER INSERT OR UPDATE OR DELETE ON "public"."invoice_items" FOR EACH ROW EXECUTE FUNCTION "db_listenable"."capture_public_invoice_items_c37b27ac"();

DROP TRIGGER IF EXISTS "db_listenable_wake" ON "public"."invoice_items";

CREATE OR REPLACE TRIGGER "db_listenable_truncate" BEFORE TRUNCATE ON "public"."invoice_items" FOR EACH STATEMENT EXECUTE FUNCTION "db_listenable"."on_truncate"('capture', 'public', 'invoice_items');

COMMENT ON TRIGGER "db_listenable_truncate" ON "public"."invoice_items" IS 'db-listenable fa212efb259172bf';
