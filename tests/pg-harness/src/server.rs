//! One PostgreSQL server process that the harness owns: `initdb`, start, stop.
//!
//! Layout of a cluster root directory:
//!
//! ```text
//! <root>/data/        PGDATA
//! <root>/run/         the private Unix socket directory
//! <root>/server.log   everything the server printed
//! <root>/port         the TCP port last used (persistent clusters keep their URL)
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::binaries::ServerBinaries;
use crate::error::{Error, Result};
use crate::server_user::ServerUser;

/// The superuser `initdb` creates; URLs connect as this role.
pub(crate) const SUPERUSER: &str = "postgres";

/// How long `pg_ctl` may wait for the server to start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";

/// Start-up attempts when the chosen port was taken in the meantime.
const PORT_ATTEMPTS: usize = 5;

/// Unix socket paths are limited to 107 bytes; `/.s.PGSQL.65535` takes 16 of them.
const MAX_SOCKET_DIR_LEN: usize = 90;

/// How the server trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Tests: no `fsync`, no synchronous commit. Data survives a server crash or
    /// restart but not a power loss, which a throw-away cluster never needs.
    Ephemeral,
    /// Examples: PostgreSQL's defaults, for data that is kept between runs.
    Durable,
}

#[derive(Debug)]
pub(crate) struct EmbeddedServer {
    bins: ServerBinaries,
    user: ServerUser,
    root: PathBuf,
    durability: Durability,
}

