//! The built-in demo: three job sockets whose simulator faults set off the
//! races of the seeds, so a new user sees a race within seconds; and the
//! endless demo of the app, which goes on from there with new jobs that
//! play the catalog's races in turn ([`demo_acts`], [`EndlessDemo`]).

use std::time::Duration;

use sockscope_engine::SocketConfig;
use sockscope_protocol::JobKind;
use sockscope_sim::Faults;

/// One demo job.
#[derive(Debug, Clone)]
pub struct DemoJob {
    /// Its kind, also the socket's name.
    pub kind: JobKind,
    /// The race it shows, in plain words.
    pub story: &'static str,
    /// The simulator faults that set the race off.
    pub faults: Faults,
    /// Application messages sent before Ready.
    pub early_sends: usize,
}

/// Items per demo job. Default pace: one item every 50 ms.
pub const DEMO_ITEMS: u64 = 60;

/// Wire events the demo's simulator keeps (nobody queries them).
pub const DEMO_WIRE_LOG: usize = 1_000;

/// How long a demo socket waits for `ready_ack` before sending `ready` again.
pub const DEMO_READY_TIMEOUT: Duration = Duration::from_millis(500);

/// The three demo jobs, `items` long, one item every `interval_ms`.
pub fn demo_jobs(items: u64, interval_ms: u64) -> Vec<DemoJob> {
    let items = items.max(3);
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

/// What the demo does to a socket to provoke its act's race, besides the
/// simulator's faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoMove {
    /// Nothing: the faults alone set the race off.
    None,
    /// Sends this many pings right after the socket is added, during the
    /// handshake.
    SendEarly(usize),
    /// Sends this many pings once the socket awaits `ready_ack`.
    SendAwaitingReady(usize),
    /// Sends a ping once the job has closed the socket.
    SendAfterEnd,
    /// Cancels the socket while it waits to reconnect.
    CancelInBackoff,
}

/// The endless demo's one act that is no race: the server fails the job
/// part-way, and the app says why in plain words (jobs view, notification).
pub const JOB_FAILS: &str = "job-fails-part-way";

/// What the server of [`JOB_FAILS`] says.
pub const JOB_FAILS_MESSAGE: &str = "row 812 of the file cannot be read";

/// One act of the endless demo: a race of the catalog (`scenario`, an id of
/// [`crate::scenario::catalog`]) set off on a fresh job, or [`JOB_FAILS`].
#[derive(Debug, Clone)]
pub struct DemoAct {
    /// The catalog scenario whose race this act shows, or [`JOB_FAILS`].
    pub scenario: &'static str,
    /// The job's kind.
    pub kind: JobKind,
    /// The simulator's faults (paced by the caller).
    pub faults: Faults,
    /// What the demo does to the socket.
    pub moves: DemoMove,
    /// Socket settings the race needs (short ready or heartbeat timeouts,
    /// a long fixed backoff).
    pub tune: fn(&mut SocketConfig),
}

fn no_tune(_: &mut SocketConfig) {}

fn quick_ready(c: &mut SocketConfig) {
    c.timeouts.ready = DEMO_READY_TIMEOUT;
    c.ready_resends = 4;
}

fn quick_heartbeat(c: &mut SocketConfig) {
    c.heartbeat.interval = Duration::from_millis(300);
    c.heartbeat.timeout = Duration::from_millis(600);
}

fn slow_fixed_backoff(c: &mut SocketConfig) {
    c.reconnect.base = Duration::from_secs(3);
    c.reconnect.cap = Duration::from_secs(3);
    c.reconnect.jitter = false;
}

