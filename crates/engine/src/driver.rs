//! The thin tokio driver: one task per socket, one `select!` loop over a
//! closed set of wake-ups, each turned into one [`Input`] (a read wake-up
//! into one per frame already buffered, up to [`BATCH`]); the machine's
//! effects are carried out in order. The driver decides nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use futures_util::future::Either;
use futures_util::{SinkExt, StreamExt};
use sockscope_protocol::JobState;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::coop;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::bus::Bus;
use crate::config::{TokenPlacement, ValidConfig};
use crate::event::{
    AdapterKind, ErrorClass, Event, EventKind, Mono, MsgId, Progress, SocketId, State, UserAction,
};
use crate::machine::{Effect, InFrame, Input, Machine, OutFrame, SyncFailure};
use crate::token::Token;
use crate::{Error, Snapshot};

/// A connected socket: plain inline, TLS boxed (its connect is boxed too).
/// rustls' state makes tokio-tungstenite's stream ~1.1 KiB and its connect
/// future ~10 KiB, which every `ws://` socket would otherwise carry, and
/// copy whole each time its future moves.
type Ws = Either<WebSocketStream<TcpStream>, Box<WebSocketStream<MaybeTlsStream<TcpStream>>>>;
type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Opened = Result<(Ws, Option<Token>, bool), ErrorClass>;

/// What a [`crate::SocketHandle`] asks of its task.
#[derive(Debug)]
pub(crate) enum Command {
    Send {
        text: String,
        broadcast: bool,
        reply: oneshot::Sender<Result<MsgId, Error>>,
    },
    User(UserAction),
    NetworkChanged,
    /// Answered once every event of the steps before it is published.
    Barrier(oneshot::Sender<()>),
}

/// What every socket task shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub epoch: tokio::time::Instant,
    pub bus: Bus,
    pub http: reqwest::Client,
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, Error>>,
}

impl Shared {
    pub fn new(bus: Bus, http: reqwest::Client) -> Shared {
        Shared {
            epoch: tokio::time::Instant::now(),
            bus,
            http,
            tls: OnceLock::new(),
        }
    }

