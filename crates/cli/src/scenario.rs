//! `sockscope scenario`: the race scenario catalog of `sockscope-core`.

use std::process::ExitCode;

use sockscope_core::scenario;

/// `sockscope scenario list|run NAME`.
#[derive(Debug, clap::Subcommand)]
pub enum ScenarioCommand {
    /// List every scenario: id, seed, the findings it must produce, the race.
    List,
    /// Run one scenario; print what happened, the findings and PASS or FAIL.
    /// Exits non-zero when a check fails.
    ///
    /// Example: `sockscope scenario run send-before-handshake`
    Run {
        /// The scenario's id, as `sockscope scenario list` shows it.
        name: String,
        #[command(flatten)]
        db: crate::history::DbArg,
    },
}

/// Runs the subcommand.
pub async fn run(command: ScenarioCommand) -> anyhow::Result<ExitCode> {
    match command {
        ScenarioCommand::List => {
            println!(
                "{:<28} {:<9} {:<60} race",
                "id", "seed", "expected findings"
            );
            for s in scenario::catalog() {
                let expected: Vec<&str> = s.expected.iter().map(|c| c.as_str()).collect();
                let expected = if expected.is_empty() {
                    "(none; checks the reconnect spread)".to_owned()
                } else {
                    expected.join(", ")
                };
                println!("{:<28} {:<9} {expected:<60} {}", s.id, s.seed, s.race);
            }
            Ok(ExitCode::SUCCESS)
        }
        ScenarioCommand::Run { name, db } => {
            let report = scenario::run_recorded(&name, &db.path()?).await?;
            println!("{report}");
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
