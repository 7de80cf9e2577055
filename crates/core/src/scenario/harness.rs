//! The one harness of the race scenarios and of the integration tests: a
//! simulator, an engine, and every engine event in order (a lossless
//! subscription), with waits bounded by [`EVENT_TIMEOUT`]. A wait that ends
//! without its event is [`CoreError::WaitFailed`], naming what it waited for.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockscope_engine::event::{EventKind, FindingClass, StateName};
use sockscope_engine::{
    Engine, EngineConfig, Event, HeartbeatPolicy, Mono, ReconnectPolicy, SocketConfig,
    SocketHandle, StaticToken, Timeouts, Token, TokenFuture, TokenSource,
};
use sockscope_sim::{CreateJobResponse, Faults, JobKind, Sim, SimConfig, WireEvent};
use tokio::sync::mpsc;

use crate::CoreError;

/// How long one awaited event may take.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Room in the harness's lossless queue: big enough that a waiter busy
/// with the wire never stalls the engine.
const LOG_QUEUE: usize = 1 << 17;

/// With `SOCKSCOPE_TEST_TRACE` set, every event is printed as it arrives.
const TRACE_VAR: &str = "SOCKSCOPE_TEST_TRACE";

/// A simulator and an engine, with every engine event kept in order.
#[derive(Debug)]
pub struct Harness {
    /// The simulator on 127.0.0.1:0 (shared with [`SimTokens`]).
    pub sim: Arc<Sim>,
    /// The engine under test.
    pub engine: Engine,
    events: mpsc::Receiver<Arc<Event>>,
    /// Every event received so far.
    pub log: Vec<Arc<Event>>,
    /// The engine's clock when the harness started.
    pub start: Mono,
    trace: bool,
}

impl Harness {
    /// A simulator with no server-wide faults.
    pub async fn new() -> Result<Harness, CoreError> {
        Harness::with_sim(SimConfig::default()).await
    }

    /// A simulator with this configuration.
    pub async fn with_sim(config: SimConfig) -> Result<Harness, CoreError> {
        let sim = Sim::start(config).await?;
        let engine = Engine::new(EngineConfig::default())?;
        let events = engine.subscribe_lossless(LOG_QUEUE);
        Ok(Harness {
            sim: Arc::new(sim),
            start: engine.now(),
            engine,
            events,
            log: Vec::new(),
            trace: std::env::var_os(TRACE_VAR).is_some(),
        })
    }

    /// Creates a job on the simulator.
    pub fn job(
        &self,
        kind: JobKind,
        total: u64,
        faults: Faults,
    ) -> Result<CreateJobResponse, CoreError> {
        Ok(self.sim.create_job(kind, total, faults)?)
    }

