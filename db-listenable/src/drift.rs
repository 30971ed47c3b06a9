//! Is what the database has installed what the code would install?
//!
//! hair_trigger (the Rails original's tool) answered "are the trigger migrations
//! current?"; we answer it against the live database: each model's triggers must exist
//! with the fingerprint of the SQL the code generates today.

use std::collections::BTreeMap;
use std::fmt;

use crate::ddl::{self, CaptureConfig, CaptureManifest, SchemaVersion};
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
    /// What the installed capture provides, as its installer recorded it (journal layout
    /// 2 and later); `None` when nothing readable was recorded.
    pub manifest: Option<CaptureManifest>,
}

/// One difference between the database and the code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drift {
    /// `db_listenable.changes` does not exist.
    JournalMissing,
    /// The journal is an older layout than this code needs
    /// ([`crate::Error::SchemaOutdated`]).
    JournalOutdated {
        /// The installed layout's version.
        installed: i32,
        /// The version this code needs.
        required: i32,
    },
    /// The journal is a newer layout that does not run this code
    /// ([`crate::Error::SchemaTooNew`]).
    JournalTooNew {
        /// The installed layout's version.
        installed: i32,
        /// The oldest code version it runs.
        compatible_from: i32,
        /// The version this code knows.
        known: i32,
    },
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
    /// Capture is installed from other SQL than the code would install (another release's
    /// models or settings), but provides everything the model reads: the same key, its
    /// events, none of its columns excluded or made quiet. Reported, yet not refused by
    /// the runtime's default drift policy (`DriftPolicy::Compatible`): the old release of a
    /// rolling deploy keeps running beside the new release's capture.
    Compatible {
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
            Drift::JournalOutdated { installed, required } => write!(
                f,
                "journal outdated: schema version {installed} is installed, this code needs {required} \
                 (apply the migration from `triggers generate`)"
            ),
            Drift::JournalTooNew { installed, compatible_from, known } => write!(
                f,
                "journal too new: schema version {installed} runs code of version {compatible_from} or later, \
                 this code knows {known}"
            ),
            Drift::Compatible { model, table, reason } => write!(f, "compatible: {table} ({model}): {reason}"),
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

    /// Whether the code can run against the database as it is: every difference is a
    /// [`Drift::Compatible`] one (or there is none).
    pub fn is_compatible(&self) -> bool {
        self.drifts.iter().all(|drift| matches!(drift, Drift::Compatible { .. }))
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
/// `live` do not exist: their missing capture is reported, not every column), and the
/// journal's layout (`None`: no journal) against this code's.
pub fn compare(
    models: &[Model],
    config: &CaptureConfig,
    installed: &[InstalledCapture],
    live: &[LiveColumns],
    journal: Option<SchemaVersion>,
) -> DriftReport {
    let mut drifts = Vec::new();
    match journal.map(SchemaVersion::check) {
        None => drifts.push(Drift::JournalMissing),
        Some(Err(crate::Error::SchemaOutdated { installed, required })) => {
            drifts.push(Drift::JournalOutdated { installed, required });
        }
        Some(Err(crate::Error::SchemaTooNew { installed, compatible_from, known })) => {
            drifts.push(Drift::JournalTooNew { installed, compatible_from, known });
        }
        Some(_) => {}
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
        let mut reasons = Vec::new();
        if let Some(problem) = &found.tree_problem {
            reasons.push(format!("the table {problem}; {}", ddl::TREE_HINT));
        }
        let compatible = match other_capture(model, config, found) {
            Ok(compatible) => compatible,
            Err(reason) => {
                reasons.push(reason);
                None
            }
        };
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
        } else if let Some(reason) = compatible {
            per_table.push(Drift::Compatible { model: model.rust_name, table, reason });
        }
    }
    per_table.extend(installed.into_values().map(|i| Drift::Extra { table: display_table(&i.schema, &i.table) }));
    per_table.sort_by(|a, b| drift_table(a).cmp(drift_table(b)));
    drifts.extend(per_table);
    DriftReport { drifts }
}

/// How the triggers found on `model`'s table differ from what the code installs:
/// `Ok(None)` not at all, `Ok(Some(reason))` installed from other SQL whose recorded
/// manifest provides what the model needs (with the same triggers that manifest
/// installs), `Err(reason)` otherwise.
fn other_capture(model: &Model, config: &CaptureConfig, found: &InstalledCapture) -> Result<Option<String>, String> {
    let expected_triggers = ddl::expected_triggers(model, config);
    let expected = ddl::install_fingerprint(model, config);
    let fingerprint = found.comment.as_deref().and_then(|c| c.strip_prefix(ddl::COMMENT_PREFIX));
    if found.triggers == expected_triggers && fingerprint == Some(expected.as_str()) {
        return Ok(None);
    }
    let other = format!("fingerprint {}, expected {expected}", fingerprint.unwrap_or("none"));
    let Some(manifest) = found.manifest.as_ref().filter(|m| Some(m.fingerprint.as_str()) == fingerprint) else {
        return Err(if found.triggers == expected_triggers {
            format!("installed from other SQL ({other})")
        } else {
            format!("triggers {:?}, expected {:?}", found.triggers, expected_triggers)
        });
    };
    // The triggers must be those the recorded settings install, or the record is not theirs.
    let recorded = Model { events: manifest.events, ..*model };
    let recorded_triggers =
        ddl::expected_triggers(&recorded, &CaptureConfig { granularity: manifest.granularity, ..config.clone() });
    if found.triggers != recorded_triggers {
        return Err(format!("triggers {:?}, expected {:?}", found.triggers, expected_triggers));
    }
    let shortfalls = manifest.shortfalls(model);
    if !shortfalls.is_empty() {
        return Err(format!(
            "installed from other SQL ({other}) that does not provide what {} needs: {}",
            model.rust_name,
            shortfalls.join("; ")
        ));
    }
    let differences = manifest.differences(model, config);
    let differences = if differences.is_empty() { String::new() } else { format!(": {}", differences.join("; ")) };
    Ok(Some(format!("installed from other SQL ({other}) that provides what {} needs{differences}", model.rust_name)))
}

fn drift_table(drift: &Drift) -> &str {
    match drift {
        Drift::JournalMissing | Drift::JournalOutdated { .. } | Drift::JournalTooNew { .. } => "",
        Drift::Missing { table, .. }
        | Drift::Compatible { table, .. }
        | Drift::Outdated { table, .. }
        | Drift::Extra { table }
        | Drift::Columns { table, .. }
        | Drift::Conflict { table, .. } => table,
    }
}

/// Runs the drift check with `sqlx`.
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub async fn check_sqlx<'a>(
    db: impl Into<crate::DbPool<'a>>,
    models: &[Model],
    config: &CaptureConfig,
) -> crate::Result<DriftReport> {
    use crate::Error;
    type Row = (String, String, Vec<String>, Option<String>, Option<Vec<String>>, Option<Vec<String>>, Option<String>);
    let db = db.into();
    let action = "run the drift check";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(installed_sql()))
        .persistent(db.prepared())
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::database("list installed capture triggers"))?;
    let journal = schema_version_on(&mut conn, db.prepared()).await?;
    let manifests: Vec<(String, String, String)> = if journal.is_some_and(records_manifests) {
        sqlx::query_as(ddl::MANIFESTS_SQL)
            .persistent(db.prepared())
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::database("read what the installed captures provide"))?
    } else {
        Vec::new()
    };
    let (schemas, tables) = table_names(models);
    let live: Vec<(String, String, Option<Vec<String>>)> = sqlx::query_as(ddl::LIVE_COLUMNS_SQL)
        .bind(&schemas)
        .bind(&tables)
        .persistent(db.prepared())
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::database("list the columns of captured tables"))?;
    conn.finish().await.map_err(Error::database(action))?;
    let live: Vec<LiveColumns> = live
        .into_iter()
        .map(|(schema, table, columns)| LiveColumns { schema, table, columns: columns.unwrap_or_default() })
        .collect();
    let installed: Vec<InstalledCapture> = rows
        .into_iter()
        .map(|(schema, table, triggers, comment, disabled, replica_only, tree_problem)| InstalledCapture {
            triggers,
            comment,
            disabled: disabled.unwrap_or_default(),
            replica_only: replica_only.unwrap_or_default(),
            manifest: manifest_of(&manifests, &schema, &table),
            schema,
            table,
            tree_problem,
        })
        .collect();
    Ok(compare(models, config, &installed, &live, journal))
}

