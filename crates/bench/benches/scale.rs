//! 10,000 concurrent sockets against the simulator, then a reconnect storm
//! (issue 3, measures 3 and 4). A benchmark, not a timed test: nothing fails
//! on a slow run.
//!
//! The simulator runs in a child process (this same binary, re-executed
//! with `SOCKSCOPE_BENCH_ROLE=sim`), so each side holds only its own
//! descriptors and the monitor's RSS and CPU are its own. Both raise the
//! soft `RLIMIT_NOFILE` to the hard limit at start and print it. The child
//! creates one job per socket (no progress items: `interval_ms` is an hour;
//! the server's `keep_alive` every 15 s), prints each job's URL and token,
//! and on the line `close-all` on its stdin closes every socket with 1001,
//! as a restart does.
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
//! 3. The storm: `close-all` (1001); timed until every socket is Ready
//!    again. The client-side Connecting transitions are bucketed per 100 ms
//!    by the events' `mono`; peak/mean is over the buckets from the first
//!    to the last.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sockscope_bench::{cpu_time, knob, load_average, machine, nofile, raise_nofile, rss_kib};
use sockscope_engine::{Engine, EngineConfig, EventKind, Mono, SocketConfig, State, StaticToken};
use tokio::sync::watch;

/// Bound on each phase; a hang is a bug, not a slow run.
const LIMIT: Duration = Duration::from_secs(180);
/// Histogram bucket width.
const BUCKET_NS: u64 = 100_000_000;

fn main() {
    let limits = raise_nofile().expect("raise RLIMIT_NOFILE");
    if std::env::var("SOCKSCOPE_BENCH_ROLE").is_ok_and(|r| r == "sim") {
        sim_child();
        return;
    }
    let sockets: usize = knob("SOCKSCOPE_BENCH_SOCKETS", 10_000).max(1);
    let steady_default = if sockets >= 1000 { 20 } else { 2 };
    let steady = Duration::from_secs(knob("SOCKSCOPE_BENCH_STEADY_SECS", steady_default));
    let machine_before = machine();

    let mut sim = SimChild::spawn(sockets);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(run(&mut sim, sockets, steady));
    drop(rt);
    let sim_pid = sim.child.id();
    sim.stop();

    println!();
    println!(
        "Scale: {sockets} sockets, one engine on a 2-worker runtime, the simulator in a \
         child process (pid {sim_pid}), default socket settings."
    );
    println!(
        "RLIMIT_NOFILE: soft {} raised to the hard limit {} (ulimit -Hn); now {}.",
        limit(limits.0),
        limit(limits.1),
        limit(nofile())
    );
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
    println!(
        "| storm: close-all 1001 → all Ready again | {:.2} s | ≤ 35 s |",
        report.storm_ready.as_secs_f64()
    );
    println!(
        "| storm: CPU until all Ready again, monitor / simulator | {:.2} s / {:.2} s \
         ({:.0}% / {:.0}% of one core) | |",
        report.storm_cpu.0.as_secs_f64(),
        report.storm_cpu.1.as_secs_f64(),
        100.0 * report.storm_cpu.0.as_secs_f64() / report.storm_ready.as_secs_f64(),
        100.0 * report.storm_cpu.1.as_secs_f64() / report.storm_ready.as_secs_f64(),
    );
    println!(
        "| storm: connects per 100 ms, peak / mean | {} / {:.1} = {:.2}× | ≤ 3× |",
        report.peak,
        report.mean,
        report.peak as f64 / report.mean
    );
    println!(
        "| storm: Connecting transitions (sockets {sockets}) | {} | |",
        report.connects
    );
    println!();
    println!(
        "Storm, per 100 ms from the close-all: closes seen (backoff planned), reconnects \
         due (close + drawn delay), Connecting transitions (the bar):"
    );
    println!();
    println!("```");
    println!("   from  closed    due  conn.");
    let width = 50.0 / report.peak.max(1) as f64;
    for (i, c) in report.histogram.iter().enumerate() {
        let bar = "#".repeat((*c as f64 * width).round() as usize);
        println!(
            "{:>5} ms {:>6} {:>6} {:>6} {bar}",
            i as u64 * 100,
            report.closed[i],
            report.planned[i],
            c
        );
    }
    println!("```");
}

