//! Stage 1: replaying the journal reproduces every table, after every statement.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use db_listenable::ddl::{CaptureConfig, Granularity};

use super::generator::{Generator, Mix, Rows, Statement};
use super::runner::{self, Observer};
use super::schema::{self, Table};
use super::shadow::{Shadow, diff, fetch_rows, journal_after, key_of};

/// Statements per granularity at CI size.
const CI_STATEMENTS: usize = 3000;

/// A statement after which the replayed journal differed from the tables (or that failed
/// in a way capture caused).
struct Finding {
    transaction: usize,
    statement: Statement,
    /// The statements of its transaction before it.
    before: Vec<String>,
    problems: Vec<String>,
}

/// Replays the journal after each statement and compares.
struct Checker {
    tables: Vec<&'static Table>,
    shadow: Shadow,
    marks: Vec<Rows>,
    transaction: usize,
    done: Vec<String>,
    findings: Vec<Finding>,
}

impl Checker {
    /// Applies the journal's new entries and compares; on a difference records it and
    /// takes the tables as the new shadow.
    async fn check(&mut self, client: &tokio_postgres::Client, statement: &Statement) {
        let entries = journal_after(client, self.shadow.last).await.expect("read the journal");
        let mut problems: Vec<String> = entries.iter().filter_map(|e| self.shadow.apply(e).err()).collect();
        let real = fetch_rows(client, &self.tables).await.expect("read the tables");
        problems.extend(diff(&real, &self.shadow.rows));
        if !problems.is_empty() {
            problems.extend(entries.iter().take(8).map(|e| format!("journal: {e}")));
            let mut statement = statement.clone();
            if self.key_reused(&entries) {
                statement.kind = KEY_REUSED;
            }
            self.findings.push(Finding {
                transaction: self.transaction,
                statement,
                before: self.done.clone(),
                problems,
            });
            self.shadow.rows = real;
        }
    }
}

/// The diagnosis of a divergence after a statement in which a row took a key that
/// another row of the same table left (a swap, a cycle, a chain): capture must then
/// journal the change of each key, since no order of entries that each move a row
/// from one key to another replays a swap.
const KEY_REUSED: &str = "a row took a key another row left, in one statement";

impl Checker {
    /// Whether, among `entries` (one statement's), a key left by a key move is the key
    /// of another entry's new row in the same table.
    fn key_reused(&self, entries: &[super::shadow::Entry]) -> bool {
        let tables: BTreeMap<i32, &Table> =
            self.tables.iter().map(|t| (db_listenable::ddl::table_id(&t.model), *t)).collect();
        let mut left = std::collections::BTreeSet::new();
        let mut taken = std::collections::BTreeSet::new();
        for entry in entries {
            let (Some(table), Some(old), Some(new)) = (tables.get(&entry.table_id), &entry.old, &entry.new) else {
                continue;
            };
            let (old, new) = (key_of(table, old), key_of(table, new));
            if old != new {
                left.insert((entry.table_id, old));
                taken.insert((entry.table_id, new));
            }
        }
        left.intersection(&taken).next().is_some()
    }
}

impl Observer for Checker {
    async fn statement(&mut self, client: &tokio_postgres::Client, statement: &Statement) {
        self.check(client, statement).await;
        self.done.push(show(statement));
    }

    fn mark(&mut self) {
        self.marks.push(self.shadow.rows.clone());
    }

    fn undo(&mut self) {
        if let Some(rows) = self.marks.pop() {
            self.shadow.rows = rows;
        }
    }

    fn keep(&mut self) {
        self.marks.pop();
    }
}

fn show(statement: &Statement) -> String {
    match &statement.copy {
        Some(data) => format!("{} -- data: {data:?}", statement.sql),
        None => statement.sql.clone(),
    }
}

