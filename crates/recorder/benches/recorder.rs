//! Recorder benchmarks (not timed tests): sustained events/s into SQLite
//! with zero loss, and window-query latency on a 1M-event session.
//!
//! `cargo bench -p sockscope-recorder --bench recorder` (set
//! `SOCKSCOPE_BENCH_EVENTS` to change the burst size, default 2M, and
//! `SOCKSCOPE_BENCH_ROUNDS` the rounds, default 3). Each round writes the
//! burst with a bare rusqlite loop (the same rows in the same
//! transactions), then through the `Recorder`; the ratio of their medians
//! is the recorder's share of what SQLite can do with this layout.

#[allow(dead_code, clippy::all)]
#[path = "../../../tests/recorder/synthetic.rs"]
mod synthetic;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use sockscope_recorder::{
    EventBody, EventRecord, RecordReader, Recorder, RecorderConfig, WindowQuery, WriterSummary,
};
use tokio::sync::mpsc;

fn main() {
    let total: u64 = std::env::var("SOCKSCOPE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Pre-build the events so the producer measures the recorder, not the
    // generator.
    let events: Vec<Arc<sockscope_engine::Event>> =
        synthetic::burst(total, 64).map(Arc::new).collect();
    let rounds: usize = std::env::var("SOCKSCOPE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    // The recorder and its peer, a bare rusqlite loop, alternate; the
    // last recorder file is kept for the queries.
    let (mut rec_rates, mut bare_rates) = (Vec::new(), Vec::new());
    let mut summary = None;
    for round in 0..rounds {
        let _ = std::fs::remove_file(&path);
        let bare_path = dir.path().join(format!("bare-{round}.db"));
        let (bare_took, bare_batches) = bare_loop(&bare_path, &events);
        let bare_bytes = file_bytes(&bare_path);
        let _ = std::fs::remove_file(&bare_path);
        let (s, took) = record(&rt, &path, &events);
        assert_eq!(s.written, total, "zero loss");
        let rate = total as f64 / took.as_secs_f64();
        let bare_rate = total as f64 / bare_took.as_secs_f64();
        println!(
            "round {round}: recorder {total} events in {:.2} s = {rate:.0} events/s ({} transactions, zero loss: {} written); \
             bare rusqlite loop {:.2} s = {bare_rate:.0} events/s ({bare_batches} transactions, {:.0} bytes/event); ratio {:.3}",
            took.as_secs_f64(),
            s.batches,
            s.written,
            bare_took.as_secs_f64(),
            bare_bytes as f64 / total as f64,
            rate / bare_rate
        );
        rec_rates.push(rate);
        bare_rates.push(bare_rate);
        summary = Some(s);
    }
    let summary = summary.expect("one round");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (rec, bare) = (median(&mut rec_rates), median(&mut bare_rates));
    println!(
        "write: median of {rounds} rounds: recorder {rec:.0} events/s, bare rusqlite loop {bare:.0} events/s, recorder / bare {:.3}",
        rec / bare
    );
    if let Some(cpu) = writer_cpu_seconds() {
        println!(
            "writer thread CPU (last round): {cpu:.2} s = {:.0} events per CPU-second (load average: {})",
            total as f64 / cpu,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
    }
    let bytes = file_bytes(&path);
    println!(
        "file: {:.1} MiB ({:.0} bytes/event)",
        bytes as f64 / 1048576.0,
        bytes as f64 / total as f64
    );

    let reader = RecordReader::open(&path).expect("reader");
    let session = summary.session.id;
    let mid = total / 2;
    let cases: Vec<(&str, WindowQuery)> = vec![
        (
            "all sockets, first page of 1000",
            WindowQuery::whole_session(session, 1000),
        ),
        (
            "all sockets, 1000 from the middle",
            WindowQuery {
                from_mono_ns: mid,
                ..WindowQuery::whole_session(session, 1000)
            },
        ),
        (
            "2 of 64 sockets, 10% window, page of 1000",
            WindowQuery {
                session_id: session,
                sockets: Some(vec![7, 40]),
                from_mono_ns: mid,
                to_mono_ns: mid + total / 10,
                page_size: 1000,
                after: None,
                ids: None,
            },
        ),
        (
            "1 of 64 sockets, whole session, page of 100",
            WindowQuery {
                session_id: session,
                sockets: Some(vec![33]),
                from_mono_ns: 0,
                to_mono_ns: u64::MAX,
                page_size: 100,
                after: None,
                ids: None,
            },
        ),
        (
            "40 of 64 sockets, 10% window, page of 1000",
            WindowQuery {
                session_id: session,
                sockets: Some((1..=40).collect()),
                from_mono_ns: mid,
                to_mono_ns: mid + total / 10,
                page_size: 1000,
                after: None,
                ids: None,
            },
        ),
    ];
    for (name, q) in cases {
        let mut times: Vec<Duration> = (0..30)
            .map(|_| {
                let t = Instant::now();
                let page = reader.events(&q).expect("query");
                assert!(!page.events.is_empty());
                t.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "query: {name}: median {:.2} ms, p95 {:.2} ms",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() * 95 / 100].as_secs_f64() * 1e3
        );
    }
    // Paging a whole window through the cursor.
    let t = Instant::now();
    let mut q = WindowQuery {
        session_id: session,
        sockets: Some(vec![3, 9]),
        from_mono_ns: 0,
        to_mono_ns: u64::MAX,
        page_size: 1000,
        after: None,
        ids: None,
    };
    let mut n = 0;
    loop {
        let page = reader.events(&q).expect("page");
        n += page.events.len();
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    println!(
        "query: paging 2 sockets' {n} events in pages of 1000: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    scrub_costs(total);
}

/// The scrub of a captured binary payload beside a text one of the same
/// size (4 KiB, the cap), alternating, `total / 10` of each: what storing
/// binary payloads costs per frame against what text ones already do.
/// Then a small JSON frame's, the common case. Each is timed by the wall
/// clock and by this thread's CPU time, which other work on the machine
/// does not stretch.
fn scrub_costs(total: u64) {
    use sockscope_recorder::redact;
    let n = (total / 10).max(100);
    let mut text = String::from(
        r#"{"v":1,"type":"job_progress","seq":7,"payload":{"token":"t0k-abc","rows":["#,
    );
    while text.len() < 4000 {
        text.push_str(r#"{"id":12345,"name":"a row of the import","ok":true},"#);
    }
    text.push_str("{}]}}");
    // MessagePack-like: keyed strings, numbers, printable runs, a token.
    let mut binary = vec![0x83, 0xa5];
    binary.extend(b"token");
    binary.push(0xa7);
    binary.extend(b"t0k-abc");
    while binary.len() < text.len() {
        binary.extend([0xa2, b'i', b'd', 0xcd, 0x30, 0x39, 0xa4]);
        binary.extend(b"name");
        binary.push(0xb3);
        binary.extend(b"a row of the import");
    }
    let (mut b, mut s) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        b.push(per_call(n, &|| {
            std::hint::black_box(redact::binary_payload(std::hint::black_box(&binary), 4096));
        }));
        s.push(per_call(n, &|| {
            std::hint::black_box(redact::payload(std::hint::black_box(&text), 4096));
        }));
    }
    let (b, s) = (median_of_3(b), median_of_3(s));
    println!(
        "scrub: {} B binary payload {:.1} µs (CPU {:.1} µs), {} B text (JSON) payload {:.1} µs (CPU {:.1} µs), median of 3 × {n}; binary / text {:.2} (CPU {:.2})",
        binary.len(),
        b.0 / 1e3,
        b.1 / 1e3,
        text.len(),
        s.0 / 1e3,
        s.1 / 1e3,
        b.0 / s.0,
        b.1 / s.1
    );
    // Most frames are small: a job's progress message, not the cap.
    let small = r#"{"v":1,"type":"progress","jobId":"a","seq":12,"payload":{"processed":3,"total":40,"note":"rows of the import"}}"#;
    let n_small = n * 10;
    let t = median_of_3(
        (0..3)
            .map(|_| {
                per_call(n_small, &|| {
                    std::hint::black_box(redact::payload(std::hint::black_box(small), 4096));
                })
            })
            .collect(),
    );
    println!(
        "scrub: {} B small text (JSON) payload {:.2} µs (CPU {:.2} µs), median of 3 × {n_small}",
        small.len(),
        t.0 / 1e3,
        t.1 / 1e3
    );
}

/// `f`'s cost per call over `n` calls, in ns: wall clock, thread CPU time.
fn per_call(n: u64, f: &dyn Fn()) -> (f64, f64) {
    let (wall, cpu) = (Instant::now(), thread_cpu_ns());
    for _ in 0..n {
        f();
    }
    let cpu = thread_cpu_ns().zip(cpu).map_or(f64::NAN, |(b, a)| b - a);
    (
        wall.elapsed().as_secs_f64() * 1e9 / n as f64,
        cpu / n as f64,
    )
}

/// The median of the first halves and, apart, of the second.
fn median_of_3(mut v: Vec<(f64, f64)>) -> (f64, f64) {
    let mut second: Vec<f64> = v.iter().map(|x| x.1).collect();
    v.sort_by(|x, y| x.0.total_cmp(&y.0));
    second.sort_by(f64::total_cmp);
    (v[1].0, second[1])
}

/// This thread's time on a CPU so far, in ns (Linux's schedstat).
fn thread_cpu_ns() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// One recorder run: every event through the channel into a fresh file,
/// timed until the last commit.
fn record(
    rt: &tokio::runtime::Runtime,
    path: &Path,
    events: &[Arc<sockscope_engine::Event>],
) -> (WriterSummary, Duration) {
    let total = events.len() as u64;
    rt.block_on(async {
        let (tx, rx) = mpsc::channel(8192);
        let (recorder, _) = Recorder::start(RecorderConfig::new(path), rx).expect("start");
        let started = Instant::now();
        for e in events {
            tx.send(e.clone()).await.expect("send");
        }
        // Wait for the last commit while the thread still lives, to read its CPU time.
        let mut written = recorder.watch_written();
        written
            .wait_for(|n| *n == total)
            .await
            .expect("writer alive");
        let elapsed = started.elapsed();
        let cpu = sample_writer_cpu();
        WRITER_CPU.with(|c| c.set(cpu));
        drop(tx);
        let summary = recorder.finish().await.expect("finish");
        (summary, elapsed)
    })
}

fn file_bytes(path: &Path) -> u64 {
    let wal = path.with_extension("db-wal");
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    len(path) + len(&wal)
}

/// The recorder's peer: the same rows in the same transactions (batches
/// of the recorder's default size, the session's count updated in each)
/// with plain rusqlite, on a file the recorder created (same schema and
/// pragmas). No channel, no scrubbing, no encoding: the records are
/// converted before the clock starts. Handles the kinds `burst` makes.
fn bare_loop(path: &Path, events: &[Arc<sockscope_engine::Event>]) -> (Duration, u64) {
    let records: Vec<EventRecord> = events
        .iter()
        .map(|e| EventRecord::from_event(e, Some(4096)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (_tx, rx) = mpsc::channel(1);
    let session = rt.block_on(async {
        let (recorder, _) = Recorder::start(RecorderConfig::new(path), rx).expect("start");
        recorder.stop().await.expect("stop").session.id
    });
    let mut conn = Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    conn.pragma_update(None, "cache_size", -2_048)
        .expect("cache");
    conn.pragma_update(None, "wal_autocheckpoint", 4096)
        .expect("ckpt");
    let started = Instant::now();
    let mut batches = 0;
    // Per socket: the transition that began its state, its last frame.
    let mut links: std::collections::HashMap<u64, (Option<i64>, Option<i64>)> =
        std::collections::HashMap::new();
    for chunk in records.chunks(2048) {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        let first: i64 = tx
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM events", [], |r| {
                r.get(0)
            })
            .expect("ids");
        {
            let mut event = tx
                .prepare_cached("INSERT INTO events (session_id, mono_ns, id, socket_id, wall_ns, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .expect("prepare");
            let mut frame = tx
                .prepare_cached(
                    "INSERT INTO events (session_id, mono_ns, id, socket_id, wall_ns, kind, direction, opcode, size, message_type, seq, msg_id, close_code, payload, payload_truncated)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'frame', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .expect("prepare");
            for (r, id) in chunk.iter().zip(first..) {
                let link = links.entry(r.socket_id).or_default();
                let previous_frame = link.1.take();
                let (mono, socket) = (r.mono_ns as i64, r.socket_id as i64);
                let head: [&dyn rusqlite::ToSql; 5] = [&session, &mono, &id, &socket, &r.wall_ns];
                if let EventBody::Frame(f) = &r.body {
                    let rest = params![
                        f.direction,
                        f.opcode,
                        f.size as i64,
                        f.message_type,
                        f.seq.map(|x| x as i64),
                        f.msg_id.map(|x| x as i64),
                        f.close_code,
                        f.payload,
                        f.payload_truncated
                    ];
                    frame
                        .execute(rusqlite::params_from_iter(head.iter().chain(rest)))
                        .expect("frame");
                    link.1 = Some(id);
                    continue;
                }
                let kind = r.body.kind();
                event
                    .execute(rusqlite::params_from_iter(
                        head.iter().chain([&kind as &dyn rusqlite::ToSql].iter()),
                    ))
                    .expect("event");
                match &r.body {
                    EventBody::Transition(t) => {
                        tx.prepare_cached(
                            "INSERT INTO transitions (event_id, from_state, to_state, attempt, backoff_until_ns, close_code, close_initiator, reason, reason_detail, cause, cause_detail, error_type)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                        )
                        .expect("prepare")
                        .execute(params![
                            id,
                            t.from,
                            t.to,
                            t.attempt,
                            t.backoff_until_ns.map(|x| x as i64),
                            t.close_code,
                            t.close_initiator,
                            t.reason,
                            t.reason_detail,
                            t.cause,
                            t.cause_detail,
                            t.error_type
                        ])
                        .expect("transition");
                        link.0 = Some(id);
                    }
                    EventBody::Finding(f) => {
                        tx.prepare_cached(
                            "INSERT INTO findings (event_id, class, side, severity, attempt, detail, transition_event_id, frame_event_id)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        )
                        .expect("prepare")
                        .execute(params![id, f.class, f.side, f.severity, f.attempt, f.detail, link.0, previous_frame])
                        .expect("finding");
                    }
                    EventBody::SocketAdded(s) => {
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO sockets (session_id, socket_id, event_id, name, scheme, host, port, path, adapter, job_id, token_source)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        )
                        .expect("prepare")
                        .execute(params![
                            session,
                            r.socket_id as i64,
                            id,
                            s.name,
                            s.scheme,
                            s.host,
                            s.port,
                            s.path,
                            s.adapter,
                            s.job_id,
                            s.token_source
                        ])
                        .expect("socket");
                    }
                    other => panic!("the bare loop does not store {} events", other.kind()),
                }
            }
        }
        tx.execute(
            "UPDATE sessions SET event_count = event_count + ?1 WHERE id = ?2",
            params![chunk.len() as i64, session],
        )
        .expect("count");
        tx.commit().expect("commit");
        batches += 1;
    }
    (started.elapsed(), batches)
}

/// CPU time of the (finished) writer thread, from /proc; Linux only. The
/// thread is gone after `finish`, so this reads the process's total for
/// threads named like the writer while they live: see `WRITER_CPU`.
fn writer_cpu_seconds() -> Option<f64> {
    WRITER_CPU.with(|c| c.get())
}

thread_local! {
    static WRITER_CPU: std::cell::Cell<Option<f64>> = const { std::cell::Cell::new(None) };
}

/// Sums utime+stime of live threads named `sockscope-recor*`.
fn sample_writer_cpu() -> Option<f64> {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("sockscope-recor") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        let after = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = after.split_whitespace().collect();
        let (u, s): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
        *total.get_or_insert(0.0) += (u + s) / ticks;
    }
    total
}
