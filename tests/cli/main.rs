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
