//! Is what the database has installed what the code would install?
//!
//! hair_trigger (the Rails original's tool) answered "are the trigger migrations
//! current?"; we answer it against the live database: each model's triggers must exist
//! with the fingerprint of the SQL the code generates today.

use std::collections::BTreeMap;
use std::fmt;

use crate::ddl::{self, CaptureConfig};
use crate::model::Model;

/// Lists what is installed: one row per table carrying any of our triggers. Columns:
/// schema, table, triggers (sorted), the fingerprint comment, the triggers that are
/// disabled, those that fire only in replica sessions, and why the table cannot be
/// captured whole (it is partitioned, a partition, or in an inheritance tree), if so.
/// Trigger clones on partitions (`tgparentid <> 0`) are the parent's, not separate
/// installations.
pub fn installed_sql() -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text, t.triggers, t.comment, t.disabled, t.replica_only,
       {problem}
FROM (SELECT tgrelid,
             array_agg(tgname::text ORDER BY tgname) AS triggers,
             max(obj_description(oid, 'pg_trigger')) FILTER (WHERE tgname = 'db_listenable_truncate') AS comment,
             array_agg(tgname::text ORDER BY tgname) FILTER (WHERE tgenabled = 'D') AS disabled,
             array_agg(tgname::text ORDER BY tgname) FILTER (WHERE tgenabled = 'R') AS replica_only
      FROM pg_catalog.pg_trigger
      WHERE NOT tgisinternal AND tgparentid = 0 AND tgname LIKE 'db\\_listenable\\_%'
      GROUP BY tgrelid) t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace",
        problem = ddl::TREE_PROBLEM_SQL
    )
}

/// Whether the journal table exists. One boolean column.
pub const JOURNAL_PRESENT_SQL: &str = "SELECT pg_catalog.to_regclass('db_listenable.changes') IS NOT NULL";

/// What one table has installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledCapture {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Our triggers on it, sorted by name.
    pub triggers: Vec<String>,
    /// The comment on the TRUNCATE trigger (`db-listenable <fingerprint>`).
    pub comment: Option<String>,
    /// Our triggers that are disabled (`ALTER TABLE ... DISABLE TRIGGER`,
    /// `pg_restore --disable-triggers` interrupted): they capture nothing.
    pub disabled: Vec<String>,
    /// Our triggers enabled for replica sessions only (`ENABLE REPLICA TRIGGER`): they
    /// capture nothing an ordinary session writes.
    pub replica_only: Vec<String>,
    /// Why capture cannot cover this table (e.g. `is a partition of x`), if it cannot.
    pub tree_problem: Option<String>,
}

/// One difference between the database and the code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drift {
    /// `db_listenable.changes` does not exist.
    JournalMissing,
    /// A model's table has no capture installed.
    Missing {
        /// The model's Rust type.
        model: &'static str,
        /// `schema.table`.
        table: String,
    },
    /// Capture is installed but not as the code would install it today.
    Outdated {
        /// The model's Rust type.
        model: &'static str,
        /// `schema.table`.
        table: String,
        /// What differs.
        reason: String,
    },
    /// A table has capture installed but no model in this program.
    Extra {
        /// `schema.table`.
        table: String,
    },
    /// A model needs columns its table does not have.
    Columns {
        /// The model's Rust type.
        model: &'static str,
        /// `schema.table`.
        table: String,
        /// The missing columns, key ones marked `(key)` and excluded ones `(excluded)`.
        missing: Vec<String>,
    },
    /// Models of one table ask for different captures (see [`crate::Error::CaptureConflict`]).
    Conflict {
        /// `schema.table`.
        table: String,
        /// Both models and what differs.
        reason: String,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::JournalMissing => write!(f, "journal missing: db_listenable.changes does not exist"),
            Drift::Missing { model, table } => write!(f, "missing: {table} ({model}) has no capture triggers"),
            Drift::Outdated { model, table, reason } => write!(f, "outdated: {table} ({model}): {reason}"),
            Drift::Extra { table } => write!(f, "extra: {table} has capture triggers but no model"),
            Drift::Columns { model, table, missing } => {
                write!(f, "columns: {table} ({model}) lacks {}", missing.join(", "))
            }
            Drift::Conflict { table, reason } => write!(f, "conflict: {table}: {reason}"),
        }
    }
}

/// The result of a drift check: empty when the database matches the code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DriftReport {
    /// Every difference, journal first, then by table name.
    pub drifts: Vec<Drift>,
}

impl DriftReport {
    /// Whether the database matches the code.
    pub fn is_clean(&self) -> bool {
        self.drifts.is_empty()
    }
}

