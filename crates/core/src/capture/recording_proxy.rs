//! The recording proxy: a WebSocket-aware reverse proxy in front of a real
//! backend. The app under test points at it; every connection it makes is
//! recorded from both sides as a lane of a new session (through
//! [`super::lane`], as a HAR import is), the [`Observer`] runs live on each
//! and its findings are published as they happen, and conditional
//! [`Fault`]s act on matching frames.
//!
//! - The upgrade goes upstream with the app's headers (not the
//!   WebSocket handshake's own) before the app gets its answer, so a 101,
//!   a 401 or the chosen subprotocol is the backend's. Headers are not
//!   recorded; a token in the URL is taken out and remembered as a secret.
//! - Frames are stamped when the app's side of them happened: an app frame
//!   when it was read, a server frame when it was handed to the app.
//! - Each direction holds one frame at a time (back-pressure goes to the
//!   sender's TCP); a message over `max_message_bytes` closes both sides
//!   with 1009.
//! - Connections to the same URL one after another are lanes that share
//!   one observer, so seq gaps and reconnect delays carry across them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sockscope_engine::event::{
    Cause, ClosedReason, Direction, ErrorClass, Event, Finding, FindingClass, FrameRecord,
    Handshake, Mono, Opcode,
};
use sockscope_engine::observer::Observer;
use sockscope_engine::{AdapterKind, SocketId};
use sockscope_recorder::Recorder;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::fault::{Fault, FaultAction};
use super::frame_walk::{FrameWalk, RawFrame};
use super::lane::{Lane, LaneEvents, side_of};
use super::{ImportOptions, detect_dialect};
use crate::CoreError;

/// Largest upgrade request head read from the app.
const MAX_HEAD: usize = 16 * 1024;
/// How long the app has to send its upgrade request, and the backend to answer it.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After one side's close frame and end, how long the other has to end too.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How long [`RecordingProxy::finish`] lets connections end before it cuts them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Events queued to the recorder; when full, the connections wait.
const RECORDER_QUEUE: usize = 8192;
/// URLs whose last observer is kept for the next connection.
const MAX_URLS: usize = 4096;
/// Frames after the app's close that one connection keeps to report; more
/// are counted, not kept.
const MAX_LATE_FRAMES: usize = 64;

/// How to record. `RecordOptions::default()`: the dialect told from each
/// connection, no faults, 16 MiB messages, 1024 connections, a `wss://`
/// upstream checked against the OS roots only.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The connections' dialect and its options; `dialect: None` tells it
    /// from each connection (its URL, subprotocol and first app frame).
    pub dialect: ImportOptions,
    /// Conditional faults, tried in order: the first that matches a frame acts.
    pub faults: Vec<Fault>,
    /// The largest message either way, in bytes; a larger one closes
    /// both sides with 1009. Default 16 MiB.
    pub max_message_bytes: usize,
    /// Connections open at once; more are refused (closed unanswered). Default 1024.
    pub max_connections: usize,
    /// Live events held for slow readers (they skip ahead past it). Default 8192.
    pub live_capacity: usize,
    /// A PEM file of CA certificates a `wss://` upstream's certificate may
    /// also chain to (an own CA, or the server's self-signed certificate),
    /// besides the OS roots. Verification is never turned off. Default `None`.
    pub upstream_ca: Option<PathBuf>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            dialect: ImportOptions::default(),
            faults: Vec::new(),
            max_message_bytes: 16 << 20,
            max_connections: 1024,
            live_capacity: 8192,
            upstream_ca: None,
        }
    }
}

/// What a recording held, once it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordReport {
    /// The session.
    pub session_id: i64,
    /// Connections recorded.
    pub connections: u64,
    /// Frames recorded.
    pub frames: u64,
    /// Findings: the observer's and the faults applied.
    pub findings: u64,
    /// Events written.
    pub events: u64,
}

/// A running recording proxy. [`RecordingProxy::finish`] stops it and
/// waits for the session to be written; dropping it stops it too.
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    upstream: String,
    session_id: i64,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    recorder: Option<Recorder>,
}

