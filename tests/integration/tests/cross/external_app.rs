//! `fixtures/shop`, an application with its own Cargo workspace that depends on the
//! libraries by path as a user would by version: built, migrated onto a fresh database,
//! served, fed one order over HTTP and one with psql, and stopped with SIGTERM.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pg_harness::{ServerBinaries, Settings, TestDb};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::http;

/// How long the server gets to become ready, process a change, or stop.
const DEADLINE: Duration = Duration::from_secs(60);

/// The fixture's own directory.
fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/shop")
}

/// Builds the fixture offline and locked (its committed Cargo.lock pins the main
/// workspace's versions, so the registry cache has every crate, and it must be current:
/// it is what a user of the fixture gets) into `<workspace target>/fixtures`, the target
/// directory every fixture application shares; returns the binary.
fn build_shop() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`, wherever the target directory is.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("a target directory").join("fixtures");
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--locked", "--manifest-path"])
        .arg(fixture_dir().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo build");
    assert!(
        output.status.success(),
        "building fixtures/shop failed (a stale Cargo.lock: run `cargo metadata --offline --manifest-path \
         fixtures/shop/Cargo.toml` and commit the lock):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("fixtures/shop built in {:.1?}", started.elapsed());
    // What CI's cache holds is what the main workspace locks.
    let workspace = registry_packages(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock"));
    let fixture = registry_packages(&fixture_dir().join("Cargo.lock"));
    assert!(fixture.iter().any(|(name, _)| name == "axum"), "no registry packages read from the fixture's lock");
    let unknown: Vec<_> = fixture.difference(&workspace).collect();
    assert!(unknown.is_empty(), "fixtures/shop/Cargo.lock has versions the main Cargo.lock does not: {unknown:?}");
    target.join("debug/shop")
}

/// The `(name, version)` of every registry package in a Cargo.lock.
fn registry_packages(lock: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(lock).unwrap_or_else(|error| panic!("read {}: {error}", lock.display()));
    let value = |block: &str, key: &str| {
        block.lines().find_map(|line| line.strip_prefix(key)).map(|rest| rest.trim_matches('"').to_owned())
    };
    text.split("[[package]]")
        .filter(|block| value(block, "source = ").is_some_and(|source| source.starts_with("registry+")))
        .filter_map(|block| Some((value(block, "name = ")?, value(block, "version = ")?)))
        .collect()
}

/// Runs `shop args` to completion, on `db_url` when given (and no database otherwise).
fn shop(binary: &Path, args: &[&str], db_url: Option<&str>) -> Output {
    let mut command = Command::new(binary);
    command.args(args).env_remove("DATABASE_URL");
    if let Some(url) = db_url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("run shop")
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "shop failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `psql` next to the harness's server binaries, else the one on PATH (a server named by
/// DATABASE_URL may have no binaries here).
fn psql(db_url: &str, sql: &str) {
    let program = ServerBinaries::locate(&Settings::from_env())
        .map(|binaries| binaries.program("psql"))
        .ok()
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("psql"));
    let output = Command::new(&program)
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-c", sql, db_url])
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", program.display()));
    assert!(output.status.success(), "psql failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    socket.local_addr().expect("address").port()
}

/// Files of `dir`, sorted, with their contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .expect("read the migrations")
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let text = std::fs::read_to_string(&path).expect("read a migration");
            (PathBuf::from(path.file_name().expect("a file name")), text)
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_shop_fixture_migrates_serves_processes_http_and_psql_writes_and_stops_on_sigterm() {
    let binary = build_shop();

    // The committed capture migration is what the code generates today.
    let copy = tempfile::tempdir().expect("a temporary directory");
    let migrations = fixture_dir().join("migrations");
    for (name, text) in snapshot(&migrations) {
        std::fs::write(copy.path().join(name), text).expect("copy a migration");
    }
    let generated =
        stdout_of(&shop(&binary, &["triggers", "generate", copy.path().to_str().expect("a UTF-8 path")], None));
    assert!(generated.contains("unchanged"), "{generated}");
    assert_eq!(snapshot(copy.path()), snapshot(&migrations), "triggers generate wrote into a copy of migrations/");

    let db = TestDb::create().await.expect("test database");
    let migrated = stdout_of(&shop(&binary, &["migrate"], Some(db.url())));
    assert!(migrated.contains("migrations applied"), "{migrated}");
    let checked = shop(&binary, &["triggers", "check"], Some(db.url()));
    assert_eq!(checked.status.code(), Some(0), "no drift after migrate:\n{}", String::from_utf8_lossy(&checked.stdout));

    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("an address");
    let mut child = tokio::process::Command::new(&binary)
        .args(["serve", "--addr", &addr.to_string()])
        .env("DATABASE_URL", db.url())
        .env("SHOP_OPS_TOKEN", "a-test-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start shop serve");
    let mut stderr = child.stderr.take().expect("stderr");
    // Drained as it comes, so a chatty server never blocks on a full pipe.
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = stdout.next_line().await.expect("read stdout") {
            if line.starts_with("listening on http://") {
                return true;
            }
        }
        false
    })
    .await
    .expect("shop serve is ready within the deadline");
    assert!(ready, "shop serve exited before it was ready:\n{}", stderr.await.unwrap_or_default());

    // One order through the API, one behind its back.
    let created = http::post(addr, "/orders", &json!({"customer": "ada", "total_cents": 1250}).to_string()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    psql(db.url(), "INSERT INTO orders (customer, total_cents) VALUES ('ada', 250)");

    let expected = json!({"customer": "ada", "orders": 2, "total_cents": 1500});
    let started = Instant::now();
    loop {
        let totals = http::get(addr, "/customers/ada").await;
        if totals.status == 200 && totals.json() == expected {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the totals never reached {expected}: {} {}", totals.status, totals.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The dashboard is mounted under /ops, behind its credential.
    let ops = http::get(addr, "/ops").await;
    assert_eq!(ops.status, 401, "{}", ops.body);

    let pid = Pid::from_raw(i32::try_from(child.id().expect("running")).expect("a pid"));
    kill(pid, Signal::SIGTERM).expect("send SIGTERM");
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("shop serve stops within the deadline")
        .expect("wait for shop serve");
    let mut rest = Vec::new();
    while let Some(line) = stdout.next_line().await.expect("read stdout") {
        rest.push(line);
    }
    let stderr = stderr.await.expect("the stderr reader");
    assert!(status.success(), "shop serve exited with {status}:\n{}\n{stderr}", rest.join("\n"));
    assert_eq!(rest, ["stopped"], "{stderr}");
}

/// The README's "Add it to your application" shows the fixture, which the test above
/// builds: its Rust and SQL blocks are verbatim excerpts of the fixture's sources and
/// migrations, its Cargo lines those of the fixture's manifest without the `path` that
/// stands in for the registry.
#[test]
fn the_readme_integration_section_is_excerpts_of_the_fixture() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .expect("read the README");
    let start = readme.find("\n## Add it to your application\n").expect("the README has the section") + 1;
    let section = &readme[start..];
    let section = section[1..].find("\n## ").map_or(section, |end| &section[..=end]);

    let sources: Vec<String> = snapshot(&fixture_dir().join("src")).into_iter().map(|(_, text)| text).collect();
    let migrations: Vec<String> =
        snapshot(&fixture_dir().join("migrations")).into_iter().map(|(_, text)| text).collect();
    let manifest = std::fs::read_to_string(fixture_dir().join("Cargo.toml")).expect("read the fixture's manifest");
    let manifest = manifest.replace(r#"path = "../../db-listenable", "#, "");
    let mut blocks = 0;
    // Between fences: odd pieces are code blocks, their first line the language.
    for block in section.split("```").skip(1).step_by(2) {
        let (language, body) = block.split_once('\n').expect("a fenced block has a language line");
        match language {
            "rust" => assert!(sources.iter().any(|source| source.contains(body)), "not in fixtures/shop/src:\n{body}"),
            "sql" => {
                assert!(migrations.iter().any(|sql| sql.contains(body)), "not in fixtures/shop/migrations:\n{body}")
            }
            "toml" => {
                for line in body.lines() {
                    assert!(manifest.lines().any(|own| own == line), "not in fixtures/shop/Cargo.toml: {line}");
                }
            }
            other => panic!("a {other:?} block the test cannot check:\n{body}"),
        }
        blocks += 1;
    }
    assert!(
        blocks >= 6,
        "the section shows the Cargo lines, tables, model, processor, command line and server: {blocks}"
    );
}
