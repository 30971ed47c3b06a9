//! The tables the model-based test writes to, their models, and how to install them.

use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::{Column, DbListenable, Events, Model};

/// How random values of a column are made.
#[derive(Debug, Clone, Copy)]
pub enum Gen {
    /// An integer in the inclusive range.
    Int(i64, i64),
    /// One of these words (text keys: case variants, quotes, spaces, look-alikes of JSON).
    Word(&'static [&'static str]),
    /// A short random text.
    Text,
    /// A boolean.
    Bool,
}

/// One column of a test table.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    /// Its name (unquoted; quoted wherever SQL is built).
    pub name: &'static str,
    /// Its SQL type, for casts in `VALUES` lists.
    pub ty: &'static str,
    /// How its values are made.
    pub generate: Gen,
}

/// One captured table of the test.
#[derive(Debug)]
pub struct Table {
    /// The model capture is installed for.
    pub model: Model,
    /// The statements creating it.
    pub create: &'static [&'static str],
    /// Key columns first (in key order), then the others.
    pub columns: &'static [Col],
    /// Names statements may address: the table itself, and its partitions.
    pub targets: &'static [&'static str],
    /// The key is `DEFERRABLE`: swaps and permutations of keys in one UPDATE succeed.
    pub deferrable: bool,
    /// `ON CONFLICT` can name the key (a non-deferrable unique index).
    pub upsert: bool,
}

impl Table {
    /// The table's name.
    pub fn name(&self) -> &'static str {
        self.model.table
    }

    /// The key columns.
    pub fn key(&self) -> &'static [Col] {
        &self.columns[..self.model.key.len()]
    }

    /// The columns outside the key.
    pub fn values(&self) -> &'static [Col] {
        &self.columns[self.model.key.len()..]
    }
}

/// `Column`s named like their fields, all required.
macro_rules! columns {
    ($($name:literal),*) => {
        &[$(Column { name: $name, field: $name, optional: false }),*]
    };
}

/// A model of table `$table` in `public`.
macro_rules! model {
    ($rust:literal, $table:literal, [$($key:literal),*], [$($column:literal),*], $events:expr) => {
        Model {
            rust_name: $rust,
            schema: "public",
            table: $table,
            key: &[$($key),*],
            columns: columns!($($column),*),
            quiet: &[],
            exclude: &[],
            events: $events,
        }
    };
}

const WITH_TRUNCATE: Events = Events { truncate: true, ..Events::DEFAULT };

/// Keys of `single` (and of `child.single_id`).
const SINGLE_KEYS: Gen = Gen::Int(1, 10);

/// The model of `single`.
pub const SINGLE_MODEL: Model = model!("Single", "single", ["id"], ["id", "v", "q"], Events::DEFAULT);

/// A bigint key: the plain case, referenced by `child` with cascades.
pub static SINGLE: Table = Table {
    model: SINGLE_MODEL,
    create: &["CREATE TABLE single (id bigint PRIMARY KEY, v text, q int)"],
    columns: &[
        Col { name: "id", ty: "bigint", generate: SINGLE_KEYS },
        Col { name: "v", ty: "text", generate: Gen::Text },
        Col { name: "q", ty: "int", generate: Gen::Int(0, 9) },
    ],
    targets: &["single"],
    deferrable: false,
    upsert: true,
};

/// The model of `pair`.
pub const PAIR_MODEL: Model = model!("Pair", "pair", ["a", "b"], ["a", "b", "v"], Events::DEFAULT);

