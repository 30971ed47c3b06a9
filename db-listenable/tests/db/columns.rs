//! Any column name works: the capture function's own aliases and variables must never
//! be confused with a captured table's columns.

use db_listenable::ddl::CaptureConfig;
use db_listenable::{Events, Model};
use serde_json::{Value, json};

use crate::{captured, col, journal, journal_db};

/// A table whose columns carry the names the generated SQL uses for its own things,
/// and one named like the table itself.
const WEIRD: Model = Model {
    rust_name: "Weird",
    schema: "public",
    table: "weird",
    key: &["n", "o"],
    columns: &[
        col("n"),
        col("o"),
        col("moved"),
        col("pair"),
        col("key"),
        col("old_row"),
        col("new_row"),
        col("table_id"),
        col("op"),
        col("m"),
        col("db_listenable"),
        col("weird"),
    ],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

const WEIRD_TABLE: &str = "CREATE TABLE weird (n int, o int, moved text, pair text, key text, old_row text,
    new_row text, table_id int, op text, m text, db_listenable text, weird text, PRIMARY KEY (n, o))";

/// A row of `weird`: every text column holds `tag`, `table_id` holds `n * 10`.
fn row(n: i64, o: i64, tag: &str) -> Value {
    json!({
        "n": n, "o": o, "moved": tag, "pair": tag, "key": tag, "old_row": tag, "new_row": tag,
        "table_id": n * 10, "op": tag, "m": tag, "db_listenable": tag, "weird": tag,
    })
}

fn insert(n: i64, o: i64, tag: &str) -> String {
    format!(
        "INSERT INTO weird VALUES ({n}, {o}, '{tag}', '{tag}', '{tag}', '{tag}', '{tag}', {}, '{tag}', '{tag}', '{tag}', '{tag}')",
        n * 10
    )
}

const TEXT_COLUMNS: [&str; 9] = ["moved", "pair", "key", "old_row", "new_row", "op", "m", "db_listenable", "weird"];

fn set_all(tag: &str) -> String {
    TEXT_COLUMNS.iter().map(|c| format!("{c} = '{tag}'")).collect::<Vec<_>>().join(", ")
}

for_each_granularity! {
async fn columns_named_like_the_capture_functions_own_names_are_captured_exactly(config: CaptureConfig) {
    let (_db, client) = journal_db().await;
    captured(&client, WEIRD_TABLE, &WEIRD, &config).await;
    for statement in [
        format!("{}; {}", insert(1, 1, "a"), insert(2, 2, "b")),
        format!("UPDATE weird SET {}", set_all("c")),
        format!("UPDATE weird SET o = o + 100, {} WHERE n = 1", set_all("d")),
        "DELETE FROM weird WHERE n = 2".to_owned(),
    ] {
        client.batch_execute(&statement).await.unwrap_or_else(|err| panic!("{statement}: {err:?}"));
    }
    let mut got: Vec<(String, Option<Value>, Option<Value>)> =
        journal(&client).await.into_iter().map(|c| (c.op, c.old, c.new)).collect();
    got.sort_by_key(|c| format!("{c:?}"));
    let mut expected = vec![
        ("INSERT".to_owned(), None, Some(row(1, 1, "a"))),
        ("INSERT".to_owned(), None, Some(row(2, 2, "b"))),
        ("UPDATE".to_owned(), Some(row(1, 1, "a")), Some(row(1, 1, "c"))),
        ("UPDATE".to_owned(), Some(row(2, 2, "b")), Some(row(2, 2, "c"))),
        // A key move: the key left and the key taken.
        ("DELETE".to_owned(), Some(row(1, 1, "c")), None),
        ("INSERT".to_owned(), None, Some(row(1, 101, "d"))),
        ("DELETE".to_owned(), Some(row(2, 2, "c")), None),
    ];
    expected.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(got, expected);
}
}
