//! The one error type of the harness.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while finding, starting or using a PostgreSQL server.
///
/// Messages say what to do next where there is something to do (install a package,
/// set `DATABASE_URL`, read the server log that is quoted in the message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No `initdb`/`pg_ctl`/`postgres` were found and `DATABASE_URL` is not set.
    #[error(
        "no PostgreSQL server binaries found (looked in: {searched}); install the `postgresql` \
         package (e.g. `apt-get install -y postgresql`), point PG_BIN at the directory holding \
         initdb, pg_ctl and postgres, or set DATABASE_URL to use an existing server"
    )]
    BinariesNotFound {
        /// The places that were searched, in order.
        searched: String,
    },

    /// `DATABASE_URL` is set but cannot be used.
    #[error("DATABASE_URL is not a usable postgres:// URL: {reason}")]
    InvalidDatabaseUrl {
        /// What is wrong with it.
        reason: String,
    },

    /// Running as root without a `postgres` system user to run the server as.
    #[error(
        "running as root, but there is no `postgres` system user to run the server as \
         (PostgreSQL refuses to run as root); install the `postgresql` package, which creates \
         it, or set DATABASE_URL"
    )]
    NoServerUser,

    /// A program could not be started at all.
    #[error("could not run {program}")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// Why the operating system refused.
        #[source]
        source: io::Error,
    },

    /// A program ran and failed.
    #[error("`{command}` failed ({status}):\n{output}")]
    Command {
        /// The command line, for the reader.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stdout and stderr.
        output: String,
    },

    /// The server did not become ready.
    #[error("PostgreSQL did not start in {data_dir}: {reason}\n--- last lines of the server log ---\n{log}")]
    StartFailed {
        /// The cluster's data directory.
        data_dir: PathBuf,
        /// What `pg_ctl` reported.
        reason: String,
        /// The tail of the server log.
        log: String,
    },

    /// A file-system operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done (`create directory`, `read`, ...).
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The `postgres` user cannot reach the requested data directory.
    #[error(
        "the `postgres` user cannot reach {}: a parent directory is not searchable by others; \
         choose another directory (PG_HARNESS_DIR) or set DATABASE_URL", path.display()
    )]
    Unreachable {
        /// The directory the server would have lived in.
        path: PathBuf,
    },

    /// A statement sent by the harness failed.
    #[error("could not {action}")]
    Database {
        /// What the harness was doing (`create database "x"`, `connect to ...`).
        action: String,
        /// The driver's error, with the SQLSTATE where the server sent one.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A lifecycle operation was asked of a server the harness does not manage.
    #[error("{operation} needs a cluster started by the harness; this one comes from DATABASE_URL")]
    NotEmbedded {
        /// The operation that was refused.
        operation: &'static str,
    },
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}
