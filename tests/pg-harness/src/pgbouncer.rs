//! PgBouncer in front of a test database, for tests of what runs behind a pooler.
//!
//! [`PgBouncer::start`] runs Debian's `pgbouncer` (package `pgbouncer`) on a free port of
//! 127.0.0.1 in `pool_mode = transaction` with a small server pool, so that client
//! connections really share server connections: a statement that relies on session
//! state (a named prepared statement, a session `SET`, `LISTEN`) meets another client's
//! server connection. As root it runs as the `postgres` user (PgBouncer refuses root, like
//! the server). Dropping the value stops it; a test process that dies without dropping it
//! takes it along (the parent-death signal).

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::server_user::ServerUser;

/// How long PgBouncer may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where Debian installs the program, when it is not on `PATH`.
const DEBIAN_PATH: &str = "/usr/sbin/pgbouncer";

/// util-linux's `setpriv`, which sets the parent-death signal before running PgBouncer.
const SETPRIV: &str = "/usr/bin/setpriv";

/// A running PgBouncer in transaction mode in front of one database; stopped on drop.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    url: String,
    listen_port: u16,
    database: String,
    /// The configuration, auth file and log; removed on drop.
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts PgBouncer in front of the database of `server_url` (a URL of a
    /// [`TestDb`](crate::TestDb)) with `pool_size` server connections at most, accepting
    /// the URL's user, and the `users` given as `(name, password)`. Its startup-parameter
    /// list ignores `extra_float_digits`, which sqlx sends and PgBouncer 1.18 refuses.
    ///
    /// # Errors
    /// [`Error::InvalidDatabaseUrl`] for a URL without host or database,
    /// [`Error::Spawn`] when `pgbouncer` cannot be run (not installed), [`Error::StartFailed`]
    /// when it does not accept connections in time (with its log), [`Error::Io`] for the
    /// files it needs, [`Error::NoServerUser`] as root without a `postgres` user.
    pub fn start(server_url: &str, pool_size: u32, users: &[(&str, &str)]) -> Result<PgBouncer> {
        let invalid = |reason: &str| Error::InvalidDatabaseUrl { reason: reason.to_owned() };
        let server = url::Url::parse(server_url).map_err(|e| invalid(&e.to_string()))?;
        let host = server.host_str().ok_or_else(|| invalid("no host"))?.to_owned();
        let port = server.port().unwrap_or(5432);
        let database = server.path().trim_start_matches('/').to_owned();
        if database.is_empty() {
            return Err(invalid("no database"));
        }
        let user = ServerUser::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("pgbouncer-")
            .tempdir()
            .map_err(Error::io("create", "a temporary directory"))?;
        user.take_ownership(dir.path())?;
        let listen_port = free_port().map_err(Error::io("find a free port on", "127.0.0.1"))?;

        let mut auth = format!("\"{}\" \"{}\"\n", server.username(), server.password().unwrap_or(""));
        for (name, password) in users {
            auth.push_str(&format!("\"{name}\" \"{password}\"\n"));
        }
        let auth_file = dir.path().join("users.txt");
        write(&user, &auth_file, &auth)?;
        let log_file = dir.path().join("pgbouncer.log");
        let config = format!(
            "[databases]\n\
             {database} = host={host} port={port} dbname={database}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {listen_port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {auth}\n\
             pool_mode = transaction\n\
             default_pool_size = {pool_size}\n\
             min_pool_size = 0\n\
             reserve_pool_size = 0\n\
             max_client_conn = 200\n\
             ignore_startup_parameters = extra_float_digits\n\
             logfile = {log}\n\
             pidfile = {pid}\n",
            auth = auth_file.display(),
            log = log_file.display(),
            pid = dir.path().join("pgbouncer.pid").display(),
        );
        let config_file = dir.path().join("pgbouncer.ini");
        write(&user, &config_file, &config)?;

        let program =
            if Path::new(DEBIAN_PATH).exists() { PathBuf::from(DEBIAN_PATH) } else { PathBuf::from("pgbouncer") };
        // Through util-linux's `setpriv` when present: PgBouncer then ends with the thread
        // that started it (the parent-death signal, set after the switch to the server
        // user), even if the test process is killed before it drops this value.
        let mut command = if Path::new(SETPRIV).exists() {
            let mut command = user.command(SETPRIV, dir.path());
            command.args(["--pdeathsig", "KILL"]).arg(&program);
            command
        } else {
            user.command(&program, dir.path())
        };
        command.arg(&config_file).stdout(Stdio::null()).stderr(Stdio::null());
        let child =
            command.spawn().map_err(|source| Error::Spawn { program: program.display().to_string(), source })?;
        let url = client_url(listen_port, &database, server.username(), server.password());
        let mut bouncer = PgBouncer { child, url, listen_port, database, dir };
        bouncer.wait_until_accepting(listen_port, &log_file)?;
        Ok(bouncer)
    }

    /// The `pgbouncer` program: Debian's `/usr/sbin/pgbouncer`, or the first on `PATH`.
    /// `None` when it is not installed (tests skip then, outside CI).
    pub fn program() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .map(|dir| dir.join("pgbouncer"));
        std::iter::once(PathBuf::from(DEBIAN_PATH)).chain(on_path).find(|candidate| candidate.is_file())
    }

    /// The URL of the database through PgBouncer, as the server URL's user.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL through PgBouncer as another user given to [`start`](PgBouncer::start).
    pub fn url_as(&self, name: &str, password: &str) -> String {
        client_url(self.listen_port, &self.database, name, Some(password))
    }

    /// The configuration directory (`pgbouncer.ini`, `pgbouncer.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn wait_until_accepting(&mut self, port: u16, log_file: &Path) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(());
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let reason = match exited {
                    Some(status) => format!("pgbouncer exited ({status})"),
                    None => format!("pgbouncer did not accept connections on port {port} within {START_TIMEOUT:?}"),
                };
                return Err(Error::StartFailed {
                    data_dir: self.dir.path().to_owned(),
                    reason,
                    log: fs::read_to_string(log_file).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGKILL: nothing to flush, and the test is over with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `database` on PgBouncer's port as `user`; the names come percent-encoded from a URL
/// or are test-made role names.
fn client_url(port: u16, database: &str, user: &str, password: Option<&str>) -> String {
    let password = password.map(|p| format!(":{p}")).unwrap_or_default();
    format!("postgres://{user}{password}@127.0.0.1:{port}/{database}")
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// Writes `contents` to `path`, readable by the server user.
fn write(user: &ServerUser, path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents).map_err(Error::io("write", path))?;
    user.take_ownership(path)
}
