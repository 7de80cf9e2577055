//! The race scenario catalog: one scenario per race class. Each reproduces
//! its race on demand against an embedded simulator (or, for what the
//! simulator never does, a small server of its own), checks what the engine
//! and the wire did, and returns a [`ScenarioReport`]. Timers are test-sized,
//! so each runs in seconds.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockscope_engine::event::{
    Cause, ClosedReason, Direction, EventKind, FindingClass, StateName, StateSyncOutcome,
};
use sockscope_engine::{
    Engine, EngineConfig, Event, HeartbeatPolicy, Mono, ReconnectPolicy, SocketConfig,
    SocketHandle, State, Timeouts, Token, TokenFuture, TokenSource,
};
use sockscope_sim::{
    CreateJobResponse, Faults, JobKind, JobStatus, Opcode, Sim, SimConfig, WireEvent,
};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::CoreError;

/// How long one awaited event may take before the scenario fails.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sockets in the reconnect storm.
pub const STORM_SOCKETS: usize = 1000;

/// A catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioInfo {
    /// Kebab-case id, as given to `sockscope scenario run`.
    pub id: &'static str,
    /// The race, in a sentence.
    pub race: &'static str,
    /// The seed document(s) in `shared/seeds/` the race comes from.
    pub seed: &'static str,
    /// Findings the engine must produce; the scenario fails without them.
    pub expected: &'static [FindingClass],
}

use FindingClass as F;

const CATALOG: &[ScenarioInfo] = &[
    ScenarioInfo {
        id: "send-before-handshake",
        race: "the app sends while the WebSocket handshake is still in flight",
        seed: "000",
        expected: &[F::SendBeforeReadyQueued],
    },
    ScenarioInfo {
        id: "accepted-but-deaf",
        race: "the server accepted the socket but is not listening yet",
        seed: "001, 004",
        expected: &[F::ReadyTimeout, F::ReadyResent],
    },
    ScenarioInfo {
        id: "send-after-close",
        race: "the app sends after the job closed the socket",
        seed: "003",
        expected: &[F::SendAfterClosePrevented],
    },
    ScenarioInfo {
        id: "broadcast-to-closing",
        race: "a broadcast reaches a socket that is closing",
        seed: "003",
        expected: &[F::BroadcastSkippedClosing],
    },
    ScenarioInfo {
        id: "peer-frames-after-close",
        race: "the server keeps sending after its own close frame",
        seed: "003",
        expected: &[F::PeerFrameAfterClose],
    },
    ScenarioInfo {
        id: "abrupt-drop-then-resume",
        race: "the connection drops with no close frame mid-job; the reconnect must resume",
        seed: "002",
        expected: &[F::AbnormalClose],
    },
    ScenarioInfo {
        id: "resume-impossible-sync-5xx",
        race: "after a drop the server cannot replay; the state sync gets a 503, then succeeds",
        seed: "002",
        expected: &[F::AbnormalClose, F::ResyncRequired, F::StateSyncRetry],
    },
    ScenarioInfo {
        id: "half-open-stall",
        race: "the link goes half-open: TCP looks alive, nothing moves",
        seed: "001",
        expected: &[F::HeartbeatLost],
    },
    ScenarioInfo {
        id: "expired-token-on-reconnect",
        race: "the token expires while the socket waits to reconnect",
        seed: "002",
        expected: &[F::AbnormalClose, F::TokenRefreshed],
    },
    ScenarioInfo {
        id: "queued-sends-vs-app-ready",
        race: "app sends made after the handshake but before ready_ack race the adapter's ready",
        seed: "000, 001",
        expected: &[F::SendBeforeReadyQueued, F::ReadyTimeout, F::ReadyResent],
    },
    ScenarioInfo {
        id: "cancel-during-backoff",
        race: "the user cancels while a reconnect is scheduled",
        seed: "002",
        expected: &[F::AbnormalClose],
    },
    ScenarioInfo {
        id: "reconnect-storm-1000",
        race: "a server restart closes 1,000 sockets at once; jitter must spread the reconnects",
        seed: "002",
        expected: &[],
    },
    ScenarioInfo {
        id: "duplicate-seq-and-gap",
        race: "the server sends a seq twice, then skips two",
        seed: "002",
        expected: &[F::DuplicateSeq, F::SeqGap],
    },
];

/// Every scenario, in catalog order.
pub fn catalog() -> &'static [ScenarioInfo] {
    CATALOG
}

/// The catalog entry with this id.
pub fn info(id: &str) -> Option<&'static ScenarioInfo> {
    CATALOG.iter().find(|s| s.id == id)
}

/// Runs the scenario `id` to its end. A failed check is a report with a
/// failing [`Verdict`]; `Err` means the scenario could not run at all.
pub async fn run(id: &str) -> Result<ScenarioReport, CoreError> {
    run_with(id, None).await
}

/// Like [`run`], recording every event of the run as a new session of the
/// database at `db`; the report says where.
pub async fn run_recorded(id: &str, db: &std::path::Path) -> Result<ScenarioReport, CoreError> {
    run_with(id, Some(db)).await
}

async fn run_with(id: &str, db: Option<&std::path::Path>) -> Result<ScenarioReport, CoreError> {
    let info = info(id).ok_or_else(|| CoreError::UnknownScenario(id.to_owned()))?;
    let mut run = Run::new(db).await?;
    let outcome = match info.id {
        "send-before-handshake" => send_before_handshake(&mut run).await,
        "accepted-but-deaf" => accepted_but_deaf(&mut run).await,
        "send-after-close" => send_after_close(&mut run).await,
        "broadcast-to-closing" => broadcast_to_closing(&mut run).await,
        "peer-frames-after-close" => peer_frames_after_close(&mut run).await,
        "abrupt-drop-then-resume" => abrupt_drop_then_resume(&mut run).await,
        "resume-impossible-sync-5xx" => resume_impossible_sync_5xx(&mut run).await,
        "half-open-stall" => half_open_stall(&mut run).await,
        "expired-token-on-reconnect" => expired_token_on_reconnect(&mut run).await,
        "queued-sends-vs-app-ready" => queued_sends_vs_app_ready(&mut run).await,
        "cancel-during-backoff" => cancel_during_backoff(&mut run).await,
        "reconnect-storm-1000" => reconnect_storm(&mut run).await,
        "duplicate-seq-and-gap" => duplicate_seq_and_gap(&mut run).await,
        other => return Err(CoreError::UnknownScenario(other.to_owned())),
    };
    run.finish(info, outcome).await
}

