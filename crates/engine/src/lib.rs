//! The shared readiness and reconnect engine for long-lived job sockets.
//!
//! One [`Engine`] runs many sockets, each an independent tokio task driving a
//! sans-IO [`machine::Machine`]. A socket is Ready only when its adapter says
//! so; sends before that wait in a bounded outbox, sends after a close are
//! refused, reconnects back off with full jitter and resume from the last seq.
//! Every transition, frame and finding is published as an [`Event`] to
//! lossless and live subscribers.

pub mod body;
mod bus;
mod config;
mod driver;
mod error;
pub mod event;
pub mod machine;
pub mod observer;
pub mod secret;
mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use config::{
    HeartbeatPolicy, MachineConfig, ReconnectPolicy, SocketConfig, Timeouts, TokenPlacement,
    URL_SECRET_PARAMS, UrlToken, ValidConfig, scrub_url_secrets, take_url_token,
};
pub use driver::{client_tls, client_tls_trusting};
pub use error::Error;
pub use event::{
    AdapterKind, Event, EventKind, Finding, FindingClass, FrameText, Mono, MsgId, SocketId,
    SocketInfo, State, StateName,
};
pub use sockscope_protocol::dialect;
pub use token::{EnvToken, StaticToken, Token, TokenFuture, TokenSource};

use driver::{Command, Shared};
pub use event::Progress;
use event::UserAction;

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Events the live ring holds before a slow reader lags (rounded up to
    /// a power of two). Default 8192.
    pub live_capacity: usize,
    /// Frame payload bytes the live ring's unread events may hold. Past
    /// it, frames go to live subscribers without their payload (`text:
    /// None`, `size` kept); lossless subscribers always get them whole.
    /// Default 16 MiB.
    pub live_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            live_capacity: 8192,
            live_bytes: 16 << 20,
        }
    }
}

/// A socket's state at a glance, kept current by its task.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Current state.
    pub state: State,
    /// Connection attempts so far.
    pub attempts: u32,
    /// Last seq seen.
    pub last_seq: Option<u64>,
    /// Messages waiting for Ready.
    pub outbox: usize,
    /// The job's progress.
    pub progress: Option<Progress>,
    /// Findings so far.
    pub findings: u64,
    /// Last heartbeat round trip.
    pub last_rtt: Option<Duration>,
    /// A state sync is in flight or due: the count may still change, even
    /// after a terminal state.
    pub sync_pending: bool,
    /// Tries of the last state sync, when it gave up and nothing since has
    /// said how far the job got.
    pub sync_gave_up: Option<u32>,
}

/// What a socket knows of its job's count.
#[derive(Debug, Clone, PartialEq)]
pub enum FinalCount {
    /// The socket is live, or a state sync is still in flight or due.
    Pending,
    /// The last count seen, from a job event or a state sync (its
    /// `source`), or `None` when the job never reported one.
    Known(Option<Progress>),
    /// Not known: the state sync that would have told gave up after
    /// `tries`; `last_seen` is stale.
    Unknown {
        /// State-sync tries made.
        tries: u32,
        /// The last count seen before it.
        last_seen: Option<Progress>,
    },
}

impl std::fmt::Display for FinalCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |f: &mut std::fmt::Formatter<'_>, p: &Progress| {
            let from = match p.source {
                event::ProgressSource::Event => "a job event",
                event::ProgressSource::StateSync => "a state sync",
            };
            write!(f, "{}/{} (from {from})", p.processed, p.total)
        };
        match self {
            FinalCount::Pending => f.write_str("not final yet"),
            FinalCount::Known(Some(p)) => count(f, p),
            FinalCount::Known(None) => f.write_str("no count reported"),
            FinalCount::Unknown { tries, last_seen } => {
                write!(
                    f,
                    "final count unknown: the state sync failed {tries} times"
                )?;
                if let Some(p) = last_seen {
                    write!(f, " (last seen {}/{})", p.processed, p.total)?;
                }
                Ok(())
            }
        }
    }
}

