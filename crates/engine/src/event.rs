//! What the engine tells its subscribers: transitions, findings, frames,
//! message lifecycles, planned backoffs, state syncs and progress.
//!
//! These are domain types. They carry no secret: no token, and no URL that
//! could hold one (an [`Endpoint`] has no query).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sockscope_protocol::JobStatus;
use tokio_tungstenite::tungstenite::{Bytes, Utf8Bytes};

/// Engine-wide id of a socket. Sockets count from 1.
pub type SocketId = u64;

/// The socket id of engine-wide events, which belong on every lane.
pub const ENGINE_WIDE: SocketId = 0;

/// Per-socket id of an application message.
pub type MsgId = u64;

/// Monotonic time in nanoseconds since the engine started. The machine only
/// ever sees time through this value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mono(pub u64);

impl Mono {
    /// `self + d`, saturating.
    pub fn plus(self, d: Duration) -> Mono {
        Mono(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// `self - earlier`, or zero.
    pub fn since(self, earlier: Mono) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// One thing that happened on one socket, stamped by the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The socket.
    pub socket: SocketId,
    /// Monotonic time (ns since the engine started).
    pub mono: Mono,
    /// Wall-clock time.
    pub wall: SystemTime,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// The socket was created with this configuration (secrets left out).
    /// Shared with its handle and its task: not copied per event.
    SocketAdded(Arc<SocketInfo>),
    /// The state changed.
    Transition {
        /// State before.
        from: StateName,
        /// State after, with its data.
        to: State,
        /// Why.
        cause: Cause,
    },
    /// A race was prevented, or a peer broke the contract.
    Finding(Finding),
    /// A frame went out or came in.
    Frame(FrameRecord),
    /// An application message moved through its lifecycle.
    Message {
        /// The message.
        id: MsgId,
        /// Where it is now.
        stage: MessageStage,
    },
    /// A reconnect delay was planned; the following transition to
    /// Connecting shows the actual one.
    BackoffPlanned {
        /// Which retry this is (1-based).
        attempt: u32,
        /// The delay drawn.
        delay: Duration,
        /// The ceiling the delay was drawn under.
        ceiling: Duration,
    },
    /// A call to the job-state endpoint.
    StateSync(StateSyncRecord),
    /// The job's progress as the socket knows it.
    Progress(Progress),
    /// A WebSocket pong answered our ping.
    HeartbeatAnswered {
        /// Round-trip time.
        rtt: Duration,
    },
    /// The WebSocket upgrade of a connection sockscope observed (the
    /// recording proxy's, an imported capture's): the request's headers,
    /// and the answer's status and headers, as they went by. Unscrubbed:
    /// the recorder redacts them before anything keeps them.
    Handshake(Box<Handshake>),
    /// The machine's environment changed; every socket was told. Carried
    /// with [`ENGINE_WIDE`] as its socket.
    Environment(EnvironmentChange),
    /// The recording stopped for good (disk full, a read-only or corrupt
    /// file): sockets go on, but nothing after this is saved. Carried with
    /// [`ENGINE_WIDE`] as its socket; published by whoever runs the
    /// recorder.
    RecordingFailed {
        /// Why, already scrubbed of secrets.
        reason: String,
    },
}

/// A change around the engine that every socket reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvironmentChange {
    /// An interface address came or went.
    Address {
        /// Came (true) or went.
        added: bool,
        /// The address.
        addr: std::net::IpAddr,
        /// Its prefix length.
        prefix: u8,
    },
    /// The machine woke after being suspended for about this long.
    Wake {
        /// Time spent suspended.
        suspended: Duration,
    },
}

/// A socket's configuration, minus secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// Display name.
    pub name: String,
    /// Where it connects (no query string).
    pub endpoint: Endpoint,
    /// `job` or `raw`.
    pub adapter: AdapterKind,
    /// Job id, for the job adapter.
    pub job_id: Option<String>,
    /// A description of the token source, e.g. `env:JOB_TOKEN`.
    pub token_source: Option<String>,
}

