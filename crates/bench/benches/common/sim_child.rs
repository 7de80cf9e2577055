//! The simulator in a child process, shared by `scale` and `fleet`: the
//! bench binary re-executes itself with `SOCKSCOPE_BENCH_ROLE=sim`, so each
//! side holds only its own descriptors and the monitor's RSS and CPU are
//! its own.
//!
//! The child creates `sets` × `sockets` jobs (each set a fresh, identical
//! batch) and prints one line per job: its URL and token. Then it answers
//! one command per stdin line, each answered by one line on stdout:
//! - `close-all`: closes every socket with 1001, as a restart does; the
//!   accept clock (below) starts from this command. Answers `ok`.
//! - `accepts`: the times of the WebSocket accepts (101) since the last
//!   `close-all`, in µs, as `accepts LAGGED T1 T2 …` (LAGGED: accepts the
//!   wire subscriber missed). Only with `SimSpec::accepts`.
//! - `delete SET`: deletes the jobs of one set (their clocks stop, their
//!   sockets are closed with 4004). Answers `ok`.
//! - `complete SET`: `complete N`, the jobs of the set that completed with
//!   every item.
//!
//! End of stdin ends it.

// Each bench uses the commands it needs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sockscope_bench::{knob, nofile, raise_nofile};
use sockscope_sim::{Faults, JobKind, JobStatus, Sim, SimConfig, WireEvent};

/// What the child serves.
#[derive(Debug, Clone, Copy)]
pub struct SimSpec {
    /// Jobs per set.
    pub sockets: usize,
    /// Sets of jobs.
    pub sets: usize,
    /// One progress item every this many ms, once a client is ready.
    pub interval_ms: u64,
    /// A `keep_alive` after this many quiet ms.
    pub keepalive_ms: u64,
    /// Items per job.
    pub total: u64,
    /// Record the WebSocket accepts' times (a wire subscriber).
    pub accepts: bool,
}

/// The simulator child process and the jobs it created, set by set.
#[derive(Debug)]
pub struct SimChild {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// Per set, each job's (URL, token).
    pub sets: Vec<Vec<(String, String)>>,
}

