//! Recorder benchmarks (not timed tests): sustained events/s into SQLite
//! with zero loss, and window-query latency on a 1M-event session.
//!
//! `cargo bench -p sockscope-recorder --bench recorder` (set
//! `SOCKSCOPE_BENCH_EVENTS` to change the burst size, default 2M).

#[allow(dead_code, clippy::all)]
#[path = "../../../tests/recorder/synthetic.rs"]
mod synthetic;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sockscope_recorder::{RecordReader, Recorder, RecorderConfig, WindowQuery};
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
    let (summary, took) = rt.block_on(async {
        let (tx, rx) = mpsc::channel(8192);
        let (recorder, _) = Recorder::start(RecorderConfig::new(&path), rx).expect("start");
        let started = Instant::now();
        for e in events {
            tx.send(e).await.expect("send");
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
    });
    assert_eq!(summary.written, total, "zero loss");
    println!(
        "write: {total} events in {:.2} s = {:.0} events/s, {} transactions, zero loss ({} written)",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        summary.batches,
        summary.written
    );
    if let Some(cpu) = writer_cpu_seconds() {
        println!(
            "writer thread CPU: {cpu:.2} s = {:.0} events per CPU-second (load average: {})",
            total as f64 / cpu,
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
        );
    }
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
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
