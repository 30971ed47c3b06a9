//! The database of an example application: `DATABASE_URL`, or a persistent embedded cluster.

use std::path::{Path, PathBuf};

use crate::cluster::{Cluster, Lifetime};
use crate::error::{Error, Result};
use crate::settings::Settings;

/// Where a persistent cluster lives unless `--data-dir` or `PG_HARNESS_DIR` says otherwise.
pub const DEFAULT_DATA_DIR: &str = ".data/pg";

/// An application's database, ready to connect to.
#[derive(Debug)]
pub struct AppDatabase {
    url: String,
    cluster: Cluster,
}

impl AppDatabase {
    /// Opens the database named `app`.
    ///
    /// With `DATABASE_URL` set, that URL is used as it is. Otherwise the persistent
    /// cluster in `data_dir` (or `PG_HARNESS_DIR`, or `./.data/pg`) is started if needed
    /// and the database `app` is created in it on first use.
    pub async fn open(app: &str, data_dir: Option<&Path>, settings: &Settings, lifetime: Lifetime) -> Result<Self> {
        if let Some(url) = &settings.database_url {
            let cluster = Cluster::external(url)?;
            return Ok(AppDatabase { url: url.clone(), cluster });
        }
        let root = data_root(data_dir, settings)?;
        let owned_settings = settings.clone();
        // Starting a server blocks for a moment: off the async worker threads.
        let cluster = tokio::task::spawn_blocking(move || Cluster::open_persistent(&root, &owned_settings, lifetime))
            .await
            .map_err(|join| match join.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Only a runtime shutting down cancels a blocking task.
                Err(cancelled) => Error::Spawn {
                    program: "pg_ctl (the runtime shut down)".into(),
                    source: std::io::Error::other(cancelled.to_string()),
                },
            })??;
        if !cluster.database_exists(app).await? {
            cluster.create_database(app).await?;
        }
        Ok(AppDatabase { url: cluster.url(app), cluster })
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server the database lives on.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }
}

/// The directory a persistent cluster uses: the explicit one, `PG_HARNESS_DIR`, or
/// `./.data/pg`. When running as root and the `postgres` user cannot reach the default
/// (a home directory with mode 700, say), the cluster lives in that user's home instead.
pub fn data_root(explicit: Option<&Path>, settings: &Settings) -> Result<PathBuf> {
    if let Some(dir) = explicit.or(settings.data_dir.as_deref()) {
        return std::path::absolute(dir).map_err(Error::io("resolve", dir));
    }
    let default = std::path::absolute(DEFAULT_DATA_DIR).map_err(Error::io("resolve", DEFAULT_DATA_DIR))?;
    let user = crate::server_user::ServerUser::detect()?;
    let reachable = default.ancestors().find(|dir| dir.exists()).is_none_or(|dir| user.can_enter(dir));
    match (reachable, user.switched_home()) {
        (false, Some(home)) => {
            let digest = crate::server::path_digest(&default);
            let fallback = home.join("pg-harness").join(format!("pg-{digest:016x}"));
            eprintln!(
                "pg-harness: the postgres user cannot reach {}; keeping the cluster in {} instead",
                default.display(),
                fallback.display()
            );
            Ok(fallback)
        }
        _ => Ok(default),
    }
}