/// Whether a journal of `version` has `db_listenable.tables.capture` (layout 2 on).
#[cfg(any(feature = "sqlx", feature = "tokio-postgres"))]
fn records_manifests(version: SchemaVersion) -> bool {
    version.version >= 2
}

/// The readable manifest recorded for `schema.table` among [`ddl::MANIFESTS_SQL`]'s rows.
#[cfg(any(feature = "sqlx", feature = "tokio-postgres"))]
fn manifest_of(manifests: &[(String, String, String)], schema: &str, table: &str) -> Option<CaptureManifest> {
    manifests.iter().find(|(s, t, _)| s == schema && t == table).and_then(|(_, _, json)| CaptureManifest::parse(json))
}

/// The installed journal's layout version (`None`: no journal), with `sqlx`.
#[cfg(feature = "sqlx")]
pub async fn schema_version_sqlx<'a>(db: impl Into<crate::DbPool<'a>>) -> crate::Result<Option<SchemaVersion>> {
    let db = db.into();
    let action = "read the journal schema version";
    let mut conn = db.one_statement().await.map_err(crate::Error::database(action))?;
    let version = schema_version_on(&mut conn, db.prepared()).await?;
    conn.finish().await.map_err(crate::Error::database(action))?;
    Ok(version)
}

/// [`schema_version_sqlx`] on a connection the caller holds.
#[cfg(feature = "sqlx")]
async fn schema_version_on(conn: &mut sqlx::PgConnection, prepared: bool) -> crate::Result<Option<SchemaVersion>> {
    use crate::Error;
    let (journal, versioned): (bool, bool) = sqlx::query_as(ddl::JOURNAL_TABLES_SQL)
        .persistent(prepared)
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::database("look up the journal tables"))?;
    let recorded: Option<(i32, i32)> = if versioned {
        sqlx::query_as(ddl::SCHEMA_VERSION_SQL)
            .persistent(prepared)
            .fetch_optional(&mut *conn)
            .await
            .map_err(Error::database("read the journal schema version"))?
    } else {
        None
    };
    Ok(ddl::installed_version(journal, recorded))
}