/// A URL without its query: safe to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `ws` or `wss`.
    pub scheme: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path.
    pub path: String,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme, self.host, self.port, self.path
        )
    }
}

/// The protocol a socket speaks (its dialect; see `docs/dialects.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdapterKind {
    /// PROTOCOL.md: Ready on `ready_ack`, seq, resume and state sync.
    Job,
    /// Any WebSocket server: Ready when the handshake is done; a close is
    /// only a close.
    Raw,
    /// Socket.IO v5 over Engine.IO v4: Ready on the namespace CONNECT ack.
    SocketIo,
    /// graphql-transport-ws: Ready on `connection_ack`.
    GraphqlWs,
    /// Phoenix Channels (v2 JSON serializer): Ready on the `phx_reply` ok to
    /// our `phx_join`.
    Phoenix,
    /// ASP.NET Core SignalR, JSON hub protocol: negotiate, then Ready on the
    /// handshake response.
    SignalR,
    /// A bespoke JSON progress socket, described by its options.
    Json,
}

impl AdapterKind {
    /// Every dialect.
    pub const ALL: [AdapterKind; 7] = [
        AdapterKind::Job,
        AdapterKind::Raw,
        AdapterKind::SocketIo,
        AdapterKind::GraphqlWs,
        AdapterKind::Phoenix,
        AdapterKind::SignalR,
        AdapterKind::Json,
    ];

    /// Stable name: `job`, `raw`, `socketio`, `graphql-ws`, `phoenix`,
    /// `signalr`, `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterKind::Job => "job",
            AdapterKind::Raw => "raw",
            AdapterKind::SocketIo => "socketio",
            AdapterKind::GraphqlWs => "graphql-ws",
            AdapterKind::Phoenix => "phoenix",
            AdapterKind::SignalR => "signalr",
            AdapterKind::Json => "json",
        }
    }

    /// The dialect named `name`.
    pub fn parse(name: &str) -> Option<AdapterKind> {
        AdapterKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A socket's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Created, not started.
    Idle,
    /// TCP, TLS and the WebSocket handshake.
    Connecting {
        /// Connection attempt number, counted over the socket's life.
        attempt: u32,
    },
    /// Handshake done; waiting for `ready_ack`.
    AwaitingReady {
        /// Connection attempt number.
        attempt: u32,
    },
    /// Sends go out.
    Ready {
        /// Connection attempt number.
        attempt: u32,
    },
    /// Waiting before the next connection attempt.
    Backoff {
        /// Which retry comes next (1-based; resets at Ready).
        attempt: u32,
        /// When it comes.
        until: Mono,
    },
    /// A close frame went one way; waiting for the transport to end.
    Closing {
        /// Who sent the first close frame.
        initiator: Side,
        /// Its code.
        code: u16,
    },
    /// Terminal: the socket ended as expected.
    Closed {
        /// How.
        reason: ClosedReason,
    },
    /// Terminal: the socket gave up.
    Failed {
        /// Why.
        reason: FailedReason,
    },
    /// Terminal: the user cancelled it.
    Cancelled,
}

impl State {
    /// The state's name without its data.
    pub fn name(&self) -> StateName {
        match self {
            State::Idle => StateName::Idle,
            State::Connecting { .. } => StateName::Connecting,
            State::AwaitingReady { .. } => StateName::AwaitingReady,
            State::Ready { .. } => StateName::Ready,
            State::Backoff { .. } => StateName::Backoff,
            State::Closing { .. } => StateName::Closing,
            State::Closed { .. } => StateName::Closed,
            State::Failed { .. } => StateName::Failed,
            State::Cancelled => StateName::Cancelled,
        }
    }

