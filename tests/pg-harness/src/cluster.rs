//! A PostgreSQL server to connect to: one from `DATABASE_URL`, or one the harness runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use url::Url;

use crate::admin;
use crate::binaries::ServerBinaries;
use crate::error::{Error, Result};
use crate::server::{Durability, EmbeddedServer, SUPERUSER};
use crate::server_user::ServerUser;
use crate::settings::Settings;
use crate::supervisor::{AfterStop, Supervisor};

/// What happens to a persistent cluster's server when the [`Cluster`] value goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Stop the server when the value is dropped or the process ends, however it ends,
    /// unless it was already running before (then it is left as it was found).
    StopWhenDropped,
    /// Leave the server running for other programs (`invoices db start`).
    KeepRunning,
}

/// A running PostgreSQL server.
///
/// Either an existing server named by `DATABASE_URL`, or a cluster the harness
/// started from the machine's binaries: temporary (tests; deleted afterwards) or
/// persistent (examples; data kept between runs).
#[derive(Debug)]
pub struct Cluster {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    External {
        base: Url,
    },
    Embedded {
        server: EmbeddedServer,
        port: Mutex<u16>,
        started_here: bool,
        // Declared last: dropped after everything else, it stops the server.
        _supervisor: Option<Supervisor>,
    },
}

static SHARED: Mutex<Option<Arc<Cluster>>> = Mutex::new(None);

