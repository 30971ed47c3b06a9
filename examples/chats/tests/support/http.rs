//! A minimal HTTP/1.1 client for the tests (the workspace has no HTTP client crate):
//! one request per connection with `Connection: close`, so a response ends where the
//! server closes the connection.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take before the test fails instead of hanging.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A response, its body decoded as UTF-8.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Response {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, None).await
}

/// `POST path` with a JSON body (sent as is: it may be malformed on purpose).
pub async fn post(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(addr, "POST", path, Some(body)).await
}

/// `PATCH path` with a JSON body.
pub async fn patch(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(addr, "PATCH", path, Some(body)).await
}

/// `DELETE path`.
pub async fn delete(addr: SocketAddr, path: &str) -> Response {
    request(addr, "DELETE", path, None).await
}

/// Sends one request and reads the whole response.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Response {
    tokio::time::timeout(TIMEOUT, exchange(addr, method, path, body))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no response within {TIMEOUT:?}"))
}

/// Sends one request and returns the connection without reading the response: the
/// caller drops it to abandon the request (a client that goes away), or reads it with
/// [`receive`].
pub async fn send(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect to the server");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send the request head");
    stream.write_all(body.unwrap_or_default().as_bytes()).await.expect("send the request body");
    stream
}

/// Reads the whole response of a request sent with [`send`], for at most 30 s.
pub async fn receive(mut stream: TcpStream) -> Response {
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| panic!("no response within {TIMEOUT:?}"))
        .expect("read the response");
    parse(&raw)
}

async fn exchange(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Response {
    let mut stream = send(addr, method, path, body).await;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read the response");
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no end of headers in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Response { status, headers, body }
}

/// Joins the chunks of a `Transfer-Encoding: chunked` body.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or_default().trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    body
}