    /// Closed, Failed or Cancelled.
    pub fn is_terminal(&self) -> bool {
        self.name().is_terminal()
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Connecting { attempt }
            | State::AwaitingReady { attempt }
            | State::Ready { attempt } => write!(f, "{} (attempt {attempt})", self.name().as_str()),
            State::Backoff { attempt, .. } => write!(f, "Backoff (retry {attempt})"),
            State::Closing { initiator, code } => write!(f, "Closing ({code} by {initiator:?})"),
            State::Closed { reason } => write!(f, "Closed ({reason})"),
            State::Failed { reason } => write!(f, "Failed ({reason})"),
            State::Idle | State::Cancelled => f.write_str(self.name().as_str()),
        }
    }
}

/// A state's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StateName {
    /// See [`State::Idle`].
    Idle,
    /// See [`State::Connecting`].
    Connecting,
    /// See [`State::AwaitingReady`].
    AwaitingReady,
    /// See [`State::Ready`].
    Ready,
    /// See [`State::Backoff`].
    Backoff,
    /// See [`State::Closing`].
    Closing,
    /// See [`State::Closed`].
    Closed,
    /// See [`State::Failed`].
    Failed,
    /// See [`State::Cancelled`].
    Cancelled,
}

impl StateName {
    /// Stable name, as stored and drawn.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Idle => "Idle",
            StateName::Connecting => "Connecting",
            StateName::AwaitingReady => "AwaitingReady",
            StateName::Ready => "Ready",
            StateName::Backoff => "Backoff",
            StateName::Closing => "Closing",
            StateName::Closed => "Closed",
            StateName::Failed => "Failed",
            StateName::Cancelled => "Cancelled",
        }
    }

    /// Closed, Failed or Cancelled.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateName::Closed | StateName::Failed | StateName::Cancelled
        )
    }
}

/// Which end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// This engine.
    Us,
    /// The server.
    Peer,
}

/// How a socket closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosedReason {
    /// The job completed (close 1000 after `job_complete`, or a plain 1000).
    JobFinished,
    /// The job failed and the server said so (`job_failed`, then 1011).
    JobFailed {
        /// The failure code.
        code: String,
        /// Whether running it again may help.
        retryable: bool,
    },
    /// The user closed it.
    UserClosed,
    /// The server closed it and said nothing of a job (a raw socket's
    /// close, a Socket.IO server's disconnect): a close is only a close.
    PeerClosed {
        /// The close code (1000 for an in-band disconnect).
        code: u16,
    },
    /// An observed connection's capture ends here; how it closed, or
    /// whether it did, is not in it (HAR keeps no close frames).
    CaptureEnded,
    /// An observed connection's TCP ended with no close frame, first on
    /// this side (`Us` is the observed client).
    ConnectionLost {
        /// Whose end went first.
        by: Side,
    },
}

impl std::fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClosedReason::JobFinished => f.write_str("job finished"),
            ClosedReason::JobFailed { code, retryable } => {
                let again = if *retryable {
                    "retryable"
                } else {
                    "not retryable"
                };
                write!(f, "job failed: {code}, {again}")
            }
            ClosedReason::UserClosed => f.write_str("closed by the user"),
            ClosedReason::PeerClosed { code } => write!(f, "closed by the server ({code})"),
            ClosedReason::CaptureEnded => {
                f.write_str("the capture ends; how it closed is not in it")
            }
            ClosedReason::ConnectionLost { by } => {
                let who = match by {
                    Side::Us => "the client",
                    Side::Peer => "the server",
                };
                write!(f, "connection lost with no close frame, by {who}")
            }
        }
    }
}

/// Why a socket gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedReason {
    /// Every allowed reconnect failed.
    ReconnectExhausted {
        /// Retries made.
        attempts: u32,
    },
    /// 1008, or a 401 that a fresh token did not cure.
    Unauthorized,
    /// 4004, or a 404 at handshake or state sync.
    JobUnknown,
    /// The token source had nothing to give.
    TokenUnavailable,
}

