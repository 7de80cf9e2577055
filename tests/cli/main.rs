//! Integration tests of the `sockscope` binary.

mod corpus;
mod demo;
mod history;
mod lifecycle;
mod record;
mod replay;
mod scenario;
mod watch;

use std::process::{Output, Stdio};
use std::time::Duration;

/// Runs the `sockscope` binary with `args` and extra environment `envs`,
/// and waits (bounded) for it to exit.
pub async fn sockscope(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sockscope"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("the binary runs");
    sockscope_test_support::within(
        Duration::from_secs(40),
        "sockscope to exit",
        child.wait_with_output(),
    )
    .await
    .expect("sockscope ran")
}

/// Starts the `sockscope` binary with `args` in the background (killed
/// when dropped) and reads its first stderr line, the banner that says
/// where it listens. Returns it, its stderr's other lines and the banner.
pub async fn spawn_with_banner(
    args: &[&str],
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    String,
) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sockscope"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary runs");
    let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let banner =
        sockscope_test_support::within(Duration::from_secs(20), "the banner", err.next_line())
            .await
            .unwrap()
            .expect("a banner on stderr");
    (child, err, banner)
}
