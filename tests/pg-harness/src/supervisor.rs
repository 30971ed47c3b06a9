//! The watchdog that stops a cluster when its owner goes away, however it goes.
//!
//! A destructor does not run when a test binary is killed, interrupted with Ctrl-C or
//! exits with statics alive. So each embedded cluster gets a tiny shell process, in its
//! own process group (Ctrl-C does not reach it), that blocks reading a pipe whose only
//! writer is the owning process. When the owner closes the pipe (drop, normal exit) or
//! dies (panic, signal, `kill -9`), the read returns end-of-file and the watchdog stops
//! the server and, for temporary clusters, deletes its directory.
//!
//! On a normal exit an `atexit` hook closes every pipe and waits for the watchdogs, so
//! `cargo test` returns only after the servers are gone.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use crate::binaries::ServerBinaries;
use crate::error::{Error, Result};
use crate::server_user::ServerUser;

/// `$1` = cluster root, `$2` = pg_ctl, `$3` = `delete` or `keep`.
const SCRIPT: &str = r#"trap '' HUP INT
cat >/dev/null
"$2" stop -D "$1/data" -m fast -w -t 20 >/dev/null 2>&1 ||
  "$2" stop -D "$1/data" -m immediate -w -t 20 >/dev/null 2>&1
if [ "$3" = delete ]; then rm -rf "$1"; fi
"#;

/// How long a clean shutdown may take before the owner stops waiting for it.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);

/// What the watchdog does with the cluster directory after stopping the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterStop {
    /// Temporary clusters: remove everything.
    Delete,
    /// Persistent clusters: keep the data for the next run.
    Keep,
}

#[derive(Debug)]
struct Watchdog {
    child: Mutex<Option<Child>>,
}

static LIVE: Mutex<Vec<Arc<Watchdog>>> = Mutex::new(Vec::new());
static EXIT_HOOK: Once = Once::new();

/// Owns one watchdog; dropping it stops the server and waits until it is down.
#[derive(Debug)]
pub(crate) struct Supervisor {
    watchdog: Arc<Watchdog>,
}

impl Supervisor {
    pub(crate) fn spawn(root: &Path, bins: &ServerBinaries, user: ServerUser, after: AfterStop) -> Result<Self> {
        install_exit_hook();
        let mut command = user.command("/bin/sh", Path::new("/"));
        command
            .arg("-c")
            .arg(SCRIPT)
            .arg("pg-harness-watchdog")
            .arg(root)
            .arg(bins.program("pg_ctl"))
            .arg(match after {
                AfterStop::Delete => "delete",
                AfterStop::Keep => "keep",
            })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = command.spawn().map_err(|source| Error::Spawn { program: "/bin/sh (watchdog)".into(), source })?;
        let watchdog = Arc::new(Watchdog { child: Mutex::new(Some(child)) });
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::clone(&watchdog));
        Ok(Supervisor { watchdog })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        LIVE.lock().unwrap_or_else(PoisonError::into_inner).retain(|w| !Arc::ptr_eq(w, &self.watchdog));
        self.watchdog.finish();
    }
}

impl Watchdog {
    /// Closes the pipe and waits (bounded) for the watchdog to stop the server.
    fn finish(&self) {
        let Some(mut child) = self.child.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return;
        };
        drop(child.stdin.take());
        let deadline = Instant::now() + FINISH_TIMEOUT;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

#[allow(unsafe_code)]
fn install_exit_hook() {
    EXIT_HOOK.call_once(|| {
        // SAFETY: `finish_all` is a plain `extern "C" fn()` that catches every panic, so
        // nothing unwinds across the C boundary; registering it has no other effect.
        // A failed registration (returns non-zero) leaves the pipe-close fallback.
        unsafe {
            libc::atexit(finish_all);
        }
    });
}

extern "C" fn finish_all() {
    let _ = std::panic::catch_unwind(|| {
        let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
        for watchdog in live {
            watchdog.finish();
        }
    });
}