impl std::fmt::Display for FailedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailedReason::ReconnectExhausted { attempts } => {
                write!(f, "gave up after {attempts} retries")
            }
            FailedReason::Unauthorized => f.write_str("unauthorized"),
            FailedReason::JobUnknown => f.write_str("job unknown"),
            FailedReason::TokenUnavailable => f.write_str("no token"),
        }
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The socket was started.
    Start,
    /// The WebSocket handshake completed.
    HandshakeDone,
    /// `ready_ack` arrived.
    ReadyAck {
        /// Events replayed before it.
        replayed: u64,
    },
    /// The handshake failed.
    HandshakeFailed(ErrorClass),
    /// A timer ran out.
    Timeout(TimerKind),
    /// The peer sent a close frame.
    PeerClose {
        /// Its code.
        code: u16,
    },
    /// The transport ended after a close frame, or without one (1006).
    TransportEnded {
        /// The close code that applies (1006 when there was no frame).
        code: u16,
    },
    /// A read or write failed.
    TransportError(ErrorClass),
    /// No pong within the heartbeat timeout.
    HeartbeatLost,
    /// The backoff delay ran out.
    BackoffElapsed,
    /// The OS reported a network change; a backoff was cut short.
    NetworkChanged,
    /// A user action.
    User(UserAction),
    /// A state sync answered 404.
    StateSyncNotFound,
    /// The job ended: a state sync or a dialect's completion or failure
    /// message said so.
    JobEnded,
    /// The token source failed.
    TokenUnavailable,
    /// The reconnect budget is spent.
    RetriesExhausted,
    /// What an observed connection did next, without how: the capture
    /// does not say (an attempt's end in a HAR file).
    NotCaptured,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Start => f.write_str("started"),
            Cause::HandshakeDone => f.write_str("handshake done"),
            Cause::ReadyAck { replayed } => write!(f, "ready_ack, {replayed} replayed"),
            Cause::HandshakeFailed(e) => write!(f, "handshake failed: {e}"),
            Cause::Timeout(t) => write!(f, "{} timeout", t.as_str().replace('_', " ")),
            Cause::PeerClose { code } => write!(f, "server sent close {code}"),
            Cause::TransportEnded { code: 1006 } => f.write_str("connection lost (1006)"),
            Cause::TransportEnded { code } => write!(f, "connection ended ({code})"),
            Cause::TransportError(e) => write!(f, "connection error: {e}"),
            Cause::HeartbeatLost => f.write_str("no pong in time"),
            Cause::BackoffElapsed => f.write_str("backoff over"),
            Cause::NetworkChanged => f.write_str("network changed"),
            Cause::User(a) => write!(f, "user: {}", a.as_str()),
            Cause::StateSyncNotFound => f.write_str("state sync: job not found"),
            Cause::JobEnded => f.write_str("job ended"),
            Cause::TokenUnavailable => f.write_str("token unavailable"),
            Cause::RetriesExhausted => f.write_str("retries exhausted"),
            Cause::NotCaptured => f.write_str("not in the capture"),
        }
    }
}

/// What the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserAction {
    /// Cancel: stop for good.
    Cancel,
    /// Close gracefully.
    Close,
    /// Try again now.
    Retry,
}

impl UserAction {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserAction::Cancel => "cancel",
            UserAction::Close => "close",
            UserAction::Retry => "retry",
        }
    }
}

/// A class of error, without details that could hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// An HTTP status instead of `101`.
    HttpStatus(u16),
    /// An I/O error (refused, reset, unreachable, ...).
    Io(String),
    /// A TLS error.
    Tls(String),
    /// The peer broke the WebSocket protocol.
    Protocol(String),
    /// The token source failed.
    Token,
}

