//! Real PostgreSQL for tests and example programs, with nothing to set up by hand.
//!
//! Every test in this workspace that touches a database goes through this crate:
//!
//! - **`DATABASE_URL` set**: that server is used. Each [`TestDb`] is a freshly created
//!   database with a unique name, dropped when the value is dropped (also when the
//!   test panics).
//! - **`DATABASE_URL` unset**: the machine's server binaries are found (`PG_BIN`, then
//!   `PATH`, then `pg_config --bindir`, then the newest `/usr/lib/postgresql/<n>/bin`), and
//!   one private cluster per process is created with `initdb` in a temporary directory
//!   and started on a private Unix socket directory and a free port on 127.0.0.1 (a
//!   port taken by someone else before the server binds it is replaced by another). A
//!   watchdog process stops it and deletes the directory when the process ends, also
//!   after a panic, Ctrl-C or `kill -9` (see `supervisor.rs` for how).
//! - **Running as root**: PostgreSQL refuses root, so `initdb` and the server run as the
//!   `postgres` system user, which owns the cluster's directories.
//! - **Example programs** use a persistent cluster ([`AppDatabase`], default
//!   `./.data/pg`, or `PG_HARNESS_DIR`) so their data survives restarts.
//! - **Behind a pooler**: [`PgBouncer`] runs Debian's `pgbouncer` in transaction mode
//!   in front of a test database, stopped on drop.
//! - **Nothing found**: one error, [`Error::BinariesNotFound`], saying to install the
//!   `postgresql` package or to set `DATABASE_URL`. Start-up waits are bounded, and a
//!   server that does not start is reported with the end of its log.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = pg_harness::TestDb::create().await?;
//! let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await?;
//! tokio::spawn(connection);
//! let row = client.query_one("SELECT current_database()", &[]).await?;
//! assert_eq!(row.get::<_, String>(0), db.name());
//! # Ok(()) }
//! ```

mod admin;
mod app;
mod binaries;
mod cluster;
mod database;
mod error;
mod pgbouncer;
mod server;
mod server_user;
mod settings;
mod supervisor;

pub use app::{AppDatabase, DEFAULT_DATA_DIR, data_root};
pub use binaries::ServerBinaries;
pub use cluster::{Cluster, Lifetime};
pub use database::TestDb;
pub use error::{Error, Result};
pub use pgbouncer::PgBouncer;
pub use server::Durability;
pub use settings::Settings;
