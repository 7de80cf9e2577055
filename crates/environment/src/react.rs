//! The wiring: on every network change or wake, tell every socket of an
//! engine at once, and publish what was seen and whom it reached.

use std::fmt;
use std::time::{Duration, SystemTime};

use sockscope_engine::event::EnvironmentChange;
use sockscope_engine::{Engine, Mono, SocketId};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::network::{NetworkChange, NetworkWatcher};
use crate::wake::{Wake, WakeDetector};

/// Pause before a broken network watch is started again.
const WATCH_RESTART: Duration = Duration::from_secs(1);

/// Something in the environment changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An address came or went.
    Network(NetworkChange),
    /// The machine woke from a suspend.
    Wake(Wake),
}

impl Change {
    /// The engine-wide event this change is recorded as.
    pub fn to_engine(&self) -> EnvironmentChange {
        match self {
            Change::Network(c) => EnvironmentChange::Address {
                added: c.kind == crate::network::AddressChange::Added,
                addr: c.addr,
                prefix: c.prefix,
            },
            Change::Wake(w) => EnvironmentChange::Wake {
                suspended: w.suspended,
            },
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Network(c) => write!(f, "network: {c}"),
            Change::Wake(w) => write!(f, "wake: {w}"),
        }
    }
}

/// What the task saw and whom it told.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The changes, in order; a burst that arrived together is one report
    /// and one nudge per socket.
    pub changes: Vec<Change>,
    /// When the sockets were told, on the engine's clock.
    pub mono: Mono,
    /// The same moment on the wall clock.
    pub wall: SystemTime,
    /// Sockets told, by id.
    pub notified: Vec<SocketId>,
}

/// Where changes come from. Either may be absent.
#[derive(Debug, Default)]
pub struct Sources {
    /// Address changes.
    pub network: Option<NetworkWatcher>,
    /// Wakes from suspend.
    pub wake: Option<WakeDetector>,
}

/// The running wiring. Dropping it stops it.
#[derive(Debug)]
pub struct EnvironmentTask {
    reports: broadcast::Sender<Observed>,
    tasks: Vec<JoinHandle<()>>,
}

impl EnvironmentTask {
    /// Starts watching `sources` and nudging `engine`'s sockets.
    pub fn spawn(engine: Engine, sources: Sources) -> EnvironmentTask {
        let (reports, _) = broadcast::channel(256);
        let (tx, rx) = mpsc::channel(256);
        let mut tasks = Vec::new();
        if let Some(watcher) = sources.network {
            tasks.push(tokio::spawn(watch_network(watcher, tx.clone())));
        }
        if let Some(detector) = sources.wake {
            tasks.push(tokio::spawn(watch_wake(detector, tx)));
        }
        tasks.push(tokio::spawn(react(engine, rx, reports.clone())));
        EnvironmentTask { reports, tasks }
    }

    /// Reports from now on. Subscribe before the change you wait for.
    pub fn subscribe(&self) -> broadcast::Receiver<Observed> {
        self.reports.subscribe()
    }
}

impl Drop for EnvironmentTask {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn watch_network(mut watcher: NetworkWatcher, tx: mpsc::Sender<Change>) {
    loop {
        match watcher.next().await {
            Ok(change) => {
                if tx.send(Change::Network(change)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "network watch broke; starting it again");
                loop {
                    tokio::time::sleep(WATCH_RESTART).await;
                    match NetworkWatcher::start().await {
                        Ok(w) => break watcher = w,
                        Err(e) => tracing::warn!(error = %e, "network watch restart failed"),
                    }
                }
            }
        }
    }
}

async fn watch_wake(mut detector: WakeDetector, tx: mpsc::Sender<Change>) {
    loop {
        let wake = detector.next().await;
        if tx.send(Change::Wake(wake)).await.is_err() {
            return;
        }
    }
}

async fn react(
    engine: Engine,
    mut rx: mpsc::Receiver<Change>,
    reports: broadcast::Sender<Observed>,
) {
    while let Some(first) = rx.recv().await {
        let mut changes = vec![first];
        while let Ok(more) = rx.try_recv() {
            changes.push(more);
        }
        for c in &changes {
            tracing::info!(change = %c, "environment changed; nudging every socket");
        }
        let mono = engine.now();
        let wall = SystemTime::now();
        let recorded: Vec<EnvironmentChange> = changes.iter().map(Change::to_engine).collect();
        // A socket whose task had ended is not in `notified`.
        let notified = engine.environment_changed(&recorded).await;
        // No subscriber is fine.
        let _ = reports.send(Observed {
            changes,
            mono,
            wall,
            notified,
        });
    }
}
