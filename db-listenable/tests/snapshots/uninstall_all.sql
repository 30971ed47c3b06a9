SET LOCAL lock_timeout = '5000ms';

DO $db_listenable$
DECLARE
    captured record;
    trigger_name name;
BEGIN
    FOR captured IN
        SELECT DISTINCT c.oid AS table_oid, pg_catalog.format('%I.%I', tn.nspname, c.relname) AS table_name,
               tn.nspname, c.relname
        FROM pg_catalog.pg_trigger t
        JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
        JOIN pg_catalog.pg_namespace tn ON tn.oid = c.relnamespace
        JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
        JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
        WHERE pn.nspname = 'db_listenable' AND NOT t.tgisinternal
        -- One order for every run, so two uninstalls cannot deadlock on each other.
        ORDER BY tn.nspname, c.relname
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', captured.table_name);
        EXCEPTION WHEN lock_not_available THEN
            RAISE EXCEPTION 'db-listenable: could not lock % to remove its capture within lock_timeout (%)',
                captured.table_name, pg_catalog.current_setting('lock_timeout')
                USING ERRCODE = 'lock_not_available',
                      HINT = 'Another transaction holds a lock on the table: find it with pg_blocking_pids() and pg_stat_activity, let it finish (or end it), then run the migration again; or allow more time (CaptureConfig::lock_timeout, --lock-timeout).';
        END;
        FOR trigger_name IN
            SELECT t.tgname
            FROM pg_catalog.pg_trigger t
            JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
            JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace
            WHERE t.tgrelid = captured.table_oid AND pn.nspname = 'db_listenable' AND NOT t.tgisinternal
            ORDER BY t.tgname
        LOOP
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trigger_name, captured.table_name);
        END LOOP;
    END LOOP;
END
$db_listenable$;

DROP SCHEMA IF EXISTS "db_listenable" CASCADE;