impl EmbeddedServer {
    pub(crate) fn new(bins: ServerBinaries, user: ServerUser, root: PathBuf, durability: Durability) -> Self {
        EmbeddedServer { bins, user, root, durability }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn bins(&self) -> &ServerBinaries {
        &self.bins
    }

    pub(crate) fn user(&self) -> ServerUser {
        self.user
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub(crate) fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    fn port_file(&self) -> PathBuf {
        self.root.join("port")
    }

    /// The socket directory: `<root>/run`, or a short directory under the system
    /// temporary directory when `<root>` is too deep for a Unix socket path.
    pub(crate) fn socket_dir(&self) -> PathBuf {
        let preferred = self.root.join("run");
        if preferred.as_os_str().len() <= MAX_SOCKET_DIR_LEN {
            return preferred;
        }
        std::env::temp_dir().join(format!("pg-harness-run-{:016x}", path_digest(&self.root)))
    }

    /// Creates the root directory and any missing parents, all owned by the server user.
    pub(crate) fn prepare_root(&self) -> Result<()> {
        let missing: Vec<&Path> = self.root.ancestors().take_while(|dir| !dir.exists()).collect();
        for dir in missing.into_iter().rev() {
            create_private_dir(dir)?;
            self.user.take_ownership(dir)?;
        }
        self.user.take_ownership(&self.root)
    }

    pub(crate) fn is_initialized(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    /// Runs `initdb` unless the data directory already holds a cluster.
    pub(crate) fn initialize(&self) -> Result<()> {
        if self.is_initialized() {
            return Ok(());
        }
        self.prepare_root()?;
        let mut initdb = self.user.command(self.bins.program("initdb"), &self.root);
        initdb.arg("--pgdata").arg(self.data_dir()).args([
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        ]);
        if self.durability == Durability::Ephemeral {
            initdb.arg("--no-sync");
        }
        run(&mut initdb)?;
        Ok(())
    }

    /// Starts the server and returns its TCP port. Reuses the last port when it is free.
    ///
    /// A port can be taken by anyone between [`free_port`] releasing it and the server
    /// binding it (another cluster starting at the same moment, a client's ephemeral
    /// port, the previous owner of a saved port): the server then refuses to start and
    /// says so in its log, and the start is retried on a new port. Callers read the
    /// port (and so the URL) again after every start.
    pub(crate) fn start(&self) -> Result<u16> {
        let socket_dir = self.socket_dir();
        create_private_dir(&socket_dir)?;
        self.user.take_ownership(&socket_dir)?;
        let mut last_error = None;
        for attempt in 0..PORT_ATTEMPTS {
            let port = match (attempt, self.saved_port()) {
                (0, Some(port)) => port,
                _ => free_port()?,
            };
            let log_start = self.log_len();
            match self.start_on(port, &socket_dir) {
                Ok(()) => {
                    // A missing port file only costs a new port next time.
                    let _ = std::fs::write(self.port_file(), port.to_string());
                    return Ok(port);
                }
                Err(err @ Error::StartFailed { .. }) if self.port_was_taken_since(log_start) => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or_else(|| self.start_failed("no port attempt was made".into())))
    }

    fn start_on(&self, port: u16, socket_dir: &Path) -> Result<()> {
        let mut options = vec![
            "-p".to_owned(),
            port.to_string(),
            "-k".to_owned(),
            socket_dir.to_string_lossy().into_owned(),
            "-c".to_owned(),
            "listen_addresses=127.0.0.1".to_owned(),
        ];
        let settings: &[&str] = match self.durability {
            Durability::Ephemeral => {
                &["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=300"]
            }
            Durability::Durable => &["max_connections=100"],
        };
        for setting in settings {
            options.push("-c".to_owned());
            options.push((*setting).to_owned());
        }
        // pg_ctl hands -o to a shell, so each word is quoted for it.
        let options: Vec<String> = options.iter().map(|word| shell_quote(word)).collect();
        let mut pg_ctl = self.user.command(self.bins.program("pg_ctl"), &self.root);
        pg_ctl
            .arg("start")
            .arg("--pgdata")
            .arg(self.data_dir())
            .arg("--log")
            .arg(self.log_file())
            .args(["--wait", "--timeout", PG_CTL_TIMEOUT_SECS, "--silent", "-o"])
            .arg(options.join(" "));
        match run(&mut pg_ctl) {
            Ok(_) => Ok(()),
            Err(Error::Command { output, .. }) => Err(self.start_failed(output.trim().to_owned())),
            Err(other) => Err(other),
        }
    }

    fn start_failed(&self, reason: String) -> Error {
        Error::StartFailed { data_dir: self.data_dir(), reason, log: self.log_tail(40) }
    }

    /// The log's length now, so an attempt reads only what it caused.
    fn log_len(&self) -> u64 {
        std::fs::metadata(self.log_file()).map_or(0, |meta| meta.len())
    }

    /// Whether the attempt that started writing at `log_start` failed because its port
    /// was in use. Only that attempt's lines count: an earlier attempt's message must not
    /// turn another failure (a broken configuration) into a retry.
    fn port_was_taken_since(&self, log_start: u64) -> bool {
        let text = std::fs::read(self.log_file()).unwrap_or_default();
        let start = usize::try_from(log_start).unwrap_or(usize::MAX).min(text.len());
        let attempt = String::from_utf8_lossy(&text[start..]);
        // PostgreSQL logs "could not bind IPv4 address ...: Address already in use" and
        // then "could not create any TCP/IP sockets" (initdb --locale C keeps them English).
        attempt.contains("Address already in use") || attempt.contains("could not create any TCP/IP sockets")
    }

    /// The last `lines` lines of the server log, for error messages.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn saved_port(&self) -> Option<u16> {
        std::fs::read_to_string(self.port_file()).ok()?.trim().parse().ok()
    }

    /// Stops the server (fast shutdown: sessions are disconnected, data is kept).
    pub(crate) fn stop(&self) -> Result<()> {
        let mut pg_ctl = self.user.command(self.bins.program("pg_ctl"), &self.root);
        pg_ctl.arg("stop").arg("--pgdata").arg(self.data_dir()).args([
            "--mode",
            "fast",
            "--wait",
            "--timeout",
            PG_CTL_TIMEOUT_SECS,
            "--silent",
        ]);
        run(&mut pg_ctl).map(drop)
    }

    /// The port of the running server, or `None` when it is not running.
    pub(crate) fn running_port(&self) -> Option<u16> {
        let mut pg_ctl = self.user.command(self.bins.program("pg_ctl"), &self.root);
        pg_ctl.arg("status").arg("--pgdata").arg(self.data_dir());
        if !pg_ctl.output().is_ok_and(|output| output.status.success()) {
            return None;
        }
        // postmaster.pid: pid, data dir, start time, port, socket dir, listen address, ...
        let pid_file = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        pid_file.lines().nth(3)?.trim().parse().ok()
    }
}

/// A stable digest of a path (FNV-1a), for names derived from it.
pub(crate) fn path_digest(path: &Path) -> u64 {
    path.as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(Error::io("create directory", path))
}

/// Asks the kernel for a port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(Error::io("bind a probe socket on", "127.0.0.1:0"))?;
    let port = listener.local_addr().map_err(Error::io("read the address of", "127.0.0.1:0"))?.port();
    Ok(port)
}

/// Runs a command to completion; a non-zero exit becomes [`Error::Command`] with its output.
pub(crate) fn run(command: &mut Command) -> Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().map_err(|source| Error::Spawn { program: program.clone(), source })?;
    if output.status.success() {
        return Ok(output);
    }
    let args: Vec<String> = command.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
    Err(Error::Command {
        command: format!("{program} {}", args.join(" ")),
        status: output.status.to_string(),
        output: format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    })
}

/// Quotes one word for a POSIX shell: `it's` becomes `'it'\''s'`.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_survives_quotes_and_spaces() {
        let quoted = shell_quote("/tmp/it's a dir");
        let output = Command::new("/bin/sh").arg("-c").arg(format!("printf %s {quoted}")).output().expect("run sh");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "/tmp/it's a dir");
    }
}
