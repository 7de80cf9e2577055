//! connect→Ready latency of the engine, side by side with bare
//! tokio-tungstenite against the same loopback simulator (issue 2). A
//! benchmark, not a timed test: nothing fails on a slow run.
//!
//! `cargo bench -p sockscope-engine --bench connect` runs 1000 measured
//! connects per variant after 50 warm-ups each. `SOCKSCOPE_BENCH_N` (or a
//! numeric argument) sets the count; `SOCKSCOPE_BENCH_RT=multi` runs the
//! client side on a 2-worker multi-thread runtime instead of the default
//! current-thread one. `SOCKSCOPE_BENCH_BREAKDOWN=1` also subscribes to the
//! engine's live events and prints where each side's time goes (median per
//! phase); the subscriber costs a little, so use plain runs for the ratios.
//! `SOCKSCOPE_BENCH_ONLY=engine` (or `bare`) runs one side alone, for its
//! instruction count per connect under callgrind (the table's other side
//! then reads zero); `SOCKSCOPE_BENCH_ADAPTERS=raw` (or `job`) one adapter.
//! The simulator always has its own 1-worker runtime, so
//! on a 2-core machine client and server each get a core.
//!
//! Variants, interleaved engine, bare, engine, bare… per adapter:
//! - `raw`: engine `add_socket` → Ready snapshot (Ready = handshake done) vs
//!   bare `connect_async` with the same `Authorization` header.
//! - `job`: engine `add_socket` → Ready snapshot (Ready = `ready_ack`) vs bare
//!   `connect_async`, one `ready` text frame, read until `ready_ack`.
//!
//! Every connect gets a fresh job (created and deleted outside the timed
//! span), so no replay and no running job skews a ready round trip. Each
//! socket is torn down (close frame sent, transport dropped) before the next
//! connect starts, also outside the timed span.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sockscope_engine::{Engine, EngineConfig, Event, EventKind, SocketConfig, State, StaticToken};
use sockscope_sim::{CreateJobResponse, Faults, JobKind, Sim, SimConfig};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Warm-up connects per variant, not measured.
const WARMUP: usize = 50;
/// Bound on one connect or teardown; a hang is a bug, not a slow run.
const LIMIT: Duration = Duration::from_secs(10);
/// The one frame the bare job client sends.
const READY: &str = r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#;

/// Where one connect's time went, in ns. Engine: add_socket → task's first
/// event, → Connecting, → handshake seen, → Ready, → waiter woken. Bare:
/// handshake, ready round trip (the rest zero).
type Phases = [u64; 5];

/// One connect: its total time and, in breakdown mode, its phases.
type Sample = (Duration, Option<Phases>);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Adapter {
    Raw,
    Job,
}

