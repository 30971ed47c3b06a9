//! The few statements the harness itself sends: connect, create and drop databases.

use tokio_postgres::{Client, NoTls};

use crate::error::{Error, Result};

/// Connects with `tokio-postgres` and drives the connection on the current runtime.
pub(crate) async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|source| Error::Database { action: format!("connect to {}", redact(url)), source })?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped; its error, if any, reaches
        // the caller through the next statement on the client.
        let _ = connection.await;
    });
    Ok(client)
}

pub(crate) async fn create_database(admin_url: &str, name: &str) -> Result<()> {
    let client = connect(admin_url).await?;
    let statement = format!("CREATE DATABASE {}", quote_ident(name));
    client
        .batch_execute(&statement)
        .await
        .map_err(|source| Error::Database { action: format!("create database {}", quote_ident(name)), source })
}

pub(crate) async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let client = connect(admin_url).await?;
    // FORCE ends sessions a test left open (a leaked pool must not keep the database).
    let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    client
        .batch_execute(&statement)
        .await
        .map_err(|source| Error::Database { action: format!("drop database {}", quote_ident(name)), source })
}

pub(crate) async fn database_exists(admin_url: &str, name: &str) -> Result<bool> {
    let client = connect(admin_url).await?;
    let row = client
        .query_one("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", &[&name])
        .await
        .map_err(|source| Error::Database { action: format!("look up database {}", quote_ident(name)), source })?;
    Ok(row.get(0))
}

/// Quotes an SQL identifier: `a"b` becomes `"a""b"`.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Runs a future to completion on a private runtime in a fresh thread, so it works
/// from destructors and from inside another runtime alike.
pub(crate) fn block_on<T: Send + 'static>(future: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("start a runtime for", "the harness"))?;
        runtime.block_on(future)
    });
    match worker.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_doubles_quotes() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(redact("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
