//! The harness's own tests, against real PostgreSQL servers it starts.
//!
//! One test binary (modules below) so the cluster is started once and linking happens once.

mod child;
mod databases;
mod lifecycle;
mod persistent;
mod ports;

/// Connects with tokio-postgres and drives the connection in the background.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect to {url}: {err}"));
    tokio::spawn(connection);
    client
}
