//! The `sockscope` command line. For now: `demo` (the simulator plus three
//! job sockets whose faults set off the races of the seeds, with every
//! transition and finding printed) and `sim` (the simulator alone).

mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Watch WebSocket job sockets and the races on them.
#[derive(Debug, Parser)]
#[command(name = "sockscope", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded simulator with three demo jobs and print what happens.
    ///
    /// Example: `sockscope demo`
    Demo(demo::DemoArgs),
    /// Run the fault-injecting simulator and print its address.
    ///
    /// Example: `sockscope sim --listen 127.0.0.1:8080 --fault interval_ms=200`
    Sim(sockscope_sim::cli::Args),
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.command {
            Command::Demo(a) => demo::run(a).await,
            Command::Sim(a) => Ok(sockscope_sim::cli::run(a).await?),
        }
    })
}
