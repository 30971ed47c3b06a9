//! Just enough of the W3C WebDriver protocol to drive chromedriver from a test: a session,
//! navigation, finding elements by CSS selector, text and clicks. Plain HTTP/1.1 over a
//! TCP stream, one request per connection (the workspace has no HTTP client crate, and
//! these few commands do not justify one).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `name` on `PATH`, or in `/usr/bin` (where Debian puts chromium and chromedriver).
pub fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.iter().flat_map(|dir| names.iter().map(move |name| dir.join(name))).find(|candidate| candidate.is_file())
}

/// A chromedriver process on a free local port, killed when dropped.
pub struct Driver {
    addr: SocketAddr,
    _process: Child,
}

impl Driver {
    /// Starts `chromedriver` and waits until it answers `/status` as ready.
    pub async fn start(chromedriver: &Path) -> Driver {
        // A port the OS just handed out is free; chromedriver binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let driver = Driver { addr: SocketAddr::from(([127, 0, 0, 1], port)), _process: process };
        let started = Instant::now();
        loop {
            if let Ok((_, status)) = driver.try_call("GET", "/status", None).await
                && status["value"]["ready"] == json!(true)
            {
                return driver;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A headless Chromium session (`binary`), with the flags it needs as root in a
    /// container and without any network access of its own.
    pub async fn session(&self, binary: &Path, profile: &Path) -> Session<'_> {
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
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary.display().to_string(), "args": args},
        }}});
        let value = self.call("POST", "/session", Some(capabilities)).await;
        let id = value["sessionId"].as_str().unwrap_or_else(|| panic!("no session id in {value}")).to_owned();
        Session { driver: self, id }
    }

    /// A command; panics on a transport error or a WebDriver error. Returns `value`.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, reply) =
            self.try_call(method, path, body).await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert!(status < 300, "{method} {path}: {status} {reply}");
        reply["value"].clone()
    }

    async fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> std::io::Result<(u16, Value)> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        // chromedriver keeps the connection open despite `Connection: close`: read the
        // head, then exactly `Content-Length` bytes.
        let raw = tokio::time::timeout(Duration::from_secs(60), read_response(&mut stream))
            .await
            .map_err(|_| std::io::Error::other("no reply within 60 s"))??;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no end of headers"))?;
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        let value = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
        Ok((status, value))
    }
}

/// One response's bytes: the head, and the body as long as its `Content-Length` says
/// (to the end of the stream without one).
async fn read_response(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&chunk[..read]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse::<usize>().ok());
        if let Some(length) = length
            && raw.len() >= end + 4 + length
        {
            raw.truncate(end + 4 + length);
            return Ok(raw);
        }
    }
}

/// A browser session; closed by [`Session::close`].
pub struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.driver.call(method, &format!("/session/{}{path}", self.id), body).await
    }

    /// Sends `headers` with every request of this session (Chrome DevTools, through
    /// chromedriver): how the test presents the dashboard's bearer token.
    pub async fn extra_headers(&self, headers: Value) {
        let cdp = |cmd: &str, params: Value| json!({"cmd": cmd, "params": params});
        self.call("POST", "/goog/cdp/execute", Some(cdp("Network.enable", json!({})))).await;
        self.call("POST", "/goog/cdp/execute", Some(cdp("Network.setExtraHTTPHeaders", json!({"headers": headers}))))
            .await;
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url}))).await;
    }

    /// The current page's source.
    pub async fn source(&self) -> String {
        self.call("GET", "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching `css`, or `None`.
    pub async fn find(&self, css: &str) -> Option<String> {
        let body = json!({"using": "css selector", "value": css});
        let (status, reply) = self
            .driver
            .try_call("POST", &format!("/session/{}/element", self.id), Some(body))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        (status < 300).then(|| reply["value"][ELEMENT].as_str().map(str::to_owned)).flatten()
    }

    /// The first element matching `css`; panics with the page source when there is none.
    pub async fn element(&self, css: &str) -> String {
        match self.find(css).await {
            Some(element) => element,
            None => panic!("no element {css} on the page:\n{}", self.source().await),
        }
    }

    /// An element's rendered text.
    pub async fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), None).await.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks an element (a form button submits its form, and the navigation is awaited).
    pub async fn click(&self, element: &str) {
        self.call("POST", &format!("/element/{element}/click"), Some(json!({}))).await;
    }

    /// Ends the session (the browser quits).
    pub async fn close(self) {
        self.call("DELETE", "", None).await;
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
