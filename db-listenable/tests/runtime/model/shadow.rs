//! The shadow: the journal replayed into one map per table, and the tables as they are.

use std::collections::BTreeMap;

use serde_json::Value;

use super::generator::Rows;
use super::schema::Table;

/// A row's key: the JSON array of its key columns, as text.
pub fn key_of(table: &Table, row: &Value) -> String {
    let key: Vec<&Value> = table.key().iter().map(|c| &row[c.name]).collect();
    serde_json::to_string(&key).unwrap_or_default()
}

/// Every row of `tables` as `to_jsonb`, by table and key, in one statement.
pub async fn fetch_rows(
    client: &tokio_postgres::Client,
    tables: &[&'static Table],
) -> Result<Rows, tokio_postgres::Error> {
    let selects: Vec<String> = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT {}::text, to_jsonb(x) FROM {} x",
                db_listenable::ddl::quote_literal(t.name()),
                db_listenable::ddl::quote_ident(t.name())
            )
        })
        .collect();
    let mut rows: Rows = tables.iter().map(|t| (t.name(), BTreeMap::new())).collect();
    for row in client.query(&selects.join(" UNION ALL "), &[]).await? {
        let name: String = row.get(0);
        let value: Value = row.get(1);
        if let Some(table) = tables.iter().find(|t| t.name() == name) {
            rows.entry(table.name()).or_default().insert(key_of(table, &value), value);
        }
    }
    Ok(rows)
}

/// One journal entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its id.
    pub id: i64,
    /// The table's id in `db_listenable.tables`.
    pub table_id: i32,
    /// `I`, `U`, `D`, `T`.
    pub op: String,
    /// The row before.
    pub old: Option<Value>,
    /// The row after.
    pub new: Option<Value>,
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| v.as_ref().map_or("-".to_owned(), Value::to_string);
        write!(f, "#{} {} old={} new={}", self.id, self.op, show(&self.old), show(&self.new))
    }
}

/// The journal entries after `after`, in id order.
pub async fn journal_after(client: &tokio_postgres::Client, after: i64) -> Result<Vec<Entry>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id, table_id, op::text, old_row, new_row FROM db_listenable.changes WHERE id > $1 ORDER BY id",
            &[&after],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Entry { id: r.get(0), table_id: r.get(1), op: r.get(2), old: r.get(3), new: r.get(4) })
        .collect())
}

/// The journal replayed: `I` inserts the new row, `U` deletes the old key then upserts
/// the new row, `D` deletes the old key, `T` empties the table.
pub struct Shadow {
    tables: BTreeMap<i32, &'static Table>,
    /// The replayed rows.
    pub rows: Rows,
    /// The last entry applied.
    pub last: i64,
}

impl Shadow {
    /// Empty tables.
    pub fn new(tables: &[&'static Table]) -> Self {
        Shadow {
            tables: tables.iter().map(|t| (db_listenable::ddl::table_id(&t.model), *t)).collect(),
            rows: tables.iter().map(|t| (t.name(), BTreeMap::new())).collect(),
            last: 0,
        }
    }

    /// Applies `entry`; an entry of an unknown table or operation is an error.
    pub fn apply(&mut self, entry: &Entry) -> Result<(), String> {
        self.last = self.last.max(entry.id);
        let table = self.tables.get(&entry.table_id).ok_or_else(|| format!("entry of an unknown table: {entry}"))?;
        let rows = self.rows.entry(table.name()).or_default();
        let old_key = entry.old.as_ref().map(|row| key_of(table, row));
        let new = entry.new.as_ref().map(|row| (key_of(table, row), row.clone()));
        match (entry.op.as_str(), old_key, new) {
            ("I", None, Some((key, row))) => {
                rows.insert(key, row);
            }
            // The journal holds the change of each key: an UPDATE never changes its key
            // (a key move is the DELETE of the key left and the INSERT of the key taken).
            ("U", Some(old), Some((key, _))) if old != key => {
                return Err(format!("an UPDATE entry that changes its key: {entry}"));
            }
            ("U", Some(_), Some((key, row))) => {
                rows.insert(key, row);
            }
            ("D", Some(old), None) => {
                rows.remove(&old);
            }
            ("T", None, None) => rows.clear(),
            _ => return Err(format!("malformed entry: {entry}")),
        }
        Ok(())
    }
}

/// How `replayed` differs from `real`: up to five rows per table, missing, extra or
/// different.
pub fn diff(real: &Rows, replayed: &Rows) -> Vec<String> {
    let mut problems = Vec::new();
    let empty = BTreeMap::new();
    for (table, rows) in real {
        let shadow = replayed.get(table).unwrap_or(&empty);
        let mut found = Vec::new();
        for (key, row) in rows {
            match shadow.get(key) {
                None => found.push(format!("{table} {key}: in the table, not in the journal: {row}")),
                Some(other) if other != row => {
                    found.push(format!("{table} {key}: the table has {row}, the journal {other}"))
                }
                Some(_) => {}
            }
        }
        for (key, row) in shadow {
            if !rows.contains_key(key) {
                found.push(format!("{table} {key}: in the journal, not in the table: {row}"));
            }
        }
        found.truncate(5);
        problems.extend(found);
    }
    problems
}
