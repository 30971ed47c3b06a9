//! Finding the PostgreSQL server binaries on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::settings::Settings;

/// The programs the harness needs, all from one directory.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// A directory holding `initdb`, `pg_ctl` and `postgres` of one PostgreSQL version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinaries {
    dir: PathBuf,
}

impl ServerBinaries {
    /// Finds the server binaries: `PG_BIN` (and nowhere else when it is set), then
    /// `PATH`, then `pg_config --bindir`, then the newest `/usr/lib/postgresql/<n>/bin`.
    pub fn locate(settings: &Settings) -> Result<Self> {
        if let Some(dir) = &settings.pg_bin {
            // An explicit choice is never silently replaced by another installation.
            return Self::in_dir(dir)
                .ok_or_else(|| Error::BinariesNotFound { searched: format!("PG_BIN={}", dir.display()) });
        }
        let mut searched = Vec::new();
        if let Some(path) = &settings.path {
            for dir in std::env::split_paths(path) {
                if let Some(found) = Self::in_dir(&dir) {
                    return Ok(found);
                }
            }
            searched.push("PATH".to_owned());
        }
        if settings.search_system_dirs {
            if let Some(found) = pg_config_bindir().and_then(|dir| Self::in_dir(&dir)) {
                return Ok(found);
            }
            searched.push("pg_config --bindir".to_owned());
            if let Some(found) = newest_versioned_dir(Path::new("/usr/lib/postgresql")) {
                return Ok(found);
            }
            searched.push("/usr/lib/postgresql/<version>/bin".to_owned());
        }
        Err(Error::BinariesNotFound { searched: searched.join(", ") })
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The full path of one program, e.g. `pg_ctl`.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn in_dir(dir: &Path) -> Option<Self> {
        let initdb = dir.join("initdb");
        if !REQUIRED.iter().all(|name| is_executable(&dir.join(name))) {
            return None;
        }
        // Resolve symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
        // so every program comes from the same installation.
        let real_dir = std::fs::canonicalize(&initdb).ok()?.parent()?.to_path_buf();
        let dir =
            if REQUIRED.iter().all(|name| is_executable(&real_dir.join(name))) { real_dir } else { dir.to_path_buf() };
        Some(ServerBinaries { dir })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(text.trim()))
}

/// `/usr/lib/postgresql/15/bin` beats `/usr/lib/postgresql/9.6/bin`: versions compare numerically.
fn newest_versioned_dir(parent: &Path) -> Option<ServerBinaries> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(parent)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            let version = name.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.into_iter().rev().find_map(|(_, dir)| ServerBinaries::in_dir(&dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_install(dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).expect("create fake bin dir");
        for name in REQUIRED {
            let path = dir.join(name);
            std::fs::write(&path, "#!/bin/sh\n").expect("write fake program");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }

    #[test]
    fn pg_bin_pointing_at_an_empty_dir_is_a_clear_error() {
        let empty = tempfile::tempdir().expect("tempdir");
        let settings = Settings { pg_bin: Some(empty.path().to_owned()), ..Settings::default() };
        let err = ServerBinaries::locate(&settings).expect_err("empty dir has no binaries");
        let message = err.to_string();
        assert!(message.contains("PG_BIN="), "{message}");
        assert!(message.contains("postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
    }

    #[test]
    fn path_is_searched_in_order() {
        let root = tempfile::tempdir().expect("tempdir");
        let (first, second) = (root.path().join("a"), root.path().join("b"));
        fake_install(&second);
        fake_install(&first);
        let path = std::env::join_paths([root.path().join("none"), first.clone(), second]).expect("join");
        let settings = Settings { path: Some(path), ..Settings::default() };
        let found = ServerBinaries::locate(&settings).expect("found in PATH");
        assert_eq!(found.dir(), std::fs::canonicalize(&first).expect("canonical"));
    }

    #[test]
    fn newest_numeric_version_wins() {
        let root = tempfile::tempdir().expect("tempdir");
        for version in ["9.6", "15", "13", "not-a-version"] {
            fake_install(&root.path().join(version).join("bin"));
        }
        let found = newest_versioned_dir(root.path()).expect("a version");
        assert!(found.dir().ends_with("15/bin"), "{:?}", found.dir());
    }

    #[test]
    fn nothing_anywhere_names_every_place_searched() {
        let settings = Settings { path: Some("/nonexistent".into()), ..Settings::default() };
        let err = ServerBinaries::locate(&settings).expect_err("no binaries");
        assert!(err.to_string().contains("PATH"), "{err}");
    }
}