impl fmt::Display for DriftReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.drifts.is_empty() {
            return writeln!(f, "capture triggers are current");
        }
        for drift in &self.drifts {
            writeln!(f, "{drift}")?;
        }
        Ok(())
    }
}

fn display_table(schema: &str, table: &str) -> String {
    format!("{schema}.{table}")
}

/// The columns of one live table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumns {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Its columns.
    pub columns: Vec<String>,
}

/// Compares what is installed with what `models` need under `config`: per table, the
/// capture of its models (which must agree; see [`crate::registry::capture_conflict`])
/// against its triggers, and each model's columns against `live` (tables absent from
/// `live` do not exist: their missing capture is reported, not every column).
pub fn compare(
    models: &[Model],
    config: &CaptureConfig,
    installed: &[InstalledCapture],
    live: &[LiveColumns],
    journal_present: bool,
) -> DriftReport {
    let mut drifts = Vec::new();
    if !journal_present {
        drifts.push(Drift::JournalMissing);
    }
    let mut installed: BTreeMap<(&str, &str), &InstalledCapture> =
        installed.iter().map(|i| ((i.schema.as_str(), i.table.as_str()), i)).collect();
    let mut per_table = Vec::new();
    for group in crate::registry::by_table(models) {
        let model = &group[0];
        let table = display_table(model.schema, model.table);
        if let Some(live) = live.iter().find(|l| l.schema == model.schema && l.table == model.table) {
            for model in &group {
                let missing = ddl::missing_columns(model, &live.columns);
                if !missing.is_empty() {
                    per_table.push(Drift::Columns { model: model.rust_name, table: table.clone(), missing });
                }
            }
        }
        if let Some(conflict) = crate::registry::capture_conflict(&group) {
            installed.remove(&(model.schema, model.table));
            per_table.push(Drift::Conflict { table, reason: conflict.to_string() });
            continue;
        }
        let Some(found) = installed.remove(&(model.schema, model.table)) else {
            per_table.push(Drift::Missing { model: model.rust_name, table });
            continue;
        };
        let expected_triggers = ddl::expected_triggers(model, config);
        let expected_comment = format!("{}{}", ddl::COMMENT_PREFIX, ddl::install_fingerprint(model, config));
        let mut reasons = Vec::new();
        if let Some(problem) = &found.tree_problem {
            reasons.push(format!("the table {problem}; {}", ddl::TREE_HINT));
        }
        if found.triggers != expected_triggers {
            reasons.push(format!("triggers {:?}, expected {:?}", found.triggers, expected_triggers));
        } else if found.comment.as_deref() != Some(expected_comment.as_str()) {
            reasons.push(format!(
                "installed from other SQL (fingerprint {}, expected {})",
                found.comment.as_deref().and_then(|c| c.strip_prefix(ddl::COMMENT_PREFIX)).unwrap_or("none"),
                &expected_comment[ddl::COMMENT_PREFIX.len()..]
            ));
        }
        // `ENABLE ALWAYS` (fires in replica sessions too) captures more, never less: not drift.
        if !found.disabled.is_empty() {
            reasons.push(format!(
                "triggers disabled, capturing nothing: {:?} (ALTER TABLE ... ENABLE TRIGGER, or reinstall)",
                found.disabled
            ));
        }
        if !found.replica_only.is_empty() {
            reasons.push(format!(
                "triggers fire only in replica sessions, capturing no ordinary write: {:?} \
                 (ALTER TABLE ... ENABLE TRIGGER, or reinstall)",
                found.replica_only
            ));
        }
        if !reasons.is_empty() {
            per_table.push(Drift::Outdated { model: model.rust_name, table, reason: reasons.join("; ") });
        }
    }
    per_table.extend(installed.into_values().map(|i| Drift::Extra { table: display_table(&i.schema, &i.table) }));
    per_table.sort_by(|a, b| drift_table(a).cmp(drift_table(b)));
    drifts.extend(per_table);
    DriftReport { drifts }
}

fn drift_table(drift: &Drift) -> &str {
    match drift {
        Drift::JournalMissing => "",
        Drift::Missing { table, .. }
        | Drift::Outdated { table, .. }
        | Drift::Extra { table }
        | Drift::Columns { table, .. }
        | Drift::Conflict { table, .. } => table,
    }
}

