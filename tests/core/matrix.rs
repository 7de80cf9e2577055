//! The fault matrix: 100 sockets against the simulator with random
//! combinations of fault knobs, admin actions (close, drop, revoke, delete)
//! and user cancels, and the engine's invariants checked on every run.
//!
//! Each run is drawn from a seed, printed first. The knobs, actions and
//! their triggers are a pure function of the seed; the interleavings are
//! real network timing. CI runs seeds 1, 2 and 3. A recorder writes every
//! run to a real SQLite file, and its rows must equal the events emitted.
//!
//! ```sh
//! # rerun one seed
//! SOCKSCOPE_MATRIX_SEED=2 cargo test -p sockscope-core --test core fault_matrix -- --nocapture
//! # run 200 fresh seeds (a long soak)
//! SOCKSCOPE_MATRIX_RUNS=200 cargo test -p sockscope-core --test core fault_matrix -- --nocapture
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use sockscope_engine::event::{
    ClosedReason, Direction, EventKind, Opcode as FrameOpcode, StateName,
};
use sockscope_engine::{FinalCount, SocketHandle, SocketId, State};
use sockscope_sim::{Faults, JobKind, JobStatus, Opcode, Side, WireEvent};
use sockscope_test_support::Harness;
use tokio::sync::broadcast::error::RecvError;

const SOCKETS: usize = 100;
/// The bound of one run.
const RUN_BOUND: Duration = Duration::from_secs(45);
/// Attempts after its job ended that mark a socket as reconnecting forever.
const LIVELOCK_CONNECTS: u32 = 8;
/// Seeds CI runs.
const CI_SEEDS: [u64; 3] = [1, 2, 3];

/// Something the matrix does to a socket's job through the control plane.
#[derive(Debug, Clone, Copy)]
enum Admin {
    Close(u16),
    Drop,
    Revoke,
    Delete,
}

/// When a user cancel comes: the first time the socket enters this state.
#[derive(Debug, Clone, Copy)]
struct CancelAt(StateName);

#[derive(Debug)]
struct Plan {
    kind: JobKind,
    total: u64,
    faults: Faults,
    /// The action, and after how many items the socket has seen.
    admin: Option<(Admin, u64)>,
    cancel: Option<CancelAt>,
}

fn maybe<T>(rng: &mut fastrand::Rng, p: f64, v: impl FnOnce(&mut fastrand::Rng) -> T) -> Option<T> {
    if rng.f64() < p { Some(v(rng)) } else { None }
}

fn plan(rng: &mut fastrand::Rng) -> Plan {
    let total = rng.u64(5..=40);
    let fail_after = maybe(rng, 0.1, |r| r.u64(1..=total));
    let faults = Faults {
        interval_ms: Some(rng.u64(2..=10)),
        accept_delay_ms: maybe(rng, 0.2, |r| r.u64(0..=300)),
        ready_deaf_ms: maybe(rng, 0.2, |r| r.u64(0..=600)),
        drop_after: maybe(rng, 0.25, |r| r.u64(1..=10)),
        close_after: maybe(rng, 0.2, |r| r.u64(1..=10)),
        send_after_close: maybe(rng, 0.15, |r| r.u64(1..=3)),
        // Not drawn, so that a seed still names the same plan.
        duplicate_seq: None,
        gap_after: None,
        gap_len: None,
        state_5xx: maybe(rng, 0.2, |r| r.u64(1..=3)),
        history: maybe(rng, 0.2, |r| r.usize(0..=5)),
        stall_after_ms: maybe(rng, 0.1, |r| r.u64(50..=300)),
        token_ttl_ms: maybe(rng, 0.1, |r| r.u64(150..=400)),
        fault_connections: maybe(rng, 0.2, |r| if r.bool() { -1 } else { r.i64(1..=3) }),
        fail_after,
        fail_retryable: fail_after.map(|_| rng.bool()),
        fail_message: None,
        resync_reason: None,
        keepalive_ms: maybe(rng, 0.1, |r| r.u64(20..=100)),
    };
    let admin = maybe(rng, 0.15, |r| {
        let a = match r.u8(0..6) {
            0 => Admin::Close(1001),
            1 => Admin::Close(1011),
            2 => Admin::Close(4001),
            3 => Admin::Drop,
            4 => Admin::Revoke,
            _ => Admin::Delete,
        };
        (a, r.u64(1..=total))
    });
    let cancel = maybe(rng, 0.15, |r| {
        CancelAt(match r.u8(0..4) {
            0 => StateName::Connecting,
            1 => StateName::AwaitingReady,
            2 => StateName::Ready,
            _ => StateName::Backoff,
        })
    });
    let kind = [
        JobKind::CsvImport,
        JobKind::BookshelfScan,
        JobKind::Enrichment,
    ][rng.usize(0..3)];
    Plan {
        kind,
        total,
        faults,
        admin,
        cancel,
    }
}

