//! Random transactions: statements of every shape the capture must get right.
//!
//! The generator aims statements at rows that exist (it is given the tables' current
//! keys) so most of them change something; a statement may still fail (a duplicate key,
//! a missing parent): the runner then rolls back, which is part of the test too.

use std::collections::BTreeMap;

use db_listenable::ddl::{quote_ident, quote_literal};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde_json::Value;

use super::schema::{Col, Gen, Table};

/// The rows of each table by key (the key's JSON array as text): what the generator
/// aims at, and what the replayed journal is compared with.
pub type Rows = BTreeMap<&'static str, BTreeMap<String, Value>>;

/// One statement, with the `COPY` data it sends if it is a `COPY ... FROM STDIN`.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The table it addresses (a partitioned table, or one of its partitions).
    pub table: &'static str,
    /// What kind of statement (for the report): `insert`, `key-permutation`, `merge`...
    pub kind: &'static str,
    /// The SQL.
    pub sql: String,
    /// `COPY` text-format data.
    pub copy: Option<String>,
}

/// A step of a transaction.
#[derive(Debug, Clone)]
pub enum Step {
    /// One statement.
    Run(Statement),
    /// Statements inside `SAVEPOINT`, then `RELEASE` (`release`) or `ROLLBACK TO`.
    Savepoint {
        /// The statements.
        statements: Vec<Statement>,
        /// Keep them (`RELEASE`) or undo them (`ROLLBACK TO SAVEPOINT`).
        release: bool,
    },
}

/// A transaction: its steps, then `COMMIT` or `ROLLBACK`.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// The steps.
    pub steps: Vec<Step>,
    /// `COMMIT` (else `ROLLBACK`).
    pub commit: bool,
}

impl Transaction {
    /// How many statements it runs.
    pub fn statements(&self) -> usize {
        self.steps.iter().map(|s| if let Step::Savepoint { statements, .. } = s { statements.len() } else { 1 }).sum()
    }
}

/// Which statements the generator makes.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Keys permuted among existing rows in one UPDATE (swaps, cycles, `SET a = b, b = a`).
    pub permutations: bool,
    /// UPDATEs that change keys (else such statements change other columns).
    pub key_moves: bool,
    /// `TRUNCATE` of tables that capture it.
    pub truncate: bool,
    /// Transactions that end in `ROLLBACK`, and savepoints.
    pub rollbacks: bool,
}

/// A value of a column.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

impl Val {
    fn sql(&self) -> String {
        match self {
            Val::Null => "NULL".into(),
            Val::Int(i) => i.to_string(),
            Val::Text(t) => quote_literal(t),
            Val::Bool(b) => b.to_string(),
        }
    }

    /// `COPY` text format (the generator never makes backslashes, tabs or newlines).
    fn copy(&self) -> String {
        match self {
            Val::Null => "\\N".into(),
            Val::Text(t) => t.clone(),
            other => other.sql(),
        }
    }

    fn from_json(value: &Value) -> Val {
        match value {
            Value::Number(n) => Val::Int(n.as_i64().unwrap_or_default()),
            Value::String(s) => Val::Text(s.clone()),
            Value::Bool(b) => Val::Bool(*b),
            _ => Val::Null,
        }
    }
}

/// Makes random transactions from a seed.
pub struct Generator {
    rng: StdRng,
    tables: Vec<&'static Table>,
    mix: Mix,
}

impl Generator {
    /// A generator over `tables`, reproducible from `seed`.
    pub fn new(seed: u64, tables: Vec<&'static Table>, mix: Mix) -> Self {
        Generator { rng: StdRng::seed_from_u64(seed), tables, mix }
    }

    /// A transaction of one to four statements aimed at `rows`.
    pub fn transaction(&mut self, rows: &Rows) -> Transaction {
        let mut steps = Vec::new();
        for _ in 0..self.rng.random_range(1..=4) {
            if self.mix.rollbacks && self.rng.random_bool(0.1) {
                let statements = (0..self.rng.random_range(1..=2)).map(|_| self.statement(rows)).collect();
                steps.push(Step::Savepoint { statements, release: self.rng.random_bool(0.4) });
            } else {
                steps.push(Step::Run(self.statement(rows)));
            }
        }
        Transaction { steps, commit: !self.mix.rollbacks || self.rng.random_bool(0.85) }
    }