impl FinalCount {
    /// The one rule: a count is final once the socket is terminal and no
    /// state sync is in flight or due; it is unknown when the last sync
    /// gave up and nothing since has said how far the job got.
    pub fn of(
        state: &State,
        sync_pending: bool,
        sync_gave_up: Option<u32>,
        progress: Option<&Progress>,
    ) -> FinalCount {
        if !state.is_terminal() || sync_pending {
            return FinalCount::Pending;
        }
        match sync_gave_up {
            Some(tries) => FinalCount::Unknown {
                tries,
                last_seen: progress.cloned(),
            },
            None => FinalCount::Known(progress.cloned()),
        }
    }
}

impl Snapshot {
    /// Terminal, with nothing left that could change the job's count.
    pub fn settled(&self) -> bool {
        self.final_count() != FinalCount::Pending
    }

    /// What the socket knows of its job's count (see [`FinalCount::of`]).
    pub fn final_count(&self) -> FinalCount {
        FinalCount::of(
            &self.state,
            self.sync_pending,
            self.sync_gave_up,
            self.progress.as_ref(),
        )
    }
}

/// Runs many job sockets. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    sockets: Mutex<HashMap<SocketId, SocketHandle>>,
    next_id: AtomicU64,
}

impl Engine {
    /// A new engine. Call from inside a tokio runtime.
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        // reqwest uses the process-wide provider; an app that set one keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let shared = Shared::new(bus::Bus::new(config.live_capacity, config.live_bytes), http);
        Ok(Engine {
            inner: Arc::new(Inner {
                shared: Arc::new(shared),
                sockets: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        })
    }

    /// A lossless subscription: every event from now on, in order per
    /// socket. When `capacity` events wait unread, every socket's event
    /// production waits. Subscribe before adding sockets to miss nothing.
    pub fn subscribe_lossless(&self, capacity: usize) -> mpsc::Receiver<Arc<Event>> {
        self.inner.shared.bus.subscribe_lossless(capacity)
    }

    /// A live subscription that never slows the engine: a slow reader skips
    /// ahead and is told how many events it missed. Frames may come without
    /// their payload (see [`EngineConfig::live_bytes`]). Memory is held for
    /// events a receiver has not read: drop a receiver you stop reading.
    pub fn subscribe_live(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.shared.bus.subscribe_live()
    }

    /// Monotonic time now, on the events' clock.
    pub fn now(&self) -> Mono {
        self.inner.shared.now()
    }

    /// Checks `config` and starts a socket.
    pub fn add_socket(&self, config: &SocketConfig) -> Result<SocketHandle, Error> {
        let valid = Arc::new(config.validate()?);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(64);
        let (snap_tx, snap_rx) = watch::channel(driver::initial_snapshot());
        let handle = SocketHandle {
            id,
            info: valid.info.clone(),
            commands: tx,
            snapshot: snap_rx,
        };
        self.lock().insert(id, handle.clone());
        // Boxed here, once: the spawn would otherwise copy the whole
        // future (several KiB) more than once on its way into the task.
        tokio::spawn(Box::pin(driver::run(
            id,
            valid,
            self.inner.shared.clone(),
            rx,
            snap_tx,
        )));
        Ok(handle)
    }

    /// The socket with this id.
    pub fn socket(&self, id: SocketId) -> Option<SocketHandle> {
        self.lock().get(&id).cloned()
    }

    /// Every socket, by id.
    pub fn sockets(&self) -> Vec<SocketHandle> {
        let mut all: Vec<_> = self.lock().values().cloned().collect();
        all.sort_by_key(|h| h.id);
        all
    }

    /// Records each change as an engine-wide event, then tells every socket
    /// once (a backoff ends now, a live link is probed now). The events come
    /// first, so they precede each socket's reaction in the log. Returns the
    /// sockets told.
    pub async fn environment_changed(&self, changes: &[event::EnvironmentChange]) -> Vec<SocketId> {
        let shared = &self.inner.shared;
        for change in changes {
            let kind = EventKind::Environment(change.clone());
            shared.emit(event::ENGINE_WIDE, shared.now(), kind).await;
        }
        let mut told = Vec::new();
        for h in self.sockets() {
            if h.network_changed().await.is_ok() {
                told.push(h.id());
            }
        }
        told
    }

    /// Publishes that the recording failed, as an engine-wide event, so
    /// every subscriber (the live UI, a CLI printer) is told. `reason`
    /// must already be scrubbed.
    pub async fn recording_failed(&self, reason: String) {
        let shared = &self.inner.shared;
        let kind = EventKind::RecordingFailed { reason };
        shared.emit(event::ENGINE_WIDE, shared.now(), kind).await;
    }

    /// Cancels a socket and forgets it.
    pub async fn remove_socket(&self, id: SocketId) -> Result<(), Error> {
        let handle = self.lock().remove(&id).ok_or(Error::UnknownSocket(id))?;
        handle.cancel().await
    }

    /// Sends `text` to each socket in `ids`. Sockets that are closing are
    /// skipped and the skip recorded (seed 003); sockets not yet Ready queue it.
    pub async fn broadcast(
        &self,
        ids: &[SocketId],
        text: &str,
    ) -> Vec<(SocketId, Result<MsgId, Error>)> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let result = match self.socket(id) {
                Some(h) => h.send_inner(text.to_owned(), true).await,
                None => Err(Error::UnknownSocket(id)),
            };
            out.push((id, result));
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketId, SocketHandle>> {
        self.inner.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle to one socket. Cheap to clone; the socket lives while its engine does.
#[derive(Debug, Clone)]
pub struct SocketHandle {
    id: SocketId,
    info: Arc<SocketInfo>,
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Snapshot>,
}

impl SocketHandle {
    /// The socket's id.
    pub fn id(&self) -> SocketId {
        self.id
    }

    /// Its configuration, minus secrets.
    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    /// Sends an application message: written now if Ready, queued if not
    /// yet, refused with [`Error::Closed`] once a close has started.
    pub async fn send(&self, text: impl Into<String>) -> Result<MsgId, Error> {
        self.send_inner(text.into(), false).await
    }

    async fn send_inner(&self, text: String, broadcast: bool) -> Result<MsgId, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Send {
                text,
                broadcast,
                reply,
            })
            .await
            .map_err(|_| Error::TaskEnded)?;
        answer.await.map_err(|_| Error::TaskEnded)?
    }

    /// Cancels: no connection attempt is ever made again.
    pub async fn cancel(&self) -> Result<(), Error> {
        self.command(Command::User(UserAction::Cancel)).await
    }

    /// Closes gracefully (close frame 1000, then wait for the peer's).
    pub async fn close(&self) -> Result<(), Error> {
        self.command(Command::User(UserAction::Close)).await
    }

    /// Reconnects now: skips a backoff, or starts over from Failed or Closed.
    pub async fn retry(&self) -> Result<(), Error> {
        self.command(Command::User(UserAction::Retry)).await
    }

    /// Tells the socket the network changed: a backoff ends now, a live
    /// link is probed now.
    pub async fn network_changed(&self) -> Result<(), Error> {
        self.command(Command::NetworkChanged).await
    }

    /// Waits until every event of what the socket has done so far is
    /// published to the subscribers (a snapshot is updated before its
    /// events go out). [`Error::TaskEnded`] if the task is gone.
    /// Unbounded: wrap it in a timeout.
    pub async fn published(&self) -> Result<(), Error> {
        let (done, answered) = oneshot::channel();
        self.command(Command::Barrier(done)).await?;
        answered.await.map_err(|_| Error::TaskEnded)
    }

    async fn command(&self, c: Command) -> Result<(), Error> {
        self.commands.send(c).await.map_err(|_| Error::TaskEnded)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    /// Waits until the snapshot satisfies `pred`. Unbounded: wrap it in a
    /// timeout.
    pub async fn wait_for(
        &self,
        mut pred: impl FnMut(&Snapshot) -> bool,
    ) -> Result<Snapshot, Error> {
        let mut rx = self.snapshot.clone();
        let snap = rx
            .wait_for(|s| pred(s))
            .await
            .map_err(|_| Error::TaskEnded)?;
        Ok(snap.clone())
    }
}