impl RecordingProxy {
    /// Listens on `listen`, forwards each WebSocket to `upstream`
    /// (`ws://host:port[/prefix]` or `wss://…`, the app's path appended)
    /// and records into a new session of the database at `db`.
    pub async fn start(
        listen: SocketAddr,
        upstream: &str,
        db: &Path,
        options: RecordOptions,
    ) -> Result<RecordingProxy, CoreError> {
        let base = upstream_base(upstream)?;
        let connector = upstream_connector(&base, options.upstream_ca.as_deref())?;
        let (listener, addr) = crate::proxy::bind(listen).await?;
        let (recorder, tx) = super::start_recorder(db, RECORDER_QUEUE).await?;
        let session_id = recorder.session().id;
        let (stop, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            base: base.clone(),
            connector,
            live: broadcast::channel(options.live_capacity.max(1)).0,
            options,
            tx,
            started: Instant::now(),
            started_ns: wall_ns_now(),
            lanes: Mutex::new(LaneRegistry::default()),
            stopped,
            connections: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            findings: AtomicU64::new(0),
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(RecordingProxy {
            addr,
            upstream: base,
            session_id,
            shared,
            stop,
            task: Some(task),
            recorder: Some(recorder),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Now on the clock of the session's events (ns since it started).
    pub fn now(&self) -> Mono {
        Mono(u64::try_from(self.shared.started.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Where it forwards to.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The session being recorded.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// Every event from now on, as it happens; a slow reader skips ahead
    /// and is told how many it missed. The recorder gets each one first.
    pub fn subscribe_live(&self) -> broadcast::Receiver<Arc<Event>> {
        self.shared.live.subscribe()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Stops taking connections, ends the open ones (their lanes end as
    /// "the capture ends"), and waits for the session to be written.
    pub async fn finish(mut self) -> Result<RecordReport, CoreError> {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.await.map_err(|e| CoreError::Task(e.to_string()))?;
        }
        let shared = Arc::clone(&self.shared);
        let recorder = self.recorder.take().ok_or(CoreError::ProxyStopped)?;
        // The recorder ends once every sender is gone: ours is the last.
        drop(self);
        let connections = shared.connections.load(Ordering::Relaxed);
        let frames = shared.frames.load(Ordering::Relaxed);
        let findings = shared.findings.load(Ordering::Relaxed);
        let session_id = recorder.session().id;
        drop(shared);
        let summary = recorder.finish().await?;
        Ok(RecordReport {
            session_id,
            connections,
            frames,
            findings,
            events: summary.written,
        })
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// `scheme://authority[/prefix]` of a `ws://` or `wss://` upstream, with
/// no trailing slash, query or fragment.
fn upstream_base(upstream: &str) -> Result<String, CoreError> {
    let (shown, _) = sockscope_engine::scrub_url_secrets(upstream);
    let url = url::Url::parse(upstream)
        .map_err(|e| CoreError::Upstream(format!("`{shown}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(CoreError::Upstream(format!(
            "`{shown}` is not a ws:// or wss:// URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(CoreError::Upstream(format!(
            "`{shown}`: give the upstream without a query, fragment or credentials; the app's own path and query are appended"
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| CoreError::Upstream(format!("`{shown}` has no host")))?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let prefix = url.path().trim_end_matches('/');
    Ok(format!("{}://{host}{port}{prefix}", url.scheme()))
}

/// TLS for a `wss://` upstream: the OS roots, and `ca`'s certificates
/// when given. A CA file for a `ws://` upstream is refused, not ignored.
fn upstream_connector(base: &str, ca: Option<&Path>) -> Result<Connector, CoreError> {
    let tls = base.starts_with("wss://");
    let config = match ca {
        None if tls => sockscope_engine::client_tls()?,
        None => return Ok(Connector::Plain),
        Some(path) if !tls => {
            return Err(CoreError::Upstream(format!(
                "a CA file (`{}`) is for a wss:// upstream; `{base}` is ws://",
                path.display()
            )));
        }
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| CoreError::Io {
                what: format!("reading the CA file `{}`", path.display()),
                source: e,
            })?;
            sockscope_engine::client_tls_trusting(&pem)
                .map_err(|e| CoreError::Upstream(format!("CA file `{}`: {e}", path.display())))?
        }
    };
    Ok(Connector::Rustls(config))
}

fn wall_ns_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

struct Shared {
    base: String,
    connector: Connector,
    options: RecordOptions,
    tx: mpsc::Sender<Arc<Event>>,
    live: broadcast::Sender<Arc<Event>>,
    /// The session's start: wall time of `started`, from which every
    /// stamp counts on the monotonic clock.
    started: Instant,
    started_ns: i64,
    lanes: Mutex<LaneRegistry>,
    stopped: watch::Receiver<bool>,
    connections: AtomicU64,
    frames: AtomicU64,
    findings: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Now, as wall ns on the monotonic clock: sub-millisecond, never back.
    fn now_ns(&self) -> i64 {
        let since = i64::try_from(self.started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        self.started_ns.saturating_add(since)
    }

    /// Hands events to the recorder (waiting while its queue is full),
    /// then to live readers.
    async fn publish(&self, events: Vec<Event>) {
        for event in events {
            let event = Arc::new(event);
            // A recorder that stopped (its session full) loses the rest;
            // the proxy keeps proxying.
            let _ = self.tx.send(Arc::clone(&event)).await;
            let _ = self.live.send(event);
        }
    }
}

/// Lane ids, and per URL the lanes it had and the observer of its last
/// ended connection.
#[derive(Debug, Default)]
struct LaneRegistry {
    next_id: SocketId,
    by_url: HashMap<String, UrlLanes>,
}

#[derive(Debug, Default)]
struct UrlLanes {
    lanes: usize,
    free: Option<Observer>,
}

impl LaneRegistry {
    /// A lane id, its number among its URL's lanes, and the observer it
    /// continues, if the URL's last connection has ended.
    fn open(&mut self, url: &str) -> (SocketId, usize, Option<Observer>) {
        self.next_id += 1;
        let full = self.by_url.len() >= MAX_URLS;
        match self.by_url.get_mut(url) {
            Some(u) => {
                u.lanes += 1;
                (self.next_id, u.lanes - 1, u.free.take())
            }
            None if full => (self.next_id, 0, None),
            None => {
                self.by_url.insert(
                    url.to_owned(),
                    UrlLanes {
                        lanes: 1,
                        free: None,
                    },
                );
                (self.next_id, 0, None)
            }
        }
    }

    fn ended(&mut self, url: &str, observer: Observer) {
        if let Some(u) = self.by_url.get_mut(url) {
            u.free = Some(observer);
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let max = shared.options.max_connections;
    let stopped = shared.stopped.clone();
    accept_each(
        listener,
        stopped,
        max,
        || false,
        |tcp| connection(Arc::clone(&shared), tcp),
    )
    .await;
}

/// Accepts connections and runs `each` on each in a task of its own, at
/// most `max` at once (more are closed unanswered: the bound on memory),
/// until `stopped` or, once no connection is open, `over()`. Then lets the
/// open ones end within [`SHUTDOWN_GRACE`] and cuts the rest.
pub(super) async fn accept_each<F, Fut>(
    listener: TcpListener,
    mut stopped: watch::Receiver<bool>,
    max: usize,
    over: impl Fn() -> bool,
    mut each: F,
) where
    F: FnMut(TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        if conns.is_empty() && over() {
            break;
        }
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                if conns.len() >= max {
                    drop(tcp);
                    continue;
                }
                conns.spawn(each(tcp));
            }
        }
    }
    drop(listener);
    let all_done = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, all_done)
        .await
        .is_err()
    {
        conns.shutdown().await;
    }
}

/// The upgrade request as the app sent it.
pub(super) struct Head {
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// Every byte read, the head and whatever followed, for the handshake.
    pub bytes: Vec<u8>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the upgrade request's head; an error is the HTTP status to answer.
async fn read_head(tcp: &mut TcpStream) -> Result<Head, (u16, &'static str)> {
    let mut bytes = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let end = loop {
        if let Some(i) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if bytes.len() > MAX_HEAD {
            return Err((431, "Request Header Fields Too Large"));
        }
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err((400, "Bad Request")),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
        }
    };
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| (400, "Bad Request"))?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some("GET"), Some(target)) = (request_line.next(), request_line.next()) else {
        return Err((405, "Method Not Allowed"));
    };
    if !target.starts_with('/') {
        return Err((400, "Bad Request"));
    }
    let target = target.to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let head = Head {
        target,
        headers,
        bytes,
    };
    let upgrade = head
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if !upgrade {
        return Err((426, "Upgrade Required"));
    }
    Ok(head)
}

/// A new connection's upgrade request, read within [`HANDSHAKE_TIMEOUT`];
/// anything else is answered with its HTTP error and is `None`.
pub(super) async fn upgrade_request(tcp: &mut TcpStream) -> Option<Head> {
    let _ = tcp.set_nodelay(true);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_head(tcp)).await {
        Ok(Ok(head)) => Some(head),
        Ok(Err(status)) => {
            answer(tcp, status).await;
            None
        }
        Err(_) => {
            answer(tcp, (408, "Request Timeout")).await;
            None
        }
    }
}

pub(super) async fn answer(tcp: &mut TcpStream, (status, reason): (u16, &str)) {
    let text =
        format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = tcp.write_all(text.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// Headers that belong to the hop or to the WebSocket handshake itself:
/// the upstream request makes its own.
const NOT_FORWARDED: [&str; 14] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
];

fn ws_config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// One connection: the upgrade both ways, then the frames, then its end.
async fn connection(shared: Arc<Shared>, mut tcp: TcpStream) {
    let Some(head) = upgrade_request(&mut tcp).await else {
        return;
    };
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let started = shared.now_ns();
    let target_url = format!("{}{}", shared.base, head.target);
    let (url, token_in_url) = sockscope_engine::scrub_url_secrets(&target_url);
    let mut conn = ConnLane {
        lane: None,
        events: LaneEvents::starting_at(Some(shared.started_ns)),
        url,
        token_in_url,
        started,
        upgraded: None,
        subprotocol: head.header("sec-websocket-protocol").map(str::to_owned),
        handshake: Handshake {
            request: head.headers.clone(),
            ..Handshake::default()
        },
    };
    let upstream = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        connect_upstream(&shared, &head, &target_url),
    )
    .await;
    let (upstream, upstream_tcp, server_tap) = match upstream {
        Ok(Ok(pair)) => pair,
        Ok(Err((status, cause))) => {
            answer(&mut tcp, status).await;
            conn.handshake.status = status.0;
            return conn.refused(&shared, cause).await;
        }
        Err(_) => {
            answer(&mut tcp, (504, "Gateway Timeout")).await;
            conn.handshake.status = 504;
            let cause = Cause::HandshakeFailed(ErrorClass::Io("timed out".into()));
            return conn.refused(&shared, cause).await;
        }
    };
    conn.handshake.status = upstream.1.status().as_u16();
    conn.handshake.response = upstream
        .1
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let chosen = upstream.1.headers().get("sec-websocket-protocol").cloned();
    if let Some(p) = chosen.as_ref().and_then(|p| p.to_str().ok()) {
        conn.subprotocol = Some(p.to_owned());
    }
    // A second handle on the app's socket: a silent connection reads it
    // raw, so its end is seen while nothing is answered.
    let Ok(client_tcp) = dup(&tcp) else {
        return;
    };
    let app_tap = Arc::new(Mutex::new(Tap::default()));
    let rewind = Rewind {
        prefix: head.bytes,
        at: 0,
        inner: tcp,
        tap: Some(app_tap.clone()),
    };
    // Never an error: the answer is the backend's.
    #[allow(clippy::result_large_err)]
    let callback = move |_: &Request, mut response: Response| {
        if let Some(p) = chosen {
            response
                .headers_mut()
                .insert(HeaderName::from_static("sec-websocket-protocol"), p);
        }
        Ok(response)
    };
    let config = ws_config(shared.options.max_message_bytes);
    let accepted = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_hdr_async_with_config(rewind, callback, Some(config)),
    )
    .await;
    let Ok(Ok(client)) = accepted else {
        let cause = Cause::HandshakeFailed(ErrorClass::Protocol("app_handshake".into()));
        return conn.refused(&shared, cause).await;
    };
    conn.upgraded = Some(shared.now_ns());
    if shared.options.dialect.dialect.is_some() {
        conn.with_lane(&shared, None, |_, _| ());
        let events = conn.events.take();
        shared.publish(events).await;
    }
    let sockets = Sockets {
        client,
        upstream: upstream.0,
        client_tcp,
        upstream_tcp,
        app_tap,
        server_tap,
    };
    relay(&shared, conn, sockets).await;
}

type Refusal = ((u16, &'static str), Cause);

/// Connects upstream with the app's path, query and headers.
async fn connect_upstream(
    shared: &Shared,
    head: &Head,
    url: &str,
) -> Result<
    (
        (UpstreamWs, tungstenite::handshake::client::Response),
        TcpStream,
        Option<Arc<Mutex<Tap>>>,
    ),
    Refusal,
> {
    let bad_gateway = |e: String| {
        (
            (502, "Bad Gateway"),
            Cause::HandshakeFailed(ErrorClass::Io(e)),
        )
    };
    let mut request = url
        .into_client_request()
        .map_err(|_| bad_gateway("bad_request".into()))?;
    for (name, value) in &head.headers {
        let lower = name.to_ascii_lowercase();
        if NOT_FORWARDED.contains(&lower.as_str()) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request.headers_mut().append(n, v);
        }
    }
    let uri = request.uri();
    let host = uri
        .host()
        .unwrap_or("localhost")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") {
            443
        } else {
            80
        });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| bad_gateway(e.kind().to_string()))?;
    let _ = tcp.set_nodelay(true);
    let raw = dup(&tcp).map_err(|e| bad_gateway(e.kind().to_string()))?;
    // Over TLS the bytes under the library are ciphertext: no walk.
    let tap = (uri.scheme_str() != Some("wss")).then(|| Arc::new(Mutex::new(Tap::default())));
    let stream = Rewind {
        prefix: Vec::new(),
        at: 0,
        inner: tcp,
        tap: tap.clone(),
    };
    let config = ws_config(shared.options.max_message_bytes);
    match tokio_tungstenite::client_async_tls_with_config(
        request,
        stream,
        Some(config),
        Some(shared.connector.clone()),
    )
    .await
    {
        Ok(pair) => Ok((pair, raw, tap)),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            Err((
                (
                    status,
                    response.status().canonical_reason().unwrap_or("Refused"),
                ),
                Cause::HandshakeFailed(ErrorClass::HttpStatus(status)),
            ))
        }
        Err(tungstenite::Error::Tls(e)) => Err((
            (502, "Bad Gateway"),
            Cause::HandshakeFailed(ErrorClass::Tls(e.to_string())),
        )),
        Err(e) => Err(bad_gateway(e.to_string())),
    }
}

/// Another handle on the same socket.
fn dup(tcp: &TcpStream) -> std::io::Result<TcpStream> {
    #[cfg(unix)]
    let std = {
        use std::os::fd::AsFd;
        std::net::TcpStream::from(tcp.as_fd().try_clone_to_owned()?)
    };
    #[cfg(windows)]
    let std = {
        use std::os::windows::io::AsSocket;
        std::net::TcpStream::from(tcp.as_socket().try_clone_to_owned()?)
    };
    std.set_nonblocking(true)?;
    TcpStream::from_std(std)
}

type ClientWs = WebSocketStream<Rewind>;
type UpstreamWs = WebSocketStream<MaybeTlsStream<Rewind>>;

/// The app's TCP stream with the bytes already read (the upgrade
/// request) put back in front, for the WebSocket handshake; with a tap,
/// every byte read also goes through its walk.
#[derive(Debug)]
pub(super) struct Rewind {
    pub prefix: Vec<u8>,
    pub at: usize,
    pub inner: TcpStream,
    pub tap: Option<Arc<Mutex<Tap>>>,
}

/// The walk over one side's bytes (the app's; the server's over `ws://`),
/// and the frames it found after that side's close that are not reported
/// yet. The WebSocket library reads ahead and drops what follows a close
/// unread, so such a frame's opcode and size are known here or nowhere.
#[derive(Debug)]
pub(super) struct Tap {
    walk: FrameWalk,
    late: Vec<RawFrame>,
    /// Late frames past [`MAX_LATE_FRAMES`], counted.
    more: u64,
}

impl Default for Tap {
    fn default() -> Tap {
        Tap {
            walk: FrameWalk::from_upgrade(),
            late: Vec::new(),
            more: 0,
        }
    }
}

impl Tap {
    fn feed(&mut self, bytes: &[u8]) {
        let Tap { walk, late, more } = self;
        walk.feed(bytes, |f| {
            match (f.after_close, late.len() < MAX_LATE_FRAMES) {
                (false, _) => {}
                (true, true) => late.push(f),
                (true, false) => *more += 1,
            }
        });
    }

    fn take(&mut self) -> (Vec<RawFrame>, u64) {
        (
            std::mem::take(&mut self.late),
            std::mem::take(&mut self.more),
        )
    }
}

fn tap_feed(tap: &Mutex<Tap>, bytes: &[u8]) {
    tap.lock().unwrap_or_else(|p| p.into_inner()).feed(bytes);
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = if this.at < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.at);
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                this.prefix = Vec::new();
                this.at = 0;
            }
            Poll::Ready(Ok(()))
        } else {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        };
        if let (Some(tap), Poll::Ready(Ok(()))) = (&this.tap, &polled) {
            tap_feed(tap, &buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection's lane, made once its dialect is known: at once with
/// `--dialect`, else at its first frame (the app's first frame tells it).
struct ConnLane {
    lane: Option<Lane>,
    events: LaneEvents,
    url: String,
    token_in_url: bool,
    started: i64,
    upgraded: Option<i64>,
    subprotocol: Option<String>,
    /// The upgrade as seen, recorded with the lane's attempt.
    handshake: Handshake,
}

impl ConnLane {
    /// Runs `f` on the lane, made first if need be.
    fn with_lane<R>(
        &mut self,
        shared: &Shared,
        first_app_text: Option<&str>,
        f: impl FnOnce(&mut Lane, &mut LaneEvents) -> R,
    ) -> R {
        let events = &mut self.events;
        let lane = self.lane.get_or_insert_with(|| {
            let opts = &shared.options.dialect;
            let adapter: AdapterKind = opts.dialect.unwrap_or_else(|| {
                detect_dialect(&self.url, self.subprotocol.as_deref(), first_app_text)
            });
            let (id, nth, observer) = shared
                .lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open(&self.url);
            let observer =
                observer.unwrap_or_else(|| Observer::new(adapter, opts.dialect_options.clone()));
            let mut lane = Lane::open(events, id, self.started, &self.url, nth, observer, adapter);
            lane.attempt(events, self.started, &self.url, self.token_in_url);
            // A refusal makes the lane as it is answered.
            let answered = self.upgraded.unwrap_or_else(|| shared.now_ns());
            lane.handshake(events, answered, std::mem::take(&mut self.handshake));
            if let Some(at) = self.upgraded {
                lane.upgraded(events, at);
            }
            lane
        });
        f(lane, events)
    }

    /// The upgrade failed: the lane is the attempt and its refusal.
    async fn refused(mut self, shared: &Shared, cause: Cause) {
        let at = shared.now_ns();
        self.with_lane(shared, None, |lane, events| {
            lane.ended(events, at, cause);
            let by = sockscope_engine::event::Side::Peer;
            lane.finish(events, Some(ClosedReason::ConnectionLost { by }));
        });
        self.close(shared).await;
    }

    /// Publishes the last events and hands the observer on.
    async fn close(mut self, shared: &Shared) {
        let events = self.events.take();
        shared
            .frames
            .fetch_add(self.events.frames, Ordering::Relaxed);
        shared
            .findings
            .fetch_add(self.events.findings, Ordering::Relaxed);
        shared.publish(events).await;
        if let Some(lane) = self.lane.take() {
            shared
                .lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .ended(&self.url, lane.into_observer());
        }
    }
}

/// Where a connection stands: faults and ends change it for both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Open,
    /// Forward nothing; read each side raw until it ends.
    Silent,
    /// A side ended after a close frame: the other has until then to end.
    Draining(Instant),
    /// End now: a cut, a side lost with no close frame, or the proxy stopping.
    Stop,
}

/// How one direction's reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its side's TCP (or WebSocket) ended.
    Ended,
    /// Told to stop: a cut, the other side lost, or a drain ran out.
    Stopped,
    /// The proxy is stopping.
    Shutdown,
}