    /// One random statement on a random table.
    pub fn statement(&mut self, rows: &Rows) -> Statement {
        let table = *self.tables.choose(&mut self.rng).expect("tables");
        let keys: Vec<Vec<Val>> = rows
            .get(table.name())
            .map(|rows| {
                rows.values().map(|row| table.key().iter().map(|c| Val::from_json(&row[c.name])).collect()).collect()
            })
            .unwrap_or_default();
        let addressed = *table.targets.choose(&mut self.rng).expect("targets");
        let target = quote_ident(addressed);
        let roll = self.rng.random_range(0..100);
        let mut statement = match roll {
            0..15 => self.insert(table, &target, &keys),
            15..30 => self.update_values(table, &target, &keys),
            30..35 => self.update_nothing(table, &target, &keys),
            35..55 if self.mix.key_moves => self.key_move(table, &target, &keys),
            55..65 => self.delete(table, &target, &keys),
            65..78 => self.merge(table, &target, &keys),
            78..88 => self.copy(table, &target, &keys),
            88..91 if self.mix.truncate && table.model.events.truncate => {
                Statement { table: "", kind: "truncate", sql: format!("TRUNCATE {target}"), copy: None }
            }
            _ => self.update_values(table, &target, &keys),
        };
        statement.table = addressed;
        statement
    }

    fn value(&mut self, col: &Col, nullable: bool) -> Val {
        if nullable && self.rng.random_bool(0.12) {
            return Val::Null;
        }
        match col.generate {
            Gen::Int(lo, hi) => Val::Int(self.rng.random_range(lo..=hi)),
            Gen::Word(words) => Val::Text((*words.choose(&mut self.rng).expect("words")).to_owned()),
            Gen::Bool => Val::Bool(self.rng.random_bool(0.5)),
            Gen::Text => {
                const CHARS: &[char] = &['a', 'b', 'z', ' ', '\'', 'é', '"', '{', '1'];
                let len = self.rng.random_range(0..6);
                Val::Text((0..len).map(|_| *CHARS.choose(&mut self.rng).expect("chars")).collect())
            }
        }
    }

    /// An existing key most of the time, else a random one.
    fn some_key(&mut self, table: &Table, keys: &[Vec<Val>]) -> Vec<Val> {
        match keys.choose(&mut self.rng) {
            Some(key) if self.rng.random_bool(0.75) => key.clone(),
            _ => table.key().iter().map(|c| self.value(c, false)).collect(),
        }
    }

    fn row(&mut self, table: &Table, keys: &[Vec<Val>]) -> Vec<Val> {
        let mut row = if self.rng.random_bool(0.5) {
            self.some_key(table, keys)
        } else {
            table.key().iter().map(|c| self.value(c, false)).collect()
        };
        row.extend(table.values().iter().map(|c| self.value(c, true)).collect::<Vec<_>>());
        row
    }

    /// `(a, b) IN ((1, 2), (3, 4))` over some existing (and maybe a random) keys, or a
    /// predicate on a value column.
    fn predicate(&mut self, table: &Table, keys: &[Vec<Val>]) -> String {
        if self.rng.random_bool(0.2) {
            let col = table.values().choose(&mut self.rng).expect("value columns");
            return match self.rng.random_range(0..3) {
                0 => format!("{} IS NULL", quote_ident(col.name)),
                1 => "true".into(),
                _ => format!("{} IS NOT DISTINCT FROM {}", quote_ident(col.name), self.value(col, false).sql()),
            };
        }
        let chosen: Vec<Vec<Val>> = (0..self.rng.random_range(1..=3)).map(|_| self.some_key(table, keys)).collect();
        let tuples: Vec<String> = chosen.iter().map(|key| tuple(key)).collect();
        format!("{} IN ({})", key_tuple(table), tuples.join(", "))
    }

