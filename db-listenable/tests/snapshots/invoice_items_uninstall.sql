DROP TRIGGER IF EXISTS "db_listenable_row" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_insert" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_update" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_delete" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_key_move" ON "public"."invoice_items";

DROP TRIGGER IF EXISTS "db_listenable_truncate" ON "public"."invoice_items";

DROP FUNCTION IF EXISTS "db_listenable"."capture_public_invoice_items_c37b27ac"();
