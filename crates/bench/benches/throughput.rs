//! Message throughput on one socket: the engine vs bare tokio-tungstenite,
//! and the recorder on vs off (issue 3, measure 2). A benchmark, not a timed
//! test: nothing fails on a slow run.
//!
//! The simulator cannot push frames fast enough to load a client, so this
//! bench runs its own loopback tokio-tungstenite server (own 1-worker
//! runtime): after the client's `ready` it answers `ready_ack`, sends
//! `SOCKSCOPE_BENCH_MSGS` (default 200,000) `job_progress` frames with seq
//! 1..N as fast as it can, one `job_complete`, and closes 1000. Each client
//! variant (current-thread runtime) is timed from Ready to the close:
//!
//! - `bare`: `connect_async`, `ready`, read until `ready_ack`; then count
//!   text frames until the close, parsing nothing.
//! - `bare+json`: the same, and each frame parsed with `serde_json` into a
//!   borrowed struct (`type`, `seq`, the payload as a `RawValue`) whose
//!   `seq` is checked: the minimal work a monitor that reads the frames
//!   does, and the engine's fair peer.
//! - `engine`: a job-adapter socket; a lossless subscriber counts the
//!   `Progress` events and timestamps Ready and Closed.
//! - `engine+recorder`: the same, plus a `sockscope_recorder::Recorder` on
//!   a second lossless subscription into a temp SQLite file. Also reported:
//!   the time until the recorder has committed every event (`stop`).
//!
//! `SOCKSCOPE_BENCH_ROUNDS` (default 7) rounds run the four variants
//! interleaved; the table gives each variant's median rate and the ratios
//! of medians. `SOCKSCOPE_BENCH_ONLY=c` (letters of the variants) runs a
//! subset, e.g. under a profiler; the tables then need every variant.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sockscope_bench::{knob, load_average, machine, pct};
use sockscope_engine::{Engine, EngineConfig, EventKind, SocketConfig, State};
use sockscope_recorder::{Recorder, RecorderConfig};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Bound on one run; a hang is a bug, not a slow run.
const LIMIT: Duration = Duration::from_secs(120);
/// The one frame the bare clients send.
const READY: &str = r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#;
const JOB: &str = "bench";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Bare,
    BareJson,
    Engine,
    Recorder,
}

const VARIANTS: [Variant; 4] = [
    Variant::Bare,
    Variant::BareJson,
    Variant::Engine,
    Variant::Recorder,
];

impl Variant {
    fn letter(self) -> char {
        match self {
            Variant::Bare => 'a',
            Variant::BareJson => 'b',
            Variant::Engine => 'c',
            Variant::Recorder => 'd',
        }
    }

    fn name(self) -> &'static str {
        match self {
            Variant::Bare => "(a) bare tokio-tungstenite",
            Variant::BareJson => "(b) bare + borrowed serde_json parse",
            Variant::Engine => "(c) engine, job adapter",
            Variant::Recorder => "(d) engine + recorder (SQLite)",
        }
    }
}

/// One run: messages per second from Ready to the close, and for the
/// recorder the rate counting until every event was committed.
struct Run {
    rate: f64,
    committed_rate: Option<f64>,
}