    fn assignments(&mut self, table: &Table) -> Vec<String> {
        let mut cols: Vec<&Col> = table.values().iter().collect();
        cols.shuffle(&mut self.rng);
        let n = self.rng.random_range(1..=cols.len().min(3));
        cols[..n].iter().map(|c| format!("{} = {}", quote_ident(c.name), self.value(c, true).sql())).collect()
    }

    fn insert(&mut self, table: &Table, target: &str, keys: &[Vec<Val>]) -> Statement {
        let rows: Vec<String> = (0..self.rng.random_range(1..=4)).map(|_| tuple(&self.row(table, keys))).collect();
        let mut sql = format!("INSERT INTO {target} ({}) VALUES {}", column_list(table), rows.join(", "));
        let mut kind = "insert";
        if table.upsert {
            let conflict = format!("ON CONFLICT ({})", key_list(table));
            match self.rng.random_range(0..3) {
                0 => {
                    kind = "upsert-nothing";
                    sql = format!("{sql} {conflict} DO NOTHING");
                }
                1 => {
                    kind = "upsert-update";
                    let sets: Vec<String> = table
                        .values()
                        .iter()
                        .map(|c| format!("{col} = EXCLUDED.{col}", col = quote_ident(c.name)))
                        .collect();
                    sql = format!("{sql} {conflict} DO UPDATE SET {}", sets.join(", "));
                }
                _ => {}
            }
        }
        Statement { table: "", kind, sql, copy: None }
    }

    fn update_values(&mut self, table: &Table, target: &str, keys: &[Vec<Val>]) -> Statement {
        let sets = self.assignments(table).join(", ");
        let pred = self.predicate(table, keys);
        Statement { table: "", kind: "update", sql: format!("UPDATE {target} SET {sets} WHERE {pred}"), copy: None }
    }

    fn update_nothing(&mut self, table: &Table, target: &str, keys: &[Vec<Val>]) -> Statement {
        let col = quote_ident(table.columns.choose(&mut self.rng).expect("columns").name);
        let pred = self.predicate(table, keys);
        Statement {
            table: "",
            kind: "update-nothing",
            sql: format!("UPDATE {target} SET {col} = {col} WHERE {pred}"),
            copy: None,
        }
    }

    /// Moves keys: to random keys, or (deferrable keys) permuted among existing rows with
    /// `CASE`, or `SET a = b, b = a`; sometimes with other columns changed too.
    fn key_move(&mut self, table: &Table, target: &str, keys: &[Vec<Val>]) -> Statement {
        if table.key().len() == 2 && self.mix.permutations && self.rng.random_bool(0.3) {
            let (a, b) = (quote_ident(table.key()[0].name), quote_ident(table.key()[1].name));
            let pred = self.predicate(table, keys);
            let sql = format!("UPDATE {target} SET {a} = {b}, {b} = {a} WHERE {pred}");
            return Statement { table: "", kind: "key-swap-columns", sql, copy: None };
        }
        let mut from: Vec<Vec<Val>> = keys.to_vec();
        from.shuffle(&mut self.rng);
        from.truncate(self.rng.random_range(1..=3));
        if from.is_empty() {
            return self.insert(table, target, keys);
        }
        let permute = self.mix.permutations && table.deferrable && from.len() >= 2 && self.rng.random_bool(0.6);
        let to: Vec<Vec<Val>> = if permute {
            let mut to = from.clone();
            to.rotate_left(1);
            to
        } else {
            let mut to = Vec::new();
            for key in &from {
                // Change one key column, keep the others (a composite key half-moves).
                let mut moved = key.clone();
                let i = self.rng.random_range(0..moved.len());
                moved[i] = self.value(&table.key()[i], false);
                // Without permutations no row takes a key another row leaves.
                if !self.mix.permutations && from.contains(&moved) {
                    moved = key.clone();
                }
                to.push(moved);
            }
            to
        };
        let mut sets = Vec::new();
        for (i, col) in table.key().iter().enumerate() {
            let name = quote_ident(col.name);
            let arms: Vec<String> = from
                .iter()
                .zip(&to)
                .map(|(f, t)| format!("WHEN {} = {} THEN {}", key_tuple(table), tuple(f), t[i].sql()))
                .collect();
            sets.push(format!("{name} = CASE {} ELSE {name} END", arms.join(" ")));
        }
        // Rows that keep their key in the same statement (their keys may mirror the moved
        // ones: `(7,2)` moves, `(2,7)` stays).
        let mut rows = from.clone();
        if self.rng.random_bool(0.5) {
            rows.extend(keys.sample(&mut self.rng, 2).cloned());
        }
        if rows.len() > from.len() || self.rng.random_bool(0.5) {
            sets.extend(self.assignments(table));
        }
        let tuples: Vec<String> = rows.iter().map(|key| tuple(key)).collect();
        let sql =
            format!("UPDATE {target} SET {} WHERE {} IN ({})", sets.join(", "), key_tuple(table), tuples.join(", "));
        Statement { table: "", kind: if permute { "key-permutation" } else { "key-move" }, sql, copy: None }
    }

