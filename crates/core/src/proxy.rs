//! The chaos proxy: a TCP proxy between the engine and a backend whose
//! toxics switch at runtime through its [`ProxyHandle`], so that the races
//! of a bad network can be set off on demand against any server.
//!
//! Defaults: no toxics, bytes go through as they come. Toxics apply per
//! direction and per connection:
//!
//! - **latency + jitter**: each chunk is held `latency` plus up to `jitter`
//!   (uniform) before it is forwarded; order is kept.
//! - **bandwidth**: at most this many bytes per second each way.
//! - **blackhole**: TCP stays open, nothing is forwarded either way (a
//!   half-open link). Bytes read meanwhile are discarded, as a dead link
//!   would lose them, and an end of stream is not passed on.
//! - **drop** (an action, not a toxic): every open connection is closed both
//!   ways with a FIN, with no WebSocket close frame.
//! - **reset** (an action): every open connection is aborted with an RST
//!   (`SO_LINGER` 0, then close).
//!
//! New connections are always accepted; the toxics apply to them too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::CoreError;

/// How long [`ProxyHandle::shutdown`] lets connections close before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks held per direction: bounds memory under latency and keeps back-pressure.
const QUEUE: usize = 64;

/// The toxics in force. `Toxics::default()` is none at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Toxics {
    /// Added to every chunk, each way. Default zero.
    pub latency: Duration,
    /// Up to this much more, drawn uniformly per chunk. Default zero.
    pub jitter: Duration,
    /// Bytes per second, each way, per connection. Default `None`: unlimited.
    /// Zero counts as one byte per second.
    pub bandwidth: Option<u64>,
    /// Forward nothing either way and keep TCP open. Default off.
    pub blackhole: bool,
}

/// What an action does to the open connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// FIN both ways.
    Close,
    /// RST both ways.
    Reset,
}

#[derive(Debug)]
struct Shared {
    toxics: watch::Sender<Toxics>,
    kill: broadcast::Sender<Kill>,
    open: watch::Sender<usize>,
}

/// Starts chaos proxies.
#[derive(Debug)]
pub struct Proxy;

impl Proxy {
    /// Listens on `listen` and forwards each connection to `upstream`
    /// (`host:port`, resolved at each connect), with no toxics.
    pub async fn start(
        listen: SocketAddr,
        upstream: impl Into<String>,
    ) -> Result<ProxyHandle, CoreError> {
        Proxy::start_with(listen, upstream, Toxics::default()).await
    }

    /// As [`Proxy::start`], with `toxics` in force from the first connection.
    pub async fn start_with(
        listen: SocketAddr,
        upstream: impl Into<String>,
        toxics: Toxics,
    ) -> Result<ProxyHandle, CoreError> {
        let upstream = upstream.into();
        // Fail now on a name that does not resolve, not at the first connection.
        let resolved = tokio::net::lookup_host(upstream.as_str())
            .await
            .map_err(|source| CoreError::Io {
                what: format!("resolving upstream {upstream}"),
                source,
            })?
            .next();
        if resolved.is_none() {
            return Err(CoreError::Io {
                what: format!("resolving upstream {upstream}"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            });
        }
        let (listener, addr) = bind(listen).await?;
        let shared = Arc::new(Shared {
            toxics: watch::Sender::new(toxics),
            kill: broadcast::Sender::new(16),
            open: watch::Sender::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, upstream.clone(), shared.clone(), stopped));
        Ok(ProxyHandle {
            addr,
            upstream,
            shared,
            stop,
            task: Some(task),
        })
    }
}

/// A listener on `listen`, and the address it got.
pub(crate) async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), CoreError> {
    let bound = async {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        Ok((listener, addr))
    };
    bound.await.map_err(|source| CoreError::Io {
        what: format!("binding {listen}"),
        source,
    })
}

