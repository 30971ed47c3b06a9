//! Persistent clusters, as the example programs use them: data survives restarts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pg_harness::{AppDatabase, Cluster, Error, Lifetime, Settings};

use crate::connect;

/// A temporary parent directory the `postgres` user can enter when we run as root.
fn parent_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    dir
}

fn settings() -> Settings {
    Settings { database_url: None, ..Settings::from_env() }
}

async fn count_rows(url: &str) -> i64 {
    connect(url).await.query_one("SELECT count(*) FROM kept", &[]).await.expect("count").get(0)
}

#[tokio::test]
async fn data_survives_stopping_and_starting_again() {
    let parent = parent_dir();
    let root = parent.path().join("pg");
    let first =
        AppDatabase::open("demo", Some(&root), &settings(), Lifetime::StopWhenDropped).await.expect("first start");
    assert!(first.cluster().started_here());
    let port = first.cluster().port().expect("embedded");
    let client = connect(first.url()).await;
    client.batch_execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1), (2)").await.expect("write");
    drop(client);
    drop(first);
    assert_eq!(Cluster::persistent_port(&root, &settings()).expect("status"), None, "stopped on drop");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    let second =
        AppDatabase::open("demo", Some(&root), &settings(), Lifetime::StopWhenDropped).await.expect("second start");
    assert_eq!(second.cluster().port(), Some(port), "the URL stays the same across restarts");
    assert_eq!(count_rows(second.url()).await, 2);
}

#[tokio::test]
async fn keep_running_leaves_the_server_up_until_stopped() {
    let parent = parent_dir();
    let root = parent.path().join("pg");
    let started = Cluster::open_persistent(&root, &settings(), Lifetime::KeepRunning).expect("start");
    let port = started.port().expect("embedded");
    drop(started);
    assert_eq!(Cluster::persistent_port(&root, &settings()).expect("status"), Some(port));

    // A second program attaches to the running server and leaves it running.
    let attached = Cluster::open_persistent(&root, &settings(), Lifetime::StopWhenDropped).expect("attach");
    assert!(!attached.started_here());
    drop(attached);
    assert_eq!(Cluster::persistent_port(&root, &settings()).expect("status"), Some(port));

    assert!(Cluster::stop_persistent(&root, &settings()).expect("stop"));
    assert_eq!(Cluster::persistent_port(&root, &settings()).expect("status"), None);
    assert!(!Cluster::stop_persistent(&root, &settings()).expect("stop again"), "already stopped");
}

#[test]
fn a_server_that_cannot_start_is_reported_with_its_log() {
    let parent = parent_dir();
    let root = parent.path().join("pg");
    assert!(Cluster::open_persistent(&root, &settings(), Lifetime::KeepRunning).is_ok());
    assert!(Cluster::stop_persistent(&root, &settings()).expect("stop"));
    let config = root.join("data").join("postgresql.conf");
    let mut text = std::fs::read_to_string(&config).expect("read config");
    text.push_str("\nthis line is not a setting\n");
    std::fs::write(&config, text).expect("break the config");

    let err = Cluster::open_persistent(&root, &settings(), Lifetime::StopWhenDropped).expect_err("cannot start");
    assert!(matches!(err, Error::StartFailed { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("server log"), "{message}");
    assert!(message.contains("syntax error"), "the log names the cause: {message}");
}

#[test]
fn a_directory_the_server_user_cannot_enter_is_refused_clearly() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: only root switches to the postgres user, so only root can be refused");
        return;
    }
    let private = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let root: PathBuf = private.path().join("pg");
    let err = Cluster::open_persistent(&root, &settings(), Lifetime::StopWhenDropped).expect_err("unreachable");
    assert!(matches!(err, Error::Unreachable { ref path } if path == Path::new(&root)), "{err:?}");
    assert!(err.to_string().contains("PG_HARNESS_DIR"), "{err}");
}

#[test]
fn an_explicit_data_dir_wins_over_the_environment_and_the_default() {
    let from_env = Settings { data_dir: Some("/from/env".into()), ..Settings::default() };
    assert_eq!(pg_harness::data_root(Some(Path::new("/explicit")), &from_env).expect("root"), Path::new("/explicit"));
    assert_eq!(pg_harness::data_root(None, &from_env).expect("root"), Path::new("/from/env"));
}
