//! Chromium under chromedriver for the browser test: finding the programs, starting the
//! driver, opening a headless session (with `fantoccini`), and making sure no browser
//! outlives the test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// `name` on `PATH`, or in `/usr/bin` (where Debian puts chromium and chromedriver).
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.iter().flat_map(|dir| names.iter().map(move |name| dir.join(name))).find(|candidate| candidate.is_file())
}

/// A chromedriver process on a free local port, killed when dropped.
pub struct Driver {
    url: String,
    _process: Child,
}

impl Driver {
    /// Starts `chromedriver`; sessions wait for it to listen.
    pub fn start(chromedriver: &Path) -> Driver {
        // A port the OS just handed out is free; chromedriver binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        Driver { url: format!("http://127.0.0.1:{port}"), _process: process }
    }

    /// A headless Chromium session (`binary`), with the flags it needs as root in a
    /// container and without any network access of its own. Retries while chromedriver
    /// is starting.
    pub async fn session(&self, binary: &Path, profile: &Path) -> Client {
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-crash-reporter".to_owned(),
            "--disable-breakpad".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), json!({"binary": binary.display().to_string(), "args": args}));
        let started = Instant::now();
        loop {
            match ClientBuilder::new(HttpConnector::new()).capabilities(capabilities.clone()).connect(&self.url).await {
                Ok(client) => return client,
                Err(error) => {
                    assert!(started.elapsed() < Duration::from_secs(30), "no chromedriver session: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// A Chrome DevTools command, sent through chromedriver (fantoccini has no method for
/// these, but takes any WebDriver-shaped command).
#[derive(Debug)]
struct DevTools {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"cmd": self.cmd, "params": self.params}).to_string()))
    }
}

/// Sends `headers` with every request of the session: how the test presents the
/// dashboard's bearer token.
pub async fn extra_headers(client: &Client, headers: Value) {
    for command in [
        DevTools { cmd: "Network.enable", params: json!({}) },
        DevTools { cmd: "Network.setExtraHTTPHeaders", params: json!({"headers": headers}) },
    ] {
        let cmd = command.cmd;
        client.issue_cmd(command).await.unwrap_or_else(|e| panic!("DevTools {cmd}: {e}"));
    }
}

/// The processes whose command line names `profile` (the browser this test started: its
/// profile directory is unique to the test).
fn browser_processes(profile: &Path) -> Vec<i32> {
    let needle = profile.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains(&needle))
        })
        .collect()
}

/// Kills the browser using a profile when dropped: a failing test must not leave a
/// browser running either.
pub struct Reaper(pub PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in browser_processes(&self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Waits for the browser using `profile` to exit after its session closed, and kills
/// what is left after a while, so no browser outlives the test.
pub async fn reap_browser(profile: &Path) {
    let started = Instant::now();
    while !browser_processes(profile).is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for pid in browser_processes(profile) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}
