//! What the environment asks of the harness.

use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variables the harness reads, captured once.
///
/// [`Settings::from_env`] reads the real process environment; tests and embedding
/// programs build a `Settings` by hand (or with [`Settings::from_lookup`]) instead of
/// mutating the process environment, which is shared by every thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// `DATABASE_URL`: use this server instead of starting one.
    pub database_url: Option<String>,
    /// `PG_BIN`: the directory holding `initdb`, `pg_ctl` and `postgres`.
    pub pg_bin: Option<PathBuf>,
    /// `PATH`, searched for `initdb` when `PG_BIN` is not set.
    pub path: Option<OsString>,
    /// `PG_HARNESS_DIR`: where a persistent (example) cluster keeps its data.
    pub data_dir: Option<PathBuf>,
    /// Whether to look in `pg_config --bindir` and `/usr/lib/postgresql/<n>/bin`
    /// after `PG_BIN` and `PATH` (on by default; tests turn it off to simulate a
    /// machine without PostgreSQL).
    pub search_system_dirs: bool,
}

impl Settings {
    /// Reads `DATABASE_URL`, `PG_BIN`, `PATH` and `PG_HARNESS_DIR` from the process
    /// environment. Empty values count as unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var_os(key))
    }

    /// Builds settings from any key lookup, e.g. a map in a test.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let get = |key: &str| lookup(key).filter(|value| !value.is_empty());
        Settings {
            database_url: get("DATABASE_URL").map(|v| v.to_string_lossy().into_owned()),
            pg_bin: get("PG_BIN").map(PathBuf::from),
            path: get("PATH"),
            data_dir: get("PG_HARNESS_DIR").map(PathBuf::from),
            search_system_dirs: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn empty_values_count_as_unset() {
        let env: HashMap<&str, &str> = [("DATABASE_URL", ""), ("PG_BIN", "/opt/pg/bin")].into();
        let settings = Settings::from_lookup(|k| env.get(k).map(OsString::from));
        assert_eq!(settings.database_url, None);
        assert_eq!(settings.pg_bin, Some(PathBuf::from("/opt/pg/bin")));
        assert!(settings.search_system_dirs);
    }
}