fn limit(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

struct Report {
    all_ready: Duration,
    rss_before: u64,
    rss_after: u64,
    rss_per_socket: f64,
    cpu_monitor: f64,
    cpu_sim: f64,
    storm_ready: Duration,
    /// CPU time of the monitor and of the simulator during the storm.
    storm_cpu: (Duration, Duration),
    /// Per bucket: closes seen (backoffs planned).
    closed: Vec<u64>,
    /// Per bucket: reconnects as planned (close seen + the drawn delay).
    planned: Vec<u64>,
    /// Per bucket: Connecting transitions.
    histogram: Vec<u64>,
    peak: u64,
    mean: f64,
    connects: u64,
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
}

async fn run(sim: &mut SimChild, sockets: usize, steady: Duration) -> Report {
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let mut events = engine.subscribe_lossless(65_536);
    let tracker = Arc::new(Tracker {
        phase_start: AtomicU64::new(0),
        ready: watch::Sender::new(0),
    });
    let connecting = Arc::new(std::sync::Mutex::new(Timeline::default()));
    let subscriber = {
        let tracker = tracker.clone();
        let connecting = connecting.clone();
        tokio::spawn(async move {
            // Per socket: the phase its last Ready belongs to.
            let mut ready_in: HashMap<u64, u64> = HashMap::new();
            while let Some(e) = events.recv().await {
                let to = match &e.kind {
                    EventKind::Transition { to, .. } => to,
                    EventKind::BackoffPlanned { delay, .. } => {
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
    for (url, token) in &sim.jobs {
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

    // 3. The storm.
    *connecting.lock().expect("lock") = Timeline::default();
    let storm_mono = engine.now();
    tracker.phase_start.store(storm_mono.0, Ordering::Release);
    tracker.ready.send_replace(0);
    let storm_started = Instant::now();
    let (sm0, ss0) = (cpu_time("self"), cpu_time(&sim_pid));
    tokio::task::block_in_place(|| sim.close_all());
    tokio::time::timeout(LIMIT, ready.wait_for(|n| *n >= sockets))
        .await
        .expect("all Ready again in time")
        .expect("subscriber alive");
    let storm_ready = storm_started.elapsed();
    let storm_cpu = (cpu_time("self") - sm0, cpu_time(&sim_pid) - ss0);
    let timeline = std::mem::take(&mut *connecting.lock().expect("lock"));
    let after = |v: &[Mono]| -> Vec<u64> {
        v.iter()
            .filter(|m| m.0 >= storm_mono.0)
            .map(|m| (m.0 - storm_mono.0) / BUCKET_NS)
            .collect()
    };
    let (closed, planned, actual) = (
        after(&timeline.closed),
        after(&timeline.planned),
        after(&timeline.connecting),
    );
    let buckets = closed
        .iter()
        .chain(&planned)
        .chain(&actual)
        .max()
        .map_or(0, |b| *b as usize + 1);
    let count = |v: &[u64]| {
        let mut h = vec![0u64; buckets];
        for b in v {
            h[*b as usize] += 1;
        }
        h
    };
    let histogram = count(&actual);
    let first = histogram.iter().position(|c| *c > 0).unwrap_or(0);
    let span = (buckets - first).max(1);
    let connects = actual.len() as u64;
    let peak = histogram.iter().copied().max().unwrap_or(0);

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
        storm_ready,
        storm_cpu,
        closed: count(&closed),
        planned: count(&planned),
        histogram,
        peak,
        mean: connects as f64 / span as f64,
        connects,
    }
}

/// The simulator child process and the jobs it created.
struct SimChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    jobs: Vec<(String, String)>,
}

impl SimChild {
    fn spawn(sockets: usize) -> SimChild {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env("SOCKSCOPE_BENCH_ROLE", "sim")
            .env("SOCKSCOPE_BENCH_SOCKETS", sockets.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("simulator child starts");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut jobs = Vec::with_capacity(sockets);
        let mut line = String::new();
        while jobs.len() < sockets {
            line.clear();
            stdout.read_line(&mut line).expect("child output");
            assert!(!line.is_empty(), "simulator child ended early");
            if let Some((url, token)) = line.trim().split_once(' ') {
                jobs.push((url.to_owned(), token.to_owned()));
            }
        }
        SimChild {
            child,
            stdin,
            stdout,
            jobs,
        }
    }

    fn close_all(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(b"close-all\n").expect("command sent");
        stdin.flush().expect("command sent");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        assert_eq!(line.trim(), "ok", "close-all answered");
    }

    fn stop(mut self) {
        // End of stdin is the child's signal to stop.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The child: a simulator with one job per socket; `close-all` on stdin
/// closes every socket with 1001; end of stdin ends it.
fn sim_child() {
    let sockets: usize = knob("SOCKSCOPE_BENCH_SOCKETS", 10_000).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sim")
        .enable_all()
        .build()
        .expect("sim runtime");
    let sim = rt
        .block_on(sockscope_sim::Sim::start(
            sockscope_sim::SimConfig::default(),
        ))
        .expect("simulator starts");
    let faults = sockscope_sim::Faults {
        interval_ms: Some(3_600_000),
        ..sockscope_sim::Faults::default()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..sockets {
        let job = sim
            .create_job(sockscope_sim::JobKind::CsvImport, 1_000_000, faults.clone())
            .expect("job created");
        writeln!(out, "{} {}", job.ws_url, job.token).expect("stdout");
    }
    out.flush().expect("stdout");
    drop(out);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "close-all" {
            sim.close_all(1001, "restart").expect("close-all");
            let mut out = std::io::stdout().lock();
            writeln!(out, "ok").expect("stdout");
            out.flush().expect("stdout");
        }
    }
    rt.block_on(sim.shutdown());
}
