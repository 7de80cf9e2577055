//! The `sockscope-sim` command line, reusable by a `sockscope sim` subcommand.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

use crate::{Faults, Sim, SimConfig, SimError};

/// Run the fault-injecting job simulator until Ctrl-C.
#[derive(Debug, Clone, Parser)]
#[command(name = "sockscope-sim", version, about)]
pub struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// A server-wide fault, `knob=value` (repeatable; also `a=1,b=2`).
    #[arg(long = "fault", value_name = "KNOB=VALUE")]
    pub faults: Vec<Faults>,
}

/// Starts the simulator, prints `sockscope-sim listening on http://ADDR` on
/// stdout and serves until Ctrl-C.
pub async fn run(args: Args) -> Result<ExitCode, SimError> {
    let faults = args
        .faults
        .iter()
        .rev()
        .fold(Faults::default(), |acc, f| acc.merged_over(f));
    let sim = Sim::start(SimConfig {
        listen: args.listen,
        faults,
        ..SimConfig::default()
    })
    .await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "sockscope-sim listening on {}", sim.http_base())?;
        out.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