/// Panics raised in product code (not in tests) since the hook went in.
static PRODUCT_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn watch_product_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(loc) = info.location() {
                let file = loc.file();
                if ["crates/engine", "crates/sim", "crates/protocol"]
                    .iter()
                    .any(|c| file.contains(c))
                {
                    PRODUCT_PANICS
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{info}"));
                }
            }
            previous(info);
        }));
    });
}

struct Socket {
    handle: SocketHandle,
    job_id: String,
    plan: Plan,
    admin_done: bool,
    cancel_sent: bool,
    /// Sim connections counted when the Cancelled transition was seen.
    conns_at_cancel: Option<usize>,
    /// Connecting transitions before Cancelled.
    attempts_at_cancel: u32,
    cancelled_from: Option<StateName>,
    connecting: u32,
    /// Connection attempts after the server's job ended.
    connects_after_end: u32,
    ended: Option<State>,
}

/// What a run counted. `events` and `per_socket` are what a recorder
/// attached to the same engine must have stored, row for row.
struct MatrixRun {
    events: usize,
    per_socket: HashMap<SocketId, usize>,
    cancels: usize,
    admin_actions: usize,
    finished_checked: usize,
    /// Finished jobs whose socket rightly said its final count is unknown.
    unknown_counts: usize,
    /// Client frames the server got after its own close frame: crossings.
    crossings: usize,
    ended: HashMap<&'static str, usize>,
}

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("SOCKSCOPE_MATRIX_SEED") {
        return vec![s.trim().parse().expect("SOCKSCOPE_MATRIX_SEED is a u64")];
    }
    match std::env::var("SOCKSCOPE_MATRIX_RUNS") {
        Ok(n) => {
            let n: usize = n.trim().parse().expect("SOCKSCOPE_MATRIX_RUNS is a count");
            let mut rng = fastrand::Rng::new();
            (0..n).map(|_| rng.u64(..)).collect()
        }
        Err(_) => CI_SEEDS.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    watch_product_panics();
    for seed in seeds() {
        println!(
            "fault matrix seed {seed} (rerun: SOCKSCOPE_MATRIX_SEED={seed} cargo test -p sockscope-core --test core fault_matrix -- --nocapture)"
        );
        let run = run_matrix(seed).await;
        println!(
            "  seed {seed}: ok; {} events over {} sockets, {} cancels, {} admin actions, \
             {} finished jobs checked against the server ({} more said their count is unknown), \
             {} close crossings, endings {:?}",
            run.events,
            run.per_socket.len(),
            run.cancels,
            run.admin_actions,
            run.finished_checked,
            run.unknown_counts,
            run.crossings,
            run.ended
        );
    }
}

