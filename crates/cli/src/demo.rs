//! `sockscope demo`: the simulator and three job sockets whose faults set off
//! the races of the seeds, every transition and finding printed as it happens.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{EventKind, Finding, MessageStage, StateSyncOutcome};
use sockscope_engine::{Engine, EngineConfig, SocketConfig, SocketId, StaticToken};
use sockscope_sim::{Faults, JobKind, Sim, SimConfig};

/// Options of `sockscope demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Items per job.
    #[arg(long, default_value_t = 60)]
    items: u64,
    /// Milliseconds between items.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
}

struct DemoJob {
    kind: JobKind,
    story: &'static str,
    faults: Faults,
    early_sends: usize,
}

fn jobs(items: u64, interval_ms: u64) -> Vec<DemoJob> {
    let pace = |f: Faults| Faults {
        interval_ms: Some(interval_ms),
        ..f
    };
    vec![
        DemoJob {
            kind: JobKind::CsvImport,
            story: "slow handshake with sends before Ready (seed 000), then an abrupt drop and a resume (seed 002)",
            faults: pace(Faults {
                accept_delay_ms: Some(400),
                drop_after: Some(items / 3),
                ..Faults::default()
            }),
            early_sends: 2,
        },
        DemoJob {
            kind: JobKind::BookshelfScan,
            story: "accepted but deaf for a while (seeds 001, 004): ready times out and is sent again",
            faults: pace(Faults {
                ready_deaf_ms: Some(1_200),
                ..Faults::default()
            }),
            early_sends: 0,
        },
        DemoJob {
            kind: JobKind::Enrichment,
            story: "server restart mid-job with frames after its close (seed 003), no history, a 503 on state sync",
            faults: pace(Faults {
                close_after: Some(items / 2),
                send_after_close: Some(2),
                history: Some(0),
                state_5xx: Some(1),
                ..Faults::default()
            }),
            early_sends: 0,
        },
    ]
}

/// Runs the demo until every socket has ended.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let sim = Sim::start(SimConfig::default()).await?;
    println!("sockscope demo: simulator on {}", sim.http_base());
    let engine = Engine::new(EngineConfig::default())?;
    let mut events = engine.subscribe_lossless(4096);
    let mut names: HashMap<SocketId, String> = HashMap::new();
    let mut handles = Vec::new();
    for job in jobs(args.items.max(3), args.interval_ms) {
        let created = sim.create_job(job.kind, args.items.max(3), job.faults)?;
        let mut cfg = SocketConfig::job(created.ws_url.clone());
        cfg.name = Some(job.kind.as_str().to_owned());
        cfg.token = Some(Arc::new(StaticToken::new(created.token.clone())));
        cfg.timeouts.ready = Duration::from_millis(500);
        cfg.ready_resends = 4;
        let handle = engine.add_socket(&cfg)?;
        println!("  {:<15} {}", job.kind.as_str(), job.story);
        names.insert(handle.id(), job.kind.as_str().to_owned());
        for n in 0..job.early_sends {
            let ping = format!(r#"{{"v":1,"type":"ping","payload":{{"nonce":"early-{n}"}}}}"#);
            handle.send(ping).await?;
        }
        handles.push(handle);
    }
    let start = engine.now();
    let mut open = handles.len();
    let mut findings = 0usize;
    let mut failed = 0usize;
    while open > 0 {
        let Some(event) = events.recv().await else {
            break;
        };
        let name = names.get(&event.socket).map_or("?", String::as_str);
        let t = event.mono.since(start).as_secs_f64();
        let line = match &event.kind {
            EventKind::Transition { from, to, cause } => {
                if to.is_terminal() {
                    open -= 1;
                    if matches!(to, sockscope_engine::State::Failed { .. }) {
                        failed += 1;
                    }
                }
                Some(format!("{} -> {to}  ({cause:?})", from.as_str()))
            }
            EventKind::Finding(Finding { class, detail, .. }) => {
                findings += 1;
                Some(format!("! {}: {detail}", class.as_str()))
            }
            EventKind::BackoffPlanned { attempt, delay, .. } => {
                Some(format!("  backoff #{attempt} planned: {delay:.0?}"))
            }
            EventKind::StateSync(r) => match &r.outcome {
                StateSyncOutcome::Requested => Some(format!("  state sync try {}", r.try_no)),
                StateSyncOutcome::Synced {
                    processed, total, ..
                } => Some(format!("  state synced: {processed}/{total}")),
                StateSyncOutcome::Failed { error, .. } => {
                    Some(format!("  state sync failed: {error}"))
                }
            },
            EventKind::Message {
                id,
                stage: MessageStage::Written,
            } => Some(format!("  message {id} written")),
            EventKind::Progress(p) if p.status == Some(sockscope_sim::JobStatus::Complete) => {
                Some(format!("  progress {}/{}", p.processed, p.total))
            }
            _ => None,
        };
        if let Some(line) = line {
            println!("{t:>8.3}s  {name:<15} {line}");
        }
    }
    println!(
        "demo done: {} sockets, {findings} findings, {failed} failed",
        handles.len()
    );
    sim.shutdown().await;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