fn main() {
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .or_else(|| {
            std::env::var("SOCKSCOPE_BENCH_N")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(1000)
        .max(1);
    let multi = std::env::var("SOCKSCOPE_BENCH_RT").is_ok_and(|v| v == "multi");
    let breakdown = std::env::var("SOCKSCOPE_BENCH_BREAKDOWN").is_ok_and(|v| v == "1");
    let only = std::env::var("SOCKSCOPE_BENCH_ONLY").unwrap_or_default();
    let sides = Sides {
        engine: only != "bare",
        bare: only != "engine",
    };
    let adapters: Vec<Adapter> = match std::env::var("SOCKSCOPE_BENCH_ADAPTERS").as_deref() {
        Ok("raw") => vec![Adapter::Raw],
        Ok("job") => vec![Adapter::Job],
        _ => vec![Adapter::Raw, Adapter::Job],
    };

    // The simulator on its own runtime and thread.
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sim")
        .enable_all()
        .build()
        .expect("sim runtime");
    let sim = sim_rt
        .block_on(Sim::start(SimConfig::default()))
        .expect("simulator starts");

    let client_rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("client runtime");

    let results = client_rt.block_on(async {
        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let mut live = breakdown.then(|| engine.subscribe_live());
        let mut rows = Vec::new();
        for adapter in adapters {
            let (e, b) = run_pair(&sim, &engine, live.as_mut(), adapter, n, sides).await;
            rows.push((adapter, e, b));
        }
        rows
    });
    drop(client_rt);
    sim_rt.block_on(sim.shutdown());

    println!();
    println!(
        "connect→Ready, {n} connects per variant after {WARMUP} warm-ups, interleaved; \
         client runtime: {}",
        if multi {
            "multi-thread (2 workers)"
        } else {
            "current-thread"
        }
    );
    println!();
    println!(
        "| adapter | engine median | bare median | ratio | engine p99 | bare p99 | ratio | engine mean | bare mean |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut phases = Vec::new();
    for (adapter, e, b) in results {
        let name = match adapter {
            Adapter::Raw => "raw (handshake)",
            Adapter::Job => "job (ready_ack)",
        };
        if breakdown {
            phases.push((name, median_phases(&e), median_phases(&b)));
        }
        let mut e: Vec<Duration> = e.into_iter().map(|s| s.0).collect();
        let mut b: Vec<Duration> = b.into_iter().map(|s| s.0).collect();
        e.sort_unstable();
        b.sort_unstable();
        let (em, bm) = (pct(&e, 50.0), pct(&b, 50.0));
        let (e99, b99) = (pct(&e, 99.0), pct(&b, 99.0));
        let (ea, ba) = (mean(&e), mean(&b));
        println!(
            "| {name} | {} | {} | {:.3}× | {} | {} | {:.3}× | {} | {} |",
            us(em),
            us(bm),
            em.as_secs_f64() / bm.as_secs_f64(),
            us(e99),
            us(b99),
            e99.as_secs_f64() / b99.as_secs_f64(),
            us(ea),
            us(ba),
        );
    }
    if breakdown {
        println!();
        println!("Median per phase (µs), breakdown mode (live subscriber attached):");
        println!();
        println!(
            "| adapter | side | add_socket → task's first event | → Connecting | handshake | ready round trip | Ready → waiter woken |"
        );
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for (name, e, b) in phases {
            let f = |ns: u64| format!("{:.1}", ns as f64 / 1e3);
            println!(
                "| {name} | engine | {} | {} | {} | {} | {} |",
                f(e[0]),
                f(e[1]),
                f(e[2]),
                f(e[3]),
                f(e[4])
            );
            println!("| {name} | bare | | | {} | {} | |", f(b[0]), f(b[1]));
        }
    }
}

/// The median of each phase on its own.
fn median_phases(samples: &[Sample]) -> Phases {
    let mut out = [0; 5];
    for (i, slot) in out.iter_mut().enumerate() {
        let mut v: Vec<u64> = samples.iter().filter_map(|s| s.1.map(|p| p[i])).collect();
        v.sort_unstable();
        *slot = v.get(v.len() / 2).copied().unwrap_or(0);
    }
    out
}

/// Which sides connect.
#[derive(Clone, Copy)]
struct Sides {
    engine: bool,
    bare: bool,
}

/// Warm-up, then `n` measured rounds of (engine, bare), for one adapter.
async fn run_pair(
    sim: &Sim,
    engine: &Engine,
    mut live: Option<&mut broadcast::Receiver<Arc<Event>>>,
    adapter: Adapter,
    n: usize,
    sides: Sides,
) -> (Vec<Sample>, Vec<Sample>) {
    let mut eng = Vec::with_capacity(n);
    let mut bare = Vec::with_capacity(n);
    let skipped: Sample = (Duration::ZERO, None);
    for i in 0..WARMUP + n {
        let e = if sides.engine {
            engine_connect(sim, engine, live.as_deref_mut(), adapter).await
        } else {
            skipped
        };
        let b = if sides.bare {
            bare_connect(sim, adapter, live.is_some()).await
        } else {
            skipped
        };
        if i >= WARMUP {
            eng.push(e);
            bare.push(b);
        }
    }
    (eng, bare)
}

/// A fresh job that never runs during the bench: a ready starts it, so
/// make its first item and keep-alive an hour away.
fn job(sim: &Sim) -> CreateJobResponse {
    let faults = Faults {
        interval_ms: Some(3_600_000),
        keepalive_ms: Some(3_600_000),
        ..Faults::default()
    };
    sim.create_job(JobKind::CsvImport, 1_000_000, faults)
        .expect("job created")
}

async fn engine_connect(
    sim: &Sim,
    engine: &Engine,
    live: Option<&mut broadcast::Receiver<Arc<Event>>>,
    adapter: Adapter,
) -> Sample {
    let job = job(sim);
    let mut config = match adapter {
        Adapter::Raw => SocketConfig::raw(job.ws_url.clone()),
        Adapter::Job => SocketConfig::job(job.ws_url.clone()),
    };
    config.token = Some(Arc::new(StaticToken::new(job.token.clone())));

    let m0 = engine.now();
    let started = Instant::now();
    let handle = engine.add_socket(&config).expect("valid config");
    let ready = tokio::time::timeout(
        LIMIT,
        handle.wait_for(|s| matches!(s.state, State::Ready { .. })),
    )
    .await
    .expect("engine Ready in time")
    .expect("socket task alive");
    let took = started.elapsed();
    let m5 = engine.now();
    assert_eq!(ready.attempts, 1, "Ready on the first attempt");
    let phases = live.map(|rx| engine_phases(rx, handle.id(), m0.0, m5.0));

    // Teardown, untimed: cancel (close frame, transport dropped) and forget.
    engine
        .remove_socket(handle.id())
        .await
        .expect("socket known");
    tokio::time::timeout(
        LIMIT,
        handle.wait_for(|s| matches!(s.state, State::Cancelled)),
    )
    .await
    .expect("cancelled in time")
    .expect("socket task alive");
    drop(handle);
    sim.delete_job(&job.job_id).expect("job deleted");
    (took, phases)
}

/// The engine's own timestamps of one connect, from the live events it has
/// published so far (earlier sockets' leftovers are skipped).
fn engine_phases(
    rx: &mut broadcast::Receiver<Arc<Event>>,
    id: sockscope_engine::SocketId,
    start: u64,
    woken: u64,
) -> Phases {
    let (mut added, mut connecting, mut handshake, mut ready) = (0, 0, 0, 0);
    while let Ok(e) = rx.try_recv() {
        if e.socket != id {
            continue;
        }
        match &e.kind {
            EventKind::SocketAdded(_) => added = e.mono.0,
            EventKind::Transition { to, .. } => match to {
                State::Connecting { .. } => connecting = e.mono.0,
                State::AwaitingReady { .. } => handshake = e.mono.0,
                State::Ready { .. } => {
                    if handshake == 0 {
                        handshake = e.mono.0;
                    }
                    ready = e.mono.0;
                }
                _ => {}
            },
            _ => {}
        }
    }
    [
        added.saturating_sub(start),
        connecting.saturating_sub(added),
        handshake.saturating_sub(connecting),
        ready.saturating_sub(handshake),
        woken.saturating_sub(ready),
    ]
}

async fn bare_connect(sim: &Sim, adapter: Adapter, breakdown: bool) -> Sample {
    let job = job(sim);

    let started = Instant::now();
    let mut request = job.ws_url.as_str().into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", job.token)).expect("header"),
    );
    let mut handshake = Duration::ZERO;
    let mut ws = tokio::time::timeout(LIMIT, async {
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("bare handshake");
        handshake = started.elapsed();
        if adapter == Adapter::Job {
            ws.send(Message::text(READY)).await.expect("ready sent");
            loop {
                let msg = ws.next().await.expect("stream open").expect("frame read");
                if let Message::Text(t) = msg {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
                    if v["type"] == "ready_ack" {
                        break;
                    }
                }
            }
        }
        ws
    })
    .await
    .expect("bare Ready in time");
    let took = started.elapsed();

    // Teardown, untimed, as the engine's cancel does: a close frame, then drop.
    let _ = tokio::time::timeout(LIMIT, ws.close(None)).await;
    drop(ws);
    sim.delete_job(&job.job_id).expect("job deleted");
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let phases = breakdown.then(|| [ns(handshake), ns(took - handshake), 0, 0, 0]);
    (took, phases)
}

/// The `p`th percentile of sorted samples (nearest rank).
fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap_or(u32::MAX)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