async fn run_matrix(seed: u64) -> MatrixRun {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new().await;
    let mut live = h.engine.subscribe_live();
    let live_counts = tokio::spawn(async move {
        let mut counts: HashMap<SocketId, usize> = HashMap::new();
        let mut lagged = 0u64;
        loop {
            match live.recv().await {
                Ok(e) => *counts.entry(e.socket).or_default() += 1,
                Err(RecvError::Lagged(n)) => lagged += n,
                Err(RecvError::Closed) => break,
            }
        }
        (counts, lagged)
    });
    // A real recorder on a real file takes its own lossless subscription.
    let db_dir = tempfile::tempdir().expect("a temp dir");
    let db = db_dir.path().join("matrix.db");
    let recorder_feed = h.engine.subscribe_lossless(8192);
    let (recorder, report) = sockscope_recorder::Recorder::start(
        sockscope_recorder::RecorderConfig::new(&db),
        recorder_feed,
    )
    .expect("the recorder starts");
    let mut lossless = h.engine.subscribe_lossless(1 << 16);
    let lossless_counts = tokio::spawn(async move {
        let mut counts: HashMap<SocketId, usize> = HashMap::new();
        while let Some(e) = lossless.recv().await {
            *counts.entry(e.socket).or_default() += 1;
        }
        counts
    });
    let mut sockets: Vec<Socket> = Vec::with_capacity(SOCKETS);
    let mut by_id: HashMap<SocketId, usize> = HashMap::new();
    // Jobs and configs first, so that the sockets start together and the
    // event loop below sees their first transitions as they happen.
    let mut prepared = Vec::with_capacity(SOCKETS);
    for i in 0..SOCKETS {
        let plan = plan(&mut rng);
        let job = h.job(plan.kind, plan.total, plan.faults.clone());
        let mut cfg = h.config(&job);
        cfg.name = Some(format!("s{i}"));
        cfg.token = Some(Arc::new(h.tokens(&job)));
        cfg.heartbeat.interval = Duration::from_millis(200);
        cfg.heartbeat.timeout = Duration::from_millis(400);
        cfg.timeouts.ready = Duration::from_millis(250);
        cfg.ready_resends = 4;
        cfg.jitter_seed = Some(seed ^ i as u64);
        prepared.push((plan, job, cfg));
    }
    for (i, (plan, job, cfg)) in prepared.into_iter().enumerate() {
        let handle = h.add(&cfg);
        by_id.insert(handle.id(), i);
        sockets.push(Socket {
            handle,
            job_id: job.job_id,
            plan,
            admin_done: false,
            cancel_sent: false,
            conns_at_cancel: None,
            attempts_at_cancel: 0,
            cancelled_from: None,
            connecting: 0,
            connects_after_end: 0,
            ended: None,
        });
    }
    let mut open = SOCKETS;
    let mut cancels = 0;
    let mut admin_actions = 0;
    let deadline = tokio::time::Instant::now() + RUN_BOUND;
    while open > 0 {
        if tokio::time::Instant::now() > deadline {
            let stuck: Vec<String> = sockets
                .iter()
                .filter(|s| s.ended.is_none())
                .map(|s| {
                    format!(
                        "{} {:?} {:?}",
                        s.handle.info().name,
                        s.handle.snapshot().state,
                        s.plan
                    )
                })
                .collect();
            panic!(
                "seed {seed}: {open} sockets still open after {RUN_BOUND:?}:\n{}",
                stuck.join("\n")
            );
        }
        let e = h.next("the next engine event", |_| true).await;
        let Some(&i) = by_id.get(&e.socket) else {
            continue;
        };
        let s = &mut sockets[i];
        match &e.kind {
            EventKind::Transition { from, to, .. } => {
                if to.name() == StateName::Connecting {
                    s.connecting += 1;
                    // A socket must learn that its job ended (from the
                    // replay or a state sync) instead of reconnecting on.
                    let ended = h.sim.job_state(&s.job_id).is_some_and(|j| {
                        matches!(
                            j.status,
                            JobStatus::Complete | JobStatus::Failed | JobStatus::Canceled
                        )
                    });
                    if ended {
                        s.connects_after_end += 1;
                    }
                    assert!(
                        s.connects_after_end < LIVELOCK_CONNECTS,
                        "seed {seed}: {} kept reconnecting after its job ended",
                        s.handle.info().name
                    );
                }
                if let Some(CancelAt(when)) = s.plan.cancel
                    && when == to.name()
                    && !s.cancel_sent
                {
                    s.cancel_sent = true;
                    cancels += 1;
                    s.handle.cancel().await.expect("the socket task is alive");
                }
                if *to == State::Cancelled {
                    s.conns_at_cancel = Some(h.sim.connections(&s.job_id));
                    s.attempts_at_cancel = s.connecting;
                    s.cancelled_from = Some(*from);
                }
                if to.is_terminal() {
                    assert!(
                        s.ended.is_none(),
                        "seed {seed}: {} ended twice",
                        s.handle.info().name
                    );
                    s.ended = Some(to.clone());
                    open -= 1;
                }
            }
            EventKind::Progress(p) => {
                if let Some((action, at)) = s.plan.admin
                    && !s.admin_done
                    && p.processed >= at
                {
                    s.admin_done = true;
                    admin_actions += 1;
                    // The job may have ended already; that is not the engine's to answer.
                    let _ = match action {
                        Admin::Close(code) => h.sim.close_job(&s.job_id, code, "matrix"),
                        Admin::Drop => h.sim.drop_job(&s.job_id),
                        Admin::Revoke => h.sim.revoke(&s.job_id),
                        Admin::Delete => h.sim.delete_job(&s.job_id),
                    };
                }
            }
            _ => {}
        }
    }

    // 1. No panic in product code.
    let panics = PRODUCT_PANICS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        panics.is_empty(),
        "seed {seed}: product code panicked: {panics:?}"
    );

    // 2. Nothing written after a close. On the wire: no client data frame
    // after the client's own close frame. A client frame after the server's
    // close can be a crossing (written before that close arrived), so the
    // engine's frame log settles it: no data frame out after a close frame
    // either way, until the next connection.
    let wire = h.sim.wire_log();
    let mut client_closed: HashMap<u64, bool> = HashMap::new();
    let mut crossings = 0usize;
    for e in &wire {
        match e {
            WireEvent::Close {
                conn,
                by: Side::Client,
                ..
            } => {
                client_closed.insert(*conn, true);
            }
            WireEvent::Received {
                conn,
                after_close: true,
                opcode: Opcode::Text | Opcode::Binary,
                ..
            } => {
                let story: Vec<&WireEvent> =
                    wire.iter().filter(|x| x.conn() == Some(*conn)).collect();
                assert!(
                    !client_closed.get(conn).copied().unwrap_or(false),
                    "seed {seed}: a client wrote data after its own close frame: {story:#?}"
                );
                crossings += 1;
            }
            _ => {}
        }
    }
    for s in &sockets {
        let mut closed = false;
        for e in h.log.iter().filter(|e| e.socket == s.handle.id()) {
            match &e.kind {
                EventKind::Transition {
                    to: State::Connecting { .. },
                    ..
                } => closed = false,
                EventKind::Frame(f) if f.opcode == FrameOpcode::Close => closed = true,
                EventKind::Frame(f)
                    if f.direction == Direction::Out
                        && matches!(f.opcode, FrameOpcode::Text | FrameOpcode::Binary) =>
                {
                    assert!(
                        !closed,
                        "seed {seed}: {} wrote {f:?} after a close frame",
                        s.handle.info().name
                    );
                }
                _ => {}
            }
        }
    }

    // 3. No attempt after cancel.
    for s in sockets.iter().filter(|s| s.ended == Some(State::Cancelled)) {
        let name = &s.handle.info().name;
        let now = h.sim.connections(&s.job_id);
        let at = s.conns_at_cancel.expect("counted at the cancel");
        assert!(
            now as u32 <= s.attempts_at_cancel,
            "seed {seed}: {name}: {now} connections but only {} attempts before the cancel",
            s.attempts_at_cancel
        );
        // A handshake in flight at the cancel may still be counted by the server.
        let in_flight = usize::from(s.cancelled_from == Some(StateName::Connecting));
        assert!(
            now <= at + in_flight,
            "seed {seed}: {name}: {at} connections at the cancel, {now} at the end"
        );
        assert_eq!(
            s.handle.snapshot().attempts,
            s.attempts_at_cancel,
            "seed {seed}: {name}"
        );
    }

    // 4. Every job the server finished, and the socket saw finish, ends at
    // the server's count, or says that its final count is unknown (a
    // state sync gave up: PROTOCOL.md allows 3 tries). A sync may still be
    // in flight or due after the close: the socket settles first, bounded
    // by the sync's own tries. The give-up can come after the loop above
    // has stopped reading, so the snapshot says, not the events read.
    let mut finished_checked = 0;
    let mut unknown_counts = 0;
    for s in &sockets {
        let Some(server) = h.sim.job_state(&s.job_id) else {
            continue;
        };
        let seen_end = matches!(
            s.ended,
            Some(State::Closed {
                reason: ClosedReason::JobFinished | ClosedReason::JobFailed { .. }
            })
        );
        let admin_cut_it = matches!(s.plan.admin, Some((Admin::Close(_), _))) && s.admin_done;
        if !seen_end
            || admin_cut_it
            || !matches!(server.status, JobStatus::Complete | JobStatus::Failed)
        {
            continue;
        }
        let settled = s.handle.wait_for(|snap| snap.settled());
        let snap = sockscope_test_support::within(
            Duration::from_secs(10),
            "the socket's final count to settle",
            settled,
        )
        .await
        .expect("the socket task is alive");
        let ours = match snap.final_count() {
            FinalCount::Known(p) => p.map(|p| p.processed),
            FinalCount::Unknown { .. } => {
                unknown_counts += 1;
                continue;
            }
            FinalCount::Pending => unreachable!("settled"),
        };
        finished_checked += 1;
        assert_eq!(
            ours,
            Some(server.processed_count),
            "seed {seed}: {} ended {:?} at {ours:?}, the server at {} ({:?}; plan {:?})",
            s.handle.info().name,
            s.ended,
            server.processed_count,
            server.status,
            s.plan
        );
    }

    // 5. Event counts: what each socket emitted (counted on the live feed,
    // the bus's other path) equals what a lossless subscription received.
    let mut ended: HashMap<&'static str, usize> = HashMap::new();
    for s in &sockets {
        let name = match &s.ended {
            Some(State::Closed {
                reason: ClosedReason::JobFinished,
            }) => "finished",
            Some(State::Closed {
                reason: ClosedReason::JobFailed { .. },
            }) => "job_failed",
            Some(State::Closed { .. }) => "closed",
            Some(State::Failed { .. }) => "failed",
            Some(State::Cancelled) => "cancelled",
            _ => "other",
        };
        *ended.entry(name).or_default() += 1;
    }
    let consumed = h.log.len();
    // With every handle gone the socket tasks end and both feeds close.
    drop(sockets);
    drop(h);
    let (live, lagged) = sockscope_test_support::within(
        Duration::from_secs(10),
        "the live feed to close",
        live_counts,
    )
    .await
    .expect("the live counter did not panic");
    let per_socket = sockscope_test_support::within(
        Duration::from_secs(10),
        "the lossless feed to close",
        lossless_counts,
    )
    .await
    .expect("the lossless counter did not panic");
    let events: usize = per_socket.values().sum();
    assert!(events >= consumed, "seed {seed}: {events} < {consumed}");
    assert_eq!(
        lagged, 0,
        "seed {seed}: the live feed lagged; raise its capacity"
    );
    assert_eq!(
        live, per_socket,
        "seed {seed}: live and lossless counts differ"
    );
    assert_eq!(per_socket.len(), SOCKETS, "seed {seed}");
    // 6. The rows in SQLite equal the events the engine emitted.
    let summary = sockscope_test_support::within(
        Duration::from_secs(20),
        "the recorder to commit everything",
        recorder.finish(),
    )
    .await
    .expect("the recorder finished cleanly");
    assert_eq!(
        summary.written as usize, events,
        "seed {seed}: recorder rows"
    );
    let reader = sockscope_recorder::RecordReader::open(&db).expect("the db opens");
    let stored = reader
        .session(report.session.id)
        .expect("the session is there");
    assert_eq!(
        stored.event_count as usize, events,
        "seed {seed}: session row"
    );
    let mut rows = 0usize;
    reader
        .for_each_event(report.session.id, |_| {
            rows += 1;
            Ok(())
        })
        .expect("the events read back");
    assert_eq!(rows, events, "seed {seed}: rows read back");
    MatrixRun {
        events,
        per_socket,
        cancels,
        admin_actions,
        finished_checked,
        unknown_counts,
        crossings,
        ended,
    }
}