    pub fn now(&self) -> Mono {
        Mono(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    fn instant(&self, at: Mono) -> tokio::time::Instant {
        self.epoch + Duration::from_nanos(at.0)
    }

    fn tls(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        self.tls.get_or_init(client_tls).clone()
    }

    pub async fn emit(&self, socket: SocketId, mono: Mono, kind: EventKind) {
        self.bus
            .publish(Event {
                socket,
                mono,
                wall: SystemTime::now(),
                kind,
            })
            .await;
    }
}

/// rustls with ring and the OS root certificates, built once per engine
/// (and once per recording proxy, for its `wss://` upstream).
pub fn client_tls() -> Result<Arc<rustls::ClientConfig>, Error> {
    tls_with_roots(native_roots())
}

/// [`client_tls`] that also trusts the CA certificates of `ca_pem` (PEM,
/// one or more `CERTIFICATE` blocks): for a server whose certificate an
/// own CA signed, or a self-signed one. Verification stays on; a PEM with
/// no certificate, or one the store refuses, is an error.
pub fn client_tls_trusting(ca_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = native_roots();
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| Error::Tls(format!("reading the CA certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::Tls(format!("a CA certificate was refused: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(Error::Tls(
            "the CA file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    tls_with_roots(roots)
}

fn native_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A cert the store rejects is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    roots
}

fn tls_with_roots(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Runs one socket until every handle to it is gone.
pub(crate) async fn run(
    id: SocketId,
    cfg: Arc<ValidConfig>,
    shared: Arc<Shared>,
    mut cmds: mpsc::Receiver<Command>,
    snapshot: watch::Sender<Snapshot>,
) {
    let mut d = Driver {
        id,
        machine: Machine::new(cfg.machine.clone()),
        cfg,
        shared,
        snapshot,
        ws: None,
        connecting: None,
        syncing: None,
        token: None,
        reply: None,
        pending: Vec::new(),
        effects: Vec::new(),
        pending_findings: 0,
        pending_rtt: None,
        stepped: false,
    };
    // Published with the start's own events, in one batch.
    let added = EventKind::SocketAdded(d.cfg.info.clone());
    d.hold(added, d.shared.now(), SystemTime::now());
    d.step(Input::Start).await;
    loop {
        let timer = d.machine.next_timer();
        let input = tokio::select! {
            biased;
            cmd = cmds.recv() => match cmd {
                Some(Command::Send { text, broadcast, reply }) => {
                    d.reply = Some(reply);
                    Input::Send { text, broadcast }
                }
                Some(Command::User(action)) => Input::User(action),
                Some(Command::NetworkChanged) => Input::NetworkChanged,
                // Steps publish before the loop comes back here.
                Some(Command::Barrier(done)) => {
                    let _ = done.send(());
                    continue;
                }
                None => break,
            },
            opened = async { d.connecting.as_mut().expect("guarded").await }, if d.connecting.is_some() => {
                d.connecting = None;
                match opened {
                    Ok((ws, token, refreshed)) => {
                        d.ws = Some(ws);
                        if token.is_some() {
                            d.token = token;
                        }
                        Input::HandshakeDone { token_refreshed: refreshed }
                    }
                    Err(class) => Input::HandshakeFailed(class),
                }
            },
            msg = coop::cooperative(async { d.ws.as_mut().expect("guarded").next().await }), if d.ws.is_some() => {
                d.read_batch(msg).await;
                continue;
            },
            synced = async { d.syncing.as_mut().expect("guarded").await }, if d.syncing.is_some() => {
                d.syncing = None;
                Input::StateSyncDone(synced)
            },
            () = tokio::time::sleep_until(d.shared.instant(timer.map_or(Mono(0), |t| t.0))), if timer.is_some() => {
                Input::Timer(timer.expect("guarded").1)
            },
        };
        d.step(input).await;
    }
}

struct Driver {
    id: SocketId,
    machine: Machine,
    cfg: Arc<ValidConfig>,
    shared: Arc<Shared>,
    snapshot: watch::Sender<Snapshot>,
    ws: Option<Ws>,
    connecting: Option<BoxFut<Opened>>,
    syncing: Option<BoxFut<Result<JobState, SyncFailure>>>,
    token: Option<Token>,
    reply: Option<oneshot::Sender<Result<MsgId, Error>>>,
    /// Events of the steps since the last flush, in order.
    pending: Vec<Event>,
    /// The effects of the step being carried out, kept for the next step.
    effects: Vec<Effect>,
    /// Findings and the last heartbeat rtt among `pending`, for the snapshot.
    pending_findings: u64,
    pending_rtt: Option<Duration>,
    /// The machine stepped since the snapshot was last updated.
    stepped: bool,
}

/// Frames read and stepped per wake-up at most, when they are already
/// buffered; their events are published together.
const BATCH: usize = 64;

impl Driver {
    /// One wake-up: the input's step, its events published.
    async fn step(&mut self, input: Input) {
        self.apply(input).await;
        self.flush().await;
    }

    /// A read wake-up: the frame read, then the frames already buffered
    /// (up to [`BATCH`], without waiting), each its own step; their events
    /// are published together, after one snapshot update. A step that does
    /// more than emit (a write, a close, a sync, a dropped transport), or a
    /// read that is not a data frame, ends the batch.
    async fn read_batch(&mut self, first: Option<Result<Message, tungstenite::Error>>) {
        let mut msg = first;
        for round in 1..=BATCH {
            let read = read_input(msg);
            // A finished stream answers every poll at once: stop polling it.
            if read.ends_transport() {
                self.ws = None;
            }
            let more = match read {
                Read::Input(input) => {
                    let frame = matches!(input, Input::Frame(_));
                    self.apply(input).await && frame
                }
                Read::Two(first, second) => {
                    self.apply(first).await;
                    self.apply(second).await;
                    false
                }
                Read::Skip => true,
            };
            let Some(ws) = self.ws.as_mut().filter(|_| more && round < BATCH) else {
                break;
            };
            // Only what is ready now, with the task's own waker (a pending
            // read is woken like the `select!` branch's). The task's budget
            // is spent per batch (the branch is `cooperative`) and per
            // socket read, so a flooding socket still yields its worker.
            match std::future::poll_fn(|cx| Poll::Ready(ws.poll_next_unpin(cx))).await {
                Poll::Ready(next) => msg = next,
                Poll::Pending => break,
            }
        }
        self.flush().await;
    }

    /// Steps the machine once (and again for a failed write) and carries out
    /// the effects in order. Events wait in `pending` until the next
    /// [`Driver::flush`]; any other effect flushes them first, so they are
    /// published before it is carried out, as if unbatched. True when the
    /// step only emitted events.
    async fn apply(&mut self, input: Input) -> bool {
        let mut only_events = true;
        let mut next = Some(input);
        while let Some(input) = next.take() {
            let now = self.shared.now();
            let wall = SystemTime::now();
            let mut effects = std::mem::take(&mut self.effects);
            self.machine.step_into(input, now, &mut effects);
            self.stepped = true;
            for effect in effects.drain(..) {
                // An event only waits in `pending`: no future built for it
                // (most steps of a busy socket are one or two events).
                let effect = match effect {
                    Effect::Emit(kind) => {
                        self.hold(kind, now, wall);
                        continue;
                    }
                    other => other,
                };
                only_events = false;
                self.flush().await;
                if let Some(failed) = self.carry_out(effect, now, wall).await {
                    next = Some(failed);
                }
            }
            self.effects = effects;
        }
        only_events
    }

    /// Carries out one effect of a step at `now`/`wall` (an event waits in
    /// `pending`); a failed write is returned as the input the machine must
    /// hear next.
    async fn carry_out(&mut self, effect: Effect, now: Mono, wall: SystemTime) -> Option<Input> {
        match effect {
            Effect::Connect {
                refresh_token,
                resume_from,
                ..
            } => {
                self.ws = None;
                self.connecting = Some(Box::pin(open(
                    self.cfg.clone(),
                    self.shared.clone(),
                    self.token.clone(),
                    refresh_token,
                    resume_from,
                )));
            }
            Effect::AbortConnect => self.connecting = None,
            Effect::Write(frame) => {
                if let Some(class) = self.write(frame).await {
                    return Some(Input::TransportError(class));
                }
            }
            Effect::DropTransport => self.ws = None,
            Effect::StateSync { .. } => {
                self.syncing = Some(Box::pin(state_sync(
                    self.cfg.clone(),
                    self.shared.clone(),
                    self.token.clone(),
                )));
            }
            Effect::Emit(kind) => self.hold(kind, now, wall),
            Effect::SendResult(result) => {
                if let Some(reply) = self.reply.take() {
                    // The caller may have stopped waiting; the outcome is in the events.
                    let _ = reply.send(result);
                }
            }
        }
        None
    }

    /// An event of the step at `now`/`wall`, held in `pending` until the
    /// next [`Driver::flush`].
    fn hold(&mut self, kind: EventKind, now: Mono, wall: SystemTime) {
        match &kind {
            EventKind::Finding(_) => self.pending_findings += 1,
            EventKind::HeartbeatAnswered { rtt } => self.pending_rtt = Some(*rtt),
            _ => {}
        }
        self.pending.push(Event {
            socket: self.id,
            mono: now,
            wall,
            kind,
        });
    }

    /// The snapshot first, then the pending events: whoever sees one of
    /// them must find the snapshot already past it.
    async fn flush(&mut self) {
        if self.stepped || !self.pending.is_empty() {
            self.stepped = false;
            self.update_snapshot();
        }
        if !self.pending.is_empty() {
            self.shared.bus.publish_all(&mut self.pending).await;
        }
    }

    fn update_snapshot(&mut self) {
        let findings = std::mem::take(&mut self.pending_findings);
        let rtt = self.pending_rtt.take();
        let m = &self.machine;
        self.snapshot.send_modify(|s| {
            s.state = m.state().clone();
            s.attempts = m.attempts();
            s.last_seq = m.last_seq();
            s.outbox = m.outbox_len();
            s.progress = m.progress().cloned();
            s.findings += findings;
            s.sync_pending = m.sync_pending();
            s.sync_gave_up = m.sync_gave_up();
            if rtt.is_some() {
                s.last_rtt = rtt;
            }
        });
    }

    /// Writes one frame; a failure drops the transport and is returned as
    /// the class the machine must hear about.
    async fn write(&mut self, frame: OutFrame) -> Option<ErrorClass> {
        let ws = self.ws.as_mut()?;
        let msg = match frame {
            OutFrame::Text(t) => Message::Text(t.into()),
            OutFrame::Auth(t) => Message::Text(fill_token_slot(&t, self.token.as_ref()).into()),
            OutFrame::Ping(p) => Message::Ping(p.into()),
            OutFrame::Close { code, reason } => Message::Close(Some(CloseFrame {
                code: code.into(),
                reason: reason.into(),
            })),
        };
        let limit = self.cfg.machine.heartbeat.timeout;
        let failed = match tokio::time::timeout(limit, ws.send(msg)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(ws_error_class(&e)),
            Err(_) => Some(ErrorClass::Io("write_timeout".into())),
        };
        if failed.is_some() {
            self.ws = None;
        }
        failed
    }
}

enum Read {
    Input(Input),
    Two(Input, Input),
    Skip,
}

impl Read {
    fn ends_transport(&self) -> bool {
        let last = match self {
            Read::Input(i) | Read::Two(_, i) => i,
            Read::Skip => return false,
        };
        matches!(last, Input::TransportEnded | Input::TransportError(_))
    }
}

fn read_input(msg: Option<Result<Message, tungstenite::Error>>) -> Read {
    use tungstenite::error::{CapacityError, ProtocolError};
    let input = match msg {
        None => Input::TransportEnded,
        Some(Ok(Message::Text(t))) => Input::Frame(InFrame::Text(t.into())),
        Some(Ok(Message::Binary(b))) => Input::Frame(InFrame::Binary(b.len())),
        Some(Ok(Message::Ping(p))) => Input::Frame(InFrame::Ping(p.len())),
        Some(Ok(Message::Pong(p))) => Input::Frame(InFrame::Pong(p.to_vec())),
        Some(Ok(Message::Close(frame))) => Input::PeerClose {
            code: frame.map_or(1005, |f| u16::from(f.code)),
        },
        Some(Ok(Message::Frame(_))) => return Read::Skip,
        Some(Err(tungstenite::Error::Protocol(ProtocolError::ReceivedAfterClosing))) => {
            Input::PeerFrameAfterClose
        }
        Some(Err(tungstenite::Error::Utf8(_))) => Input::Frame(InFrame::InvalidUtf8(0)),
        Some(Err(tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, .. }))) => {
            return Read::Two(
                Input::Frame(InFrame::Oversized(size)),
                Input::TransportError(ErrorClass::Protocol("message_too_long".into())),
            );
        }
        Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
            Input::TransportEnded
        }
        Some(Err(e)) => Input::TransportError(ws_error_class(&e)),
    };
    Read::Input(input)
}

fn ws_error_class(e: &tungstenite::Error) -> ErrorClass {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Http(resp) => ErrorClass::HttpStatus(resp.status().as_u16()),
        tungstenite::Error::Io(io) => ErrorClass::Io(io_kind(io.kind())),
        tungstenite::Error::Tls(t) => ErrorClass::Tls(t.to_string()),
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            ErrorClass::Io("reset".into())
        }
        other => ErrorClass::Protocol(other.to_string()),
    }
}

fn io_kind(kind: std::io::ErrorKind) -> String {
    let text = format!("{kind:?}");
    let mut out = String::with_capacity(text.len() + 4);
    for (i, c) in text.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

async fn current_token(
    cfg: &ValidConfig,
    cached: Option<Token>,
    refresh: bool,
) -> Result<(Option<Token>, bool), ErrorClass> {
    let Some(source) = &cfg.token else {
        return Ok((None, false));
    };
    if let (Some(t), false) = (&cached, refresh) {
        return Ok((Some(t.clone()), false));
    }
    let t = if refresh {
        source.refresh().await
    } else {
        source.token().await
    }
    .map_err(|_| ErrorClass::Token)?;
    // Every token read is scrubbed from whatever text leaves the process.
    crate::secret::remember(t.expose());
    Ok((Some(t), refresh))
}

/// The `Authorization` value for `token`, marked sensitive so that no
/// header dump shows it; `None` when the token cannot be a header value.
fn bearer(token: &Token) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

async fn open(
    cfg: Arc<ValidConfig>,
    shared: Arc<Shared>,
    cached: Option<Token>,
    refresh: bool,
    resume_from: Option<u64>,
) -> Opened {
    let (token, refreshed) = current_token(&cfg, cached, refresh).await?;
    let mut url = cfg.ws_url.clone();
    if let (Some(seq), Some(param)) = (resume_from, &cfg.machine.dialect.resume_query) {
        url.query_pairs_mut().append_pair(param, &seq.to_string());
    }
    if cfg.machine.adapter == AdapterKind::SignalR {
        // Boxed: its future would otherwise widen every socket's connect.
        let id = Box::pin(signalr_negotiate(&cfg, &shared, token.as_ref())).await?;
        url.query_pairs_mut().append_pair("id", &id);
    }
    if let (Some(t), TokenPlacement::Query) = (&token, cfg.token_placement) {
        url.query_pairs_mut()
            .append_pair(&cfg.token_param, t.expose());
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| ErrorClass::Protocol("bad_request".into()))?;
    if let (Some(t), TokenPlacement::Header) = (&token, cfg.token_placement) {
        let value = bearer(t).ok_or(ErrorClass::Token)?;
        request.headers_mut().insert("authorization", value);
    }
    if cfg.machine.adapter == AdapterKind::GraphqlWs {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(crate::dialect::GRAPHQL_WS_PROTOCOL),
        );
    }
    let ws_config = Some(ws_config(cfg.machine.max_message_size));
    let ws = if url.scheme() == "wss" {
        let tls = shared.tls().map_err(|e| ErrorClass::Tls(e.to_string()))?;
        let connector = Some(Connector::Rustls(tls));
        let connect =
            tokio_tungstenite::connect_async_tls_with_config(request, ws_config, true, connector);
        Either::Right(Box::new(
            Box::pin(connect).await.map_err(|e| ws_error_class(&e))?.0,
        ))
    } else {
        let port = url.port_or_known_default().unwrap_or(80);
        let tcp = match url.host() {
            Some(url::Host::Ipv4(ip)) => TcpStream::connect((ip, port)).await,
            Some(url::Host::Ipv6(ip)) => TcpStream::connect((ip, port)).await,
            _ => TcpStream::connect((url.host_str().unwrap_or_default(), port)).await,
        }
        .map_err(|e| ErrorClass::Io(io_kind(e.kind())))?;
        tcp.set_nodelay(true)
            .map_err(|e| ErrorClass::Io(io_kind(e.kind())))?;
        let handshake = tokio_tungstenite::client_async_with_config(request, tcp, ws_config);
        Either::Left(handshake.await.map_err(|e| ws_error_class(&e))?.0)
    };
    Ok((ws, token, refreshed))
}

/// Bytes tungstenite reads from the socket at a time. Its default, 128 KiB,
/// is zero-filled up front, so every idle socket would hold 128 KiB of
/// resident memory; job sockets carry small JSON frames, and a larger frame
/// still grows the buffer as it arrives (docs/benchmarks.md, "Scale").
const READ_BUFFER: usize = 8 * 1024;

/// Frames up to 16× the message limit are read and dropped by the machine
/// (the connection is kept); larger ones fail the connection.
pub(crate) fn ws_config(max_message_size: usize) -> WebSocketConfig {
    let hard_cap = max_message_size.saturating_mul(16);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(hard_cap))
        .max_frame_size(Some(hard_cap))
}