/// A composite key over a tiny domain, with a user trigger writing `single`, so moved keys meet other rows' keys and their
/// mirror images (`(7,2)` and `(2,7)`: issue item 1).
pub static PAIR: Table = Table {
    model: PAIR_MODEL,
    create: &[
        "CREATE TABLE pair (a int, b int, v text, PRIMARY KEY (a, b) DEFERRABLE INITIALLY IMMEDIATE)",
        // A user trigger that writes another captured table from inside each UPDATE of
        // `pair`: a nested statement in the middle of the outer one's capture (item 1).
        "CREATE FUNCTION pair_touches_single() RETURNS trigger LANGUAGE plpgsql AS \
         $$BEGIN UPDATE single SET q = coalesce(q, 0) + 1 WHERE id = NEW.a; RETURN NULL; END$$",
        "CREATE TRIGGER audit_pair AFTER UPDATE ON pair FOR EACH ROW EXECUTE FUNCTION pair_touches_single()",
    ],
    columns: &[
        Col { name: "a", ty: "int", generate: Gen::Int(1, 5) },
        Col { name: "b", ty: "int", generate: Gen::Int(1, 5) },
        Col { name: "v", ty: "text", generate: Gen::Text },
    ],
    targets: &["pair"],
    deferrable: true,
    upsert: false,
};

/// The model of `texty`.
pub const TEXTY_MODEL: Model = model!("Texty", "texty", ["k"], ["k", "v"], WITH_TRUNCATE);

/// A text key with awkward values; TRUNCATE captured.
pub static TEXTY: Table = Table {
    model: TEXTY_MODEL,
    create: &["CREATE TABLE texty (k text PRIMARY KEY, v text)"],
    columns: &[
        Col { name: "k", ty: "text", generate: Gen::Word(&["a", "A", "b", "it's", "x y", "é", "[1]", "1", "", "zz"]) },
        Col { name: "v", ty: "text", generate: Gen::Text },
    ],
    targets: &["texty"],
    deferrable: false,
    upsert: true,
};

/// The model of `awkward`.
pub const AWKWARD_MODEL: Model = model!(
    "Awkward",
    "awkward",
    ["key"],
    ["key", "n", "o", "op", "moved", "pair", "old_row", "new_row", "table_id", "awkward"],
    Events::DEFAULT
);

/// Columns named like the capture function's own aliases and variables (issue item 2),
/// and one named like the table.
pub static AWKWARD: Table = Table {
    model: AWKWARD_MODEL,
    create: &["CREATE TABLE awkward (key bigint PRIMARY KEY DEFERRABLE INITIALLY IMMEDIATE, n int, o text, op text, \
               moved bool, pair int, old_row text, new_row text, table_id int, awkward text)"],
    columns: &[
        Col { name: "key", ty: "bigint", generate: Gen::Int(1, 12) },
        Col { name: "n", ty: "int", generate: Gen::Int(0, 9) },
        Col { name: "o", ty: "text", generate: Gen::Text },
        Col { name: "op", ty: "text", generate: Gen::Word(&["I", "U", "D"]) },
        Col { name: "moved", ty: "bool", generate: Gen::Bool },
        Col { name: "pair", ty: "int", generate: Gen::Int(0, 3) },
        Col { name: "old_row", ty: "text", generate: Gen::Text },
        Col { name: "new_row", ty: "text", generate: Gen::Text },
        Col { name: "table_id", ty: "int", generate: Gen::Int(0, 3) },
        Col { name: "awkward", ty: "text", generate: Gen::Text },
    ],
    targets: &["awkward"],
    deferrable: true,
    upsert: false,
};

/// The model of `child`.
pub const CHILD_MODEL: Model = model!("Child", "child", ["id"], ["id", "single_id", "v"], Events::DEFAULT);

/// Rows of `single`'s children: its key moves and deletes cascade here (a nested
/// statement on another captured table, inside the outer statement's capture).
pub static CHILD: Table = Table {
    model: CHILD_MODEL,
    create: &["CREATE TABLE child (id bigint PRIMARY KEY, \
               single_id bigint REFERENCES single ON UPDATE CASCADE ON DELETE CASCADE, v text)"],
    columns: &[
        Col { name: "id", ty: "bigint", generate: Gen::Int(1, 10) },
        Col { name: "single_id", ty: "bigint", generate: SINGLE_KEYS },
        Col { name: "v", ty: "text", generate: Gen::Text },
    ],
    targets: &["child"],
    deferrable: false,
    upsert: true,
};

