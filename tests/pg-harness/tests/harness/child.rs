//! Running one of this binary's tests in a child process, to observe what a process
//! leaves behind when it panics, is interrupted or is killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

/// Marks the environment of a child run; child-only tests do nothing without it.
pub const CHILD_MARKER: &str = "PG_HARNESS_TEST_CHILD";

/// Starts `test` (an `#[ignore]`d test of this binary) in a child process.
/// `env` is added; `remove` names variables to take away (e.g. `DATABASE_URL`).
pub fn spawn(test: &str, env: &[(&str, &str)], remove: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let exe = std::env::current_exe().expect("path of this test binary");
    let mut command = Command::new(exe);
    command
        .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_MARKER, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    for key in remove {
        command.env_remove(key);
    }
    let mut child = command.spawn().expect("spawn child test");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    (child, stdout)
}

/// Reads the child's output until a line `KEY=value`, and returns the value.
pub fn read_value(stdout: &mut BufReader<ChildStdout>, key: &str) -> String {
    let prefix = format!("{key}=");
    let mut line = String::new();
    loop {
        line.clear();
        let read = stdout.read_line(&mut line).expect("read child output");
        assert!(read > 0, "child ended before printing {key}=");
        // The test runner prints `test name ... ` without a newline before the body runs.
        if let Some(start) = line.find(&prefix) {
            return line[start + prefix.len()..].trim_end().to_owned();
        }
    }
}

/// Whether this process is a child started by [`spawn`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Prints a `KEY=value` line the parent reads with [`read_value`].
pub fn report(key: &str, value: impl std::fmt::Display) {
    use std::io::Write;
    println!("{key}={value}");
    std::io::stdout().flush().expect("flush stdout");
}