impl SimChild {
    pub fn spawn(spec: SimSpec) -> SimChild {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env("SOCKSCOPE_BENCH_ROLE", "sim")
            .env("SOCKSCOPE_BENCH_SIM_SOCKETS", spec.sockets.to_string())
            .env("SOCKSCOPE_BENCH_SIM_SETS", spec.sets.to_string())
            .env(
                "SOCKSCOPE_BENCH_SIM_INTERVAL_MS",
                spec.interval_ms.to_string(),
            )
            .env("SOCKSCOPE_BENCH_SIM_TOTAL", spec.total.to_string())
            .env(
                "SOCKSCOPE_BENCH_SIM_KEEPALIVE_MS",
                spec.keepalive_ms.to_string(),
            )
            .env(
                "SOCKSCOPE_BENCH_SIM_ACCEPTS",
                u8::from(spec.accepts).to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("simulator child starts");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut sets = Vec::with_capacity(spec.sets);
        let mut line = String::new();
        for _ in 0..spec.sets {
            let mut jobs = Vec::with_capacity(spec.sockets);
            while jobs.len() < spec.sockets {
                line.clear();
                stdout.read_line(&mut line).expect("child output");
                assert!(!line.is_empty(), "simulator child ended early");
                if let Some((url, token)) = line.trim().split_once(' ') {
                    jobs.push((url.to_owned(), token.to_owned()));
                }
            }
            sets.push(jobs);
        }
        SimChild {
            child,
            stdin,
            stdout,
            sets,
        }
    }

    /// Sends one command and returns its one-line answer.
    fn ask(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").expect("command sent");
        stdin.flush().expect("command sent");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("answer");
        assert!(!line.is_empty(), "simulator child ended during {command}");
        line.trim().to_owned()
    }

    pub fn close_all(&mut self) {
        assert_eq!(self.ask("close-all"), "ok", "close-all answered");
    }

    /// Accept times since the last close-all, in ns, and how many the
    /// child's wire subscriber missed.
    pub fn accepts(&mut self) -> (Vec<u64>, u64) {
        let answer = self.ask("accepts");
        let mut fields = answer.split_whitespace();
        assert_eq!(fields.next(), Some("accepts"), "accepts answered");
        let lagged = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let times = fields
            .filter_map(|v| v.parse::<u64>().ok())
            .map(|us| us * 1000)
            .collect();
        (times, lagged)
    }

    pub fn delete(&mut self, set: usize) {
        assert_eq!(self.ask(&format!("delete {set}")), "ok", "delete answered");
    }

    /// Jobs of `set` that completed with every item.
    pub fn complete(&mut self, set: usize) -> usize {
        let answer = self.ask(&format!("complete {set}"));
        answer
            .strip_prefix("complete ")
            .and_then(|n| n.parse().ok())
            .expect("complete answered")
    }

    pub fn stop(mut self) {
        // End of stdin is the child's signal to stop.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as both processes
/// must. In the child, then serves the simulator and returns `None`; in the
/// bench, returns the limits (soft before, hard).
pub fn raise_nofile_or_serve() -> Option<(u64, u64)> {
    let limits = raise_nofile().expect("raise RLIMIT_NOFILE");
    if std::env::var("SOCKSCOPE_BENCH_ROLE").is_ok_and(|r| r == "sim") {
        sim_child();
        return None;
    }
    Some(limits)
}

/// The limits' line, "unlimited" spelled out.
pub fn nofile_line((soft, hard): (u64, u64)) -> String {
    let text = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_owned()
        } else {
            v.to_string()
        }
    };
    format!(
        "RLIMIT_NOFILE: soft {} raised to the hard limit {} (ulimit -Hn); now {}.",
        text(soft),
        text(hard),
        text(nofile())
    )
}

/// The child's side: see the module's doc.
fn sim_child() {
    let sockets: usize = knob("SOCKSCOPE_BENCH_SIM_SOCKETS", 1);
    let sets: usize = knob("SOCKSCOPE_BENCH_SIM_SETS", 1);
    let interval_ms: u64 = knob("SOCKSCOPE_BENCH_SIM_INTERVAL_MS", 3_600_000);
    let total: u64 = knob("SOCKSCOPE_BENCH_SIM_TOTAL", 1_000_000);
    let keepalive_ms: u64 = knob("SOCKSCOPE_BENCH_SIM_KEEPALIVE_MS", 15_000);
    let accepts = knob("SOCKSCOPE_BENCH_SIM_ACCEPTS", 0u8) == 1;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sim")
        .enable_all()
        .build()
        .expect("sim runtime");
    let sim = rt
        .block_on(Sim::start(SimConfig::default()))
        .expect("simulator starts");
    // Accept times, stamped as the wire log publishes each 101.
    let origin = Arc::new(Mutex::new((Instant::now(), Vec::<u64>::new(), 0u64)));
    if accepts {
        // On a thread of its own, so that a busy simulator runtime does not
        // make the stamps late or the subscriber lag.
        let mut wire = sim.subscribe_wire();
        let origin = origin.clone();
        std::thread::spawn(move || {
            use tokio::sync::broadcast::error::RecvError;
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                loop {
                    match wire.recv().await {
                        Ok(WireEvent::Connection { status: 101, .. }) => {
                            let mut o = origin.lock().expect("lock");
                            let us = u64::try_from(o.0.elapsed().as_micros()).unwrap_or(u64::MAX);
                            o.1.push(us);
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(n)) => origin.lock().expect("lock").2 += n,
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        });
    }
    let faults = Faults {
        interval_ms: Some(interval_ms),
        keepalive_ms: Some(keepalive_ms),
        ..Faults::default()
    };
    let mut ids: Vec<Vec<String>> = Vec::with_capacity(sets);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..sets {
        let mut set = Vec::with_capacity(sockets);
        for _ in 0..sockets {
            let job = sim
                .create_job(JobKind::CsvImport, total, faults.clone())
                .expect("job created");
            writeln!(out, "{} {}", job.ws_url, job.token).expect("stdout");
            set.push(job.job_id);
        }
        ids.push(set);
    }
    out.flush().expect("stdout");
    drop(out);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or("");
        let set = words
            .next()
            .and_then(|s| s.parse::<usize>().ok())
            .and_then(|s| ids.get(s));
        let answer = match (command, set) {
            ("close-all", _) => {
                {
                    let mut o = origin.lock().expect("lock");
                    *o = (Instant::now(), Vec::new(), 0);
                }
                sim.close_all(1001, "restart").expect("close-all");
                "ok".to_owned()
            }
            ("accepts", _) => {
                let o = origin.lock().expect("lock");
                let mut s = format!("accepts {}", o.2);
                for t in &o.1 {
                    s.push(' ');
                    s.push_str(&t.to_string());
                }
                s
            }
            ("delete", Some(set)) => {
                for id in set {
                    let _ = sim.delete_job(id);
                }
                "ok".to_owned()
            }
            ("complete", Some(set)) => {
                let n = set
                    .iter()
                    .filter_map(|id| sim.job_state(id))
                    .filter(|s| s.status == JobStatus::Complete && s.processed_count == total)
                    .count();
                format!("complete {n}")
            }
            _ => format!("unknown command {line:?}"),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{answer}").expect("stdout");
        out.flush().expect("stdout");
    }
    rt.block_on(sim.shutdown());
}