/// The model of `ci`.
pub const CI_MODEL: Model = model!("Ci", "ci", ["k"], ["k", "v"], Events::DEFAULT);

/// A `citext` key: a change of case only is a key change for the row trigger and none
/// for text equality (issue item 5).
pub static CI: Table = Table {
    model: CI_MODEL,
    create: &["CREATE EXTENSION IF NOT EXISTS citext", "CREATE TABLE ci (k citext PRIMARY KEY, v text)"],
    columns: &[
        Col { name: "k", ty: "citext", generate: Gen::Word(&["a", "A", "b", "B", "ab", "aB"]) },
        Col { name: "v", ty: "text", generate: Gen::Text },
    ],
    targets: &["ci"],
    deferrable: false,
    upsert: true,
};

/// The model of `part`.
pub const PART_MODEL: Model = model!("Part", "part", ["id", "region"], ["id", "region", "v"], Events::DEFAULT);

/// A partitioned table, written through the parent and directly to its partitions; an
/// UPDATE of `region` moves a row to another partition (issue item 3).
pub static PART: Table = Table {
    model: PART_MODEL,
    create: &[
        "CREATE TABLE part (id bigint, region int, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)",
        "CREATE TABLE part_0 PARTITION OF part FOR VALUES IN (0)",
        "CREATE TABLE part_1 PARTITION OF part FOR VALUES IN (1)",
        "CREATE TABLE part_2 PARTITION OF part FOR VALUES IN (2)",
    ],
    columns: &[
        Col { name: "id", ty: "bigint", generate: Gen::Int(1, 12) },
        Col { name: "region", ty: "int", generate: Gen::Int(0, 2) },
        Col { name: "v", ty: "text", generate: Gen::Text },
    ],
    targets: &["part", "part", "part_0", "part_1", "part_2"],
    deferrable: false,
    upsert: true,
};

/// The tables of a run: all but the partitioned one unless `partitions`.
pub fn tables(partitions: bool) -> Vec<&'static Table> {
    let mut tables = vec![&SINGLE, &PAIR, &TEXTY, &AWKWARD, &CHILD, &CI];
    if partitions {
        tables.push(&PART);
    }
    tables
}

/// Creates the journal, every table of `tables` and capture on each.
pub async fn install(client: &tokio_postgres::Client, tables: &[&'static Table], capture: &CaptureConfig) {
    let mut script: Vec<String> = ddl::journal_script().statements().to_vec();
    for table in tables {
        script.extend(table.create.iter().map(|s| (*s).to_owned()));
        script.extend(ddl::install_script(&table.model, capture).statements().iter().cloned());
    }
    for statement in script {
        client.batch_execute(&statement).await.unwrap_or_else(|e| panic!("install: {statement}: {e:?}"));
    }
}

/// Marks one test table for the runtime: its rows arrive as [`JsonRow`]s, the
/// captured JSON objects, which the mirror compares with the table's.
pub trait MirrorTable: DbListenable + Send + Sync {}

macro_rules! json_row {
    ($ty:ident, $table:literal, $model:ident) => {
        #[doc = concat!("The table `", $table, "`.")]
        #[derive(Debug, Clone)]
        pub struct $ty;

        impl DbListenable for $ty {
            const MODEL: Model = $model;
        }

        impl MirrorTable for $ty {}
    };
}

json_row!(SingleRow, "single", SINGLE_MODEL);
json_row!(PairRow, "pair", PAIR_MODEL);
json_row!(TextyRow, "texty", TEXTY_MODEL);
json_row!(AwkwardRow, "awkward", AWKWARD_MODEL);
json_row!(ChildRow, "child", CHILD_MODEL);