async fn state_sync(
    cfg: Arc<ValidConfig>,
    shared: Arc<Shared>,
    cached: Option<Token>,
) -> Result<JobState, SyncFailure> {
    let Some(url) = cfg.state_url() else {
        return Err(SyncFailure::Io("no_state_url".into()));
    };
    let (token, _) = current_token(&cfg, cached, false)
        .await
        .map_err(|_| SyncFailure::Io("token".into()))?;
    let mut req = shared.http.get(url).timeout(cfg.machine.timeouts.handshake);
    if let Some(t) = token {
        let value = bearer(&t).ok_or_else(|| SyncFailure::Io("token".into()))?;
        req = req.header("authorization", value);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| SyncFailure::Io(if e.is_timeout() { "timeout" } else { "request" }.into()))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(SyncFailure::Status(status));
    }
    let body = crate::body::read_capped(resp, crate::body::MAX_REST_BODY)
        .await
        .map_err(|f| SyncFailure::Io(f.as_str().into()))?;
    serde_json::from_slice::<JobState>(&body).map_err(|_| SyncFailure::Io("bad_body".into()))
}

/// SignalR's negotiate POST (`{hub}/negotiate?negotiateVersion=1`): the
/// connection token the WebSocket URL must carry as `id`. Its body is
/// capped like every REST answer; a refusal is its HTTP status.
async fn signalr_negotiate(
    cfg: &ValidConfig,
    shared: &Shared,
    token: Option<&Token>,
) -> Result<String, ErrorClass> {
    let mut url = cfg.ws_url.clone();
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    url.set_scheme(scheme)
        .map_err(|()| ErrorClass::Protocol("negotiate_url".into()))?;
    let path = format!("{}/negotiate", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut().append_pair("negotiateVersion", "1");
    let mut req = shared
        .http
        .post(url)
        .timeout(cfg.machine.timeouts.handshake);
    if let Some(t) = token {
        req = req.header("authorization", bearer(t).ok_or(ErrorClass::Token)?);
    }
    let resp = req.send().await.map_err(|e| {
        ErrorClass::Io(
            if e.is_timeout() {
                "timeout"
            } else {
                "negotiate"
            }
            .into(),
        )
    })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(ErrorClass::HttpStatus(status));
    }
    let body = crate::body::read_capped(resp, crate::body::MAX_REST_BODY)
        .await
        .map_err(|f| ErrorClass::Protocol(format!("negotiate_{}", f.as_str())))?;
    crate::dialect::signalr_negotiated(&String::from_utf8_lossy(&body))
        .map_err(|_| ErrorClass::Protocol("negotiate".into()))
}

/// The frame with the token where its slot is (`null` without a token).
fn fill_token_slot(text: &str, token: Option<&Token>) -> String {
    let slot = serde_json::Value::from(crate::dialect::TOKEN_SLOT).to_string();
    let value = match token {
        Some(t) => serde_json::Value::from(t.expose()).to_string(),
        None => "null".into(),
    };
    text.replace(&slot, &value)
}

/// A fresh snapshot for a socket not yet started.
pub(crate) fn initial_snapshot() -> Snapshot {
    Snapshot {
        state: State::Idle,
        attempts: 0,
        last_seq: None,
        outbox: 0,
        progress: None::<Progress>,
        findings: 0,
        last_rtt: None,
        sync_pending: false,
        sync_gave_up: None,
    }
}