/// Runs the drift check with `sqlx`.
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub async fn check_sqlx(pool: &sqlx::PgPool, models: &[Model], config: &CaptureConfig) -> crate::Result<DriftReport> {
    use crate::Error;
    type Row = (String, String, Vec<String>, Option<String>, Option<Vec<String>>, Option<Vec<String>>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(installed_sql()))
        .fetch_all(pool)
        .await
        .map_err(Error::database("list installed capture triggers"))?;
    let journal: bool = sqlx::query_scalar(JOURNAL_PRESENT_SQL)
        .fetch_one(pool)
        .await
        .map_err(Error::database("look up the journal table"))?;
    let (schemas, tables) = table_names(models);
    let live: Vec<(String, String, Option<Vec<String>>)> = sqlx::query_as(ddl::LIVE_COLUMNS_SQL)
        .bind(&schemas)
        .bind(&tables)
        .fetch_all(pool)
        .await
        .map_err(Error::database("list the columns of captured tables"))?;
    let live: Vec<LiveColumns> = live
        .into_iter()
        .map(|(schema, table, columns)| LiveColumns { schema, table, columns: columns.unwrap_or_default() })
        .collect();
    let installed: Vec<InstalledCapture> = rows
        .into_iter()
        .map(|(schema, table, triggers, comment, disabled, replica_only, tree_problem)| InstalledCapture {
            schema,
            table,
            triggers,
            comment,
            disabled: disabled.unwrap_or_default(),
            replica_only: replica_only.unwrap_or_default(),
            tree_problem,
        })
        .collect();
    Ok(compare(models, config, &installed, &live, journal))
}

#[cfg(any(feature = "sqlx", feature = "tokio-postgres"))]
/// The schema and table names of `models`, as the two arrays [`ddl::LIVE_COLUMNS_SQL`] takes.
fn table_names(models: &[Model]) -> (Vec<String>, Vec<String>) {
    models.iter().map(|m| (m.schema.to_owned(), m.table.to_owned())).unzip()
}

/// Refuses what no drift policy can excuse, for the runtime's start: models of one table
/// that disagree on its capture ([`Error::CaptureConflict`](crate::Error::CaptureConflict))
/// and models whose table lacks columns they need
/// ([`Error::Columns`](crate::Error::Columns), the first such model).
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub async fn check_models_sqlx(pool: &sqlx::PgPool, models: &[Model]) -> crate::Result<()> {
    use crate::Error;
    crate::registry::tables(models)?;
    let (schemas, tables) = table_names(models);
    let live: Vec<(String, String, Option<Vec<String>>)> = sqlx::query_as(ddl::LIVE_COLUMNS_SQL)
        .bind(&schemas)
        .bind(&tables)
        .fetch_all(pool)
        .await
        .map_err(Error::database("list the columns of captured tables"))?;
    for model in models {
        let columns = live
            .iter()
            .find(|(schema, table, _)| schema == model.schema && table == model.table)
            .and_then(|(_, _, columns)| columns.clone())
            .unwrap_or_default();
        let missing = ddl::missing_columns(model, &columns);
        if !missing.is_empty() {
            return Err(Error::Columns {
                model: model.rust_name,
                table: display_table(model.schema, model.table),
                missing,
            });
        }
    }
    Ok(())
}

/// Runs the drift check with `tokio-postgres`.
#[cfg(feature = "tokio-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
pub async fn check_tokio_postgres(
    client: &tokio_postgres::Client,
    models: &[Model],
    config: &CaptureConfig,
) -> crate::Result<DriftReport> {
    use crate::Error;
    let rows = client.query(&installed_sql(), &[]).await.map_err(Error::database("list installed capture triggers"))?;
    let journal: bool =
        client.query_one(JOURNAL_PRESENT_SQL, &[]).await.map_err(Error::database("look up the journal table"))?.get(0);
    let (schemas, tables) = table_names(models);
    let live: Vec<LiveColumns> = client
        .query(ddl::LIVE_COLUMNS_SQL, &[&schemas, &tables])
        .await
        .map_err(Error::database("list the columns of captured tables"))?
        .iter()
        .map(|row| LiveColumns {
            schema: row.get(0),
            table: row.get(1),
            columns: row.get::<_, Option<Vec<String>>>(2).unwrap_or_default(),
        })
        .collect();
    let installed: Vec<InstalledCapture> = rows
        .iter()
        .map(|row| InstalledCapture {
            schema: row.get(0),
            table: row.get(1),
            triggers: row.get(2),
            comment: row.get(3),
            disabled: row.get::<_, Option<Vec<String>>>(4).unwrap_or_default(),
            replica_only: row.get::<_, Option<Vec<String>>>(5).unwrap_or_default(),
            tree_problem: row.get(6),
        })
        .collect();
    Ok(compare(models, config, &installed, &live, journal))
}
