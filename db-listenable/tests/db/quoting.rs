//! Hostile names and values survive the trip through generated SQL unchanged.

use db_listenable::ddl::{quote_ident, quote_literal};

const HOSTILE_NAMES: [&str; 7] =
    ["Invoice Items", "select", r#"a"b"#, "UPPER", "semi;colon -- comment", "ünïcödé", "x\"); DROP TABLE t; --"];

#[tokio::test]
async fn hostile_identifiers_name_exactly_what_they_say() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = crate::connect(db.url()).await;
    for name in HOSTILE_NAMES {
        let sql = format!("CREATE TABLE {} ({} int)", quote_ident(name), quote_ident(name));
        client.batch_execute(&sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    let rows = client
        .query(
            "SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1
             WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY c.relname",
            &[],
        )
        .await
        .expect("catalog");
    let mut found: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let mut expected: Vec<(String, String)> = HOSTILE_NAMES.iter().map(|n| (n.to_string(), n.to_string())).collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn hostile_literals_read_back_unchanged_whatever_the_string_settings() {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = crate::connect(db.url()).await;
    let values = ["it's", r"back\slash", r"\'; DROP TABLE t; --", "''", "", "naïve"];
    for setting in ["on", "off"] {
        client.batch_execute(&format!("SET standard_conforming_strings = {setting}")).await.expect("set");
        for value in values {
            let sql = format!("SELECT {}::text", quote_literal(value));
            let row = client.query_one(&sql, &[]).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
            assert_eq!(row.get::<_, String>(0), value, "standard_conforming_strings={setting}: {sql}");
        }
    }
}