impl ErrorClass {
    /// Value for `error.type`.
    pub fn type_name(&self) -> String {
        match self {
            ErrorClass::HttpStatus(s) => format!("http_{s}"),
            ErrorClass::Io(k) => format!("io_{k}"),
            ErrorClass::Tls(_) => "tls".into(),
            ErrorClass::Protocol(_) => "ws_protocol".into(),
            ErrorClass::Token => "token".into(),
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorClass::HttpStatus(s) => write!(f, "HTTP {s}"),
            ErrorClass::Io(k) => f.write_str(&k.replace('_', " ")),
            ErrorClass::Tls(_) => f.write_str("TLS error"),
            ErrorClass::Protocol(k) => write!(f, "protocol error ({})", k.replace('_', " ")),
            ErrorClass::Token => f.write_str("token source failed"),
        }
    }
}

/// The machine's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Bounds Connecting.
    Handshake,
    /// Bounds the wait for `ready_ack`.
    Ready,
    /// Ends Backoff.
    Backoff,
    /// Next WebSocket ping.
    Ping,
    /// Bounds the wait for the pong.
    Pong,
    /// Bounds Closing.
    Close,
    /// Next state-sync try.
    StateSyncRetry,
    /// Bounds the silence of a server that pings (Socket.IO): its ping
    /// interval plus its ping timeout.
    ServerHeartbeat,
}

impl TimerKind {
    /// All timers, in a fixed order.
    pub const ALL: [TimerKind; 8] = [
        TimerKind::Handshake,
        TimerKind::Ready,
        TimerKind::Backoff,
        TimerKind::Ping,
        TimerKind::Pong,
        TimerKind::Close,
        TimerKind::StateSyncRetry,
        TimerKind::ServerHeartbeat,
    ];

    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Handshake => "handshake",
            TimerKind::Ready => "ready",
            TimerKind::Backoff => "backoff",
            TimerKind::Ping => "ping",
            TimerKind::Pong => "pong",
            TimerKind::Close => "close",
            TimerKind::StateSyncRetry => "state_sync_retry",
            TimerKind::ServerHeartbeat => "server_heartbeat",
        }
    }
}

/// A race prevented, or a contract broken, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which race.
    pub class: FindingClass,
    /// Connection attempt it happened on.
    pub attempt: u32,
    /// Plain-words detail, no secrets.
    pub detail: String,
}

/// Whose side a finding is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingSide {
    /// A race on our side that the engine prevented.
    Prevented,
    /// The peer broke the contract.
    Peer,
    /// The network or the environment failed.
    Network,
    /// An observed client (a capture, a proxied app) broke the contract:
    /// what sockscope prevents on its own sockets, seen happening.
    Client,
}

/// How loud a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Expected and handled.
    Info,
    /// Handled, worth a look.
    Warning,
    /// Something was lost or given up.
    Error,
}

macro_rules! finding_classes {
    ($($variant:ident => $name:literal, $side:ident, $severity:ident, $doc:literal;)*) => {
        /// One class per race.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum FindingClass {
            $(#[doc = $doc] $variant,)*
        }

        impl FindingClass {
            /// Every class.
            pub const ALL: &'static [FindingClass] = &[$(FindingClass::$variant,)*];

            /// Stable snake_case name.
            pub fn as_str(self) -> &'static str {
                match self { $(FindingClass::$variant => $name,)* }
            }

            /// Whose side it is on.
            pub fn side(self) -> FindingSide {
                match self { $(FindingClass::$variant => FindingSide::$side,)* }
            }

            /// How loud it is.
            pub fn severity(self) -> Severity {
                match self { $(FindingClass::$variant => Severity::$severity,)* }
            }
        }
    };
}

