//! Reference servers of other protocols, run by Node.js: the job servers in
//! `tests/servers` (npm `socket.io`, `graphql-ws` over `ws`, and fixtures of
//! Phoenix Channels and SignalR written from their protocol documents). The
//! dialect tests, benchmarks and scenarios use them. Each prints
//! `LISTENING <port>` when ready and takes commands on stdin; every wait on
//! its output is bounded.
//!
//! Where they are: `SOCKSCOPE_REFERENCE_SERVERS`, else the source tree's
//! `tests/servers` (`npm ci --prefix tests/servers` installs their packages;
//! the test command does).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::SimError;

/// How long one awaited line may take.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The folder of the reference servers.
pub fn servers_dir() -> PathBuf {
    std::env::var_os("SOCKSCOPE_REFERENCE_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/servers"))
}

fn unavailable(why: impl std::fmt::Display) -> SimError {
    SimError::Reference(format!(
        "{why}; the reference servers need Node.js and their packages \
         (`npm ci --prefix tests/servers` in the source tree, or SOCKSCOPE_REFERENCE_SERVERS)"
    ))
}

impl ReferenceServer {
    /// Starts `{servers_dir}/{script}` with `options` (JSON) and waits for
    /// its port.
    pub async fn start(
        script: &str,
        options: serde_json::Value,
    ) -> Result<ReferenceServer, SimError> {
        let dir = servers_dir();
        if !dir.join("node_modules").is_dir() {
            return Err(unavailable(format!(
                "{} has no node_modules",
                dir.display()
            )));
        }
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .arg(options.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| unavailable(format!("node did not start ({e})")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(unavailable("node's pipes are missing"));
        };
        let mut server = ReferenceServer {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            output: Vec::new(),
            port: 0,
        };
        let line = server.line_starting("LISTENING ").await?;
        server.port = line["LISTENING ".len()..]
            .trim()
            .parse()
            .map_err(|_| unavailable(format!("{script} printed `{line}`, not a port")))?;
        Ok(server)
    }

    /// `ws://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// Waits (up to 10 s) for the next output line that starts with
    /// `prefix`.
    pub async fn line_starting(&mut self, prefix: &str) -> Result<String, SimError> {
        let read = async {
            loop {
                match self.lines.next_line().await {
                    Ok(Some(line)) => {
                        self.output.push(line.clone());
                        if line.starts_with(prefix) {
                            return Ok(line);
                        }
                    }
                    Ok(None) => {
                        return Err(unavailable(format!("the server exited before `{prefix}`")));
                    }
                    Err(e) => return Err(SimError::Io(e)),
                }
            }
        };
        tokio::time::timeout(LINE_TIMEOUT, read)
            .await
            .map_err(|_| SimError::Timeout(LINE_TIMEOUT))?
    }

    /// Sends one command line.
    pub async fn command(&mut self, line: &str) -> Result<(), SimError> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    /// Stops (`true`) or resumes (`false`) the process: a server that is
    /// there but silent, like a half-open link.
    pub fn freeze(&self, stop: bool) -> Result<(), SimError> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| unavailable("the server has exited"))?;
        let sig = if stop { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(unavailable(format!("kill {sig} {pid} failed")))
        }
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