/// One connection's two WebSockets, a raw handle on each TCP stream, and
/// the taps on the app's bytes and (over `ws://`) the server's.
struct Sockets {
    client: ClientWs,
    upstream: UpstreamWs,
    client_tcp: TcpStream,
    upstream_tcp: TcpStream,
    app_tap: Arc<Mutex<Tap>>,
    server_tap: Option<Arc<Mutex<Tap>>>,
}

struct Relay<'a> {
    shared: &'a Shared,
    app_tap: Arc<Mutex<Tap>>,
    server_tap: Option<Arc<Mutex<Tap>>>,
    lane: tokio::sync::Mutex<ConnLane>,
    to_app: tokio::sync::Mutex<SplitSink<ClientWs, Message>>,
    to_server: tokio::sync::Mutex<SplitSink<UpstreamWs, Message>>,
    mode: watch::Sender<Mode>,
    /// The app sent a close frame (its own or its answer to the server's).
    app_closed: std::sync::atomic::AtomicBool,
    /// The server's direction has ended.
    server_done: watch::Sender<bool>,
}

async fn relay(shared: &Shared, conn: ConnLane, sockets: Sockets) {
    let Sockets {
        client,
        upstream,
        client_tcp,
        upstream_tcp,
        app_tap,
        server_tap,
    } = sockets;
    let (to_app, from_app) = client.split();
    let (to_server, from_server) = upstream.split();
    let relay = Relay {
        shared,
        app_tap,
        server_tap,
        lane: tokio::sync::Mutex::new(conn),
        to_app: tokio::sync::Mutex::new(to_app),
        to_server: tokio::sync::Mutex::new(to_server),
        mode: watch::Sender::new(Mode::Open),
        app_closed: std::sync::atomic::AtomicBool::new(false),
        server_done: watch::Sender::new(false),
    };
    let ((out_end, out_at), (in_end, in_at)) = tokio::join!(
        relay.pump(Direction::Out, from_app, client_tcp),
        relay.pump(Direction::In, from_server, upstream_tcp),
    );
    let mut conn = relay.lane.into_inner();
    let at = out_at.max(in_at);
    let first_close = conn.lane.as_ref().and_then(Lane::first_close);
    let (cause, reason) = if out_end == End::Shutdown || in_end == End::Shutdown {
        (Cause::NotCaptured, Some(ClosedReason::CaptureEnded))
    } else if let Some((_, code)) = first_close {
        (Cause::TransportEnded { code }, None)
    } else {
        // Whose TCP ended first, with no close frame either way.
        let first = match (out_end, in_end) {
            (End::Ended, End::Ended) if in_at < out_at => Direction::In,
            (End::Ended, _) => Direction::Out,
            _ => Direction::In,
        };
        (
            Cause::TransportEnded { code: 1006 },
            Some(ClosedReason::ConnectionLost { by: side_of(first) }),
        )
    };
    conn.with_lane(shared, None, |lane, events| {
        lane.ended(events, at, cause);
        lane.finish(events, reason);
    });
    conn.close(shared).await;
    // Both sockets close as the streams drop here.
}

