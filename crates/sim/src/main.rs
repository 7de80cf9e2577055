//! `sockscope-sim`: the fault-injecting job simulator as a program.

use std::process::ExitCode;

use clap::Parser;
use sockscope_sim::cli::{Args, run};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    // The library reports typed errors; the binary only adds context.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    Ok(run(Args::parse()).await?)
}