finding_classes! {
    SendBeforeReadyQueued => "send_before_ready_queued", Prevented, Info, "A send before Ready waited in the outbox (seed 000).";
    OutboxOverflow => "outbox_overflow", Prevented, Error, "A send before Ready found the outbox full.";
    SendAfterClosePrevented => "send_after_close_prevented", Prevented, Warning, "A send after close was refused; no frame written (seed 003).";
    BroadcastSkippedClosing => "broadcast_skipped_closing", Prevented, Info, "A broadcast skipped a closing socket (seed 003).";
    PeerFrameAfterClose => "peer_frame_after_close", Peer, Warning, "The peer sent frames after its close frame.";
    AbnormalClose => "abnormal_close", Network, Warning, "The transport ended with no close frame (1006).";
    HandshakeTimeout => "handshake_timeout", Network, Warning, "The handshake did not finish in time.";
    ReadyTimeout => "ready_timeout", Peer, Warning, "No ready_ack in time: accepted is not ready (seeds 001, 004).";
    ReadyResent => "ready_resent", Prevented, Info, "`ready` was sent again after a ready timeout.";
    HeartbeatLost => "heartbeat_lost", Network, Warning, "No pong in time: the link is dead or half-open.";
    DuplicateSeq => "duplicate_seq", Peer, Info, "An event at or below the last seen seq was dropped.";
    SeqGap => "seq_gap", Peer, Warning, "Events were missing between two seqs.";
    ResyncRequired => "resync_required", Peer, Info, "The server could not replay; the state is fetched instead (seed 002).";
    StateSyncRetry => "state_sync_retry", Network, Info, "A state-sync call failed and is tried again.";
    StateSyncFailed => "state_sync_failed", Network, Error, "State sync gave up.";
    TokenRefreshed => "token_refreshed", Prevented, Info, "The token expired and a fresh one was fetched.";
    ReconnectExhausted => "reconnect_exhausted", Network, Error, "Every allowed reconnect failed.";
    ClientSendBeforeReady => "client_send_before_ready", Client, Warning, "An observed client sent data before the server's readiness ack (seeds 000, 001).";
    ClientFrameAfterClose => "client_frame_after_close", Client, Warning, "An observed client sent after a close frame (seed 003).";
    HeartbeatSilence => "heartbeat_silence", Peer, Warning, "An observed server was silent longer than its dialect's heartbeat window.";
    ReconnectWithoutJitter => "reconnect_without_jitter", Client, Warning, "An observed client reconnected at fixed delays: a fleet would reconnect in lockstep.";
    TokenInUrl => "token_in_url", Client, Warning, "A token was in the connection's URL, where logs, proxies and captures keep it.";
    ProxyFault => "proxy_fault", Network, Info, "The recording proxy applied a fault it was asked for (drop, delay, duplicate, close, cut, silent) after a matching frame.";
    ProtocolError => "protocol_error", Peer, Warning, "A frame was malformed, oversized or binary: dropped, connection kept. Invalid UTF-8 text fails the connection (RFC 6455, 1007); the resume loses nothing.";
}

/// Direction of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by us.
    Out,
    /// Received.
    In,
}

/// WebSocket opcode of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// Text.
    Text,
    /// Binary.
    Binary,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
    /// Close.
    Close,
}

impl Opcode {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
            Opcode::Close => "close",
        }
    }
}

/// An observed WebSocket upgrade: see [`EventKind::Handshake`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handshake {
    /// The answer's HTTP status: 101, or the refusal's.
    pub status: u16,
    /// The upgrade request's headers, in order, as (name, value).
    pub request: Vec<(String, String)>,
    /// The answer's headers, in order, as (name, value).
    pub response: Vec<(String, String)>,
}

/// A frame, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRecord {
    /// In or out.
    pub direction: Direction,
    /// Opcode.
    pub opcode: Opcode,
    /// Payload size in bytes.
    pub size: usize,
    /// Protocol `type`, for job-adapter text frames that parsed; a type the
    /// protocol knows is borrowed, not allocated per frame.
    pub message_type: Option<Cow<'static, str>>,
    /// Protocol `seq`, where the frame had one.
    pub seq: Option<u64>,
    /// The application message this frame carries, for outbound sends.
    pub msg: Option<MsgId>,
    /// Close code, for close frames.
    pub close_code: Option<u16>,
    /// The payload text, for text frames. The engine never puts a secret in
    /// a frame it writes; what the peer sends is the recorder's to redact.
    pub text: Option<FrameText>,
    /// The payload bytes, for binary frames that were captured (the
    /// recording proxy's and imports'). The recorder redacts them too.
    pub binary: Option<FrameBinary>,
}

