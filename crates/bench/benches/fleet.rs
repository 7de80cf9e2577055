//! A fleet with recording on (issue 17, goal 4): `SOCKSCOPE_BENCH_SOCKETS`
//! job sockets (default 10,000), each job sending `SOCKSCOPE_BENCH_RATE`
//! progress messages a second (default 20) for `SOCKSCOPE_BENCH_SECS`
//! (default 60), every event recorded into SQLite. A benchmark, not a timed
//! test: nothing fails on a slow run, but the bench fails (exit 1) on loss.
//!
//! The simulator runs in a child process (`common/sim_child.rs`) with two
//! identical sets of jobs (`total` = rate × secs items, one every
//! 1000 / rate ms, counted from the client's first `ready`):
//!
//! 1. **Bare.** A bare tokio-tungstenite loop (one task per socket, as the
//!    engine has, on the same 2-worker runtime, the same 8 KiB read buffer
//!    and `TCP_NODELAY`) opens set 0 at once: handshake with the
//!    `Authorization` header, the `ready` frame, read until `ready_ack`.
//!    Timed until all are there; then set 0 is deleted and closed.
//! 2. **Monitor.** One engine, its lossless subscription handed to a
//!    `Recorder` (default settings but no session cap) as the app hands it,
//!    adds set 1 at once (job adapter, default settings). Timed until all
//!    are Ready (a waiter on each socket's snapshot), then until every
//!    socket has ended (each job completes after its items; the snapshots
//!    read once a second).
//!    - Event-to-commit latency, of every event: a thread of its own
//!      watches the recorder's committed count and stamps each change with
//!      the engine's clock. Afterwards the file gives each event's engine
//!      time in the order the writer wrote them (`events.id`); the k-th is
//!      committed at the first stamp whose count reaches k (the watch's
//!      wake-up is included, so the figure errs high). Also split by the
//!      event's time: before the last socket was Ready (the connects'
//!      burst, each socket's first Ready read from the file) and after,
//!      and the p99 of each 5 s.
//!    - CPU (`/proc/self/stat`) over the phase, and the peak of `VmRSS`
//!      sampled every second; the simulator child's CPU alike.
//!    - Loss: every job must have completed on the server with all its
//!      items, the writer must have committed every event it was given
//!      (`written == received`, and as many in the file), and the file
//!      must hold, for every socket, every job event's seq (1 ..= total +
//!      2: `job_started`, the items, `job_complete`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use sockscope_bench::{cpu_time, knob, listen_overflows, load_average, machine, pct, rss_kib};
use sockscope_engine::{Engine, EngineConfig, SocketConfig, SocketHandle, State, StaticToken};
use sockscope_recorder::{EventBody, RecordReader, Recorder, RecorderConfig};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[path = "common/sim_child.rs"]
mod sim_child;
use sim_child::{SimChild, SimSpec};

/// Bound on connecting and on teardown; a hang is a bug, not a slow run.
const LIMIT: Duration = Duration::from_secs(180);
/// The one frame the bare client sends.
const READY: &str = r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#;
/// The engine's read buffer (`driver::ws_config`), given to the bare side too.
const READ_BUFFER: usize = 8 * 1024;