/// What a scenario run showed.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The catalog entry.
    pub info: &'static ScenarioInfo,
    /// Each socket's transitions, in socket order.
    pub sockets: Vec<SocketTimeline>,
    /// Findings produced, by class.
    pub findings: BTreeMap<FindingClass, usize>,
    /// What the scenario measured or checked on the wire, in words.
    pub observations: Vec<String>,
    /// Wall time the scenario took.
    pub elapsed: Duration,
    /// Pass or fail, with the reason.
    pub verdict: Verdict,
    /// Where the run was recorded, when it was.
    pub recording: Option<Recording>,
    /// Every engine event of the run, in the order the lossless
    /// subscription delivered it (engine-monotonic times, real socket ids):
    /// what a timeline draws, findings included.
    pub events: Vec<Arc<Event>>,
}

/// Where a scenario run is in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The database file.
    pub db: std::path::PathBuf,
    /// The session holding the run.
    pub session_id: i64,
    /// Events written.
    pub events: u64,
}

impl ScenarioReport {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }
}

/// A scenario's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held and every expected finding was produced.
    Pass,
    /// A check did not hold.
    Fail {
        /// Which, and what was seen instead.
        reason: String,
    },
}

/// One socket's life in a scenario.
#[derive(Debug, Clone)]
pub struct SocketTimeline {
    /// The socket's display name.
    pub name: String,
    /// Its transitions, in order.
    pub transitions: Vec<TransitionRecord>,
}

/// One transition, timed from the scenario's start.
#[derive(Debug, Clone)]
pub struct TransitionRecord {
    /// Time since the scenario started.
    pub at: Duration,
    /// State before.
    pub from: StateName,
    /// State after.
    pub to: State,
    /// Why.
    pub cause: Cause,
}

/// Sockets shown in full by `Display`; a storm shows a summary instead.
const SHOWN_SOCKETS: usize = 4;

impl fmt::Display for ScenarioReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.info;
        writeln!(f, "scenario {} (seed {}): {}", i.id, i.seed, i.race)?;
        writeln!(f, "what happened:")?;
        for s in self.sockets.iter().take(SHOWN_SOCKETS) {
            writeln!(f, "  socket {}", s.name)?;
            for t in &s.transitions {
                writeln!(
                    f,
                    "    {:>7.3}s  {} -> {}  ({})",
                    t.at.as_secs_f64(),
                    t.from.as_str(),
                    t.to,
                    t.cause
                )?;
            }
        }
        if self.sockets.len() > SHOWN_SOCKETS {
            let transitions: usize = self.sockets.iter().map(|s| s.transitions.len()).sum();
            writeln!(
                f,
                "  ... and {} more sockets ({transitions} transitions in all)",
                self.sockets.len() - SHOWN_SOCKETS
            )?;
        }
        for o in &self.observations {
            writeln!(f, "  - {o}")?;
        }
        writeln!(f, "findings:")?;
        if self.findings.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for (class, n) in &self.findings {
            let tag = if i.expected.contains(class) {
                "  (expected)"
            } else {
                ""
            };
            writeln!(f, "  {:<28} {n:>5}{tag}", class.as_str())?;
        }
        if let Some(r) = &self.recording {
            writeln!(
                f,
                "recorded: {} events in session {} of {} (sockscope timeline --session {} --db {})",
                r.events,
                r.session_id,
                r.db.display(),
                r.session_id,
                r.db.display()
            )?;
        }
        match &self.verdict {
            Verdict::Pass => write!(f, "result: PASS in {:.2}s", self.elapsed.as_secs_f64()),
            Verdict::Fail { reason } => write!(
                f,
                "result: FAIL in {:.2}s: {reason}",
                self.elapsed.as_secs_f64()
            ),
        }
    }
}

// ---- the run context ---------------------------------------------------------

/// Why a scenario stopped early.
enum Stop {
    /// A check failed: the report says why.
    Check(String),
    /// The scenario could not go on.
    Error(CoreError),
}

impl From<CoreError> for Stop {
    fn from(e: CoreError) -> Stop {
        Stop::Error(e)
    }
}

impl From<sockscope_sim::SimError> for Stop {
    fn from(e: sockscope_sim::SimError) -> Stop {
        Stop::Error(e.into())
    }
}

impl From<sockscope_engine::Error> for Stop {
    fn from(e: sockscope_engine::Error) -> Stop {
        Stop::Error(e.into())
    }
}

type Step<T = ()> = Result<T, Stop>;

fn check(ok: bool, reason: impl FnOnce() -> String) -> Step {
    if ok {
        Ok(())
    } else {
        Err(Stop::Check(reason()))
    }
}

/// A simulator, an engine and the lossless log of every engine event.
struct Run {
    sim: Arc<Sim>,
    engine: Engine,
    events: mpsc::Receiver<Arc<Event>>,
    log: Vec<Arc<Event>>,
    start: Mono,
    started: std::time::Instant,
    observations: Vec<String>,
    /// Servers a scenario started besides the simulator.
    tasks: Vec<JoinHandle<()>>,
    recorder: Option<(sockscope_recorder::Recorder, std::path::PathBuf)>,
}

impl Run {
    async fn new(db: Option<&std::path::Path>) -> Result<Run, CoreError> {
        let sim = Sim::start(SimConfig::default()).await?;
        let engine = Engine::new(EngineConfig::default())?;
        let recorder = match db {
            Some(path) => {
                let feed = engine.subscribe_lossless(8192);
                let config = sockscope_recorder::RecorderConfig::new(path);
                let (recorder, _) = sockscope_recorder::Recorder::start(config, feed)?;
                Some((recorder, path.to_owned()))
            }
            None => None,
        };
        // Big enough that a scenario waiting on the wire never stalls the engine.
        let events = engine.subscribe_lossless(1 << 17);
        Ok(Run {
            sim: Arc::new(sim),
            start: engine.now(),
            engine,
            events,
            log: Vec::new(),
            started: std::time::Instant::now(),
            observations: Vec::new(),
            tasks: Vec::new(),
            recorder,
        })
    }