/// A binary frame's payload, sharing the WebSocket layer's buffer; boxed,
/// since only captured connections carry one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FrameBinary(Box<Bytes>);

impl std::ops::Deref for FrameBinary {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for FrameBinary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameBinary({} bytes)", self.0.len())
    }
}

impl From<Bytes> for FrameBinary {
    fn from(bytes: Bytes) -> FrameBinary {
        FrameBinary(Box::new(bytes))
    }
}

impl From<Vec<u8>> for FrameBinary {
    fn from(bytes: Vec<u8>) -> FrameBinary {
        FrameBinary(Box::new(bytes.into()))
    }
}

/// A text frame's payload, sharing the WebSocket layer's buffer: the
/// machine reads it and every subscriber gets it without a copy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FrameText(Utf8Bytes);

impl std::ops::Deref for FrameText {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for FrameText {
    fn as_ref(&self) -> &str {
        self
    }
}

impl std::fmt::Debug for FrameText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for FrameText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl From<Utf8Bytes> for FrameText {
    fn from(text: Utf8Bytes) -> FrameText {
        FrameText(text)
    }
}

impl From<String> for FrameText {
    fn from(text: String) -> FrameText {
        FrameText(text.into())
    }
}

impl From<&str> for FrameText {
    fn from(text: &str) -> FrameText {
        FrameText(text.into())
    }
}

impl PartialEq<str> for FrameText {
    fn eq(&self, other: &str) -> bool {
        **self == *other
    }
}

impl FrameRecord {
    /// A frame of `size` bytes with nothing read from it yet.
    pub fn new(direction: Direction, opcode: Opcode, size: usize) -> FrameRecord {
        FrameRecord {
            direction,
            opcode,
            size,
            message_type: None,
            seq: None,
            msg: None,
            close_code: None,
            text: None,
            binary: None,
        }
    }
}

/// Where an application message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageStage {
    /// Waiting in the outbox for Ready.
    Queued {
        /// Messages in the outbox, this one included.
        depth: usize,
    },
    /// Handed to the socket.
    Written,
    /// Never sent.
    Dropped {
        /// Why.
        reason: DropReason,
    },
}

/// Why a message was never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The outbox was full.
    OutboxFull,
    /// The socket was closing or closed.
    Closed,
    /// The socket was cancelled while the message waited.
    Cancelled,
    /// The socket failed while the message waited.
    Failed,
    /// Larger than the maximum message size.
    TooLarge,
}

/// One state-sync call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSyncRecord {
    /// Try number (1-based).
    pub try_no: u32,
    /// What happened.
    pub outcome: StateSyncOutcome,
}

/// Outcome of a state-sync call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateSyncOutcome {
    /// The request went out.
    Requested,
    /// 200.
    Synced {
        /// Job status.
        status: JobStatus,
        /// Items processed.
        processed: u64,
        /// Items in all.
        total: u64,
        /// Server's last seq.
        last_seq: u64,
    },
    /// It failed.
    Failed {
        /// The HTTP status, if one came back.
        status: Option<u16>,
        /// Error class.
        error: String,
        /// Whether another try follows.
        will_retry: bool,
    },
}

/// A job's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Items processed.
    pub processed: u64,
    /// Items in all.
    pub total: u64,
    /// Status, where known.
    pub status: Option<JobStatus>,
    /// Where it came from.
    pub source: ProgressSource,
}

/// Where a progress figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressSource {
    /// A job event on the socket.
    Event,
    /// A state sync.
    StateSync,
}