fn main() {
    let Some(limits) = sim_child::raise_nofile_or_serve() else {
        return;
    };
    let sockets: usize = knob("SOCKSCOPE_BENCH_SOCKETS", 10_000).max(1);
    let rate: u64 = knob("SOCKSCOPE_BENCH_RATE", 20).clamp(1, 1000);
    let secs: u64 = knob("SOCKSCOPE_BENCH_SECS", 60).max(1);
    let total = rate * secs;
    let machine_before = machine();

    let mut sim = SimChild::spawn(SimSpec {
        sockets,
        sets: 2,
        interval_ms: 1000 / rate,
        keepalive_ms: 15_000,
        total,
        accepts: false,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // 1. Bare.
    let bare_load = load_average();
    let overflows = listen_overflows();
    let bare = rt.block_on(bare_fleet(&sim.sets[0]));
    let bare_overflows = listen_overflows() - overflows;
    sim.delete(0);
    let bare_took = bare.took;
    let bare_failed = bare.failed;
    if let Some(e) = &bare.first_error {
        eprintln!("bare: {bare_failed} sockets failed; the first: {e}");
    }
    let mut bare_each = bare.each.clone();
    bare_each.sort_unstable();
    rt.block_on(bare.close());
    eprintln!("bare: all {sockets} at ready_ack after {bare_took:?}");

    // 2. Monitor.
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fleet.db");
    let monitor_load = load_average();
    let m = rt.block_on(monitor(&mut sim, &db, sockets, total));
    drop(rt);
    let complete = sim.complete(1);
    let sim_pid = sim.child.id();
    sim.stop();
    let check = read_back(&db, m.session, sockets, total);
    let db_bytes = std::fs::metadata(&db).map_or(0, |f| f.len());

    // Every event's latency: the writer wrote them in `events.id` order, so
    // the k-th is committed at the first stamp whose count reaches k (the
    // watcher's wake-up is included, so the figure errs high).
    let mut latencies: Vec<(u64, u64)> = Vec::with_capacity(check.in_write_order.len());
    let mut commit = m.commits.iter().peekable();
    for (k, &mono) in (1u64..).zip(&check.in_write_order) {
        while commit.next_if(|c| c.1 < k).is_some() {}
        if let Some(c) = commit.peek() {
            latencies.push((mono, c.0.saturating_sub(mono)));
        }
    }
    let mut lat: Vec<u64> = latencies.iter().map(|l| l.1).collect();
    lat.sort_unstable();
    let mut each_ready: Vec<Duration> = check
        .ready_at
        .values()
        .map(|at| Duration::from_nanos(at.saturating_sub(m.start_mono)))
        .collect();
    each_ready.sort_unstable();
    // The connects' burst and the steady part apart: an event's phase is
    // by its engine time against the moment the last socket was Ready.
    let ready_mono = check.ready_at.values().copied().max().unwrap_or(0);
    let (mut lat_connect, mut lat_steady): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
    for &(at, l) in &latencies {
        if at < ready_mono {
            lat_connect.push(l);
        } else {
            lat_steady.push(l);
        }
    }
    lat_connect.sort_unstable();
    lat_steady.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let expected_frames = sockets as u64 * (total + 2);
    let wall = m.ended.as_secs_f64();
    println!();
    println!(
        "Fleet: {sockets} job sockets × {rate} msgs/s × {secs} s ({total} items per job), \
         recording on; one engine on a 2-worker runtime, the simulator in a child process \
         (pid {sim_pid})."
    );
    println!("{}", sim_child::nofile_line(limits));
    println!("Machine before: {machine_before}");
    println!(
        "Load average: before bare {bare_load}; before monitor {monitor_load}; after {}",
        load_average()
    );
    println!();
    println!("| measure | figure | goal |");
    println!("| --- | ---: | --- |");
    println!(
        "| all Ready: monitor (add_socket ×{sockets} → Ready) / bare loop (connect, ready → ready_ack) | {:.2} s / {:.2} s = {:.2}× | ≤ 1.2× |",
        m.all_ready.as_secs_f64(),
        bare_took.as_secs_f64(),
        m.all_ready.as_secs_f64() / bare_took.as_secs_f64()
    );
    println!("| bare loop: sockets that failed to reach ready_ack | {bare_failed} | 0 |");
    println!(
        "| SYNs dropped on a full accept queue (machine-wide `ListenOverflows`) until all Ready: monitor / bare | {} / {bare_overflows} | |",
        m.overflows
    );
    let d = |v: &[Duration], p: f64| {
        if v.is_empty() {
            f64::NAN
        } else {
            pct(v, p).as_secs_f64() * 1e3
        }
    };
    println!(
        "| each socket's time to Ready from the start, p50 / p90 / p99: monitor; bare | {:.0} / {:.0} / {:.0} ms; {:.0} / {:.0} / {:.0} ms | |",
        d(&each_ready, 50.0),
        d(&each_ready, 90.0),
        d(&each_ready, 99.0),
        d(&bare_each, 50.0),
        d(&bare_each, 90.0),
        d(&bare_each, 99.0),
    );
    println!(
        "| add_socket → every socket ended (jobs complete) | {wall:.2} s (the jobs' own length: {secs} s) | |"
    );
    println!(
        "| frames in, offered / received (incl. replays) | {} / {} ({:.0}/s over the phase) | |",
        expected_frames,
        check.frames_in,
        check.frames_in as f64 / wall
    );
    println!(
        "| events recorded | {} ({:.0}/s over the phase); file {:.1} MiB | |",
        check.events,
        check.events as f64 / wall,
        db_bytes as f64 / 1048576.0
    );
    if lat.is_empty() {
        println!("| event → commit latency | no samples | p99 ≤ 100 ms |");
    } else {
        println!(
            "| event → commit latency, p50 / p99 / max (every event: {}) | {:.1} / {:.1} / {:.1} ms | p99 ≤ 100 ms |",
            lat.len(),
            ms(pct(&lat, 50.0)),
            ms(pct(&lat, 99.0)),
            ms(*lat.last().expect("non-empty"))
        );
        // p99 by 5 s of event time, to tell a steady lag from bursts.
        let first = latencies.iter().map(|l| l.0).min().unwrap_or(0);
        let mut windows: Vec<Vec<u64>> = Vec::new();
        for &(at, l) in &latencies {
            let w = ((at - first) / 5_000_000_000) as usize;
            if windows.len() <= w {
                windows.resize_with(w + 1, Vec::new);
            }
            windows[w].push(l);
        }
        let p99s: Vec<String> = windows
            .iter_mut()
            .map(|w| {
                w.sort_unstable();
                w.last()
                    .map_or("-".into(), |_| format!("{:.0}", ms(pct(w, 99.0))))
            })
            .collect();
        println!(
            "| latency p99 by 5 s of event time, ms | {} | |",
            p99s.join(" ")
        );
        for (phase, l) in [
            ("events before all were Ready", &lat_connect),
            ("events after", &lat_steady),
        ] {
            if let Some(max) = l.last() {
                println!(
                    "| latency, {phase}: p50 / p99 / max ({} samples) | {:.1} / {:.1} / {:.1} ms | |",
                    l.len(),
                    ms(pct(l, 50.0)),
                    ms(pct(l, 99.0)),
                    ms(*max)
                );
            }
        }
    }
    println!(
        "| monitor CPU over the phase | {:.2} s = {:.0}% of one core | |",
        m.cpu_monitor.as_secs_f64(),
        100.0 * m.cpu_monitor.as_secs_f64() / wall
    );
    println!(
        "| simulator CPU over the phase | {:.2} s = {:.0}% of one core | |",
        m.cpu_sim.as_secs_f64(),
        100.0 * m.cpu_sim.as_secs_f64() / wall
    );
    println!(
        "| monitor RSS: before / peak (sampled each second) | {} KiB / {} KiB | |",
        m.rss_before, m.rss_peak
    );
    println!("| loss: jobs complete on the server | {complete} of {sockets} | all |");
    println!(
        "| loss: events received / written by the writer / in the file | {} / {} / {} | equal |",
        m.received, m.written, check.events
    );
    println!(
        "| loss: job events (socket, seq) missing from the file | {} of {} (sockets without a frame: {}) | 0 |",
        check.missing, expected_frames, check.silent
    );
    let lost = complete != sockets
        || m.received != m.written
        || m.written != check.events
        || check.missing != 0;
    if lost {
        eprintln!("LOSS: the fleet lost events (see the table)");
        std::process::exit(1);
    }
}

/// The bare loop's sockets, held open until [`Bare::close`].
struct Bare {
    took: Duration,
    /// Sockets that failed to reach `ready_ack`, and the first error.
    failed: usize,
    first_error: Option<String>,
    /// Each socket's time to `ready_ack`, from the start of the loop.
    each: Vec<Duration>,
    close: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Bare {
    async fn close(mut self) {
        self.close.send_replace(true);
        tokio::time::timeout(LIMIT, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await
        .expect("bare sockets closed in time");
    }
}

async fn bare_fleet(jobs: &[(String, String)]) -> Bare {
    // (at ready_ack, failed) so far.
    let (ready_tx, mut ready) = watch::channel((0usize, 0usize));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let (close, closing) = watch::channel(false);
    let ready_tx = Arc::new(ready_tx);
    let each = Arc::new(std::sync::Mutex::new(Vec::with_capacity(jobs.len())));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (url, token) in jobs {
        let mut request = url.as_str().into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
        let ready_tx = ready_tx.clone();
        let mut closing = closing.clone();
        let each = each.clone();
        let first_error = first_error.clone();
        tasks.spawn(async move {
            let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
            let opened = async {
                let (mut ws, _) =
                    tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                        .await
                        .map_err(|e| format!("handshake: {e}"))?;
                ws.send(Message::text(READY))
                    .await
                    .map_err(|e| format!("ready: {e}"))?;
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.contains(r#""type":"ready_ack""#) => {
                            return Ok(ws);
                        }
                        Some(Ok(_)) => {}
                        other => return Err(format!("ended before ready_ack: {other:?}")),
                    }
                }
            };
            match opened.await {
                Ok(ws) => {
                    each.lock().expect("lock").push(started.elapsed());
                    ready_tx.send_modify(|n| n.0 += 1);
                    let _ = closing.wait_for(|c| *c).await;
                    drop(ws);
                }
                Err(e) => {
                    first_error.lock().expect("lock").get_or_insert(e);
                    ready_tx.send_modify(|n| n.1 += 1);
                }
            }
        });
    }
    let n = jobs.len();
    tokio::time::timeout(LIMIT, ready.wait_for(|r| r.0 + r.1 >= n))
        .await
        .expect("bare: every socket at ready_ack or failed in time")
        .expect("counter alive");
    let took = started.elapsed();
    let failed = ready.borrow().1;
    let first_error = first_error.lock().expect("lock").take();
    let each = std::mem::take(&mut *each.lock().expect("lock"));
    Bare {
        took,
        failed,
        first_error,
        each,
        close,
        tasks,
    }
}

struct Monitor {
    session: i64,
    all_ready: Duration,
    /// Accept-queue overflows (machine-wide) until all were Ready.
    overflows: u64,
    /// The engine's time at the first add_socket.
    start_mono: u64,
    /// add_socket → every socket ended.
    ended: Duration,
    received: u64,
    written: u64,
    /// (engine time, events the writer had committed then), at each change.
    commits: Vec<(u64, u64)>,
    cpu_monitor: Duration,
    cpu_sim: Duration,
    rss_before: u64,
    rss_peak: u64,
}

/// Until every socket in `handles` has reached a state `pred` accepts;
/// those that did so in one it did not expect (`odd`) are printed.
async fn each_reaches(
    handles: &[SocketHandle],
    pred: impl Fn(&State) -> bool + Copy,
    odd: impl Fn(&State) -> bool,
) {
    let mut waits: FuturesUnordered<_> = handles
        .iter()
        .map(|h| async move { (h.id(), h.wait_for(|s| pred(&s.state)).await) })
        .collect();
    while let Some((id, snap)) = waits.next().await {
        let snap = snap.expect("socket task alive");
        if odd(&snap.state) {
            eprintln!("socket {id}: {:?}", snap.state);
        }
    }
}

fn ended(s: &State) -> bool {
    matches!(
        s,
        State::Closed { .. } | State::Failed { .. } | State::Cancelled
    )
}

async fn monitor(sim: &mut SimChild, db: &std::path::Path, sockets: usize, total: u64) -> Monitor {
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    // The engine's lossless queue goes to the writer as the app's does:
    // nothing between them. Latency is read back from the file afterwards.
    let feed = engine.subscribe_lossless(8192);
    let mut config = RecorderConfig::new(db);
    config.max_session_bytes = None;
    let (recorder, open) =
        tokio::task::block_in_place(|| Recorder::start(config, feed)).expect("recorder");

    // Commit times, on a thread of their own so a busy runtime does not
    // delay the stamp.
    let mut written = recorder.watch_written();
    // The engine's clock without a handle to the engine (which would keep
    // its bus, and so the writer's feed, open): its reading now, and time since.
    let (base, base_mono) = (Instant::now(), engine.now().0);
    let commits = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut v: Vec<(u64, u64)> = Vec::new();
            while written.changed().await.is_ok() {
                let w = *written.borrow_and_update();
                let now = base_mono + u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
                v.push((now, w));
            }
            v
        })
    });

    let sim_pid = sim.child.id().to_string();
    let overflows = listen_overflows();
    let rss_before = rss_kib("self");
    let (c0, s0) = (cpu_time("self"), cpu_time(&sim_pid));
    let started = Instant::now();
    let start_mono = engine.now().0;
    let mut handles = Vec::with_capacity(sockets);
    for (url, token) in &sim.sets[1] {
        let mut config = SocketConfig::job(url.clone());
        config.token = Some(Arc::new(StaticToken::new(token.clone())));
        handles.push(engine.add_socket(&config).expect("valid config"));
    }
    // Ready, or past it (a socket that ended first is printed).
    let ready_or_ended = |s: &State| matches!(s, State::Ready { .. }) || ended(s);
    tokio::time::timeout(LIMIT, each_reaches(&handles, ready_or_ended, ended))
        .await
        .expect("all Ready in time");
    let all_ready = started.elapsed();
    let overflows = listen_overflows() - overflows;
    eprintln!("monitor: all {sockets} Ready after {all_ready:?}");

    // Until every socket has ended, sampling RSS once a second. The jobs
    // last `total / rate` s; the bound allows the monitor to fall far behind.
    let mut rss_peak = rss_kib("self");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let bound = Instant::now() + LIMIT + Duration::from_secs(total);
    // Polled with the RSS, not waited on: a waiter per socket would be
    // woken by every snapshot update, once per frame batch, work the app
    // does not do. The phase's end is known to within the second.
    loop {
        tick.tick().await;
        rss_peak = rss_peak.max(rss_kib("self"));
        if handles.iter().all(|h| ended(&h.snapshot().state)) {
            break;
        }
        assert!(Instant::now() < bound, "every socket ended in time");
    }
    for h in &handles {
        if let state @ State::Failed { .. } = h.snapshot().state {
            eprintln!("socket {}: {state:?}", h.id());
        }
    }
    let ended = started.elapsed();
    let (cpu_monitor, cpu_sim) = (cpu_time("self") - c0, cpu_time(&sim_pid) - s0);
    rss_peak = rss_peak.max(rss_kib("self"));
    eprintln!("monitor: every socket ended after {ended:?}");

    // Everything out: the engine's tasks end, the writer's feed closes, it
    // commits the rest.
    for h in &handles {
        let _ = engine.remove_socket(h.id()).await;
    }
    drop(handles);
    drop(engine);
    let summary = tokio::time::timeout(LIMIT, recorder.finish())
        .await
        .expect("the writer finished in time")
        .expect("the writer finished");
    let commits = commits.join().expect("commit watcher");
    Monitor {
        session: open.session.id,
        all_ready,
        overflows,
        start_mono,
        ended,
        received: summary.received,
        written: summary.written,
        commits,
        cpu_monitor,
        cpu_sim,
        rss_before,
        rss_peak,
    }
}

