//! Shared helpers of the integration-test binaries: bounded waits, a harness
//! of simulator plus engine with a lossless event log, a token source
//! backed by the simulator's control plane, a real OTLP receiver
//! ([`otlp`]), an HTTP server of huge answers ([`huge_body`]) and a small
//! tmpfs to fill or make read-only ([`tmpfs`]). Nothing
//! here sleeps; every wait is for an event, bounded by a timeout.

pub mod huge_body;
pub mod otlp;
pub mod tmpfs;

/// The reference servers of other protocols (`tests/servers`).
pub use sockscope_sim::reference;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sockscope_engine::event::{EventKind, FindingClass, StateName};
use sockscope_engine::{
    Engine, EngineConfig, Event, HeartbeatPolicy, ReconnectPolicy, SocketConfig, SocketHandle,
    Timeouts, Token, TokenFuture, TokenSource,
};
use sockscope_sim::{CreateJobResponse, Faults, JobKind, Sim, SimConfig};
use tokio::sync::mpsc;

/// A writer that keeps everything written to it, shared between clones
/// (for log output: `move || captured.clone()` is a log writer).
#[derive(Debug, Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bound every async test runs under unless it says otherwise.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one awaited event may take.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `fut`, panicking with `what` if it does not finish within `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Wraps a whole async test body in [`TEST_TIMEOUT`].
pub async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    within(TEST_TIMEOUT, "the test body", fut).await
}

/// A simulator and an engine, with every engine event kept in order.
#[derive(Debug)]
pub struct Harness {
    /// The simulator on 127.0.0.1:0.
    pub sim: Sim,
    /// The engine under test.
    pub engine: Engine,
    events: mpsc::Receiver<Arc<Event>>,
    /// Every event received so far.
    pub log: Vec<Arc<Event>>,
}

impl Harness {
    /// A simulator with no server-wide faults.
    pub async fn new() -> Harness {
        Harness::with_sim(SimConfig::default()).await
    }

    /// A simulator with this configuration.
    pub async fn with_sim(config: SimConfig) -> Harness {
        let sim = Sim::start(config).await.expect("simulator starts");
        let engine = Engine::new(EngineConfig::default()).expect("engine");
        let events = engine.subscribe_lossless(65_536);
        Harness {
            sim,
            engine,
            events,
            log: Vec::new(),
        }
    }

    /// Creates a job on the simulator.
    pub fn job(&self, kind: JobKind, total: u64, faults: Faults) -> CreateJobResponse {
        self.sim
            .create_job(kind, total, faults)
            .expect("job created")
    }

    /// A socket config for `job` with short, test-sized timers: backoff from
    /// 20 ms capped at 200 ms, a 1 s ready timeout.
    pub fn config(&self, job: &CreateJobResponse) -> SocketConfig {
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
        c.jitter_seed = Some(7);
        c
    }

    /// Adds a socket.
    pub fn add(&self, config: &SocketConfig) -> SocketHandle {
        self.engine
            .add_socket(config)
            .expect("socket config is valid")
    }

    /// Waits for the next event `pred` accepts, keeping every event in the log.
    pub async fn next(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Arc<Event> {
        within(EVENT_TIMEOUT, what, async {
            loop {
                let e = self.events.recv().await.expect("engine is alive");
                if std::env::var_os("SOCKSCOPE_TEST_TRACE").is_some() {
                    eprintln!("event {:?} {:?}", e.socket, e.kind);
                }
                self.log.push(e.clone());
                if pred(&e) {
                    return e;
                }
            }
        })
        .await
    }

    /// Waits until `socket` enters the state named `name`.
    pub async fn state(&mut self, socket: &SocketHandle, name: StateName) -> Arc<Event> {
        let id = socket.id();
        self.next(&format!("socket {id} to enter {name:?}"), |e| {
            e.socket == id
                && matches!(&e.kind, EventKind::Transition { to, .. } if to.name() == name)
        })
        .await
    }

    /// Like [`Harness::state`], but an entry already in the log counts:
    /// for waiting on several sockets, whose events interleave.
    pub async fn entered(&mut self, socket: &SocketHandle, name: StateName) -> Arc<Event> {
        let id = socket.id();
        let seen = self.log.iter().find(|e| {
            e.socket == id
                && matches!(&e.kind, EventKind::Transition { to, .. } if to.name() == name)
        });
        match seen {
            Some(e) => e.clone(),
            None => self.state(socket, name).await,
        }
    }

    /// Waits for a finding of `class` on `socket`.
    pub async fn finding(&mut self, socket: &SocketHandle, class: FindingClass) -> Arc<Event> {
        let id = socket.id();
        self.next(&format!("finding {} on socket {id}", class.as_str()), |e| {
            e.socket == id && matches!(&e.kind, EventKind::Finding(f) if f.class == class)
        })
        .await
    }

    /// Findings of `class` on `socket` seen so far.
    pub fn findings(&self, socket: &SocketHandle, class: FindingClass) -> usize {
        self.log
            .iter()
            .filter(|e| {
                e.socket == socket.id()
                    && matches!(&e.kind, EventKind::Finding(f) if f.class == class)
            })
            .count()
    }

    /// The states `socket` went through, in order.
    pub fn states(&self, socket: &SocketHandle) -> Vec<StateName> {
        self.log
            .iter()
            .filter(|e| e.socket == socket.id())
            .filter_map(|e| match &e.kind {
                EventKind::Transition { to, .. } => Some(to.name()),
                _ => None,
            })
            .collect()
    }
}

/// A token source that asks the simulator's control plane for fresh tokens,
/// as an app's refresh flow would after a 4001.
#[derive(Debug)]
pub struct SimTokenSource {
    http_base: String,
    job_id: String,
    current: std::sync::Mutex<Token>,
    client: reqwest::Client,
}

impl SimTokenSource {
    /// Starts from `initial`.
    pub fn new(sim: &Sim, job: &CreateJobResponse) -> SimTokenSource {
        SimTokenSource {
            http_base: sim.http_base(),
            job_id: job.job_id.clone(),
            current: std::sync::Mutex::new(Token::new(job.token.clone())),
            client: reqwest::Client::new(),
        }
    }
}

impl TokenSource for SimTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        let t = self.current.lock().expect("token lock").clone();
        Box::pin(async move { Ok(t) })
    }

    fn refresh(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            let url = format!("{}/admin/jobs/{}/token", self.http_base, self.job_id);
            let fail = |reason: String| sockscope_engine::Error::TokenUnavailable {
                source_name: self.describe(),
                reason,
            };
            let resp = self
                .client
                .post(url)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            let body: sockscope_protocol::TokenResponse =
                resp.json().await.map_err(|e| fail(e.to_string()))?;
            let t = Token::new(body.token);
            *self.current.lock().expect("token lock") = t.clone();
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

/// For a test that measures its own process (its resident memory): runs
/// the test `name` (its full path, e.g. `bounds::big_frames`) alone in a
/// fresh copy of this test binary, with `env` added, prints that copy's
/// output and panics unless it passed. Returns `None` inside that copy,
/// where the test does its work; `Some(stdout)` in the test that started it.
pub fn in_own_process(name: &str, env: &[(&str, &str)]) -> Option<String> {
    const MARK: &str = "SOCKSCOPE_OWN_PROCESS";
    if std::env::var(MARK).is_ok_and(|v| v == name) {
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(MARK, name)
        .envs(env.iter().copied())
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{name} failed in its own process");
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in its own process"
    );
    Some(stdout)
}
