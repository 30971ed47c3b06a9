DO $db_listenable$
BEGIN
    IF pg_catalog.to_regclass('"public"."invoice_items"') IS NOT NULL THEN
        LOCK TABLE "public"."invoice_items" IN ACCESS EXCLUSIVE MODE;
    END IF;
EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'db-listenable: could not lock % to remove its capture within lock_timeout (%)',
        '"public"."invoice_items"', pg_catalog.current_setting('lock_timeout')
        USING ERRCODE = 'lock_not_available',
              HINT = 'Another transaction holds a lock on the table: find it with pg_blocking_pids() and pg_stat_activity, let it finish (or end it), then run the migration again; or allow more time (CaptureConfig::lock_timeout, --lock-timeout).';
END
$db_listenable$;

DROP TRIGGER IF EXISTS "db_listenable_row" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_insert" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_update" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_delete" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_key_move" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_truncate" ON "public"."invoice_items";

DROP FUNCTION IF EXISTS "db_listenable"."capture_public_invoice_items_c37b27ac"();