fn main() {
    let n: u64 = knob("SOCKSCOPE_BENCH_MSGS", 200_000).max(1);
    let rounds: usize = knob("SOCKSCOPE_BENCH_ROUNDS", 7).max(1);
    let only: String = knob("SOCKSCOPE_BENCH_ONLY", String::new());
    let machine_before = machine();

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("server")
        .enable_all()
        .build()
        .expect("server runtime");
    let frames = std::sync::Arc::new(frames(n));
    let addr = server_rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(listener, frames));
        addr
    });

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut runs: Vec<Vec<Run>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    client_rt.block_on(async {
        // One warm-up of each, not measured.
        for round in 0..=rounds {
            for (i, v) in VARIANTS.iter().enumerate() {
                if !only.is_empty() && !only.contains(v.letter()) {
                    continue;
                }
                let db = dir.path().join(format!("r{round}-{i}.sqlite"));
                let run = tokio::time::timeout(LIMIT, run(*v, addr, n, &db))
                    .await
                    .expect("run finished in time");
                if round > 0 {
                    runs[i].push(run);
                }
            }
        }
    });
    drop(client_rt);
    drop(server_rt);

    let median = |rs: &[Run], f: &dyn Fn(&Run) -> Option<f64>| {
        let mut v: Vec<f64> = rs.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| pct(&v, 50.0))
    };
    let med: Vec<f64> = runs
        .iter()
        .map(|rs| median(rs, &|r| Some(r.rate)).unwrap_or(0.0))
        .collect();
    println!();
    println!(
        "Throughput on one socket: {n} job_progress frames per run, {rounds} rounds \
         after one warm-up, variants interleaved; client on a current-thread runtime, \
         server on its own 1-worker runtime."
    );
    println!("Machine before: {machine_before}");
    println!("Load average after: {}", load_average());
    println!();
    println!("| variant | median msgs/s | min | max |");
    println!("| --- | ---: | ---: | ---: |");
    for (i, v) in VARIANTS.iter().enumerate() {
        let mut rates: Vec<f64> = runs[i].iter().map(|r| r.rate).collect();
        rates.sort_by(f64::total_cmp);
        if rates.is_empty() {
            continue;
        }
        println!(
            "| {} | {} | {} | {} |",
            v.name(),
            k(med[i]),
            k(rates[0]),
            k(rates[rates.len() - 1])
        );
    }
    if let Some(c) = median(&runs[3], &|r| r.committed_rate) {
        println!(
            "| (d) counted until every event is committed | {} | | |",
            k(c)
        );
    }
    println!();
    println!("| ratio | value | goal |");
    println!("| --- | ---: | --- |");
    println!(
        "| (c)/(a) engine / bare without the parse | {:.3}× | |",
        med[2] / med[0]
    );
    println!(
        "| (c)/(b) engine / bare + borrowed parse | {:.3}× | ≥ 0.9× |",
        med[2] / med[1]
    );
    println!(
        "| (d)/(c) recorder on / off | {:.3}× | ≥ 0.5× |",
        med[3] / med[2]
    );
    if let Some(c) = median(&runs[3], &|r| r.committed_rate) {
        println!(
            "| (d committed)/(c) recorder on, until committed / off | {:.3}× | |",
            c / med[2]
        );
    }
}

fn k(rate: f64) -> String {
    format!("{:.0}k", rate / 1e3)
}

/// The server's frames, encoded once: seq 1..=n progress, then the completion.
fn frames(n: u64) -> Vec<Utf8Bytes> {
    let ts = "2026-11-22T00:00:00.000Z";
    let mut out: Vec<Utf8Bytes> = (1..=n)
        .map(|seq| {
            format!(
                r#"{{"v":1,"type":"job_progress","jobId":"{JOB}","seq":{seq},"ts":"{ts}","payload":{{"processedCount":{seq},"totalCount":{n}}}}}"#
            )
            .into()
        })
        .collect();
    out.push(
        format!(
            r#"{{"v":1,"type":"job_complete","jobId":"{JOB}","seq":{},"ts":"{ts}","payload":{{"processedCount":{n},"totalCount":{n},"result":{{}}}}}}"#,
            n + 1
        )
        .into(),
    );
    out
}

