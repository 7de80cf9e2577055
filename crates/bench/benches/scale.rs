//! 10,000 concurrent sockets against the simulator, then reconnect storms
//! (issue 3, measures 3 and 4; issue 17, goal 5). A benchmark, not a timed
//! test: nothing fails on a slow run.
//!
//! The simulator runs in a child process (`common/sim_child.rs`), so each
//! side holds only its own descriptors and the monitor's RSS and CPU are its
//! own. Both raise the soft `RLIMIT_NOFILE` to the hard limit at start and
//! print it. The child creates one job per socket (no progress items:
//! `interval_ms` is an hour; the server's `keep_alive` every 15 s) and
//! stamps each WebSocket accept (101) it serves.
//!
//! The monitor (this process) runs one engine on a 2-worker runtime with
//! default socket settings (heartbeat 15 s, reconnect base 1 s with full
//! jitter); a lossless subscriber follows every socket's state:
//!
//! 1. All `SOCKSCOPE_BENCH_SOCKETS` (default 10,000) sockets are added at
//!    once; timed until every one is Ready. RSS per socket is the growth of
//!    `VmRSS` from before the first `add_socket` to all Ready, divided by the
//!    socket count.
//! 2. Steady keep-alive for `SOCKSCOPE_BENCH_STEADY_SECS` (default 20 s, one
//!    heartbeat and one keep-alive per socket at least): CPU time of the
//!    monitor and of the simulator, in % of one core.
//! 3. `SOCKSCOPE_BENCH_STORMS` storms (default 5; 2 below 1000 sockets),
//!    one after the other: `close-all` (1001), timed until every socket is
//!    Ready again. Per 100 ms from the close-all, three series of connects:
//!    as the engine planned them (each `BackoffPlanned`'s time plus its
//!    drawn delay), as the engine started them (Connecting transitions) and
//!    as the server accepted them (the child's wire stamps). Peak/mean of
//!    each is over its buckets from its first connect to its last.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sockscope_bench::{cpu_time, knob, load_average, machine, rss_kib};
use sockscope_engine::event::{Direction, Opcode};
use sockscope_engine::{Engine, EngineConfig, EventKind, Mono, SocketConfig, State, StaticToken};
use tokio::sync::watch;

#[path = "common/sim_child.rs"]
mod sim_child;
use sim_child::{SimChild, SimSpec};

/// Bound on each phase; a hang is a bug, not a slow run.
const LIMIT: Duration = Duration::from_secs(180);
/// Histogram bucket width.
const BUCKET_NS: u64 = 100_000_000;

