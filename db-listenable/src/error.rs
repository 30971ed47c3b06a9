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

    /// The journal tables are not in the database: apply the migration that [`crate::migrations::write_migration`] writes
    /// (it holds [`crate::ddl::journal_script`]).
    #[error(
        "the db-listenable journal is not installed, or is older than this version (db_listenable.changes / \
         deliveries / unrouted are missing): apply the migration from `triggers generate`"
    )]
    NotInstalled,

    /// The installed journal schema is an older layout than this code needs (see
    /// [`crate::ddl::SchemaVersion`]): the library was upgraded, its migration not applied.
    #[error(
        "the db-listenable journal schema is version {installed}, older than the version {required} this code needs: \
         run `<app> triggers generate <migrations dir>` and apply the migration it writes"
    )]
    SchemaOutdated {
        /// The installed layout's version (1 when none is recorded).
        installed: i32,
        /// The version this code needs.
        required: i32,
    },

    /// The installed journal schema is a newer layout that does not run this code's
    /// version: a later release of the library upgraded it.
    #[error(
        "the db-listenable journal schema is version {installed}, which runs code of version {compatible_from} or \
         later; this code knows version {known}: deploy a release built with a db-listenable that knows version \
         {installed}"
    )]
    SchemaTooNew {
        /// The installed layout's version.
        installed: i32,
        /// The oldest code version it runs.
        compatible_from: i32,
        /// The version this code knows ([`crate::ddl::SCHEMA_VERSION`]).
        known: i32,
    },

    /// The runtime's settings or registrations cannot work; the [`ConfigError`] names
    /// the setting.
    #[error("invalid db-listenable runtime configuration: {0}")]
    Config(ConfigError),

    /// The installed capture differs from the code and the drift policy refuses to start.
    #[error("capture triggers differ from the code; run the migration from `triggers generate`:\n{report}")]
    Drift {
        /// Every difference.
        report: crate::drift::DriftReport,
    },

    /// A model maps columns its table does not have (or names key or excluded columns it
    /// lacks): every change would fail to decode, or an excluded column would be journalled.
    #[error("{model} needs columns that {table} does not have: {}", missing.join(", "))]
    Columns {
        /// The model's Rust type.
        model: &'static str,
        /// `schema.table`.
        table: String,
        /// The missing columns, key ones marked `(key)` and excluded ones `(excluded)`.
        missing: Vec<String>,
    },

    /// Two models of one table ask for different captures; a table has one set of
    /// triggers, so they must agree on its key, events, excluded and quiet columns.
    #[error(
        "{first} and {second} both capture {table} but differ in {}; give them the same key, events, exclude and quiet columns",
        differences.join("; ")
    )]
    CaptureConflict {
        /// `schema.table`.
        table: String,
        /// One model's Rust type.
        first: &'static str,
        /// The other's.
        second: &'static str,
        /// Each differing setting, with both values.
        differences: Vec<String>,
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

    /// A subscriber was asked to be removed while a runtime may still serve it: it was
    /// seen more recently than the staleness threshold (see
    /// [`RuntimeConfig::STALE_AFTER`](crate::runtime::RuntimeConfig::STALE_AFTER)).
    #[error(
        "subscriber `{name}` was seen {}s ago, within {}s: a runtime may still serve it; stop it first, or force the removal",
        seen_ago.as_secs(), stale_after.as_secs()
    )]
    SubscriberInUse {
        /// The subscriber.
        name: String,
        /// How long ago a runtime last announced it.
        seen_ago: std::time::Duration,
        /// The threshold it is within.
        stale_after: std::time::Duration,
    },

    /// A command that reads the database was run without a connection (see
    /// [`TriggersCommand::needs_database`](crate::cli::TriggersCommand::needs_database)).
    #[error("`{command}` needs a database connection: set DATABASE_URL")]
    NoDatabase {
        /// The command, e.g. `triggers check`.
        command: &'static str,
    },

    /// An existing migration file written by db-listenable has a header we cannot read.
    #[error("the migration {} has an unreadable db-listenable header: {reason}", path.display())]
    MigrationHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// No version after the directory's existing migrations fits the tool's numbering.
    #[error("cannot number a new migration in {}: {reason}", dir.display())]
    MigrationVersion {
        /// The migrations directory.
        dir: PathBuf,
        /// Why.
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

/// Runtime settings or registrations that cannot work, each naming the setting
/// (`RuntimeConfig::<setter>`) or the registration at fault. Returned by
/// `RuntimeConfig::validate` and, inside [`Error::Config`], by `RuntimeBuilder::start`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Nothing was registered: the runtime would have nothing to do.
    #[error("no processor or outbox catalog was registered")]
    NoSubscriber,
    /// Two registrations share a subscriber name, which is their identity in the database.
    #[error("the subscriber name `{name}` is registered twice")]
    DuplicateSubscriber {
        /// The name.
        name: String,
    },
    /// `workers(0)`.
    #[error("RuntimeConfig::workers is 0: nothing would process changes")]
    ZeroWorkers,
    /// `batch_size(0)`.
    #[error("RuntimeConfig::batch_size is 0: no claim would take a change")]
    ZeroBatchSize,
    /// `claim_bytes(0)`.
    #[error("RuntimeConfig::claim_bytes is 0: every claim would take a single change; set batch_size(1) for that")]
    ZeroClaimBytes,
    /// `route_batch_size(0)`.
    #[error("RuntimeConfig::route_batch_size is 0: no kept entry would reach a new subscriber")]
    ZeroRouteBatchSize,
    /// `poll_interval(Duration::ZERO)`.
    #[error("RuntimeConfig::poll_interval is 0: idle workers would query the database without pause")]
    ZeroPollInterval,
    /// A lease shorter than the millisecond the database counts leases in.
    #[error("RuntimeConfig::lease is {lease:?}, under 1 ms: every batch would lose its lease at once")]
    LeaseTooShort {
        /// The lease asked for.
        lease: std::time::Duration,
    },
    /// `processing_timeout(Duration::ZERO)`.
    #[error("RuntimeConfig::processing_timeout is 0: every batch would time out before it starts")]
    ZeroProcessingTimeout,
    /// `max_attempts(0)`.
    #[error("RuntimeConfig::max_attempts is 0: every change would be dead-lettered unprocessed")]
    ZeroMaxAttempts,
    /// The first retry delay is longer than the longest one.
    #[error("RuntimeConfig::initial_backoff ({initial:?}) is longer than RuntimeConfig::max_backoff ({max:?})")]
    BackoffRange {
        /// `initial_backoff`.
        initial: std::time::Duration,
        /// `max_backoff`.
        max: std::time::Duration,
    },
    /// `reconnect_backoff(Duration::ZERO)`.
    #[error("RuntimeConfig::reconnect_backoff is 0: a lost database would be retried without pause")]
    ZeroReconnectBackoff,
    /// `heartbeat_interval(Duration::ZERO)`.
    #[error("RuntimeConfig::heartbeat_interval is 0: the runtime would update its subscribers without pause")]
    ZeroHeartbeatInterval,
    /// A duration the runtime hands to PostgreSQL (the lease, retry delays) is past what
    /// it can add to a timestamp.
    #[error("RuntimeConfig::{setting} is {value:?}, longer than the {max:?} the runtime accepts")]
    TooLong {
        /// The setter's name.
        setting: &'static str,
        /// The value asked for.
        value: std::time::Duration,
        /// The longest accepted.
        max: std::time::Duration,
    },
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Self {
        Error::Config(error)
    }
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
