//! The capture function runs with the journal owner's rights (`SECURITY DEFINER`) but
//! with the writer's `search_path`: every name it uses is schema-qualified, so a writer
//! who puts a schema of their own first finds none of their functions, operators or
//! types called with the owner's rights, and the journal gets exactly the rows it would
//! get otherwise.

use db_listenable::ddl::CaptureConfig;
use db_listenable::{Events, Model};

use crate::{ITEMS, captured, col, connect, journal, journal_db};

const TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0,
                                         updated_at timestamptz NOT NULL DEFAULT now(), secret text)";

/// Quiet and excluded columns, so the capture's `jsonb` operators are in play too.
const MODEL: Model = Model {
    columns: &[col("id"), col("name"), col("qty"), col("updated_at"), col("secret")],
    exclude: &["secret"],
    events: Events { truncate: true, ..Events::DEFAULT },
    ..ITEMS
};

/// Everything PL/pgSQL or the capture's SQL could resolve by name, shadowed by objects
/// that fail loudly: a function of the writer's called with the owner's rights.
const HOSTILE: &str = r#"
CREATE FUNCTION evil.called(what pg_catalog.text) RETURNS pg_catalog.bool LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the capture called the writer''s %', what; END $$;
CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS pg_catalog.jsonb LANGUAGE sql AS $$ SELECT NULL::pg_catalog.jsonb WHERE evil.called('to_jsonb') $$;
CREATE FUNCTION evil.left(pg_catalog.text, pg_catalog.int4) RETURNS pg_catalog.text LANGUAGE sql AS $$ SELECT NULL::pg_catalog.text WHERE evil.called('left') $$;
CREATE FUNCTION evil.current_setting(pg_catalog.text) RETURNS pg_catalog.text LANGUAGE sql AS $$ SELECT NULL::pg_catalog.text WHERE evil.called('current_setting') $$;
CREATE FUNCTION evil.set_config(pg_catalog.text, pg_catalog.text, pg_catalog.bool) RETURNS pg_catalog.text LANGUAGE sql AS $$ SELECT NULL::pg_catalog.text WHERE evil.called('set_config') $$;
CREATE FUNCTION evil.pg_notify(pg_catalog.text, pg_catalog.text) RETURNS void LANGUAGE sql AS $$ SELECT WHERE evil.called('pg_notify') $$;
CREATE FUNCTION evil.pg_try_advisory_xact_lock(pg_catalog.int4, pg_catalog.int4) RETURNS pg_catalog.bool LANGUAGE sql AS $$ SELECT evil.called('pg_try_advisory_xact_lock') $$;
CREATE FUNCTION evil.text_op(pg_catalog.text, pg_catalog.text) RETURNS pg_catalog.bool LANGUAGE sql AS $$ SELECT evil.called('text operator') $$;
CREATE FUNCTION evil.jsonb_op(pg_catalog.jsonb, pg_catalog.jsonb) RETURNS pg_catalog.bool LANGUAGE sql AS $$ SELECT evil.called('jsonb operator') $$;
CREATE FUNCTION evil.oid_op(pg_catalog.oid, pg_catalog.oid) RETURNS pg_catalog.bool LANGUAGE sql AS $$ SELECT evil.called('oid operator') $$;
CREATE FUNCTION evil.int_op(pg_catalog.int4, pg_catalog.int4) RETURNS pg_catalog.bool LANGUAGE sql AS $$ SELECT evil.called('int operator') $$;
CREATE FUNCTION evil.minus(pg_catalog.jsonb, pg_catalog.text[]) RETURNS pg_catalog.jsonb LANGUAGE sql AS $$ SELECT NULL::pg_catalog.jsonb WHERE evil.called('jsonb - text[]') $$;
CREATE FUNCTION evil.arrow(pg_catalog.jsonb, pg_catalog.text) RETURNS pg_catalog.jsonb LANGUAGE sql AS $$ SELECT NULL::pg_catalog.jsonb WHERE evil.called('jsonb -> text') $$;
CREATE OPERATOR evil.= (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = evil.text_op);
CREATE OPERATOR evil.<> (LEFTARG = pg_catalog.text, RIGHTARG = pg_catalog.text, FUNCTION = evil.text_op);
CREATE OPERATOR evil.= (LEFTARG = pg_catalog.jsonb, RIGHTARG = pg_catalog.jsonb, FUNCTION = evil.jsonb_op);
CREATE OPERATOR evil.<> (LEFTARG = pg_catalog.jsonb, RIGHTARG = pg_catalog.jsonb, FUNCTION = evil.jsonb_op);
CREATE OPERATOR evil.= (LEFTARG = pg_catalog.oid, RIGHTARG = pg_catalog.oid, FUNCTION = evil.oid_op);
CREATE OPERATOR evil.<> (LEFTARG = pg_catalog.oid, RIGHTARG = pg_catalog.oid, FUNCTION = evil.oid_op);
CREATE OPERATOR evil.< (LEFTARG = pg_catalog.int4, RIGHTARG = pg_catalog.int4, FUNCTION = evil.int_op);
CREATE OPERATOR evil.- (LEFTARG = pg_catalog.jsonb, RIGHTARG = pg_catalog.text[], FUNCTION = evil.minus);
CREATE OPERATOR evil.-> (LEFTARG = pg_catalog.jsonb, RIGHTARG = pg_catalog.text, FUNCTION = evil.arrow);
CREATE DOMAIN evil.text AS pg_catalog.int4;
CREATE DOMAIN evil.jsonb AS pg_catalog.int4;
CREATE DOMAIN evil."char" AS pg_catalog.int4;
CREATE DOMAIN evil.int4 AS pg_catalog.bool;
CREATE DOMAIN evil.regclass AS pg_catalog.int4;
"#;

