//! A fresh database per test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::admin;
use crate::cluster::Cluster;
use crate::error::Result;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A database created for one test and dropped when this value is dropped, also
/// when the test panics (destructors run while a panic unwinds).
///
/// ```no_run
/// # async fn example() -> Result<(), pg_harness::Error> {
/// let db = pg_harness::TestDb::create().await?;
/// let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    cluster: Arc<Cluster>,
}

impl TestDb {
    /// Creates a uniquely named database on the process's shared cluster
    /// ([`Cluster::shared`]). The first call may block while the cluster starts.
    pub async fn create() -> Result<TestDb> {
        TestDb::create_in(Cluster::shared()?).await
    }

    /// Creates a uniquely named database on `cluster`.
    pub async fn create_in(cluster: Arc<Cluster>) -> Result<TestDb> {
        // pid + counter is unique on this machine; the random part keeps two machines
        // sharing one DATABASE_URL server apart.
        let name = format!(
            "pgh_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        cluster.create_database(&name).await?;
        let url = cluster.url(&name);
        Ok(TestDb { name, url, cluster })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection URL for the database (`sqlx`, `tokio-postgres`, `psql`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The cluster the database lives on.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.cluster.admin_url();
        let name = self.name.clone();
        let dropped = admin::block_on(async move { admin::drop_database(&admin_url, &name).await });
        if let Err(err) = dropped {
            // A destructor cannot return the error, and panicking here would abort a
            // test that is already unwinding.
            eprintln!("pg-harness: could not drop test database {}: {err}", self.name);
        }
    }
}
