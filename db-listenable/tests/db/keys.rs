//! UPDATEs that change keys: composite keys, nested statements, keys with their own
//! equality (`citext`). The journal holds the change of each key: a key present before
//! and after is an UPDATE, a key left a DELETE, a key taken an INSERT.

use db_listenable::ddl::CaptureConfig;
use db_listenable::{Events, Model};
use serde_json::{Value, json};

use crate::{captured, col, journal, journal_db};

/// (table, old row, new row) of every entry in the journal (`null` for a missing side), sorted.
async fn changes(client: &tokio_postgres::Client) -> Vec<(String, Value, Value)> {
    let entries = journal(client)
        .await
        .into_iter()
        .map(|c| (c.table, c.old.unwrap_or(Value::Null), c.new.unwrap_or(Value::Null)))
        .collect();
    sorted(entries)
}

/// Forgets the journal so far (the rows a test starts from).
async fn clear_journal(client: &tokio_postgres::Client) {
    client.batch_execute("DELETE FROM db_listenable.changes").await.expect("clear journal");
}

fn sorted(mut rows: Vec<(String, Value, Value)>) -> Vec<(String, Value, Value)> {
    rows.sort_by_key(|u| u.1.to_string() + &u.2.to_string());
    rows
}

const PAIRS: Model = Model {
    rust_name: "Pair",
    schema: "public",
    table: "pairs",
    key: &["a", "b"],
    columns: &[col("a"), col("b"), col("v")],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

const PARENTS: Model = Model {
    rust_name: "Parent",
    schema: "public",
    table: "parents",
    key: &["id"],
    columns: &[col("id"), col("v")],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

const CHILDREN: Model = Model {
    rust_name: "Child",
    schema: "public",
    table: "children",
    key: &["id"],
    columns: &[col("id"), col("parent_id"), col("v")],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

const TAGS: Model = Model {
    rust_name: "Tag",
    schema: "public",
    table: "tags",
    key: &["k"],
    columns: &[col("k"), col("v")],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

async fn parents_and_children(config: &CaptureConfig) -> (pg_harness::TestDb, tokio_postgres::Client) {
    let (db, client) = journal_db().await;
    captured(&client, "CREATE TABLE parents (id int PRIMARY KEY, v text NOT NULL)", &PARENTS, config).await;
    captured(
        &client,
        "CREATE TABLE children (id int PRIMARY KEY, parent_id int REFERENCES parents ON UPDATE CASCADE, v text)",
        &CHILDREN,
        config,
    )
    .await;
    client
        .batch_execute(
            "INSERT INTO parents VALUES (1, 'p1'), (2, 'p2');
             INSERT INTO children VALUES (1, 2, 'c1'), (11, 1, 'c11')",
        )
        .await
        .expect("rows");
    client.batch_execute("DELETE FROM db_listenable.changes").await.expect("clear journal");
    (db, client)
}

for_each_granularity! {
async fn a_moved_composite_key_does_not_hide_updates_of_its_permutations(config: CaptureConfig) {
    // The reproduction: moving key (7,2) must not exclude (2,7) (or anything else).
    let (_db, client) = journal_db().await;
    captured(&client, "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b))", &PAIRS, &config).await;
    client.batch_execute("INSERT INTO pairs VALUES (7, 2, 'x'), (2, 7, 'y'), (5, 5, 'z')").await.expect("rows");
    clear_journal(&client).await;
    client
        .batch_execute("UPDATE pairs SET b = CASE WHEN (a, b) = (7, 2) THEN 3 ELSE b END, v = v || '!'")
        .await
        .expect("update");
    let row = |a: i64, b: i64, v: &str| json!({"a": a, "b": b, "v": v});
    assert_eq!(
        changes(&client).await,
        sorted(vec![
            ("pairs".into(), row(7, 2, "x"), Value::Null),
            ("pairs".into(), Value::Null, row(7, 3, "x!")),
            ("pairs".into(), row(2, 7, "y"), row(2, 7, "y!")),
            ("pairs".into(), row(5, 5, "z"), row(5, 5, "z!")),
        ])
    );
}

async fn a_cascaded_update_of_another_table_keeps_both_tables_moved_keys_apart(config: CaptureConfig) {
    // Moving parent 1 -> 11 and 2 -> 12 cascades into children: child 1 (parent 2) is
    // updated after parent 1's key move was recorded, and child 1's key equals parent
    // 1's old key. Its update must still be captured.
    let (_db, client) = parents_and_children(&config).await;
    client.batch_execute("UPDATE parents SET id = id + 10, v = v || '!'").await.expect("update parents");
    let parent = |id: i64, v: &str| json!({"id": id, "v": v});
    let child = |id: i64, parent_id: i64, v: &str| json!({"id": id, "parent_id": parent_id, "v": v});
    assert_eq!(
        changes(&client).await,
        sorted(vec![
            ("parents".into(), parent(1, "p1"), Value::Null),
            ("parents".into(), Value::Null, parent(11, "p1!")),
            ("parents".into(), parent(2, "p2"), Value::Null),
            ("parents".into(), Value::Null, parent(12, "p2!")),
            ("children".into(), child(1, 2, "c1"), child(1, 12, "c1")),
            ("children".into(), child(11, 1, "c11"), child(11, 11, "c11")),
        ])
    );
}

async fn a_user_trigger_updating_another_table_keeps_both_tables_moved_keys_apart(config: CaptureConfig) {
    // A user's AFTER ROW trigger (named to fire after ours) updates children while the
    // UPDATE of parents is still being captured.
    let (_db, client) = parents_and_children(&config).await;
    client
        .batch_execute(
            "CREATE FUNCTION touch_children() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN UPDATE children SET v = v || '+' WHERE id = 1; RETURN NULL; END $$;
             CREATE TRIGGER zz_touch AFTER UPDATE ON parents FOR EACH ROW EXECUTE FUNCTION touch_children();
             UPDATE parents SET id = CASE id WHEN 1 THEN 5 ELSE id END, v = v || '!'",
        )
        .await
        .expect("update parents");
    let parent = |id: i64, v: &str| json!({"id": id, "v": v});
    let child = |v: &str| json!({"id": 1, "parent_id": 2, "v": v});
    assert_eq!(
        changes(&client).await,
        sorted(vec![
            ("parents".into(), parent(1, "p1"), Value::Null),
            ("parents".into(), Value::Null, parent(5, "p1!")),
            ("parents".into(), parent(2, "p2"), parent(2, "p2!")),
            ("children".into(), child("c1"), child("c1+")),
            ("children".into(), child("c1+"), child("c1++")),
            ("children".into(), json!({"id": 11, "parent_id": 1, "v": "c11"}), json!({"id": 11, "parent_id": 5, "v": "c11"})),
        ])
    );
}

async fn a_nested_update_of_the_same_table_keeps_each_levels_moved_keys(config: CaptureConfig) {
    // A user trigger updates the same table from inside its own UPDATE's capture: the
    // nested statement must neither read nor clear the outer statement's moved keys.
    let (_db, client) = journal_db().await;
    // Deferrable, so one statement can shift key 1 to 2 and 2 to 3.
    const SHIFTABLE: &str = "CREATE TABLE parents (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED, v text NOT NULL)";
    captured(&client, SHIFTABLE, &PARENTS, &config).await;
    client
        .batch_execute(
            "INSERT INTO parents VALUES (1, 'a'), (2, 'b'), (100, 'counter');
             CREATE FUNCTION count_moves() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN UPDATE parents SET v = v || '+' WHERE id = 100; RETURN NULL; END $$;
             CREATE TRIGGER zz_count AFTER UPDATE ON parents FOR EACH ROW
                 WHEN (OLD.id <> NEW.id) EXECUTE FUNCTION count_moves();
             DELETE FROM db_listenable.changes;
             UPDATE parents SET id = CASE id WHEN 1 THEN 2 WHEN 2 THEN 3 ELSE id END, v = v || '!'
                 WHERE id IN (2, 1)",
        )
        .await
        .expect("update parents");
    let row = |id: i64, v: &str| json!({"id": id, "v": v});
    let change = |old: Value, new: Value| ("parents".to_owned(), old, new);
    // The two nested UPDATEs of row 100, and the change of keys 1, 2 and 3: key 2 went
    // from "b" to "a!" (the row that took it).
    let mut expected = vec![
        change(row(100, "counter"), row(100, "counter+")),
        change(row(100, "counter+"), row(100, "counter++")),
        change(row(1, "a"), Value::Null),
        change(row(2, "b"), row(2, "a!")),
        change(Value::Null, row(3, "b!")),
    ];
    if config.granularity == db_listenable::ddl::Granularity::Row {
        // The row that took key 2 reports it too.
        expected.push(change(Value::Null, row(2, "a!")));
    }
    assert_eq!(changes(&client).await, sorted(expected));
}

async fn a_case_only_change_of_a_citext_key_is_captured_once(config: CaptureConfig) {
    let (_db, client) = journal_db().await;
    client.batch_execute("CREATE EXTENSION citext").await.expect("citext");
    captured(&client, "CREATE TABLE tags (k citext PRIMARY KEY, v int NOT NULL)", &TAGS, &config).await;
    client.batch_execute("INSERT INTO tags VALUES ('abc', 1), ('def', 2), ('ghi', 3)").await.expect("rows");
    clear_journal(&client).await;
    client
        .batch_execute(
            "UPDATE tags SET k = upper(k) WHERE k = 'abc';
             UPDATE tags SET k = upper(k), v = v + 10 WHERE k <> 'ABC';
             UPDATE tags SET k = CASE k WHEN 'abc' THEN 'xyz' ELSE lower(k) END",
        )
        .await
        .expect("statements");
    let row = |k: &str, v: i64| json!({"k": k, "v": v});
    assert_eq!(
        changes(&client).await,
        sorted(vec![
            // A change of case is a change of key (pg_catalog's text equality).
            ("tags".into(), row("abc", 1), Value::Null),
            ("tags".into(), Value::Null, row("ABC", 1)),
            ("tags".into(), row("def", 2), Value::Null),
            ("tags".into(), Value::Null, row("DEF", 12)),
            ("tags".into(), row("ghi", 3), Value::Null),
            ("tags".into(), Value::Null, row("GHI", 13)),
            ("tags".into(), row("ABC", 1), Value::Null),
            ("tags".into(), Value::Null, row("xyz", 1)),
            ("tags".into(), row("DEF", 12), Value::Null),
            ("tags".into(), Value::Null, row("def", 12)),
            ("tags".into(), row("GHI", 13), Value::Null),
            ("tags".into(), Value::Null, row("ghi", 13)),
        ])
    );
}
}

const PATHS: Model = Model {
    rust_name: "Path",
    schema: "public",
    table: "paths",
    key: &["p"],
    columns: &[col("p"), col("v")],
    quiet: &[],
    exclude: &[],
    events: Events::DEFAULT,
};

for_each_granularity! {
async fn a_key_type_without_a_built_in_equality_is_refused_at_install_not_at_the_first_update(config: CaptureConfig) {
    // `ltree` has its own `=` outside pg_catalog and no implicit cast to a type with a
    // built-in one: capture cannot compare its keys (statement granularity pairs rows by
    // key, row granularity looks up the key a moved row left). Refused when installing,
    // naming the table and the column, never by failing the application's UPDATEs.
    let (_db, client) = journal_db().await;
    client
        .batch_execute("CREATE EXTENSION ltree; CREATE TABLE paths (p ltree PRIMARY KEY, v int)")
        .await
        .expect("table");
    let err = client
        .batch_execute(&db_listenable::ddl::install_script(&PATHS, &config).to_string())
        .await
        .expect_err("capture of an ltree key must be refused");
    let db_err = err.as_db_error().unwrap_or_else(|| panic!("{err}"));
    assert!(
        db_err.message().contains("\"public\".\"paths\"") && db_err.message().contains("{p}"),
        "{}",
        db_err.message()
    );
    assert!(db_err.hint().is_some_and(|hint| hint.contains("built in")), "{:?}", db_err.hint());
    client.batch_execute("INSERT INTO paths VALUES ('a.b', 1); UPDATE paths SET p = 'a.c'").await.expect("writes");
}
}

/// A small deterministic generator (64-bit LCG): the same seed, the same statements.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// One random UPDATE over the 4 x 4 grid of keys that keeps the set of keys (so the
/// deferred primary key always holds at commit) while swapping, rotating and permuting
/// which row holds which key.
fn grid_statement(rng: &mut Lcg) -> String {
    let (x, r, k) = (rng.below(4) + 1, rng.below(3), rng.below(3) + 2);
    match rng.below(5) {
        0 => format!("UPDATE grid SET a = b, b = a, v = v + 1 WHERE a <> b AND (a + b) % {k} = {r}"),
        1 => format!("UPDATE grid SET a = a % 4 + 1, v = v + 1 WHERE b = {x}"),
        2 => format!("UPDATE grid SET b = CASE WHEN a = {x} THEN b % 4 + 1 ELSE b END, v = v * 3 % 1000 + 1"),
        3 => format!("UPDATE grid SET a = 5 - a, b = 5 - b, v = v + {k} WHERE (a - b) * (a - b) % {k} = {r}"),
        _ => format!("UPDATE grid SET v = v + 1 WHERE (a * b) % {k} = {r}"),
    }
}

for_each_granularity! {
async fn random_key_permutations_replay_to_the_table(config: CaptureConfig) {
    // Replaying the journal entry by entry (a DELETE removes its key, an INSERT or
    // UPDATE puts its row at its key) must rebuild the table exactly, whatever keys the
    // statements swapped or rotated.
    const GRID: Model = Model { table: "grid", ..PAIRS };
    let (_db, client) = journal_db().await;
    captured(
        &client,
        "CREATE TABLE grid (a int, b int, v int NOT NULL, PRIMARY KEY (a, b) DEFERRABLE INITIALLY DEFERRED)",
        &GRID,
        &config,
    )
    .await;
    client
        .batch_execute("INSERT INTO grid SELECT a, b, a * 10 + b FROM generate_series(1, 4) a, generate_series(1, 4) b")
        .await
        .expect("grid");
    let mut rng = Lcg(0x5eed);
    for _ in 0..150 {
        let statement = grid_statement(&mut rng);
        client.batch_execute(&statement).await.unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    let entries = client
        .query("SELECT op::text, old_row, new_row FROM db_listenable.changes ORDER BY id", &[])
        .await
        .expect("journal");
    let key = |row: &Value| (row["a"].as_i64().unwrap_or(-1), row["b"].as_i64().unwrap_or(-1));
    let mut replayed = std::collections::BTreeMap::new();
    for entry in &entries {
        let (old, new): (Option<Value>, Option<Value>) = (entry.get(1), entry.get(2));
        match (old, new) {
            (Some(old), None) => assert!(replayed.remove(&key(&old)).is_some(), "replay removes a row it does not have: {old}"),
            (old, Some(new)) => {
                assert!(old.is_none_or(|old| key(&old) == key(&new)), "an entry is about one key: {new}");
                replayed.insert(key(&new), new["v"].clone());
            }
            (None, None) => panic!("an entry without rows"),
        }
    }
    let table: std::collections::BTreeMap<(i64, i64), Value> = client
        .query("SELECT a::int8, b::int8, v FROM grid", &[])
        .await
        .expect("table")
        .iter()
        .map(|row| ((row.get(0), row.get(1)), json!(row.get::<_, i32>(2))))
        .collect();
    assert_eq!(replayed, table);
}
}
