//! `sockscope demo`: the simulator and three job sockets whose faults set off
//! the races of the seeds, every transition and finding printed as it
//! happens, and the whole run recorded.

use std::path::PathBuf;
use std::process::ExitCode;

use sockscope_core::demo::{DEMO_ITEMS, EndlessDemo, demo_jobs};
use sockscope_core::{Session, SessionOptions};

use crate::printer::{EventPrinter, until_all_ended};
use crate::summary::{FindingTally, end_session};
use sockscope_core::signal::Signals;

/// Options of `sockscope demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Items per job.
    #[arg(long, default_value_t = DEMO_ITEMS)]
    items: u64,
    /// Milliseconds between items.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// Seeds the sockets' reconnect jitter, so a run's backoff delays
    /// repeat. Default: random.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// The database to record into. Default: the platform data dir.
    #[arg(long, env = "SOCKSCOPE_DB", value_name = "FILE")]
    db: Option<PathBuf>,
    /// Go on after the three jobs, like the desktop app's demo: a new job
    /// every 5 s, a long import beside them, the races in turn, until
    /// Ctrl-C or SIGTERM. Default: off.
    #[arg(long)]
    endless: bool,
}

/// Runs the demo until every socket has ended (or, `--endless`, forever),
/// or a signal comes.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::install()?;
    for job in demo_jobs(args.items, args.interval_ms) {
        println!("  {:<15} {}", job.kind.as_str(), job.story);
    }
    let session = Session::start(SessionOptions {
        db_path: args.db,
        demo: true,
        demo_items: Some(args.items),
        demo_interval_ms: Some(args.interval_ms),
        demo_seed: args.seed,
        demo_endless: args.endless.then(EndlessDemo::default),
        watch_environment: true,
        live_from_start: true,
        ..SessionOptions::default()
    })
    .await?;
    let mut events = session.subscribe_from_start();
    println!(
        "sockscope demo: simulator on {}, recording session {} to {}",
        session.sim_base().await.unwrap_or_default(),
        session.session_id(),
        session.db_path().display()
    );
    let mut printer = EventPrinter::default();
    let mut findings = FindingTally::default();
    let followed = until_all_ended(
        &session,
        args.endless,
        &mut events,
        &mut signals,
        |n| println!("  ({n} events not shown; all are recorded)"),
        |e| {
            findings.record(e);
            if let Some(line) = printer.line(e) {
                println!("{line}");
            }
            Ok(())
        },
    )
    .await?;
    // Drain what is already queued, so the last transitions are shown.
    while let Ok(e) = events.try_recv() {
        findings.record(&e);
        if let Some(line) = printer.line(&e) {
            println!("{line}");
        }
    }
    let id = session.session_id();
    let db = session.db_path().to_owned();
    let ending = end_session(session, followed, signals, &findings).await?;
    let found: u64 = ending.sockets.iter().map(|s| s.findings).sum();
    print!("{}", ending.summary);
    println!(
        "demo done: {} sockets, {found} findings; {} events in session {id} of {}",
        ending.sockets.len(),
        ending.end.written,
        db.display()
    );
    println!(
        "  see it again: sockscope timeline --session {id} --db {}",
        db.display()
    );
    Ok(ending.code)
}