    fn delete(&mut self, table: &Table, target: &str, keys: &[Vec<Val>]) -> Statement {
        let pred = self.predicate(table, keys);
        Statement { table: "", kind: "delete", sql: format!("DELETE FROM {target} WHERE {pred}"), copy: None }
    }

    /// `MERGE` with a source of one to three rows: delete, update or insert each.
    fn merge(&mut self, table: &Table, target: &str, keys: &[Vec<Val>]) -> Statement {
        let rows: Vec<String> = (0..self.rng.random_range(1..=3))
            .map(|_| {
                let row = self.row(table, keys);
                let cast: Vec<String> =
                    row.iter().zip(table.columns).map(|(v, c)| format!("{}::{}", v.sql(), c.ty)).collect();
                format!("({})", cast.join(", "))
            })
            .collect();
        let on: Vec<String> =
            table.key().iter().map(|c| format!("t.{col} = s.{col}", col = quote_ident(c.name))).collect();
        let first = quote_ident(table.values()[0].name);
        let sets: Vec<String> =
            table.values().iter().map(|c| format!("{col} = s.{col}", col = quote_ident(c.name))).collect();
        let inserted: Vec<String> = table.columns.iter().map(|c| format!("s.{}", quote_ident(c.name))).collect();
        let sql = format!(
            "MERGE INTO {target} AS t USING (VALUES {}) AS s ({}) ON {} \
             WHEN MATCHED AND s.{first} IS NULL THEN DELETE \
             WHEN MATCHED THEN UPDATE SET {} \
             WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
            rows.join(", "),
            column_list(table),
            on.join(" AND "),
            sets.join(", "),
            column_list(table),
            inserted.join(", ")
        );
        Statement { table: "", kind: "merge", sql, copy: None }
    }

    fn copy(&mut self, table: &Table, target: &str, keys: &[Vec<Val>]) -> Statement {
        let data: String = (0..self.rng.random_range(1..=4))
            .map(|_| {
                let row: Vec<String> = self.row(table, keys).iter().map(Val::copy).collect();
                format!("{}\n", row.join("\t"))
            })
            .collect();
        let sql = format!("COPY {target} ({}) FROM STDIN", column_list(table));
        Statement { table: "", kind: "copy", sql, copy: Some(data) }
    }
}

/// `"a", "b"`.
fn key_list(table: &Table) -> String {
    table.key().iter().map(|c| quote_ident(c.name)).collect::<Vec<_>>().join(", ")
}

/// `("a", "b")` (a row constructor: works for one column too).
fn key_tuple(table: &Table) -> String {
    if table.key().len() == 1 { quote_ident(table.key()[0].name) } else { format!("({})", key_list(table)) }
}

fn column_list(table: &Table) -> String {
    table.columns.iter().map(|c| quote_ident(c.name)).collect::<Vec<_>>().join(", ")
}

/// `(1, 'x')`, or `1` for a single value.
fn tuple(values: &[Val]) -> String {
    let parts: Vec<String> = values.iter().map(Val::sql).collect();
    if parts.len() == 1 { parts[0].clone() } else { format!("({})", parts.join(", ")) }
}