impl Cluster {
    /// The cluster shared by every test of this process, from the environment:
    /// `DATABASE_URL` when set, otherwise a temporary cluster started on first use
    /// (blocking for a second or two) and removed when the process ends.
    pub fn shared() -> Result<Arc<Cluster>> {
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cluster) = slot.as_ref() {
            return Ok(Arc::clone(cluster));
        }
        let cluster = Arc::new(Cluster::from_settings(&Settings::from_env())?);
        *slot = Some(Arc::clone(&cluster));
        Ok(cluster)
    }

    /// `DATABASE_URL` from `settings` when set, otherwise a new temporary cluster.
    pub fn from_settings(settings: &Settings) -> Result<Cluster> {
        match &settings.database_url {
            Some(url) => Cluster::external(url),
            None => Cluster::start_temporary(settings),
        }
    }

    /// An existing server; `url` is a `postgres://` URL whose role may create databases.
    pub fn external(url: &str) -> Result<Cluster> {
        let base = Url::parse(url).map_err(|err| Error::InvalidDatabaseUrl { reason: err.to_string() })?;
        if !matches!(base.scheme(), "postgres" | "postgresql") {
            return Err(Error::InvalidDatabaseUrl {
                reason: format!("scheme `{}` is not postgres:// or postgresql://", base.scheme()),
            });
        }
        Ok(Cluster { kind: Kind::External { base } })
    }

    /// Starts a private cluster in a new temporary directory, whatever `DATABASE_URL`
    /// says. The server stops and the directory is deleted when the value is dropped
    /// or the process ends (also on panic, Ctrl-C or `kill -9`).
    pub fn start_temporary(settings: &Settings) -> Result<Cluster> {
        Cluster::start_temporary_with(settings, Durability::Ephemeral)
    }

    /// Like [`Cluster::start_temporary`], with the durability settings chosen: benchmarks
    /// measure on [`Durability::Durable`], PostgreSQL's defaults, as production runs.
    pub fn start_temporary_with(settings: &Settings, durability: Durability) -> Result<Cluster> {
        let bins = ServerBinaries::locate(settings)?;
        let user = ServerUser::detect()?;
        let root = tempfile::Builder::new()
            .prefix("pg-harness-")
            .tempdir()
            .map_err(Error::io("create a temporary directory in", std::env::temp_dir()))?
            .keep();
        let server = EmbeddedServer::new(bins, user, root, durability);
        // The watchdog exists before anything can fail, so every exit path cleans up.
        let supervisor = match server.prepare_root() {
            Ok(()) => Supervisor::spawn(server.root(), server.bins(), user, AfterStop::Delete),
            Err(err) => Err(err),
        };
        let supervisor = match supervisor {
            Ok(supervisor) => supervisor,
            Err(err) => {
                let _ = std::fs::remove_dir_all(server.root());
                return Err(err);
            }
        };
        server.initialize()?;
        let port = server.start()?;
        Ok(Cluster {
            kind: Kind::Embedded { server, port: Mutex::new(port), started_here: true, _supervisor: Some(supervisor) },
        })
    }

    /// Opens the persistent cluster in `root`: runs `initdb` the first time, starts the
    /// server unless it is already running, and attaches to it otherwise.
    pub fn open_persistent(root: &Path, settings: &Settings, lifetime: Lifetime) -> Result<Cluster> {
        let server = persistent_server(root, settings)?;
        server.prepare_root()?;
        if !server.user().can_enter(server.root()) {
            return Err(Error::Unreachable { path: server.root().to_owned() });
        }
        server.initialize()?;
        if let Some(port) = server.running_port() {
            return Ok(Cluster {
                kind: Kind::Embedded { server, port: Mutex::new(port), started_here: false, _supervisor: None },
            });
        }
        let supervisor = match lifetime {
            Lifetime::StopWhenDropped => {
                Some(Supervisor::spawn(server.root(), server.bins(), server.user(), AfterStop::Keep)?)
            }
            Lifetime::KeepRunning => None,
        };
        let port = match server.start() {
            Ok(port) => port,
            // Another program started it at the same moment: use theirs.
            Err(err) => server.running_port().ok_or(err)?,
        };
        Ok(Cluster {
            kind: Kind::Embedded { server, port: Mutex::new(port), started_here: true, _supervisor: supervisor },
        })
    }

    /// Stops the persistent cluster in `root` if it runs. Returns whether it was running.
    pub fn stop_persistent(root: &Path, settings: &Settings) -> Result<bool> {
        let server = persistent_server(root, settings)?;
        if !server.is_initialized() || server.running_port().is_none() {
            return Ok(false);
        }
        server.stop()?;
        Ok(true)
    }

    /// The port of the persistent cluster in `root` when its server is running.
    pub fn persistent_port(root: &Path, settings: &Settings) -> Result<Option<u16>> {
        let server = persistent_server(root, settings)?;
        Ok(if server.is_initialized() { server.running_port() } else { None })
    }

    /// A connection URL for `database` on this server, usable by `sqlx`,
    /// `tokio-postgres` and `psql` alike.
    pub fn url(&self, database: &str) -> String {
        match &self.kind {
            Kind::External { base } => {
                let mut url = base.clone();
                url.set_path(&format!("/{}", encode_path_segment(database)));
                url.to_string()
            }
            Kind::Embedded { port, .. } => {
                let port = *port.lock().unwrap_or_else(PoisonError::into_inner);
                format!("postgres://{SUPERUSER}@127.0.0.1:{port}/{}", encode_path_segment(database))
            }
        }
    }

    /// The URL the harness uses to create and drop databases.
    pub fn admin_url(&self) -> String {
        match &self.kind {
            Kind::External { base } => base.to_string(),
            Kind::Embedded { .. } => self.url("postgres"),
        }
    }

    /// Whether the harness runs this server (as opposed to `DATABASE_URL`).
    pub fn is_embedded(&self) -> bool {
        matches!(self.kind, Kind::Embedded { .. })
    }

    /// Whether this value started the server (false when it attached to a running one
    /// or the server comes from `DATABASE_URL`).
    pub fn started_here(&self) -> bool {
        matches!(self.kind, Kind::Embedded { started_here: true, .. })
    }

    /// The cluster's root directory (data, socket directory, log), when embedded.
    pub fn root(&self) -> Option<&Path> {
        self.embedded().map(EmbeddedServer::root)
    }

    /// The server log, when embedded.
    pub fn log_file(&self) -> Option<PathBuf> {
        self.embedded().map(EmbeddedServer::log_file)
    }

    /// The private Unix socket directory, when embedded.
    pub fn socket_dir(&self) -> Option<PathBuf> {
        self.embedded().map(EmbeddedServer::socket_dir)
    }

    /// The TCP port on 127.0.0.1, when embedded.
    pub fn port(&self) -> Option<u16> {
        match &self.kind {
            Kind::Embedded { port, .. } => Some(*port.lock().unwrap_or_else(PoisonError::into_inner)),
            Kind::External { .. } => None,
        }
    }

    /// Stops the embedded server (fast shutdown), keeping its data. For tests that
    /// prove nothing is lost across a restart.
    pub fn stop(&self) -> Result<()> {
        self.embedded().ok_or(Error::NotEmbedded { operation: "stop" })?.stop()
    }

    /// Starts the embedded server again after [`Cluster::stop`], on the same port when it is free.
    pub fn start(&self) -> Result<()> {
        let Kind::Embedded { server, port, .. } = &self.kind else {
            return Err(Error::NotEmbedded { operation: "start" });
        };
        let new_port = server.start()?;
        *port.lock().unwrap_or_else(PoisonError::into_inner) = new_port;
        Ok(())
    }

    /// Creates a database (fails if it exists).
    pub async fn create_database(&self, name: &str) -> Result<()> {
        admin::create_database(&self.admin_url(), name).await
    }

    /// Drops a database if it exists, ending its open sessions.
    pub async fn drop_database(&self, name: &str) -> Result<()> {
        admin::drop_database(&self.admin_url(), name).await
    }

    /// Whether a database of that name exists.
    pub async fn database_exists(&self, name: &str) -> Result<bool> {
        admin::database_exists(&self.admin_url(), name).await
    }

    fn embedded(&self) -> Option<&EmbeddedServer> {
        match &self.kind {
            Kind::Embedded { server, .. } => Some(server),
            Kind::External { .. } => None,
        }
    }
}

fn persistent_server(root: &Path, settings: &Settings) -> Result<EmbeddedServer> {
    let bins = ServerBinaries::locate(settings)?;
    let user = ServerUser::detect()?;
    let root = std::path::absolute(root).map_err(Error::io("resolve", root))?;
    Ok(EmbeddedServer::new(bins, user, root, Durability::Durable))
}

/// Percent-encodes everything but unreserved URL characters.
fn encode_path_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_urls_get_the_database_swapped() {
        let cluster = Cluster::external("postgres://app:pw@db.example:6432/postgres?sslmode=disable").expect("valid");
        assert_eq!(cluster.url("t 1"), "postgres://app:pw@db.example:6432/t%201?sslmode=disable");
        assert!(!cluster.is_embedded());
        assert!(matches!(cluster.stop(), Err(Error::NotEmbedded { operation: "stop" })));
    }

    #[test]
    fn non_postgres_urls_are_refused() {
        let err = Cluster::external("mysql://localhost/db").expect_err("wrong scheme");
        assert!(err.to_string().contains("mysql"), "{err}");
        assert!(Cluster::external("not a url").is_err());
    }
}