for_each_granularity! {
async fn a_writer_s_search_path_reaches_nothing_the_capture_runs(config: CaptureConfig) {
    let (db, client) = journal_db().await;
    captured(&client, TABLE, &MODEL, &config).await;
    let role = format!("writer_{}", db.name());
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT ALL ON items TO {role}; CREATE SCHEMA evil AUTHORIZATION {role}"
        ))
        .await
        .expect("writer role");
    let writer = connect(&db.url().replacen("postgres@", &format!("{role}@"), 1)).await;
    writer.batch_execute(HOSTILE).await.expect("the writer's objects");
    writer.batch_execute("SET search_path = evil, pg_catalog, public").await.expect("hostile search_path");

    // Every path of the capture: insert, update, a quiet-only update, a key move, a
    // lowered extra_float_digits, delete, truncate.
    for statement in [
        "INSERT INTO public.items (id, name, secret) VALUES (1, 'pen', 's1'), (2, 'ink', 's2')",
        "UPDATE public.items SET qty = 5 WHERE id OPERATOR(pg_catalog.=) 1",
        "UPDATE public.items SET updated_at = pg_catalog.now() OPERATOR(pg_catalog.+) '1 day'::pg_catalog.interval",
        "UPDATE public.items SET id = 3 WHERE id OPERATOR(pg_catalog.=) 2",
        "SET extra_float_digits = 0",
        "UPDATE public.items SET name = 'pencil' WHERE id OPERATOR(pg_catalog.=) 1",
        "DELETE FROM public.items WHERE id OPERATOR(pg_catalog.=) 3",
        "TRUNCATE public.items",
    ] {
        writer.batch_execute(statement).await.unwrap_or_else(|error| panic!("{statement}: {error:?}"));
    }

    let rows = journal(&client).await;
    let id = |row: &Option<serde_json::Value>| row.as_ref().and_then(|r| r["id"].as_i64());
    let mut seen: Vec<(String, Option<i64>, Option<i64>)> =
        rows.iter().map(|c| (c.op.clone(), id(&c.old), id(&c.new))).collect();
    // A key move's D and I come in either order; the rest in statement order.
    seen[3..5].sort();
    let expected: [(&str, Option<i64>, Option<i64>); 8] = [
        ("INSERT", None, Some(1)),
        ("INSERT", None, Some(2)),
        ("UPDATE", Some(1), Some(1)),
        ("DELETE", Some(2), None),
        ("INSERT", None, Some(3)),
        ("UPDATE", Some(1), Some(1)),
        ("DELETE", Some(3), None),
        ("TRUNCATE", None, None),
    ];
    assert_eq!(seen, expected.map(|(op, old, new)| (op.to_owned(), old, new)));
    let renamed = rows[5].new.as_ref().expect("new row");
    assert_eq!(renamed["name"], "pencil");
    assert!(rows.iter().flat_map(|c| [&c.old, &c.new]).flatten().all(|row| row.get("secret").is_none()));
}
}