/// A running proxy. Dropping it stops it too; [`ProxyHandle::shutdown`]
/// also waits for the connections to close.
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    upstream: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where it forwards to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The toxics in force.
    pub fn toxics(&self) -> Toxics {
        self.shared.toxics.borrow().clone()
    }

    /// Replaces every toxic at once; chunks already held keep their delay.
    pub fn set_toxics(&self, toxics: Toxics) -> Result<(), CoreError> {
        self.running()?;
        self.shared.toxics.send_replace(toxics);
        Ok(())
    }

    /// Sets latency and jitter.
    pub fn set_latency(&self, latency: Duration, jitter: Duration) -> Result<(), CoreError> {
        self.running()?;
        self.shared.toxics.send_modify(|t| {
            t.latency = latency;
            t.jitter = jitter;
        });
        Ok(())
    }

    /// Sets the bandwidth limit in bytes per second; `None` lifts it.
    pub fn set_bandwidth(&self, bytes_per_sec: Option<u64>) -> Result<(), CoreError> {
        self.running()?;
        self.shared
            .toxics
            .send_modify(|t| t.bandwidth = bytes_per_sec);
        Ok(())
    }

    /// Turns the blackhole on or off.
    pub fn set_blackhole(&self, on: bool) -> Result<(), CoreError> {
        self.running()?;
        self.shared.toxics.send_modify(|t| t.blackhole = on);
        Ok(())
    }

    /// Back to no toxics.
    pub fn clear(&self) -> Result<(), CoreError> {
        self.set_toxics(Toxics::default())
    }

    /// Closes every open connection both ways (FIN, no close frame).
    /// Returns how many were open.
    pub fn drop_connections(&self) -> Result<usize, CoreError> {
        self.kill(Kill::Close)
    }

    /// Aborts every open connection both ways with an RST. Returns how many
    /// were open.
    pub fn reset_connections(&self) -> Result<usize, CoreError> {
        self.kill(Kill::Reset)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        *self.shared.open.borrow()
    }

    /// Waits until the number of open connections satisfies `pred`.
    /// Unbounded: wrap it in a timeout.
    pub async fn wait_open(&self, mut pred: impl FnMut(usize) -> bool) -> usize {
        let mut rx = self.shared.open.subscribe();
        match rx.wait_for(|n| pred(*n)).await {
            Ok(n) => *n,
            // The sender lives in `self`: it cannot be gone.
            Err(_) => self.open_connections(),
        }
    }

    /// Stops accepting, closes every connection and waits for them to go.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE * 2, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    fn kill(&self, kill: Kill) -> Result<usize, CoreError> {
        self.running()?;
        let open = self.open_connections();
        // No receiver means no connection: nothing to do.
        let _ = self.shared.kill.send(kill);
        Ok(open)
    }

    fn running(&self) -> Result<(), CoreError> {
        match &self.task {
            Some(t) if !t.is_finished() => Ok(()),
            _ => Err(CoreError::ProxyStopped),
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Aborting drops the JoinSet, which aborts every connection.
            task.abort();
        }
    }
}

async fn serve(
    listener: TcpListener,
    upstream: String,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = async { stop.wait_for(|s| *s).await.is_ok() } => break,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    let kill = shared.kill.subscribe();
                    conns.spawn(connection(client, upstream.clone(), shared.clone(), kill));
                }
                // Out of descriptors or a connection that died in the
                // backlog: the listener itself is fine.
                Err(_) => tokio::task::yield_now().await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = shared.kill.send(Kill::Close);
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        conns.abort_all();
    }
}

async fn connection(
    client: TcpStream,
    upstream: String,
    shared: Arc<Shared>,
    mut kill: broadcast::Receiver<Kill>,
) {
    let server = tokio::select! {
        s = TcpStream::connect(upstream.as_str()) => match s {
            Ok(s) => s,
            // The client sees the upstream's refusal as a closed connection.
            Err(_) => return,
        },
        _ = kill.recv() => return,
    };
    // Small WebSocket frames must not wait for Nagle.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    shared.open.send_modify(|n| *n += 1);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let kill_down = kill.resubscribe();
    tokio::join!(
        pipe(client_read, server_write, shared.toxics.subscribe(), kill),
        pipe(
            server_read,
            client_write,
            shared.toxics.subscribe(),
            kill_down
        ),
    );
    shared.open.send_modify(|n| *n -= 1);
}