    /// A socket config for `job` with test-sized timers: backoff from 20 ms
    /// capped at 200 ms, a 1 s ready timeout, a 20 ms state-sync retry.
    pub fn config(&self, job: &CreateJobResponse) -> SocketConfig {
        let mut c = SocketConfig::job(job.ws_url.clone());
        c.token = Some(Arc::new(StaticToken::new(job.token.clone())));
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

    /// A token source for `job` backed by the simulator's control plane.
    pub fn tokens(&self, job: &CreateJobResponse) -> SimTokens {
        SimTokens::new(self.sim.clone(), job)
    }

    /// Adds a socket.
    pub fn add(&self, config: &SocketConfig) -> Result<SocketHandle, CoreError> {
        Ok(self.engine.add_socket(config)?)
    }

    /// The next engine event `pred` accepts; every event is kept in the log.
    pub async fn next(
        &mut self,
        what: &str,
        pred: impl Fn(&Event) -> bool,
    ) -> Result<Arc<Event>, CoreError> {
        let wait = async {
            loop {
                let Some(e) = self.events.recv().await else {
                    return Err(CoreError::WaitFailed(format!(
                        "the engine stopped before {what}"
                    )));
                };
                if self.trace {
                    eprintln!("event {:?} {:?}", e.socket, e.kind);
                }
                self.log.push(e.clone());
                if pred(&e) {
                    return Ok(e);
                }
            }
        };
        match tokio::time::timeout(EVENT_TIMEOUT, wait).await {
            Ok(r) => r,
            Err(_) => Err(CoreError::WaitFailed(format!(
                "timed out after {}s waiting for {what}",
                EVENT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Waits until `s` enters the state `name`.
    pub async fn state(
        &mut self,
        s: &SocketHandle,
        name: StateName,
    ) -> Result<Arc<Event>, CoreError> {
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

    /// Like [`Harness::state`], but an entry already in the log counts: for
    /// waiting on several sockets, whose events interleave.
    pub async fn entered(
        &mut self,
        s: &SocketHandle,
        name: StateName,
    ) -> Result<Arc<Event>, CoreError> {
        let id = s.id();
        let seen = self.log.iter().find(|e| {
            e.socket == id
                && matches!(&e.kind, EventKind::Transition { to, .. } if to.name() == name)
        });
        match seen {
            Some(e) => Ok(e.clone()),
            None => self.state(s, name).await,
        }
    }

    /// Waits until `s` is in the state `name` now or later, by its snapshot:
    /// it also sees a state entered while the log was read for another socket.
    pub async fn in_state(&self, s: &SocketHandle, name: StateName) -> Result<(), CoreError> {
        let what = format!("{} to be {}", s.info().name, name.as_str());
        match tokio::time::timeout(EVENT_TIMEOUT, s.wait_for(|snap| snap.state.name() == name))
            .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(CoreError::WaitFailed(format!(
                "timed out after {}s waiting for {what}",
                EVENT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Waits for a finding of `class` on `s`.
    pub async fn finding(
        &mut self,
        s: &SocketHandle,
        class: FindingClass,
    ) -> Result<Arc<Event>, CoreError> {
        let id = s.id();
        self.next(
            &format!("a {} finding on {}", class.as_str(), s.info().name),
            |e| e.socket == id && matches!(&e.kind, EventKind::Finding(f) if f.class == class),
        )
        .await
    }

    /// Findings of `class` on `s` in the log so far.
    pub fn findings(&self, s: &SocketHandle, class: FindingClass) -> usize {
        self.log
            .iter()
            .filter(|e| {
                e.socket == s.id() && matches!(&e.kind, EventKind::Finding(f) if f.class == class)
            })
            .count()
    }

    /// The states `s` went through so far, in order.
    pub fn states(&self, s: &SocketHandle) -> Vec<StateName> {
        self.log
            .iter()
            .filter(|e| e.socket == s.id())
            .filter_map(|e| match &e.kind {
                EventKind::Transition { to, .. } => Some(to.name()),
                _ => None,
            })
            .collect()
    }

    /// Moves every event already delivered into the log, without waiting.
    pub fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.log.push(e);
        }
    }

    /// The simulator's wire log for one job.
    pub fn wire(&self, job_id: &str) -> Vec<WireEvent> {
        self.sim
            .wire_log()
            .into_iter()
            .filter(|e| e.job_id() == Some(job_id))
            .collect()
    }

    /// Waits for a wire event `pred` accepts (one already logged counts).
    pub async fn wait_wire(
        &self,
        what: &str,
        pred: impl Fn(&WireEvent) -> bool,
    ) -> Result<WireEvent, CoreError> {
        self.sim
            .wait_for(pred, EVENT_TIMEOUT)
            .await
            .map_err(|_| CoreError::WaitFailed(format!("the wire never showed {what}")))
    }
}

/// A token source backed by the simulator's control plane, as an app's
/// refresh flow would be after a 4001 or a 401.
#[derive(Debug)]
pub struct SimTokens {
    sim: Arc<Sim>,
    job_id: String,
    current: Mutex<Token>,
}

impl SimTokens {
    /// Starts from the job's first token.
    pub fn new(sim: Arc<Sim>, job: &CreateJobResponse) -> SimTokens {
        SimTokens {
            sim,
            job_id: job.job_id.clone(),
            current: Mutex::new(Token::new(job.token.clone())),
        }
    }
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