async fn serve(listener: TcpListener, frames: std::sync::Arc<Vec<Utf8Bytes>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let frames = frames.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            // Wait for the client's ready.
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) if t.as_str().contains(r#""ready""#) => break,
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
            let ack = format!(
                r#"{{"v":1,"type":"ready_ack","jobId":"{JOB}","payload":{{"lastSeq":0,"replayed":0}}}}"#
            );
            if ws.send(Message::text(ack)).await.is_err() {
                return;
            }
            for f in frames.iter() {
                if ws.feed(Message::Text(f.clone())).await.is_err() {
                    return;
                }
            }
            let close = CloseFrame {
                code: CloseCode::Normal,
                reason: "done".into(),
            };
            if ws.send(Message::Close(Some(close))).await.is_err() {
                return;
            }
            // Read until the client's close answer ends the stream.
            while let Some(Ok(_)) = ws.next().await {}
        });
    }
}

async fn run(v: Variant, addr: SocketAddr, n: u64, db: &std::path::Path) -> Run {
    let url = format!("ws://{addr}/ws/progress?jobId={JOB}");
    match v {
        Variant::Bare | Variant::BareJson => bare(&url, n, v == Variant::BareJson).await,
        Variant::Engine | Variant::Recorder => {
            engine(&url, n, (v == Variant::Recorder).then_some(db)).await
        }
    }
}

/// What the bare parsing client reads of each frame.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    seq: Option<u64>,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

async fn bare(url: &str, n: u64, parse: bool) -> Run {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("bare handshake");
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
    let started = Instant::now();
    let mut count = 0u64;
    let mut last_seq = 0u64;
    loop {
        match ws.next().await.expect("stream open").expect("frame read") {
            Message::Text(t) => {
                count += 1;
                if parse {
                    let f: Frame<'_> = serde_json::from_str(t.as_str()).expect("json");
                    let seq = f.seq.expect("seq");
                    assert_eq!(seq, last_seq + 1, "frames in order");
                    assert!(!f.kind.is_empty() && !f.payload.get().is_empty());
                    last_seq = seq;
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    let took = started.elapsed();
    assert_eq!(count, n + 1, "every frame received");
    // The close answer, untimed.
    while let Some(Ok(_)) = ws.next().await {}
    Run {
        rate: n as f64 / took.as_secs_f64(),
        committed_rate: None,
    }
}

async fn engine(url: &str, n: u64, db: Option<&std::path::Path>) -> Run {
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    // The recorder subscribes first: the bus hands each event to it before
    // the counter, so once the counter sees Closed the recorder holds it too.
    let recorder = db.map(|path| {
        let rx = engine.subscribe_lossless(8192);
        Recorder::start(RecorderConfig::new(path), rx)
            .expect("recorder starts")
            .0
    });
    let mut events = engine.subscribe_lossless(8192);
    let handle = engine
        .add_socket(&SocketConfig::job(url))
        .expect("valid config");
    let id = handle.id();
    let (mut ready_at, mut progress) = (None, 0u64);
    let closed_at = loop {
        let e = events.recv().await.expect("engine alive");
        if e.socket != id {
            continue;
        }
        match &e.kind {
            EventKind::Progress(_) => progress += 1,
            EventKind::Transition { to, .. } => match to {
                State::Ready { .. } => ready_at = Some(Instant::now()),
                State::Closed { .. } => break Instant::now(),
                State::Backoff { .. } | State::Failed { .. } => {
                    panic!("the bench socket left the happy path: {to:?}")
                }
                _ => {}
            },
            _ => {}
        }
    };
    let ready_at = ready_at.expect("Ready before Closed");
    let took = closed_at - ready_at;
    // Progress: every job_progress, plus the completion's.
    assert!(
        progress >= n,
        "every progress event seen ({progress} of {n})"
    );
    let committed_rate = match recorder {
        Some(r) => {
            let summary = r.stop().await.expect("recorder stops");
            assert_eq!(summary.written, summary.received, "nothing lost");
            Some(n as f64 / ready_at.elapsed().as_secs_f64())
        }
        None => None,
    };
    drop(handle);
    drop(engine);
    Run {
        rate: n as f64 / took.as_secs_f64(),
        committed_rate,
    }
}
