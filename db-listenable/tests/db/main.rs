//! db-listenable against a real PostgreSQL (one test binary, modules per topic).

mod quoting;

/// Connects with tokio-postgres and drives the connection in the background.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap_or_else(|err| panic!("connect: {err}"));
    tokio::spawn(connection);
    client
}
