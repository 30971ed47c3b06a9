//! What a test process leaves behind when it ends: nothing, however it ends.
//!
//! Each test runs a child-only test of this binary in a separate process, watches it
//! start a cluster (or use `DATABASE_URL`), ends it one way or another, and checks that
//! the server is gone, its directory deleted and its database dropped.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pg_harness::{Cluster, Settings, TestDb};

use crate::child;

/// Upper bound for a watchdog to stop a server and delete its directory.
const CLEANUP_DEADLINE: Duration = Duration::from_secs(30);

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + CLEANUP_DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn server_answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Starts the child, which reports its cluster's root and port, ends it with `end`, and
/// checks that the cluster is gone afterwards.
fn assert_cluster_cleaned_up_after(child_test: &str, end: impl FnOnce(&mut std::process::Child)) {
    let (mut process, mut stdout) = child::spawn(child_test, &[], &["DATABASE_URL"]);
    let root = child::read_value(&mut stdout, "ROOT");
    let port: u16 = child::read_value(&mut stdout, "PORT").parse().expect("port number");
    assert!(Path::new(&root).is_dir(), "the child's cluster lives in {root}");
    assert!(server_answers(port), "the child's server listens on {port}");
    end(&mut process);
    process.wait().expect("child exits");
    wait_until("the server is stopped", || !server_answers(port));
    wait_until("the cluster directory is deleted", || !Path::new(&root).exists());
}

#[test]
fn panicking_test_process_leaves_no_server_or_directory() {
    assert_cluster_cleaned_up_after("lifecycle::child_panics_holding_a_cluster", |_| {});
}

#[test]
fn interrupted_test_process_leaves_no_server_or_directory() {
    assert_cluster_cleaned_up_after("lifecycle::child_waits_holding_a_cluster", |process| {
        let pid = Pid::from_raw(i32::try_from(process.id()).expect("pid fits"));
        kill(pid, Signal::SIGINT).expect("send Ctrl-C");
    });
}

#[test]
fn killed_test_process_leaves_no_server_or_directory() {
    assert_cluster_cleaned_up_after("lifecycle::child_waits_holding_a_cluster", |process| {
        process.kill().expect("kill -9");
    });
}

#[test]
fn finished_test_process_has_stopped_its_server_when_it_exits() {
    let (mut process, mut stdout) = child::spawn("lifecycle::child_uses_a_cluster", &[], &["DATABASE_URL"]);
    let root = child::read_value(&mut stdout, "ROOT");
    let port: u16 = child::read_value(&mut stdout, "PORT").parse().expect("port number");
    assert!(process.wait().expect("child exits").success());
    // The exit hook waits for the watchdog: no polling needed on a normal exit.
    assert!(!server_answers(port), "server on {port} outlived its process");
    assert!(!Path::new(&root).exists(), "{root} outlived its process");
}

#[test]
fn no_binaries_and_no_database_url_is_one_clear_error() {
    let empty = tempfile::tempdir().expect("tempdir");
    let pg_bin = empty.path().to_str().expect("utf-8 path");
    let (mut process, mut stdout) =
        child::spawn("lifecycle::child_reports_cluster_error", &[("PG_BIN", pg_bin)], &["DATABASE_URL"]);
    let message = child::read_value(&mut stdout, "ERROR");
    assert!(process.wait().expect("child exits").success());
    assert!(message.contains("no PostgreSQL server binaries found"), "{message}");
    assert!(message.contains(pg_bin), "names the directory searched: {message}");
    assert!(message.contains("install the `postgresql` package"), "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");
}

#[tokio::test]
async fn database_url_mode_creates_and_drops_a_database_on_that_server() {
    // Whether the suite itself runs on an embedded cluster or on DATABASE_URL, the
    // child is handed a URL to this server and must use it instead of starting one.
    let server = Cluster::shared().expect("shared cluster");
    let url = server.url("postgres");
    let (mut process, mut stdout) =
        child::spawn("lifecycle::child_uses_database_url", &[("DATABASE_URL", url.as_str())], &["PG_BIN"]);
    let name = child::read_value(&mut stdout, "DB");
    assert!(server.database_exists(&name).await.expect("lookup"), "{name} was created on DATABASE_URL's server");
    process.stdin.take().expect("child stdin").write_all(b"done\n").expect("tell the child to finish");
    assert!(process.wait().expect("child exits").success());
    assert!(!server.database_exists(&name).await.expect("lookup"), "{name} was dropped");
}

#[tokio::test]
async fn database_url_mode_drops_the_database_of_a_panicking_test() {
    let server = Cluster::shared().expect("shared cluster");
    let url = server.url("postgres");
    let (mut process, mut stdout) =
        child::spawn("lifecycle::child_panics_holding_a_database", &[("DATABASE_URL", url.as_str())], &[]);
    let name = child::read_value(&mut stdout, "DB");
    assert!(!process.wait().expect("child exits").success(), "the child test failed");
    assert!(!server.database_exists(&name).await.expect("lookup"), "{name} survived the panic");
}

// ---- Child-only tests: run by the tests above in a separate process. ----

fn report_cluster() -> std::sync::Arc<Cluster> {
    let cluster = Cluster::shared().expect("shared cluster");
    child::report("ROOT", cluster.root().expect("embedded").display());
    child::report("PORT", cluster.port().expect("embedded"));
    cluster
}

#[test]
#[ignore = "run by panicking_test_process_leaves_no_server_or_directory"]
fn child_panics_holding_a_cluster() {
    if child::is_child() {
        report_cluster();
        panic!("deliberate panic while the cluster runs");
    }
}

#[test]
#[ignore = "run by the interrupted and killed process tests"]
fn child_waits_holding_a_cluster() {
    if child::is_child() {
        report_cluster();
        // The parent ends this process with a signal long before this sleep ends.
        std::thread::sleep(Duration::from_secs(120));
    }
}

#[test]
#[ignore = "run by finished_test_process_has_stopped_its_server_when_it_exits"]
fn child_uses_a_cluster() {
    if child::is_child() {
        report_cluster();
    }
}

#[test]
#[ignore = "run by no_binaries_and_no_database_url_is_one_clear_error"]
fn child_reports_cluster_error() {
    if child::is_child() {
        let err = Cluster::from_settings(&Settings::from_env()).expect_err("no binaries in PG_BIN");
        child::report("ERROR", err.to_string().replace('\n', " "));
    }
}

#[tokio::test]
#[ignore = "run by database_url_mode_creates_and_drops_a_database_on_that_server"]
async fn child_uses_database_url() {
    if child::is_child() {
        let db = TestDb::create().await.expect("database on DATABASE_URL's server");
        assert!(!db.cluster().is_embedded(), "DATABASE_URL mode starts no cluster");
        crate::connect(db.url()).await.batch_execute("CREATE TABLE t (id int)").await.expect("use it");
        child::report("DB", db.name());
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).expect("wait for the parent");
    }
}

#[tokio::test]
#[ignore = "run by database_url_mode_drops_the_database_of_a_panicking_test"]
async fn child_panics_holding_a_database() {
    if child::is_child() {
        let db = TestDb::create().await.expect("database on DATABASE_URL's server");
        child::report("DB", db.name());
        panic!("deliberate panic holding {}", db.name());
    }
}