enum Chunk {
    Data { due: Instant, bytes: Vec<u8> },
    Eof { due: Instant },
}

/// One direction of a connection.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    toxics: watch::Receiver<Toxics>,
    mut kill: broadcast::Receiver<Kill>,
) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let killed = tokio::select! {
        k = kill.recv() => Some(k.unwrap_or(Kill::Close)),
        _ = async { tokio::join!(read_side(&mut from, tx, &toxics), write_side(&mut to, rx, &toxics)) } => None,
    };
    match killed {
        Some(Kill::Reset) => {
            // Linger 0 makes the close an RST; `forget` avoids the FIN that
            // dropping a write half would send first. The socket closes when
            // the other direction drops its read half.
            let _ = to.as_ref().set_zero_linger();
            to.forget();
        }
        Some(Kill::Close) => {
            let _ = to.shutdown().await;
        }
        None => {}
    }
}

async fn read_side(
    from: &mut OwnedReadHalf,
    tx: mpsc::Sender<Chunk>,
    toxics: &watch::Receiver<Toxics>,
) {
    let mut buf = vec![0u8; CHUNK];
    let mut last_due = Instant::now();
    loop {
        // A read error ends the stream like an EOF does.
        let n = from.read(&mut buf).await.unwrap_or(0);
        let t = toxics.borrow().clone();
        if t.blackhole {
            if n == 0 {
                // A half-open link never tells the other side.
                std::future::pending::<()>().await;
            }
            continue;
        }
        let jitter = u64::try_from(t.jitter.as_nanos()).unwrap_or(u64::MAX);
        let extra = if jitter == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(fastrand::u64(0..=jitter))
        };
        // Never before the previous chunk: jitter must not reorder bytes.
        let due = (Instant::now() + t.latency + extra).max(last_due);
        last_due = due;
        let chunk = if n == 0 {
            Chunk::Eof { due }
        } else {
            Chunk::Data {
                due,
                bytes: buf[..n].to_vec(),
            }
        };
        if tx.send(chunk).await.is_err() || n == 0 {
            return;
        }
    }
}

async fn write_side(
    to: &mut OwnedWriteHalf,
    mut rx: mpsc::Receiver<Chunk>,
    toxics: &watch::Receiver<Toxics>,
) {
    // Under a bandwidth limit, when the next slice may go.
    let mut next_slot = Instant::now();
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Chunk::Data { due, bytes } => {
                // Holding the chunk is the latency toxic itself.
                tokio::time::sleep_until(due).await;
                if toxics.borrow().blackhole {
                    continue;
                }
                if write_limited(to, &bytes, toxics, &mut next_slot)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Chunk::Eof { due } => {
                tokio::time::sleep_until(due).await;
                let _ = to.shutdown().await;
                return;
            }
        }
    }
}

/// Writes `bytes`, a tenth of a second's worth at a time under a bandwidth
/// limit: each slice waits until the previous one has had its time.
async fn write_limited(
    to: &mut OwnedWriteHalf,
    bytes: &[u8],
    toxics: &watch::Receiver<Toxics>,
    next_slot: &mut Instant,
) -> std::io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let limit = toxics.borrow().bandwidth;
        match limit {
            None => return to.write_all(rest).await,
            Some(rate) => {
                let rate = rate.max(1);
                let n = usize::try_from(rate / 10)
                    .unwrap_or(usize::MAX)
                    .clamp(1, rest.len());
                // Pacing is the bandwidth toxic itself.
                tokio::time::sleep_until(*next_slot).await;
                to.write_all(&rest[..n]).await?;
                let spent = Duration::from_secs_f64(n as f64 / rate as f64);
                *next_slot = Instant::now().max(*next_slot) + spent;
                rest = &rest[n..];
            }
        }
    }
    Ok(())
}
