//! Reference servers of other protocols (`tests/servers/*.mjs`: npm
//! `socket.io`, `graphql-ws` over `ws`), run by Node.js for the dialect
//! tests. `scripts/test.sh` installs their packages (`npm ci` in
//! `tests/servers`). Each prints `LISTENING <port>` when ready and takes
//! commands on stdin; every wait on its output is bounded.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::{EVENT_TIMEOUT, within};

/// A reference server process, killed when dropped.
#[derive(Debug)]
pub struct ReferenceServer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Lines read so far.
    pub output: Vec<String>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/servers")
}

impl ReferenceServer {
    /// Starts `tests/servers/{script}` with `options` (JSON) and waits for
    /// its port. Panics with what to run when Node.js or the packages are
    /// missing: a dialect test must not pass without its server.
    pub async fn start(script: &str, options: serde_json::Value) -> ReferenceServer {
        let dir = servers_dir();
        assert!(
            dir.join("node_modules").is_dir(),
            "the reference servers' packages are missing: run `npm ci --prefix tests/servers` \
             (scripts/test.sh does)"
        );
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .arg(options.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install Node.js; scripts/test.sh does)");
        let stdin = child.stdin.take().expect("piped");
        let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut server = ReferenceServer {
            child,
            stdin,
            lines,
            output: Vec::new(),
            port: 0,
        };
        let line = server.line_starting("LISTENING ").await;
        server.port = line["LISTENING ".len()..].trim().parse().expect("a port");
        server
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// Waits for the next output line that starts with `prefix`.
    pub async fn line_starting(&mut self, prefix: &str) -> String {
        let what = format!("the server to print `{prefix}`");
        within(EVENT_TIMEOUT, &what, async {
            loop {
                let line = self
                    .lines
                    .next_line()
                    .await
                    .expect("the server's stdout reads")
                    .unwrap_or_else(|| panic!("the server exited before `{prefix}`"));
                self.output.push(line.clone());
                if line.starts_with(prefix) {
                    return line;
                }
            }
        })
        .await
    }

    /// Sends one command line.
    pub async fn command(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the server reads commands");
        self.stdin.flush().await.expect("flushed");
    }

    /// Stops (`true`) or resumes (`false`) the process: a server that is
    /// there but silent, like a half-open link.
    pub fn freeze(&self, stop: bool) {
        let pid = self.child.id().expect("running").to_string();
        let sig = if stop { "-STOP" } else { "-CONT" };
        let ok = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        // A stopped process must be let run to die.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}