/// The acts, in the order the endless demo plays them, round and round:
/// a job the server fails, and every race of the catalog the simulator
/// can set off on one job socket
/// (the reconnect storm, the broadcast, the expiring token and the other
/// protocols' servers need more than that, and stay in the scenario menu).
/// `items` at one per `interval_ms`: the job's length, for faults that
/// strike part-way.
pub fn demo_acts(items: u64, interval_ms: u64) -> Vec<DemoAct> {
    let items = items.max(6);
    // A third of the way through the job.
    let third_ms = (items * interval_ms / 3).max(20);
    let act = |scenario, kind, faults, moves, tune| DemoAct {
        scenario,
        kind,
        faults,
        moves,
        tune,
    };
    vec![
        act(
            "send-before-handshake",
            JobKind::CsvImport,
            Faults {
                accept_delay_ms: Some(400),
                ..Faults::default()
            },
            DemoMove::SendEarly(2),
            no_tune,
        ),
        act(
            "abrupt-drop-then-resume",
            JobKind::CsvImport,
            Faults {
                drop_after: Some(items / 3),
                ..Faults::default()
            },
            DemoMove::None,
            no_tune,
        ),
        act(
            "accepted-but-deaf",
            JobKind::BookshelfScan,
            Faults {
                ready_deaf_ms: Some(1_200),
                ..Faults::default()
            },
            DemoMove::None,
            quick_ready,
        ),
        act(
            "peer-frames-after-close",
            JobKind::Enrichment,
            Faults {
                close_after: Some(items / 2),
                send_after_close: Some(2),
                ..Faults::default()
            },
            DemoMove::None,
            no_tune,
        ),
        act(
            "duplicate-seq-and-gap",
            JobKind::CsvImport,
            Faults {
                duplicate_seq: Some(2),
                gap_after: Some(4),
                gap_len: Some(2),
                ..Faults::default()
            },
            DemoMove::None,
            no_tune,
        ),
        act(
            JOB_FAILS,
            JobKind::CsvImport,
            Faults {
                fail_after: Some(items / 2),
                fail_message: Some(JOB_FAILS_MESSAGE.into()),
                ..Faults::default()
            },
            DemoMove::None,
            no_tune,
        ),
        act(
            "send-after-close",
            JobKind::BookshelfScan,
            Faults::default(),
            DemoMove::SendAfterEnd,
            no_tune,
        ),
        act(
            "resume-impossible-sync-5xx",
            JobKind::Enrichment,
            Faults {
                history: Some(0),
                drop_after: Some(items / 3),
                state_5xx: Some(1),
                ..Faults::default()
            },
            DemoMove::None,
            no_tune,
        ),
        act(
            "half-open-stall",
            JobKind::Enrichment,
            Faults {
                stall_after_ms: Some(third_ms),
                ..Faults::default()
            },
            DemoMove::None,
            quick_heartbeat,
        ),
        act(
            "queued-sends-vs-app-ready",
            JobKind::CsvImport,
            Faults {
                ready_deaf_ms: Some(900),
                ..Faults::default()
            },
            DemoMove::SendAwaitingReady(2),
            quick_ready,
        ),
        act(
            "cancel-during-backoff",
            JobKind::BookshelfScan,
            Faults {
                drop_after: Some(items / 3),
                ..Faults::default()
            },
            DemoMove::CancelInBackoff,
            slow_fixed_backoff,
        ),
    ]
}

/// The endless demo's pace and bounds (the app's demo): a new short job
/// every `arrival_every`, one long import at a time, each ended socket
/// leaving the live set `linger` after it settled. Events per hour are
/// bounded by these: at most `3600 s / arrival_every` short jobs of
/// `items` items and `3600 s / (long_items · long_interval_ms)` long ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndlessDemo {
    /// Time between two short jobs' arrivals. Default 5 s.
    pub arrival_every: Duration,
    /// Items of a short job. Default 40 (2 s at the default pace).
    pub items: u64,
    /// Milliseconds between a short job's items. Default 50.
    pub interval_ms: u64,
    /// Items of a long import. Default 1,200 (4 min at the default pace).
    pub long_items: u64,
    /// Milliseconds between a long import's items. Default 200.
    pub long_interval_ms: u64,
    /// How long an ended socket stays in the live set (and on the
    /// timeline) after its job's count is settled. Default 20 s.
    pub linger: Duration,
    /// The most demo sockets live at once, the long import included; an
    /// arrival waits for room. Default 10.
    pub max_live: usize,
}

impl Default for EndlessDemo {
    fn default() -> Self {
        EndlessDemo {
            arrival_every: Duration::from_secs(5),
            items: 40,
            interval_ms: 50,
            long_items: 1_200,
            long_interval_ms: 200,
            linger: Duration::from_secs(20),
            max_live: 10,
        }
    }
}

/// The long imports, in turn: minutes of items with one race part-way.
pub fn long_import_acts(items: u64) -> Vec<DemoAct> {
    let items = items.max(6);
    let long = |scenario, faults| DemoAct {
        scenario,
        kind: JobKind::CsvImport,
        faults,
        moves: DemoMove::None,
        tune: no_tune,
    };
    vec![
        long(
            "abrupt-drop-then-resume",
            Faults {
                drop_after: Some(items / 2),
                ..Faults::default()
            },
        ),
        long(
            "half-open-stall",
            Faults {
                stall_after_ms: Some(90_000),
                ..Faults::default()
            },
        ),
        long(
            "peer-frames-after-close",
            Faults {
                close_after: Some(items / 3),
                send_after_close: Some(2),
                ..Faults::default()
            },
        ),
    ]
}
