//! The crate's error type.

use std::path::PathBuf;

/// A boxed error from a database driver (`sqlx::Error` or `tokio_postgres::Error`),
/// kept whole so callers can downcast it and read the SQLSTATE.
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything db-listenable reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file-system operation failed (writing a migration, reading the migrations directory).
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A statement failed.
    #[error("could not {action}")]
    Database {
        /// What was being done, naming the table where there is one.
        action: String,
        /// The driver's error.
        #[source]
        source: DriverError,
    },

    /// The journal tables (or the routing function of this version) are not in the
    /// database: apply the migration that [`crate::migrations::write_migration`] writes
    /// (it holds [`crate::ddl::journal_script`]).
    #[error(
        "the db-listenable journal is not installed, or is older than this version (db_listenable.changes / \
         deliveries / unrouted / route(bigint) are missing): apply the migration from `triggers generate`"
    )]
    NotInstalled,

    /// The runtime's settings or registrations cannot work.
    #[error("invalid db-listenable runtime configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },

    /// The installed capture differs from the code and the drift policy refuses to start.
    #[error("capture triggers differ from the code; run the migration from `triggers generate`:\n{report}")]
    Drift {
        /// Every difference.
        report: crate::drift::DriftReport,
    },

    /// Captured tables whose changes no processor consumes, anywhere.
    #[error(
        "captured tables have no processor: {}; register one, or accept it with RuntimeBuilder::without_processor",
        tables.join(", ")
    )]
    NoProcessor {
        /// `schema.table` of each.
        tables: Vec<String>,
    },

    /// No subscriber of that name is registered in the database.
    #[error("no db-listenable subscriber is named `{name}`")]
    UnknownSubscriber {
        /// The name asked for.
        name: String,
    },

    /// An existing migration file written by db-listenable has a header we cannot read.
    #[error("the migration {} has an unreadable db-listenable header: {reason}", path.display())]
    MigrationHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// [`Context::settle_in`](crate::runtime::Context::settle_in) found changes no longer
    /// held by this processor's lease: it ran out and another worker may be processing
    /// them. Roll the transaction back (returning this error with `?` does): committing
    /// would apply the changes a second time.
    #[error(
        "subscriber `{subscriber}` no longer holds changes {changes:?}: their lease ran out and another worker may \
         process them; roll this transaction back"
    )]
    LeaseLost {
        /// The subscriber being served.
        subscriber: String,
        /// The changes that were not held any more.
        changes: Vec<i64>,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }

    #[cfg(any(feature = "sqlx", feature = "tokio-postgres"))]
    pub(crate) fn database<E: std::error::Error + Send + Sync + 'static>(
        action: impl Into<String>,
    ) -> impl FnOnce(E) -> Error {
        let action = action.into();
        move |source| Error::Database { action, source: Box::new(source) }
    }

    /// The SQLSTATE PostgreSQL reported for the statement that failed (e.g. `42501` for a
    /// missing privilege, `40P01` for a deadlock), when this is a [`Error::Database`]
    /// error that came from the server; `None` otherwise (a lost connection, a timeout,
    /// any other variant).
    ///
    /// ```
    /// let error = db_listenable::Error::NotInstalled;
    /// assert_eq!(error.sqlstate(), None);
    /// ```
    pub fn sqlstate(&self) -> Option<&str> {
        let Error::Database { source, .. } = self else {
            return None;
        };
        #[cfg(feature = "sqlx")]
        if let Some(sqlx::Error::Database(error)) = source.downcast_ref::<sqlx::Error>() {
            return error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().map(|error| error.code());
        }
        #[cfg(feature = "tokio-postgres")]
        if let Some(error) = source.downcast_ref::<tokio_postgres::Error>() {
            return error.code().map(tokio_postgres::error::SqlState::code);
        }
        let _ = source;
        None
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