/// The installed journal's layout version (`None`: no journal), with `tokio-postgres`.
#[cfg(feature = "tokio-postgres")]
pub async fn schema_version_tokio_postgres(client: &tokio_postgres::Client) -> crate::Result<Option<SchemaVersion>> {
    use crate::Error;
    let row =
        client.query_one(ddl::JOURNAL_TABLES_SQL, &[]).await.map_err(Error::database("look up the journal tables"))?;
    let (journal, versioned): (bool, bool) = (row.get(0), row.get(1));
    let recorded = if versioned {
        client
            .query_opt(ddl::SCHEMA_VERSION_SQL, &[])
            .await
            .map_err(Error::database("read the journal schema version"))?
            .map(|row| (row.get(0), row.get(1)))
    } else {
        None
    };
    Ok(ddl::installed_version(journal, recorded))
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
pub async fn check_models_sqlx<'a>(db: impl Into<crate::DbPool<'a>>, models: &[Model]) -> crate::Result<()> {
    use crate::Error;
    crate::registry::tables(models)?;
    let db = db.into();
    let (schemas, tables) = table_names(models);
    let action = "list the columns of captured tables";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let live: Vec<(String, String, Option<Vec<String>>)> = sqlx::query_as(ddl::LIVE_COLUMNS_SQL)
        .bind(&schemas)
        .bind(&tables)
        .persistent(db.prepared())
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
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
    let journal = schema_version_tokio_postgres(client).await?;
    let manifests: Vec<(String, String, String)> = if journal.is_some_and(records_manifests) {
        client
            .query(ddl::MANIFESTS_SQL, &[])
            .await
            .map_err(Error::database("read what the installed captures provide"))?
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect()
    } else {
        Vec::new()
    };
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
            manifest: manifest_of(&manifests, row.get(0), row.get(1)),
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