impl Relay<'_> {
    /// One direction: frames read from its sender, recorded, put through
    /// the faults and forwarded. Returns how and when it ended.
    async fn pump<S>(
        &self,
        direction: Direction,
        mut from: SplitStream<WebSocketStream<S>>,
        mut raw: TcpStream,
    ) -> (End, i64)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut mode = self.mode.subscribe();
        let mut stopped = self.shared.stopped.clone();
        let mut matches = vec![0u64; self.shared.options.faults.len()];
        let mut drain_until: Option<Instant> = None;
        let end = loop {
            let current = *mode.borrow_and_update();
            match current {
                Mode::Stop => break End::Stopped,
                Mode::Silent => {
                    break self
                        .silent(direction, &mut raw, &mut mode, &mut stopped)
                        .await;
                }
                Mode::Draining(until) => drain_until = Some(until),
                Mode::Open => {}
            }
            let read = tokio::select! {
                _ = stopped.wait_for(|s| *s) => break End::Shutdown,
                _ = mode.changed() => continue,
                _ = sleep_until(drain_until) => break End::Stopped,
                read = from.next() => read,
            };
            match read {
                None => break End::Ended,
                Some(Err(tungstenite::Error::Capacity(e))) => {
                    self.oversized(direction, &e.to_string()).await;
                    break End::Ended;
                }
                Some(Err(tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ReceivedAfterClosing,
                ))) if direction == Direction::In => self.after_server_close().await,
                Some(Err(_)) => break End::Ended,
                Some(Ok(message)) => self.frame(direction, message, &mut matches).await,
            }
        };
        let at = self.shared.now_ns();
        if direction == Direction::In {
            // Frames the library read ahead after the server's close and
            // never reported.
            self.report_late_frames(Direction::In).await;
            self.server_done.send_replace(true);
        }
        if direction == Direction::Out
            && end == End::Ended
            && self.app_closed.load(Ordering::Relaxed)
        {
            // The library stops reading the app once it has answered its
            // close; what the app sends after that comes in raw.
            self.after_app_close(&mut raw, &mut mode, &mut stopped)
                .await;
        }
        if end == End::Ended {
            // The other side follows: at once if nothing was closed, else
            // after a grace for its own close.
            let closed = self
                .lane
                .lock()
                .await
                .lane
                .as_ref()
                .and_then(Lane::first_close)
                .is_some();
            self.mode.send_modify(|m| {
                *m = match (*m, closed) {
                    (Mode::Stop, _) | (_, false) => Mode::Stop,
                    (Mode::Draining(t), true) => Mode::Draining(t),
                    (_, true) => Mode::Draining(Instant::now() + CLOSE_GRACE),
                }
            });
        } else {
            self.mode.send_replace(Mode::Stop);
        }
        (end, at)
    }

    /// Reads the app's raw bytes after its close frame was answered, until
    /// it ends, the relay stops, or [`CLOSE_GRACE`]. Each frame the tap
    /// walked past after the close (read ahead by the library, or raw
    /// here) is a `client_frame_after_close` finding (seed 003's race, by
    /// the app).
    async fn after_app_close(
        &self,
        raw: &mut TcpStream,
        mode: &mut watch::Receiver<Mode>,
        stopped: &mut watch::Receiver<bool>,
    ) {
        let until = Instant::now() + CLOSE_GRACE;
        let mut sink = vec![0u8; 4096];
        let mut server_done = self.server_done.subscribe();
        let mut shut = false;
        loop {
            self.report_late_frames(Direction::Out).await;
            // Once the server's side is over, our end of the app's TCP ends
            // (as a server's does after the close handshake), and the app's
            // end is read until it follows.
            let done = async {
                if shut {
                    std::future::pending::<()>().await;
                }
                let _ = server_done.wait_for(|d| *d).await;
            };
            // Some(true): bytes came; Some(false): the server's side ended.
            let next = tokio::select! {
                _ = stopped.wait_for(|s| *s) => None,
                _ = mode.wait_for(|m| *m == Mode::Stop) => None,
                _ = tokio::time::sleep_until(until) => None,
                () = done => Some(false),
                read = raw.read(&mut sink) => match read {
                    Ok(n) if n > 0 => {
                        tap_feed(&self.app_tap, &sink[..n]);
                        Some(true)
                    }
                    _ => None,
                },
            };
            match next {
                None => return,
                Some(false) => {
                    shut = true;
                    let _ = raw.shutdown().await;
                }
                Some(true) => {}
            }
        }
    }

    /// A finding for each frame a side's tap found after that side's
    /// close (seed 003's race): the app's (`client_frame_after_close`) or
    /// the server's (`peer_frame_after_close`). Returns how many; none
    /// without a tap.
    async fn report_late_frames(&self, direction: Direction) -> usize {
        let tap = match direction {
            Direction::Out => Some(&self.app_tap),
            Direction::In => self.server_tap.as_ref(),
        };
        let Some(tap) = tap else {
            return 0;
        };
        let (late, more) = tap.lock().unwrap_or_else(|p| p.into_inner()).take();
        if late.is_empty() && more == 0 {
            return 0;
        }
        let (class, who) = match direction {
            Direction::Out => (FindingClass::ClientFrameAfterClose, "the client"),
            Direction::In => (FindingClass::PeerFrameAfterClose, "the server"),
        };
        let mut conn = self.lane.lock().await;
        let at = self.shared.now_ns();
        conn.with_lane(self.shared, None, |lane, events| {
            let attempt = lane.attempt_number().max(1);
            let details = late
                .iter()
                .map(|f| format!("{who} sent a {} frame of {} bytes after its own close frame; the proxy did not forward it", f.opcode, f.size))
                .chain((more > 0).then(|| format!("{who} sent {more} more frames after its own close frame; none was forwarded")));
            for detail in details {
                let finding = Finding {
                    class,
                    attempt,
                    detail,
                };
                lane.finding(events, at, finding);
            }
        });
        let events = conn.events.take();
        self.shared.publish(events).await;
        late.len() + usize::from(more > 0)
    }

    /// Silent: nothing is answered; the side's raw bytes are read and
    /// thrown away until it ends (the app's through the tap, so its walk
    /// stays in step).
    async fn silent(
        &self,
        direction: Direction,
        raw: &mut TcpStream,
        mode: &mut watch::Receiver<Mode>,
        stopped: &mut watch::Receiver<bool>,
    ) -> End {
        let mut sink = vec![0u8; 4096];
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return End::Shutdown,
                _ = mode.wait_for(|m| *m == Mode::Stop) => return End::Stopped,
                read = raw.read(&mut sink) => match read {
                    Ok(0) | Err(_) => return End::Ended,
                    Ok(n) if direction == Direction::Out => tap_feed(&self.app_tap, &sink[..n]),
                    Ok(_) => {}
                },
            }
        }
    }

    /// A frame the server sent after its own close frame (seed 003's
    /// race), as the WebSocket library reports it: it drops such a frame
    /// unread and it is not forwarded. Over `ws://` the server's tap has
    /// walked it, so the finding names its opcode and size; over `wss://`
    /// they are not known.
    async fn after_server_close(&self) {
        if self.report_late_frames(Direction::In).await > 0 {
            return;
        }
        let mut conn = self.lane.lock().await;
        let at = self.shared.now_ns();
        conn.with_lane(self.shared, None, |lane, events| {
            let finding = Finding {
                class: FindingClass::PeerFrameAfterClose,
                attempt: lane.attempt_number().max(1),
                detail: "the server sent a frame after its own close frame; the proxy cannot read such a frame (its opcode and content are not known) and did not forward it".into(),
            };
            lane.finding(events, at, finding);
        });
        let events = conn.events.take();
        self.shared.publish(events).await;
    }

    /// A message over the limit: both sides get 1009, and a finding says who sent it.
    async fn oversized(&self, direction: Direction, error: &str) {
        let mut conn = self.lane.lock().await;
        let at = self.shared.now_ns();
        let who = match direction {
            Direction::Out => "the app",
            Direction::In => "the server",
        };
        let limit = self.shared.options.max_message_bytes;
        let detail = format!(
            "{who} sent a message over the proxy's limit of {limit} bytes ({error}); both sides were closed with 1009"
        );
        conn.with_lane(self.shared, None, |lane, events| {
            let finding = Finding {
                class: FindingClass::ProtocolError,
                attempt: lane.attempt_number().max(1),
                detail,
            };
            lane.finding(events, at, finding);
        });
        let events = conn.events.take();
        self.shared.publish(events).await;
        let reason = format!("message over {limit} bytes");
        self.close_both(1009, &reason).await;
    }

    async fn close_both(&self, code: u16, reason: &str) {
        let frame = || {
            Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            }))
        };
        let _ = self.to_app.lock().await.send(frame()).await;
        let _ = self.to_server.lock().await.send(frame()).await;
    }

    /// Sends toward the direction's receiver; an error there ends its own pump.
    async fn forward(&self, direction: Direction, message: Message) {
        let _ = match direction {
            Direction::Out => self.to_server.lock().await.send(message).await,
            Direction::In => self.to_app.lock().await.send(message).await,
        };
    }

    /// One message read: recorded, and carried out with its fault, if any.
    async fn frame(&self, direction: Direction, message: Message, matches: &mut [u64]) {
        // The record shares the message's buffer, with no copy.
        let frame = match &message {
            Message::Text(t) => FrameRecord {
                text: Some(t.clone().into()),
                ..FrameRecord::new(direction, Opcode::Text, t.len())
            },
            Message::Binary(b) => FrameRecord {
                binary: Some(b.clone().into()),
                ..FrameRecord::new(direction, Opcode::Binary, b.len())
            },
            Message::Ping(b) => FrameRecord::new(direction, Opcode::Ping, b.len()),
            Message::Pong(b) => FrameRecord::new(direction, Opcode::Pong, b.len()),
            Message::Close(c) => {
                if direction == Direction::Out {
                    self.app_closed.store(true, Ordering::Relaxed);
                }
                let code = c.as_ref().map(|c| u16::from(c.code));
                let reason_len = c.as_ref().map_or(0, |c| c.reason.len());
                if direction == Direction::Out {
                    self.record_close(direction, code, reason_len).await;
                    self.forward(direction, message).await;
                } else {
                    self.forward(direction, message).await;
                    self.record_close(direction, code, reason_len).await;
                }
                return;
            }
            Message::Frame(_) => return,
        };
        let fault = if matches!(frame.opcode, Opcode::Text | Opcode::Binary) {
            self.fault_for(direction, frame.text.as_deref(), matches)
        } else {
            None
        };
        let record = |fault| self.record_frame(frame, fault);
        let Some(fault) = fault else {
            // App frames are stamped when read, server frames when handed on.
            if direction == Direction::Out {
                record(None).await;
                self.forward(direction, message).await;
            } else {
                self.forward(direction, message).await;
                record(None).await;
            }
            return;
        };
        match fault.action {
            FaultAction::Drop => record(Some(fault)).await,
            FaultAction::Delay(d) => {
                record(Some(fault)).await;
                tokio::time::sleep(d).await;
                self.forward(direction, message).await;
            }
            FaultAction::Duplicate => {
                record(Some(fault)).await;
                self.forward(direction, message.clone()).await;
                self.forward(direction, message).await;
            }
            FaultAction::Close(code) => {
                self.forward(direction, message).await;
                record(Some(fault)).await;
                // The receiver sees the sender close; the sender gets the same.
                self.record_close(direction, Some(code), 0).await;
                self.close_both(code, "").await;
            }
            FaultAction::Cut => {
                self.forward(direction, message).await;
                record(Some(fault)).await;
                self.mode.send_replace(Mode::Stop);
            }
            FaultAction::Silent => {
                self.forward(direction, message).await;
                record(Some(fault)).await;
                self.mode.send_replace(Mode::Silent);
            }
        }
    }

    async fn record_frame(&self, frame: FrameRecord, fault: Option<&Fault>) {
        let mut conn = self.lane.lock().await;
        let at = self.shared.now_ns();
        let first_app = match frame.direction {
            Direction::Out => frame.text.clone(),
            Direction::In => None,
        };
        conn.with_lane(self.shared, first_app.as_deref(), |lane, events| {
            lane.frame(events, at, frame);
            if let Some(f) = fault {
                let finding = Finding {
                    class: FindingClass::ProxyFault,
                    attempt: lane.attempt_number().max(1),
                    detail: format!("fault `{}`: {} after this frame", f.spec, f.action),
                };
                lane.finding(events, at, finding);
            }
        });
        let events = conn.events.take();
        self.shared.publish(events).await;
    }

    async fn record_close(&self, direction: Direction, code: Option<u16>, reason_len: usize) {
        let mut conn = self.lane.lock().await;
        let at = self.shared.now_ns();
        conn.with_lane(self.shared, None, |lane, events| {
            lane.close_frame(events, at, direction, code, reason_len);
        });
        let events = conn.events.take();
        self.shared.publish(events).await;
    }

    /// The first fault that matches this data frame, counting its matches.
    fn fault_for(
        &self,
        direction: Direction,
        text: Option<&str>,
        matches: &mut [u64],
    ) -> Option<&Fault> {
        let faults = &self.shared.options.faults;
        if !faults.iter().any(|f| f.direction == direction) {
            return None;
        }
        let json: Option<Value> = text.and_then(|t| serde_json::from_str(t).ok());
        for (i, f) in faults.iter().enumerate() {
            if !f.matches(direction, json.as_ref(), text.is_none()) {
                continue;
            }
            matches[i] += 1;
            if f.nth.is_none_or(|n| n == matches[i]) {
                return Some(f);
            }
        }
        None
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