/// What the file holds.
struct FileCheck {
    events: u64,
    frames_in: u64,
    /// Job events (socket, seq) missing, over 1 ..= total + 2 per socket.
    missing: u64,
    /// Sockets with no job event at all.
    silent: u64,
    /// Each event's engine time, in the order the writer wrote them
    /// (`events.id` is in commit order).
    in_write_order: Vec<u64>,
    /// Each socket's first Ready, engine time.
    ready_at: HashMap<u64, u64>,
}

/// Reads the session back through the recorder's reader.
fn read_back(db: &std::path::Path, session: i64, sockets: usize, total: u64) -> FileCheck {
    let reader = RecordReader::open(db).expect("reader");
    let expected = total + 2;
    let mut seqs: HashMap<u64, Vec<bool>> = HashMap::new();
    let mut by_id: Vec<(i64, u64)> = Vec::new();
    let mut ready_at: HashMap<u64, u64> = HashMap::new();
    let mut frames_in = 0u64;
    reader
        .for_each_event(session, |e| {
            by_id.push((e.event_id, e.mono_ns));
            match &e.body {
                EventBody::Frame(f) if f.direction == "in" => {
                    frames_in += 1;
                    if let Some(seq) = f.seq
                        && (1..=expected).contains(&seq)
                    {
                        let have = seqs
                            .entry(e.socket_id)
                            .or_insert_with(|| vec![false; expected as usize]);
                        have[seq as usize - 1] = true;
                    }
                }
                EventBody::Transition(t) if t.to == "Ready" => {
                    let first = ready_at.entry(e.socket_id).or_insert(e.mono_ns);
                    *first = (*first).min(e.mono_ns);
                }
                _ => {}
            }
            Ok(())
        })
        .expect("session read back");
    let present: u64 = seqs
        .values()
        .map(|v| v.iter().filter(|b| **b).count() as u64)
        .sum();
    by_id.sort_unstable();
    FileCheck {
        events: by_id.len() as u64,
        frames_in,
        missing: sockets as u64 * expected - present,
        silent: sockets.saturating_sub(seqs.len()) as u64,
        in_write_order: by_id.into_iter().map(|(_, mono)| mono).collect(),
        ready_at,
    }
}
