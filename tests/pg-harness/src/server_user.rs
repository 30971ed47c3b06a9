//! Which operating-system user runs the server.
//!
//! PostgreSQL refuses to run as root, so when the harness runs as root it runs
//! `initdb`, `pg_ctl` and the server as the `postgres` system user (created by the
//! `postgresql` package) and hands the cluster's directories to that user.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Uid, User};

use crate::error::{Error, Result};

/// The user the server runs as: the current one, or `postgres` when we are root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerUser {
    switch_to: Option<(Uid, Gid)>,
}

impl ServerUser {
    pub(crate) fn detect() -> Result<Self> {
        if !Uid::effective().is_root() {
            return Ok(ServerUser { switch_to: None });
        }
        match User::from_name("postgres") {
            Ok(Some(user)) if !user.uid.is_root() => Ok(ServerUser { switch_to: Some((user.uid, user.gid)) }),
            _ => Err(Error::NoServerUser),
        }
    }

    /// A command that runs as the server user, with a predictable locale and no
    /// inherited terminal input.
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>, cwd: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir(cwd).env("LC_ALL", "C").env("LANG", "C").stdin(Stdio::null());
        if let Some((uid, gid)) = self.switch_to {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        command
    }

    /// Makes `path` belong to the server user (nothing to do unless switching).
    pub(crate) fn take_ownership(&self, path: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.switch_to {
            std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))
                .map_err(Error::io("hand to the postgres user", path))?;
        }
        Ok(())
    }

    /// Whether the server user can enter `dir` (every parent must be searchable).
    pub(crate) fn can_enter(&self, dir: &Path) -> bool {
        if self.switch_to.is_none() {
            return true;
        }
        let mut probe = self.command("/bin/sh", Path::new("/"));
        probe.arg("-c").arg("cd \"$1\"").arg("probe").arg(dir).stdout(Stdio::null()).stderr(Stdio::null());
        probe.status().is_ok_and(|status| status.success())
    }

    /// The home directory of the server user when switching, e.g. `/var/lib/postgresql`.
    pub(crate) fn switched_home(&self) -> Option<std::path::PathBuf> {
        let (uid, _) = self.switch_to?;
        User::from_uid(uid).ok().flatten().map(|user| user.dir)
    }
}
