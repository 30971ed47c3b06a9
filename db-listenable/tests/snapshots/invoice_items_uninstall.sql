DROP TRIGGER IF EXISTS "db_listenable_capture" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_truncate" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_wake" ON "public"."invoice_items";

DROP FUNCTION IF EXISTS "db_listenable"."capture_public_invoice_items_c37b27ac"();