    fn job(&self, kind: JobKind, total: u64, faults: Faults) -> Step<CreateJobResponse> {
        Ok(self.sim.create_job(kind, total, faults)?)
    }

    /// Test-sized timers: backoff from 20 ms capped at 200 ms, a 1 s ready timeout.
    fn config(&self, job: &CreateJobResponse) -> SocketConfig {
        let mut c = SocketConfig::job(job.ws_url.clone());
        c.token = Some(Arc::new(sockscope_engine::StaticToken::new(
            job.token.clone(),
        )));
        c.reconnect = ReconnectPolicy {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(200),
            ..ReconnectPolicy::default()
        };
        c.timeouts = Timeouts {
            handshake: Duration::from_secs(5),
            ready: Duration::from_secs(1),
            ready_first: Duration::from_millis(250),
            close: Duration::from_secs(1),
            state_sync_retry: Duration::from_millis(20),
        };
        c.heartbeat = HeartbeatPolicy::default();
        c
    }

    fn add(&self, config: &SocketConfig) -> Step<SocketHandle> {
        Ok(self.engine.add_socket(config)?)
    }

    fn observe(&mut self, text: impl Into<String>) {
        self.observations.push(text.into());
    }

    /// The next engine event `pred` accepts; every event is kept in the log.
    async fn next(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Step<Arc<Event>> {
        let wait = async {
            loop {
                let Some(e) = self.events.recv().await else {
                    return Err(Stop::Check(format!("the engine stopped before {what}")));
                };
                self.log.push(e.clone());
                if pred(&e) {
                    return Ok(e);
                }
            }
        };
        match tokio::time::timeout(EVENT_TIMEOUT, wait).await {
            Ok(r) => r,
            Err(_) => Err(Stop::Check(format!(
                "timed out after {}s waiting for {what}",
                EVENT_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn state(&mut self, s: &SocketHandle, name: StateName) -> Step<Arc<Event>> {
        let id = s.id();
        self.next(
            &format!("{} to enter {}", s.info().name, name.as_str()),
            |e| {
                e.socket == id
                    && matches!(&e.kind, EventKind::Transition { to, .. } if to.name() == name)
            },
        )
        .await
    }

    async fn finding(&mut self, s: &SocketHandle, class: FindingClass) -> Step<Arc<Event>> {
        let id = s.id();
        self.next(
            &format!("a {} finding on {}", class.as_str(), s.info().name),
            |e| e.socket == id && matches!(&e.kind, EventKind::Finding(f) if f.class == class),
        )
        .await
    }

    /// Waits until `s` is in the state `name` now or later. Unlike
    /// [`Run::state`] it also sees a state entered while the log was being
    /// read for another socket.
    async fn in_state(&self, s: &SocketHandle, name: StateName) -> Step {
        let what = format!("{} to be {}", s.info().name, name.as_str());
        match tokio::time::timeout(EVENT_TIMEOUT, s.wait_for(|snap| snap.state.name() == name))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Stop::Error(e.into())),
            Err(_) => Err(Stop::Check(format!(
                "timed out after {}s waiting for {what}",
                EVENT_TIMEOUT.as_secs()
            ))),
        }
    }

    fn findings(&self, s: &SocketHandle, class: FindingClass) -> usize {
        self.log
            .iter()
            .filter(|e| {
                e.socket == s.id() && matches!(&e.kind, EventKind::Finding(f) if f.class == class)
            })
            .count()
    }

    fn states(&self, s: &SocketHandle) -> Vec<StateName> {
        self.log
            .iter()
            .filter(|e| e.socket == s.id())
            .filter_map(|e| match &e.kind {
                EventKind::Transition { to, .. } => Some(to.name()),
                _ => None,
            })
            .collect()
    }

    /// The simulator's wire log for one job.
    fn wire(&self, job_id: &str) -> Vec<WireEvent> {
        self.sim
            .wire_log()
            .into_iter()
            .filter(|e| e.job_id() == Some(job_id))
            .collect()
    }

    async fn wait_wire(&self, what: &str, pred: impl Fn(&WireEvent) -> bool) -> Step<WireEvent> {
        self.sim
            .wait_for(pred, EVENT_TIMEOUT)
            .await
            .map_err(|_| Stop::Check(format!("the wire never showed {what}")))
    }

    /// Ends every socket, then builds the report.
    async fn finish(
        mut self,
        info: &'static ScenarioInfo,
        outcome: Step,
    ) -> Result<ScenarioReport, CoreError> {
        for s in self.engine.sockets() {
            if !s.snapshot().state.is_terminal() {
                // A socket whose task already ended has nothing to cancel.
                let _ = s.cancel().await;
            }
        }
        while let Ok(e) = self.events.try_recv() {
            self.log.push(e);
        }
        for t in &self.tasks {
            t.abort();
        }
        let mut findings = BTreeMap::new();
        let mut sockets: BTreeMap<u64, SocketTimeline> = BTreeMap::new();
        for e in &self.log {
            match &e.kind {
                EventKind::SocketAdded(i) => {
                    sockets.entry(e.socket).or_insert(SocketTimeline {
                        name: i.name.clone(),
                        transitions: Vec::new(),
                    });
                }
                EventKind::Transition { from, to, cause } => {
                    if let Some(s) = sockets.get_mut(&e.socket) {
                        s.transitions.push(TransitionRecord {
                            at: e.mono.since(self.start),
                            from: *from,
                            to: to.clone(),
                            cause: cause.clone(),
                        });
                    }
                }
                EventKind::Finding(f) => *findings.entry(f.class).or_insert(0) += 1,
                _ => {}
            }
        }
        let verdict = match outcome {
            Err(Stop::Error(e)) => return Err(e),
            Err(Stop::Check(reason)) => Verdict::Fail { reason },
            Ok(()) => match info.expected.iter().find(|c| !findings.contains_key(*c)) {
                Some(missing) => Verdict::Fail {
                    reason: format!("the expected {} finding never came", missing.as_str()),
                },
                None => Verdict::Pass,
            },
        };
        let elapsed = self.started.elapsed();
        let report = ScenarioReport {
            info,
            sockets: sockets.into_values().collect(),
            findings,
            observations: std::mem::take(&mut self.observations),
            elapsed,
            verdict,
            recording: None,
            events: std::mem::take(&mut self.log),
        };
        let Run {
            sim,
            engine,
            recorder,
            ..
        } = self;
        drop(engine);
        let mut report = report;
        if let Some((recorder, db)) = recorder {
            // With the engine gone its tasks end and the feed closes; a task
            // still ending gets a moment, then the queue is committed as is.
            let session_id = recorder.session().id;
            let summary = recorder.finish();
            let summary = match tokio::time::timeout(Duration::from_secs(5), summary).await {
                Ok(s) => s?,
                Err(_) => return Err(CoreError::Task("the recorder did not finish".into())),
            };
            report.recording = Some(Recording {
                db,
                session_id,
                events: summary.written,
            });
        }
        // Token sources may still hold the simulator; dropping it stops it too.
        if let Ok(sim) = Arc::try_unwrap(sim) {
            sim.shutdown().await;
        }
        Ok(report)
    }
}

/// A token source backed by the simulator's control plane, as an app's
/// refresh flow would be after a 4001 or a 401.
#[derive(Debug)]
struct SimTokens {
    sim: Arc<Sim>,
    job_id: String,
    current: Mutex<Token>,
}

impl TokenSource for SimTokens {
    fn token(&self) -> TokenFuture<'_> {
        let t = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Box::pin(async move { Ok(t) })
    }

    fn refresh(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let fresh = self.sim.fresh_token(&self.job_id).map_err(|e| {
                sockscope_engine::Error::TokenUnavailable {
                    source_name: self.describe(),
                    reason: e.to_string(),
                }
            })?;
            let t = Token::new(fresh.token);
            *self.current.lock().unwrap_or_else(|p| p.into_inner()) = t.clone();
            Ok(t)
        })
    }

    fn can_refresh(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("sim-admin:{}", self.job_id)
    }
}

fn paced(interval_ms: u64) -> Faults {
    Faults {
        interval_ms: Some(interval_ms),
        ..Faults::default()
    }
}

fn ping(nonce: &str) -> String {
    format!(r#"{{"v":1,"type":"ping","payload":{{"nonce":"{nonce}"}}}}"#)
}

fn is_client_data(e: &WireEvent) -> bool {
    matches!(
        e,
        WireEvent::Received {
            opcode: Opcode::Text | Opcode::Binary,
            ..
        }
    )
}

fn received_kind(e: &WireEvent) -> Option<&str> {
    match e {
        WireEvent::Received { kind: Some(k), .. } => Some(k),
        _ => None,
    }
}

fn position(log: &[WireEvent], pred: impl Fn(&WireEvent) -> bool) -> Option<usize> {
    log.iter().position(pred)
}

fn final_progress_matches(run: &Run, s: &SocketHandle, job_id: &str) -> Step {
    let server = run
        .sim
        .job_state(job_id)
        .ok_or_else(|| Stop::Check(format!("the simulator forgot {job_id}")))?;
    let ours = s.snapshot().progress.map(|p| p.processed);
    check(ours == Some(server.processed_count), || {
        format!(
            "the socket ended at {ours:?} items, the server at {}",
            server.processed_count
        )
    })
}

// ---- the scenarios ------------------------------------------------------------

async fn send_before_handshake(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::CsvImport,
        5,
        Faults {
            accept_delay_ms: Some(300),
            ..paced(5)
        },
    )?;
    let s = run.add(&run.config(&job))?;
    run.state(&s, StateName::Connecting).await?;
    for n in ["n1", "n2", "n3"] {
        s.send(ping(n)).await?;
    }
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    check(run.findings(&s, F::SendBeforeReadyQueued) == 3, || {
        format!(
            "{} of 3 early sends were queued",
            run.findings(&s, F::SendBeforeReadyQueued)
        )
    })?;
    let wire = run.wire(&job.job_id);
    let accepted = position(&wire, |e| {
        matches!(e, WireEvent::Connection { status: 101, .. })
    });
    let first_data = position(&wire, is_client_data);
    let ack = position(&wire, |e| matches!(e, WireEvent::ReadyAck { .. }));
    let first_ping = position(&wire, |e| received_kind(e) == Some("ping"));
    check(accepted < first_data, || {
        "a client frame reached the server before the 101".into()
    })?;
    check(ack.is_some() && ack < first_ping, || {
        format!(
            "a ping reached the server before ready_ack (ack at {ack:?}, ping at {first_ping:?})"
        )
    })?;
    let kinds: Vec<&str> = wire.iter().filter_map(received_kind).collect();
    check(
        kinds.starts_with(&["ready", "ping", "ping", "ping"]),
        || format!("the server received {kinds:?}"),
    )?;
    run.observe(format!(
        "3 pings sent during the handshake; the server received {kinds:?} after the 101"
    ));
    Ok(())
}

async fn accepted_but_deaf(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::BookshelfScan,
        5,
        Faults {
            ready_deaf_ms: Some(600),
            ..paced(5)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.timeouts.ready = Duration::from_millis(250);
    cfg.ready_resends = 5;
    let s = run.add(&cfg)?;
    run.state(&s, StateName::AwaitingReady).await?;
    run.finding(&s, F::ReadyTimeout).await?;
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    let wire = run.wire(&job.job_id);
    let deaf = wire
        .iter()
        .filter(
            |e| matches!(e, WireEvent::Received { deaf: true, kind: Some(k), .. } if k == "ready"),
        )
        .count();
    check(deaf >= 1, || "no ready fell on deaf ears".into())?;
    check(
        wire.iter().any(|e| matches!(e, WireEvent::Ready { .. })),
        || "the server never heard a ready".into(),
    )?;
    let states = run.states(&s);
    use StateName::*;
    check(
        states == [Connecting, AwaitingReady, Ready, Closing, Closed],
        || format!("the socket went through {states:?}"),
    )?;
    run.observe(format!(
        "{deaf} ready(s) dropped by the deaf server; Ready only after the ready_ack"
    ));
    Ok(())
}

async fn send_after_close(run: &mut Run) -> Step {
    let job = run.job(JobKind::BookshelfScan, 3, paced(5))?;
    let s = run.add(&run.config(&job))?;
    run.state(&s, StateName::Closed).await?;
    let sent = s.send(ping("late")).await;
    check(sent == Err(sockscope_engine::Error::Closed), || {
        format!("a send after close returned {sent:?}")
    })?;
    run.finding(&s, F::SendAfterClosePrevented).await?;
    run.wait_wire(
        "the connection's end",
        |e| matches!(e, WireEvent::Ended { job_id, .. } if *job_id == job.job_id),
    )
    .await?;
    let late = run
        .wire(&job.job_id)
        .iter()
        .filter(|e| {
            matches!(e, WireEvent::Received { after_close: true, opcode, .. } if *opcode != Opcode::Close)
        })
        .count();
    check(late == 0, || {
        format!("the client wrote {late} frame(s) after close")
    })?;
    run.observe("the send returned Closed at once; the wire saw no client frame after close");
    Ok(())
}

async fn broadcast_to_closing(run: &mut Run) -> Step {
    // The stalled server never answers our close, so `a` stays Closing.
    let stalled = run.job(
        JobKind::CsvImport,
        100,
        Faults {
            stall_after_ms: Some(100),
            ..paced(20)
        },
    )?;
    let live = run.job(JobKind::Enrichment, 100, paced(20))?;
    let mut cfg = run.config(&stalled);
    cfg.name = Some("closing".into());
    cfg.timeouts.close = Duration::from_secs(5);
    let a = run.add(&cfg)?;
    let mut cfg = run.config(&live);
    cfg.name = Some("live".into());
    let b = run.add(&cfg)?;
    run.in_state(&a, StateName::Ready).await?;
    run.in_state(&b, StateName::Ready).await?;
    run.wait_wire(
        "the stall",
        |e| matches!(e, WireEvent::Stalled { job_id, .. } if *job_id == stalled.job_id),
    )
    .await?;
    a.close().await?;
    run.state(&a, StateName::Closing).await?;
    let results = run.engine.broadcast(&[a.id(), b.id()], &ping("all")).await;
    check(results[0].1 == Err(sockscope_engine::Error::Closed), || {
        format!("the closing socket got {:?}", results[0].1)
    })?;
    check(results[1].1.is_ok(), || {
        format!("the live socket got {:?}", results[1].1)
    })?;
    run.finding(&a, F::BroadcastSkippedClosing).await?;
    run.wait_wire("the live socket's pong", |e| {
        matches!(e, WireEvent::Sent { job_id, kind: Some(k), .. } if *job_id == live.job_id && k == "pong")
    })
    .await?;
    check(run.findings(&b, F::BroadcastSkippedClosing) == 0, || {
        "the live socket was skipped".into()
    })?;
    let late = run
        .wire(&stalled.job_id)
        .iter()
        .filter(|e| matches!(e, WireEvent::Received { kind: Some(k), .. } if k == "ping"))
        .count();
    check(late == 0, || {
        "the broadcast reached the closing socket".into()
    })?;
    run.observe("the broadcast skipped the closing socket and reached the live one");
    Ok(())
}

async fn peer_frames_after_close(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::BookshelfScan,
        20,
        Faults {
            close_after: Some(3),
            send_after_close: Some(2),
            ..paced(5)
        },
    )?;
    let s = run.add(&run.config(&job))?;
    run.finding(&s, F::PeerFrameAfterClose).await?;
    run.state(&s, StateName::Closed).await?;
    let late = run
        .wire(&job.job_id)
        .iter()
        .filter(|e| {
            matches!(
                e,
                WireEvent::Sent {
                    after_close: true,
                    ..
                }
            )
        })
        .count();
    check(late == 2, || {
        format!("the server sent {late} frames after close, not 2")
    })?;
    check(run.sim.connections(&job.job_id) == 2, || {
        format!(
            "{} connections, not 2 (one closed, one finishing)",
            run.sim.connections(&job.job_id)
        )
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe(format!(
        "the server sent {late} frames after its 1001; the reconnect finished the job"
    ));
    Ok(())
}

async fn abrupt_drop_then_resume(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::CsvImport,
        30,
        Faults {
            drop_after: Some(6),
            ..paced(5)
        },
    )?;
    let s = run.add(&run.config(&job))?;
    run.finding(&s, F::AbnormalClose).await?;
    run.state(&s, StateName::Backoff).await?;
    run.state(&s, StateName::Closed).await?;
    let readies: Vec<Option<u64>> = run
        .wire(&job.job_id)
        .iter()
        .filter_map(|e| match e {
            WireEvent::Ready { resume_from, .. } => Some(*resume_from),
            _ => None,
        })
        .collect();
    check(
        readies.len() == 2 && readies[0].is_none() && readies[1].is_some_and(|r| r >= 6),
        || format!("the readies carried resumeFrom {readies:?}"),
    )?;
    check(run.findings(&s, F::SeqGap) == 0, || {
        "the resume left a seq gap".into()
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe(format!(
        "dropped after 6 events; the reconnect resumed from seq {}",
        readies[1].unwrap_or(0)
    ));
    Ok(())
}

async fn resume_impossible_sync_5xx(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::BookshelfScan,
        40,
        Faults {
            history: Some(0),
            drop_after: Some(5),
            state_5xx: Some(1),
            ..paced(5)
        },
    )?;
    let mut cfg = run.config(&job);
    // Events must go by while the socket is away, or there is nothing to replay.
    cfg.reconnect.base = Duration::from_millis(50);
    cfg.reconnect.jitter = false;
    let s = run.add(&cfg)?;
    run.finding(&s, F::ResyncRequired).await?;
    run.finding(&s, F::StateSyncRetry).await?;
    let synced = run
        .next("a successful state sync", |e| {
            matches!(&e.kind, EventKind::StateSync(r) if matches!(r.outcome, StateSyncOutcome::Synced { .. }))
        })
        .await?;
    let EventKind::StateSync(r) = &synced.kind else {
        return Err(Stop::Check("not a state sync".into()));
    };
    let try_no = r.try_no;
    check(try_no == 2, || {
        format!("the sync succeeded on try {try_no}, not 2")
    })?;
    run.state(&s, StateName::Closed).await?;
    final_progress_matches(run, &s, &job.job_id)?;
    let status = run.sim.job_state(&job.job_id).map(|j| j.status);
    check(status == Some(JobStatus::Complete), || {
        format!("the job ended {status:?}")
    })?;
    run.observe(
        "resync_required, a 503, then the state on try 2; the socket ends at the server's count",
    );
    Ok(())
}

async fn half_open_stall(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::Enrichment,
        30,
        Faults {
            stall_after_ms: Some(100),
            ..paced(10)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.heartbeat.interval = Duration::from_millis(100);
    cfg.heartbeat.timeout = Duration::from_millis(300);
    let s = run.add(&cfg)?;
    run.finding(&s, F::HeartbeatLost).await?;
    run.state(&s, StateName::Backoff).await?;
    run.state(&s, StateName::Closed).await?;
    check(run.sim.connections(&job.job_id) == 2, || {
        format!("{} connections, not 2", run.sim.connections(&job.job_id))
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe("no pong within 300 ms on the stalled link; it was replaced and the job finished");
    Ok(())
}

async fn expired_token_on_reconnect(run: &mut Run) -> Step {
    // The token lives 400 ms; the drop comes tens of ms in, and the fixed
    // 700 ms backoff outlives the token, so the reconnect meets a 401.
    let job = run.job(
        JobKind::CsvImport,
        30,
        Faults {
            token_ttl_ms: Some(400),
            drop_after: Some(2),
            ..paced(10)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.token = Some(Arc::new(SimTokens {
        sim: run.sim.clone(),
        job_id: job.job_id.clone(),
        current: Mutex::new(Token::new(job.token.clone())),
    }));
    cfg.reconnect.base = Duration::from_millis(700);
    cfg.reconnect.cap = Duration::from_millis(700);
    cfg.reconnect.jitter = false;
    let s = run.add(&cfg)?;
    run.finding(&s, F::AbnormalClose).await?;
    run.finding(&s, F::TokenRefreshed).await?;
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    let statuses: Vec<u16> = run
        .wire(&job.job_id)
        .iter()
        .filter_map(|e| match e {
            WireEvent::Connection { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    check(statuses == [101, 401, 101], || {
        format!("the handshakes answered {statuses:?}, not [101, 401, 101]")
    })?;
    final_progress_matches(run, &s, &job.job_id)?;
    run.observe(format!(
        "handshakes answered {statuses:?}: the expired token got a 401, a fresh one a 101"
    ));
    Ok(())
}

async fn queued_sends_vs_app_ready(run: &mut Run) -> Step {
    let job = run.job(
        JobKind::CsvImport,
        5,
        Faults {
            ready_deaf_ms: Some(400),
            ..paced(5)
        },
    )?;
    let mut cfg = run.config(&job);
    cfg.timeouts.ready = Duration::from_millis(150);
    cfg.ready_resends = 6;
    let s = run.add(&cfg)?;
    run.state(&s, StateName::AwaitingReady).await?;
    for n in ["n1", "n2", "n3"] {
        s.send(ping(n)).await?;
    }
    run.state(&s, StateName::Ready).await?;
    run.state(&s, StateName::Closed).await?;
    let wire = run.wire(&job.job_id);
    let heard = position(&wire, |e| matches!(e, WireEvent::Ready { .. }));
    let ack = position(&wire, |e| matches!(e, WireEvent::ReadyAck { .. }));
    let first_ping = position(&wire, |e| received_kind(e) == Some("ping"));
    check(heard.is_some() && heard < ack && ack < first_ping, || {
        format!(
            "wire order: ready heard at {heard:?}, ready_ack at {ack:?}, first ping at {first_ping:?}"
        )
    })?;
    let kinds: Vec<&str> = wire.iter().filter_map(received_kind).collect();
    let readies = kinds.iter().take_while(|k| **k == "ready").count();
    check(
        readies >= 1 && kinds[readies..] == ["ping", "ping", "ping"],
        || format!("the server received {kinds:?}"),
    )?;
    let nonces: Vec<String> = run
        .log
        .iter()
        .filter(|e| e.socket == s.id())
        .filter_map(|e| match &e.kind {
            EventKind::Frame(f)
                if f.direction == Direction::In && f.message_type.as_deref() == Some("pong") =>
            {
                f.text.as_deref().and_then(|t| {
                    serde_json::from_str::<serde_json::Value>(t)
                        .ok()
                        .and_then(|v| v["payload"]["nonce"].as_str().map(str::to_owned))
                })
            }
            _ => None,
        })
        .collect();
    check(nonces == ["n1", "n2", "n3"], || {
        format!("pongs came back for {nonces:?}")
    })?;
    run.observe(format!(
        "the server received {kinds:?}: the app's pings only after the adapter's ready was acked, in order"
    ));
    Ok(())
}

async fn cancel_during_backoff(run: &mut Run) -> Step {
    // `cancelled` drops and is cancelled in its 300 ms backoff. `witness`
    // is dropped after the cancel with a 600 ms backoff: once it has
    // reconnected, the cancelled socket's retry is long overdue.
    let a_job = run.job(
        JobKind::CsvImport,
        1000,
        Faults {
            drop_after: Some(2),
            ..paced(10)
        },
    )?;
    let b_job = run.job(JobKind::Enrichment, 1000, paced(10))?;
    let mut cfg = run.config(&a_job);
    cfg.name = Some("cancelled".into());
    cfg.reconnect.base = Duration::from_millis(300);
    cfg.reconnect.cap = Duration::from_millis(300);
    cfg.reconnect.jitter = false;
    let a = run.add(&cfg)?;
    let mut cfg = run.config(&b_job);
    cfg.name = Some("witness".into());
    cfg.reconnect.base = Duration::from_millis(600);
    cfg.reconnect.cap = Duration::from_millis(600);
    cfg.reconnect.jitter = false;
    let b = run.add(&cfg)?;
    run.in_state(&b, StateName::Ready).await?;
    run.in_state(&a, StateName::Backoff).await?;
    let at_cancel = run.sim.connections(&a_job.job_id);
    let attempts = a.snapshot().attempts;
    a.cancel().await?;
    run.state(&a, StateName::Cancelled).await?;
    run.sim.drop_job(&b_job.job_id)?;
    run.state(&b, StateName::Backoff).await?;
    run.state(&b, StateName::Ready).await?;
    let after = run.sim.connections(&a_job.job_id);
    check(after == at_cancel, || {
        format!("{at_cancel} connections at the cancel, {after} after")
    })?;
    check(a.snapshot().attempts == attempts, || {
        "the cancelled socket made another attempt".into()
    })?;
    let later = run
        .log
        .iter()
        .skip_while(|e| {
            !(e.socket == a.id()
                && matches!(
                    &e.kind,
                    EventKind::Transition {
                        to: State::Cancelled,
                        ..
                    }
                ))
        })
        .skip(1)
        .filter(|e| e.socket == a.id() && matches!(e.kind, EventKind::Transition { .. }))
        .count();
    check(later == 0, || {
        format!("{later} transitions after Cancelled")
    })?;
    run.observe(format!(
        "the sim counted {at_cancel} connection(s) at the cancel and {after} after the witness's \
         600 ms backoff (the cancelled retry was due at 300 ms)"
    ));
    Ok(())
}

async fn reconnect_storm(run: &mut Run) -> Step {
    let n = STORM_SOCKETS;
    let ceiling = Duration::from_millis(1000);
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        // A job that stays quiet: one item a minute.
        let job = run.job(JobKind::Enrichment, 10, paced(60_000))?;
        let mut cfg = run.config(&job);
        cfg.reconnect.base = ceiling;
        cfg.reconnect.cap = ceiling;
        cfg.timeouts.handshake = Duration::from_secs(10);
        cfg.timeouts.ready = Duration::from_secs(5);
        sockets.push(run.add(&cfg)?);
    }
    let mut ready = 0;
    while ready < n {
        run.next("every socket Ready", |e| {
            matches!(
                &e.kind,
                EventKind::Transition {
                    to: State::Ready { .. },
                    ..
                }
            )
        })
        .await?;
        ready += 1;
    }
    // Arrival times of the 101s, taken as the wire log publishes them, on a
    // thread of their own so that 1,000 busy sockets cannot delay the stamps.
    let mut wire = run.sim.subscribe_wire();
    let collector = tokio::task::spawn_blocking(move || {
        use tokio::sync::broadcast::error::RecvError;
        let mut at = Vec::with_capacity(n);
        let mut lagged = 0u64;
        while at.len() < n {
            match wire.blocking_recv() {
                Ok(WireEvent::Connection { status: 101, .. }) => {
                    at.push(std::time::Instant::now());
                }
                Ok(_) => {}
                Err(RecvError::Lagged(k)) => lagged += k,
                // The simulator is gone: the scenario is over.
                Err(RecvError::Closed) => break,
            }
        }
        (at, lagged)
    });
    let restart = std::time::Instant::now();
    run.sim.close_all(1001, "restart")?;
    let mut again = 0;
    while again < n {
        run.next("every socket Ready again after the restart", |e| {
            matches!(
                &e.kind,
                EventKind::Transition {
                    to: State::Ready { .. },
                    ..
                }
            )
        })
        .await?;
        again += 1;
    }
    let (at, lagged) = match tokio::time::timeout(EVENT_TIMEOUT, collector).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(Stop::Check(format!("the wire collector failed: {e}"))),
        Err(_) => {
            return Err(Stop::Check(
                "the wire never showed every reconnect's 101".into(),
            ));
        }
    };
    check(lagged == 0, || {
        format!("the wire subscription lagged by {lagged} events; the measurement is incomplete")
    })?;
    check(at.len() == n, || {
        format!("the wire showed {} reconnects, not {n}", at.len())
    })?;
    let mut buckets: Vec<usize> = Vec::new();
    for t in &at {
        let b = (t.duration_since(restart).as_millis() / 100) as usize;
        if buckets.len() <= b {
            buckets.resize(b + 1, 0);
        }
        buckets[b] += 1;
    }
    // The mean runs from the first busy 100 ms to the last: the close
    // handshakes before the first retry are not part of the spread.
    let first = buckets.iter().position(|&b| b > 0).unwrap_or(0);
    let peak = buckets.iter().copied().max().unwrap_or(0);
    let mean = n as f64 / (buckets.len() - first).max(1) as f64;
    let ratio = peak as f64 / mean;
    let span = at
        .iter()
        .map(|t| t.duration_since(restart))
        .max()
        .unwrap_or_default();
    let delays: Vec<Duration> = run
        .log
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::BackoffPlanned { delay, .. } => Some(delay),
            _ => None,
        })
        .collect();
    let (lo, hi) = (
        delays.iter().min().copied().unwrap_or_default(),
        delays.iter().max().copied().unwrap_or_default(),
    );
    run.observe(format!(
        "{n} sockets closed with 1001 at once; {} reconnects over {:.2}s",
        at.len(),
        span.as_secs_f64()
    ));
    run.observe(format!(
        "connects per 100 ms: peak {peak}, mean {mean:.1}, peak/mean {ratio:.2} (without jitter all {n} would retry at the same instant)"
    ));
    run.observe(format!(
        "backoff delays drawn: {} from {lo:.0?} to {hi:.0?} under a {ceiling:?} ceiling",
        delays.len()
    ));
    run.observe(format!("buckets: {buckets:?}"));
    check(delays.len() == n, || {
        format!("{} backoffs planned, not {n}", delays.len())
    })?;
    // Full jitter draws uniformly under the ceiling: every tenth of it gets
    // about n/10 sockets. A busy server can smear a storm on the wire, so
    // the spread is checked where it is decided too.
    let mut tenths = [0usize; 10];
    for d in &delays {
        let i = (d.as_nanos() * 10 / ceiling.as_nanos()).min(9) as usize;
        tenths[i] += 1;
    }
    run.observe(format!("delays per tenth of the ceiling: {tenths:?}"));
    check(tenths.iter().all(|&t| t >= n / 20), || {
        format!("the backoff delays are not spread: {tenths:?} per tenth of the ceiling")
    })?;
    check(ratio <= 3.0 && peak <= n / 4, || {
        format!(
            "the reconnects were not spread: peak {peak} per 100 ms against a mean of {mean:.1}"
        )
    })?;
    drop(sockets);
    Ok(())
}

// ---- a server that sends a duplicate and a gap ----------------------------------

const DUP_JOB: &str = "dup-1";

fn server_event(kind: &str, seq: u64, payload: serde_json::Value) -> String {
    serde_json::json!({
        "v": 1, "type": kind, "jobId": DUP_JOB, "seq": seq,
        "ts": "2026-01-01T00:00:00.000Z", "payload": payload,
    })
    .to_string()
}

/// Speaks just enough of PROTOCOL.md to send seq 1, 2, 2, 5 and, once the
/// scenario has seen the client sync its state after the gap, 6 (`job_complete`).
async fn serve_dup_and_gap(listener: tokio::net::TcpListener, synced: Arc<Notify>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let Ok((tcp, _)) = listener.accept().await else {
        return;
    };
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    while let Some(Ok(m)) = ws.next().await {
        if matches!(&m, Message::Text(t) if t.contains("\"ready\"")) {
            break;
        }
    }
    let ack = serde_json::json!({"v": 1, "type": "ready_ack", "jobId": DUP_JOB,
        "ts": "2026-01-01T00:00:00.000Z", "payload": {"lastSeq": 0, "replayed": 0}});
    let progress = |n: u64| serde_json::json!({"processedCount": n, "totalCount": 5});
    let frames = [
        ack.to_string(),
        server_event("job_started", 1, serde_json::json!({"totalCount": 5})),
        server_event("job_progress", 2, progress(1)),
        server_event("job_progress", 2, progress(1)),
        server_event("job_progress", 5, progress(4)),
    ];
    for f in frames {
        if ws.send(Message::text(f)).await.is_err() {
            return;
        }
    }
    // The last event waits for the state sync the gap must cause.
    if tokio::time::timeout(EVENT_TIMEOUT, synced.notified())
        .await
        .is_err()
    {
        return;
    }
    let done = server_event(
        "job_complete",
        6,
        serde_json::json!({"processedCount": 5, "totalCount": 5, "result": {}}),
    );
    let _ = ws.send(Message::text(done)).await;
    let _ = ws
        .close(Some(CloseFrame {
            code: 1000.into(),
            reason: "job finished".into(),
        }))
        .await;
    while let Some(Ok(_)) = ws.next().await {}
}

async fn duplicate_seq_and_gap(run: &mut Run) -> Step {
    let bind = |what: &str| {
        let what = what.to_owned();
        move |source| CoreError::Io { what, source }
    };
    let ws = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(bind("binding the scenario's WebSocket server"))?;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(bind("binding the scenario's state endpoint"))?;
    let ws_addr: SocketAddr = ws
        .local_addr()
        .map_err(bind("the WebSocket server's address"))?;
    let http_addr = http
        .local_addr()
        .map_err(bind("the state endpoint's address"))?;
    let synced = Arc::new(Notify::new());
    let state = serde_json::json!({
        "jobId": DUP_JOB, "kind": "csv_import", "status": "running",
        "processedCount": 4, "totalCount": 5, "lastSeq": 5,
        "updatedAt": "2026-01-01T00:00:00.000Z",
    });
    let router = axum::Router::new().route(
        "/api/job-state/{job_id}",
        axum::routing::get(move || {
            let state = state.clone();
            async move { axum::Json(state) }
        }),
    );
    run.tasks.push(tokio::spawn(async move {
        let _ = axum::serve(http, router).await;
    }));
    run.tasks
        .push(tokio::spawn(serve_dup_and_gap(ws, synced.clone())));
    let mut cfg = SocketConfig::job(format!("ws://{ws_addr}/ws/progress?jobId={DUP_JOB}"));
    cfg.state_url = Some(format!("http://{http_addr}/api/job-state/{DUP_JOB}"));
    cfg.reconnect.max_attempts = 0;
    cfg.timeouts.ready = Duration::from_secs(2);
    let s = run.add(&cfg)?;
    run.finding(&s, F::DuplicateSeq).await?;
    run.finding(&s, F::SeqGap).await?;
    run.next("a successful state sync", |e| {
        e.socket == s.id()
            && matches!(&e.kind, EventKind::StateSync(r) if matches!(r.outcome, StateSyncOutcome::Synced { .. }))
    })
    .await?;
    // Only now may the job end: a close before the sync lands would hide it.
    synced.notify_one();
    let end = run.state(&s, StateName::Closed).await?;
    check(
        matches!(
            &end.kind,
            EventKind::Transition {
                to: State::Closed {
                    reason: ClosedReason::JobFinished
                },
                ..
            }
        ),
        || format!("the socket ended {:?}", end.kind),
    )?;
    let (dups, gaps) = (
        run.findings(&s, F::DuplicateSeq),
        run.findings(&s, F::SeqGap),
    );
    check(dups == 1 && gaps == 1, || {
        format!("{dups} duplicate and {gaps} gap findings, not 1 and 1")
    })?;
    let processed = s.snapshot().progress.map(|p| p.processed);
    check(processed == Some(5), || {
        format!("the socket ended at {processed:?} items, not 5")
    })?;
    run.observe(
        "the scenario's own PROTOCOL.md server sent seq 1, 2, 2, 5, 6 (the simulator never \
         sends a duplicate): the second 2 was dropped, the gap 3-4 synced from the state endpoint",
    );
    Ok(())
}