async fn replay(granularity: Granularity) {
    let seed = super::seed();
    let target = super::statements(CI_STATEMENTS);
    let partitions = super::partitions();
    println!(
        "model stage 1 ({granularity:?}): MODEL_SEED={seed} MODEL_STATEMENTS={target} partitions={partitions} \
         permutations={}",
        super::permutations(true)
    );
    let db = pg_harness::TestDb::create().await.expect("test database");
    let client = runner::connect(db.url()).await.expect("connect");
    let tables = schema::tables(partitions);
    let capture = CaptureConfig { granularity, ..CaptureConfig::default() };
    schema::install(&client, &tables, &capture).await;

    let mix = Mix { permutations: super::permutations(true), key_moves: true, truncate: true, rollbacks: true };
    let mut generator = Generator::new(seed, tables.clone(), mix);
    let mut checker = Checker {
        tables: tables.clone(),
        shadow: Shadow::new(&tables),
        marks: Vec::new(),
        transaction: 0,
        done: Vec::new(),
        findings: Vec::new(),
    };
    let (mut statements, mut rejected) = (0, 0);
    while statements < target {
        let rows = fetch_rows(&client, &tables).await.expect("read the tables");
        let transaction = generator.transaction(&rows);
        statements += transaction.statements();
        checker.transaction += 1;
        checker.done.clear();
        match runner::run(&client, &transaction, &mut checker).await {
            Ok(runner::Outcome::Finished) => {}
            Ok(runner::Outcome::Rejected) => rejected += 1,
            Err(error) => {
                // The user's statement failed with an error capture caused (or one the
                // generator should not make): a finding either way.
                let statement = transaction_statement(&transaction, &error);
                checker.findings.push(Finding {
                    transaction: checker.transaction,
                    statement,
                    before: checker.done.clone(),
                    problems: vec![format!("the statement failed: {error}")],
                });
            }
        }
        // After COMMIT or ROLLBACK: the journal still replays to the tables.
        let end = Statement { table: "", kind: "end of transaction", sql: "COMMIT/ROLLBACK".into(), copy: None };
        checker.check(&client, &end).await;
    }
    println!(
        "model stage 1 ({granularity:?}): {statements} statements in {} transactions ({rejected} rolled back by an \
         expected error), {} findings",
        checker.transaction,
        checker.findings.len()
    );
    if !checker.findings.is_empty() {
        panic!("{}", report(granularity, seed, &checker.findings));
    }
}

/// The statement an error message names (the runner prefixes errors with the SQL).
fn transaction_statement(transaction: &super::generator::Transaction, error: &str) -> Statement {
    use super::generator::Step;
    transaction
        .steps
        .iter()
        .flat_map(|step| match step {
            Step::Run(s) => vec![s.clone()],
            Step::Savepoint { statements, .. } => statements.clone(),
        })
        .rfind(|s| error.starts_with(&s.sql))
        .unwrap_or_else(|| Statement { table: "", kind: "transaction control", sql: error.to_owned(), copy: None })
}

/// The first finding of each (table, kind of statement), and how many of each.
fn report(granularity: Granularity, seed: u64, findings: &[Finding]) -> String {
    let mut by_kind: BTreeMap<(&str, &str), (usize, &Finding)> = BTreeMap::new();
    for finding in findings {
        by_kind.entry((finding.statement.table, finding.statement.kind)).or_insert((0, finding)).0 += 1;
    }
    let mut out = format!(
        "{granularity:?} capture: replaying the journal does not reproduce the tables: {} findings \
         (reproduce with MODEL_SEED={seed})\n",
        findings.len()
    );
    for ((table, kind), (count, finding)) in by_kind {
        let _ = writeln!(out, "\n== {table} / {kind}: {count} time(s); first in transaction {}", finding.transaction);
        for before in &finding.before {
            let _ = writeln!(out, "   (earlier in the transaction) {before}");
        }
        let _ = writeln!(out, "   statement: {}", show(&finding.statement));
        for problem in &finding.problems {
            let _ = writeln!(out, "   - {problem}");
        }
    }
    out
}

#[tokio::test]
async fn statement_capture_replays_to_every_table() {
    replay(Granularity::Statement).await;
}

#[tokio::test]
async fn row_capture_replays_to_every_table() {
    replay(Granularity::Row).await;
}