fn main() {
    let Some(limits) = sim_child::raise_nofile_or_serve() else {
        return;
    };
    let sockets: usize = knob("SOCKSCOPE_BENCH_SOCKETS", 10_000).max(1);
    let big = sockets >= 1000;
    let steady = Duration::from_secs(knob(
        "SOCKSCOPE_BENCH_STEADY_SECS",
        if big { 20 } else { 2 },
    ));
    let keepalive_ms: u64 = knob(
        "SOCKSCOPE_BENCH_KEEPALIVE_MS",
        if big { 15_000 } else { 1_000 },
    );
    let storms: usize = knob("SOCKSCOPE_BENCH_STORMS", if big { 5 } else { 2 }).max(1);
    let machine_before = machine();

    let mut sim = SimChild::spawn(SimSpec {
        sockets,
        sets: 1,
        interval_ms: 3_600_000,
        keepalive_ms,
        total: 1_000_000,
        accepts: true,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(run(&mut sim, sockets, steady, storms));
    drop(rt);
    let sim_pid = sim.child.id();
    sim.stop();

    println!();
    println!(
        "Scale: {sockets} sockets, one engine on a 2-worker runtime, the simulator in a \
         child process (pid {sim_pid}), default socket settings."
    );
    println!("{}", sim_child::nofile_line(limits));
    println!("Machine before: {machine_before}");
    println!("Load average after: {}", load_average());
    println!();
    println!("| measure | figure | goal |");
    println!("| --- | ---: | --- |");
    println!(
        "| add_socket ×{sockets} → all Ready | {:.2} s | |",
        report.all_ready.as_secs_f64()
    );
    println!(
        "| monitor RSS per socket | {:.1} KiB ({} KiB → {} KiB) | ≤ 40 KiB |",
        report.rss_per_socket, report.rss_before, report.rss_after
    );
    println!(
        "| monitor CPU, steady keep-alive ({} s) | {:.2}% of one core | |",
        steady.as_secs(),
        report.cpu_monitor
    );
    println!(
        "| simulator CPU, same window | {:.2}% of one core | |",
        report.cpu_sim
    );
    println!();
    println!(
        "Storms: close-all 1001 → all Ready again; connects per 100 ms, peak / mean, as \
         planned (backoff time + drawn delay), as started (Connecting) and as accepted \
         by the server (goal ≤ 3×):"
    );
    println!();
    println!(
        "| storm | waited for links proven | largest backoff ceiling | load average before | → all Ready | CPU monitor / simulator | planned | started | accepted | connects started / accepted (wire events the stamper missed) |"
    );
    println!("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (i, s) in report.storms.iter().enumerate() {
        let pm = |h: &[u64]| {
            let (peak, mean) = peak_mean(h);
            format!("{peak} / {mean:.1} = {:.2}×", peak as f64 / mean)
        };
        println!(
            "| {} | {:.1} s | {:.1} s | {} | {:.2} s | {:.2} s / {:.2} s | {} | {} | {} | {} / {} ({}) |",
            i + 1,
            s.proven_wait.as_secs_f64(),
            s.ceiling.as_secs_f64(),
            s.load,
            s.ready.as_secs_f64(),
            s.cpu.0.as_secs_f64(),
            s.cpu.1.as_secs_f64(),
            pm(&s.planned),
            pm(&s.started),
            pm(&s.accepted),
            s.started.iter().sum::<u64>(),
            s.accepted.iter().sum::<u64>(),
            s.missed,
        );
    }
    for (i, s) in report.storms.iter().enumerate() {
        println!();
        println!(
            "Storm {}, per 100 ms from the close-all: closes seen (backoff planned), \
             reconnects planned (close + drawn delay), Connecting transitions, accepts \
             on the server (the bar):",
            i + 1
        );
        println!();
        println!("```");
        println!("   from  closed planned started accepted");
        let peak = s.accepted.iter().copied().max().unwrap_or(0).max(1);
        let width = 50.0 / peak as f64;
        for b in 0..s.started.len() {
            let bar = "#".repeat((s.accepted[b] as f64 * width).round() as usize);
            println!(
                "{:>5} ms {:>6} {:>7} {:>7} {:>8} {bar}",
                b as u64 * 100,
                s.closed[b],
                s.planned[b],
                s.started[b],
                s.accepted[b]
            );
        }
        println!("```");
    }
}

/// Peak and mean connects per bucket, over the buckets from the first
/// non-empty one to the last.
fn peak_mean(h: &[u64]) -> (u64, f64) {
    let first = h.iter().position(|c| *c > 0).unwrap_or(0);
    let last = h.iter().rposition(|c| *c > 0).unwrap_or(0);
    let span = (last + 1).saturating_sub(first).max(1);
    let peak = h.iter().copied().max().unwrap_or(0);
    (peak, h.iter().sum::<u64>() as f64 / span as f64)
}

struct Report {
    all_ready: Duration,
    rss_before: u64,
    rss_after: u64,
    rss_per_socket: f64,
    cpu_monitor: f64,
    cpu_sim: f64,
    storms: Vec<Storm>,
}

/// One storm's figures; the series are per bucket from the close-all, all
/// of one length.
struct Storm {
    /// Waited before it for every link to prove healthy.
    proven_wait: Duration,
    /// The largest backoff ceiling a reconnect drew from.
    ceiling: Duration,
    load: String,
    /// Close-all → every socket Ready again.
    ready: Duration,
    /// CPU time of the monitor and of the simulator until then.
    cpu: (Duration, Duration),
    /// Closes seen (backoffs planned).
    closed: Vec<u64>,
    /// Reconnects as planned: close seen + the drawn delay.
    planned: Vec<u64>,
    /// Connecting transitions.
    started: Vec<u64>,
    /// WebSocket accepts on the server.
    accepted: Vec<u64>,
    /// Accepts the child's wire subscriber missed.
    missed: u64,
}

/// Storm times the subscriber collects.
#[derive(Default)]
struct Timeline {
    /// When each socket saw the close (its backoff was planned).
    closed: Vec<Mono>,
    /// When each reconnect was due: the close plus the drawn delay.
    planned: Vec<Mono>,
    /// Connecting transitions: when each reconnect started.
    connecting: Vec<Mono>,
}

/// What the subscriber has seen, shared with the bench's phases.
struct Tracker {
    /// Events from this mono on belong to the current phase.
    phase_start: AtomicU64,
    /// Distinct sockets Ready in the current phase.
    ready: watch::Sender<usize>,
    /// Of those, the ones whose link has proven healthy (a text frame in
    /// after Ready), which gives their backoff counter back: until then a
    /// close backs off from where the last one left off.
    proven: watch::Sender<usize>,
    /// The largest backoff ceiling drawn from in the current phase, in ns.
    ceiling: AtomicU64,
}

async fn run(sim: &mut SimChild, sockets: usize, steady: Duration, storms: usize) -> Report {
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let mut events = engine.subscribe_lossless(65_536);
    let tracker = Arc::new(Tracker {
        phase_start: AtomicU64::new(0),
        ready: watch::Sender::new(0),
        proven: watch::Sender::new(0),
        ceiling: AtomicU64::new(0),
    });
    let connecting = Arc::new(std::sync::Mutex::new(Timeline::default()));
    let subscriber = {
        let tracker = tracker.clone();
        let connecting = connecting.clone();
        tokio::spawn(async move {
            // Per socket: the phase its last Ready belongs to.
            let mut ready_in: HashMap<u64, u64> = HashMap::new();
            // Per socket: the phase in which its link last proved healthy.
            let mut proven_in: HashMap<u64, u64> = HashMap::new();
            while let Some(e) = events.recv().await {
                let to = match &e.kind {
                    EventKind::Transition { to, .. } => to,
                    EventKind::Frame(f)
                        if f.direction == Direction::In && f.opcode == Opcode::Text =>
                    {
                        let phase = tracker.phase_start.load(Ordering::Acquire);
                        if ready_in.get(&e.socket) == Some(&phase)
                            && proven_in.insert(e.socket, phase) != Some(phase)
                        {
                            tracker.proven.send_modify(|n| *n += 1);
                        }
                        continue;
                    }
                    EventKind::BackoffPlanned { delay, ceiling, .. } => {
                        let c = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
                        tracker.ceiling.fetch_max(c, Ordering::Relaxed);
                        let due = e.mono.0 + u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
                        let mut t = connecting.lock().expect("lock");
                        t.closed.push(e.mono);
                        t.planned.push(Mono(due));
                        continue;
                    }
                    _ => continue,
                };
                let phase = tracker.phase_start.load(Ordering::Acquire);
                match to {
                    State::Ready { .. }
                        if e.mono.0 >= phase && ready_in.insert(e.socket, phase) != Some(phase) =>
                    {
                        tracker.ready.send_modify(|n| *n += 1);
                    }
                    State::Connecting { .. } => {
                        connecting.lock().expect("lock").connecting.push(e.mono);
                    }
                    State::Failed { .. } | State::Closed { .. } | State::Cancelled => {
                        // The bench cannot finish: say why and stop (the
                        // child ends with our stdin).
                        eprintln!("socket {} ended during the bench: {to:?}", e.socket);
                        std::process::exit(1);
                    }
                    _ => {}
                }
            }
        })
    };

    // 1. Everything at once, until all Ready.
    let mut ready = tracker.ready.subscribe();
    let rss_before = rss_kib("self");
    let started = Instant::now();
    let mut handles = Vec::with_capacity(sockets);
    for (url, token) in &sim.sets[0] {
        let mut config = SocketConfig::job(url.clone());
        config.token = Some(Arc::new(StaticToken::new(token.clone())));
        handles.push(engine.add_socket(&config).expect("valid config"));
    }
    tokio::time::timeout(LIMIT, ready.wait_for(|n| *n >= sockets))
        .await
        .expect("all Ready in time")
        .expect("subscriber alive");
    let all_ready = started.elapsed();
    let rss_after = rss_kib("self");
    eprintln!("all {sockets} Ready after {all_ready:?}");

    // 2. Steady keep-alive.
    let sim_pid = sim.child.id().to_string();
    let (m0, s0, t0) = (cpu_time("self"), cpu_time(&sim_pid), Instant::now());
    // Timing a window, not synchronizing: nothing waits on this sleep.
    tokio::time::sleep(steady).await;
    let (m1, s1, wall) = (cpu_time("self"), cpu_time(&sim_pid), t0.elapsed());
    let share = |a: Duration, b: Duration| 100.0 * (b - a).as_secs_f64() / wall.as_secs_f64();
    eprintln!("steady window done");

    // 3. The storms, one after the other.
    let mut storm_list = Vec::with_capacity(storms);
    let mut proven = tracker.proven.subscribe();
    for n in 1..=storms {
        // A storm on links not yet proven would start from the last one's
        // backoff step (the engine's rule against tight loops).
        let waited = Instant::now();
        tokio::time::timeout(LIMIT, proven.wait_for(|p| *p >= sockets))
            .await
            .expect("every link proven in time")
            .expect("subscriber alive");
        let proven_wait = waited.elapsed();
        let load = load_average();
        *connecting.lock().expect("lock") = Timeline::default();
        let storm_mono = engine.now();
        tracker.phase_start.store(storm_mono.0, Ordering::Release);
        tracker.ready.send_replace(0);
        tracker.proven.send_replace(0);
        tracker.ceiling.store(0, Ordering::Relaxed);
        let storm_started = Instant::now();
        let (sm0, ss0) = (cpu_time("self"), cpu_time(&sim_pid));
        tokio::task::block_in_place(|| sim.close_all());
        tokio::time::timeout(LIMIT, ready.wait_for(|n| *n >= sockets))
            .await
            .expect("all Ready again in time")
            .expect("subscriber alive");
        let ready_after = storm_started.elapsed();
        let cpu = (cpu_time("self") - sm0, cpu_time(&sim_pid) - ss0);
        let (accepts, missed) = tokio::task::block_in_place(|| sim.accepts());
        let timeline = std::mem::take(&mut *connecting.lock().expect("lock"));
        let after = |v: &[Mono]| -> Vec<u64> {
            v.iter()
                .filter(|m| m.0 >= storm_mono.0)
                .map(|m| (m.0 - storm_mono.0) / BUCKET_NS)
                .collect()
        };
        let series = [
            after(&timeline.closed),
            after(&timeline.planned),
            after(&timeline.connecting),
            accepts.iter().map(|ns| ns / BUCKET_NS).collect(),
        ];
        let buckets = series.iter().flatten().max().map_or(0, |b| *b as usize + 1);
        let count = |v: &[u64]| {
            let mut h = vec![0u64; buckets];
            for b in v {
                h[*b as usize] += 1;
            }
            h
        };
        eprintln!("storm {n}: all Ready again after {ready_after:?}");
        storm_list.push(Storm {
            proven_wait,
            ceiling: Duration::from_nanos(tracker.ceiling.load(Ordering::Relaxed)),
            load,
            ready: ready_after,
            cpu,
            closed: count(&series[0]),
            planned: count(&series[1]),
            started: count(&series[2]),
            accepted: count(&series[3]),
            missed,
        });
    }

    drop(handles);
    drop(engine);
    subscriber.abort();
    Report {
        all_ready,
        rss_before,
        rss_after,
        rss_per_socket: rss_after.saturating_sub(rss_before) as f64 / sockets as f64,
        cpu_monitor: share(m0, m1),
        cpu_sim: share(s0, s1),
        storms: storm_list,
    }
}
