//! The per-socket state machine, sans IO: `step(input, now) -> effects`.
//!
//! It owns every decision of PROTOCOL.md's client rules: when a socket is
//! Ready, what waits in the outbox, what may be written, when to reconnect and
//! how long to wait, what a seq means. It never reads a clock, never touches a
//! socket and never spawns: the driver feeds it inputs with the time and carries
//! out the effects. Timers are deadlines it keeps; the driver asks
//! [`Machine::next_timer`] and feeds [`Input::Timer`] when one is due.
//!
//! `Machine` holds what lasts the socket's life; one connection's state is a
//! `Connection` (`connection.rs`), which each connect replaces whole. The
//! handlers live beside this file by concern: `connect`, `inbound` (frames
//! and the job protocol), `readings` (dialects), `outbound`, `close`, `sync`,
//! `timers` and `user`.

mod close;
mod connect;
mod connection;
mod inbound;
mod outbound;
mod readings;
mod sync;
mod timers;
mod user;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sockscope_protocol::JobState;

use crate::config::MachineConfig;
use crate::event::{
    Cause, ClosedReason, Direction, ErrorClass, EventKind, Finding, FindingClass, FrameRecord,
    FrameText, Mono, MsgId, Opcode, Progress, State, TimerKind, UserAction,
};
use crate::{Error, FinalCount};
use connection::Connection;

/// State-sync tries per sync (PROTOCOL.md rule 5).
pub const STATE_SYNC_TRIES: u32 = 3;

/// Close code we send when we give up on a connection that is still up.
const GOING_AWAY: u16 = 1001;

/// Everything the machine reacts to. A closed set: the driver's `select!`
/// loop turns each of its wake-ups into exactly one of these.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Begin connecting.
    Start,
    /// The WebSocket handshake completed.
    HandshakeDone {
        /// The driver fetched a fresh token for this attempt.
        token_refreshed: bool,
    },
    /// The handshake failed.
    HandshakeFailed(ErrorClass),
    /// A data, ping or pong frame arrived.
    Frame(InFrame),
    /// The peer's close frame arrived.
    PeerClose {
        /// Its code (1005 when it had none).
        code: u16,
    },
    /// The peer sent a frame after its close frame (seen by the WebSocket layer).
    PeerFrameAfterClose,
    /// The transport ended cleanly (EOF after or without a close frame).
    TransportEnded,
    /// A read or write failed; the transport is gone.
    TransportError(ErrorClass),
    /// A timer is due.
    Timer(TimerKind),
    /// The application sends a message.
    Send {
        /// The message text.
        text: String,
        /// Part of a broadcast to many sockets.
        broadcast: bool,
    },
    /// The user acts.
    User(UserAction),
    /// A state-sync call finished.
    StateSyncDone(Result<JobState, SyncFailure>),
    /// The network changed under us: retry a backoff now, probe a live link.
    NetworkChanged,
}

/// A frame that came in, before the machine reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InFrame {
    /// A text frame.
    Text(FrameText),
    /// A binary frame of this size.
    Binary(usize),
    /// A text frame whose payload was not UTF-8, of this size.
    InvalidUtf8(usize),
    /// A frame larger than the hard cap of the WebSocket layer.
    Oversized(usize),
    /// A WebSocket ping (answered by the WebSocket layer).
    Ping(usize),
    /// A WebSocket pong with its payload.
    Pong(Vec<u8>),
}

/// Why a state-sync call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncFailure {
    /// The server answered with this status.
    Status(u16),
    /// No answer: I/O, timeout, or a body that did not parse.
    Io(String),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Open a connection (fetching a fresh token first if asked).
    Connect {
        /// Attempt number.
        attempt: u32,
        /// Ask the token source for a fresh token first.
        refresh_token: bool,
        /// The last seq, for a dialect that resumes in the URL's query.
        resume_from: Option<u64>,
    },
    /// Abandon the handshake in flight.
    AbortConnect,
    /// Write a frame.
    Write(OutFrame),
    /// Drop the transport now, without waiting for anything.
    DropTransport,
    /// Call the job-state endpoint.
    StateSync {
        /// Try number.
        try_no: u32,
    },
    /// Publish an event.
    Emit(EventKind),
    /// Answer the pending [`Input::Send`].
    SendResult(Result<MsgId, Error>),
}

/// A frame to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutFrame {
    /// A text frame.
    Text(String),
    /// A text frame holding the token slot ([`crate::dialect::TOKEN_SLOT`]
    /// as a JSON string): the driver puts the token there as it writes, so
    /// the recorded frame never holds it.
    Auth(String),
    /// A WebSocket ping with this payload.
    Ping(Vec<u8>),
    /// A close frame.
    Close {
        /// Code.
        code: u16,
        /// Reason text.
        reason: String,
    },
}

/// One socket's protocol state. What lasts the socket's life is kept here;
/// what belongs to one connection is in a `Connection`, which each connect
/// replaces whole.
#[derive(Debug)]
pub struct Machine {
    /// Shared with the socket's checked config: not copied per socket task.
    cfg: Arc<MachineConfig>,
    state: State,
    /// Connection attempts over the socket's life.
    attempts: u32,
    /// Failed attempts since the link last proved healthy: the backoff
    /// counter, carried across connections until one proves healthy.
    failures: u32,
    /// A fresh token was already tried since the link last proved healthy
    /// (carried across connections, like `failures`).
    refreshed_since_ready: bool,
    /// When a network change last brought an attempt forward, to space them.
    last_network_attempt_at: Option<Mono>,
    /// The next attempt fetches a fresh token: set as one connection ends,
    /// taken by the next connect.
    refresh_next: bool,
    /// How the job ended, once a job event or a state sync said so: the
    /// reason the socket closes with.
    job_outcome: Option<ClosedReason>,
    /// Carried across connections: the resume point of the next `ready`.
    last_seq: Option<u64>,
    outbox: VecDeque<(MsgId, String)>,
    next_msg: MsgId,
    /// Heartbeats over the socket's life, so each one's payload is new.
    ping_no: u64,
    /// The current sync's try, while it is in flight or its retry is due:
    /// a sync outlives the connection that asked for it.
    sync_try: Option<u32>,
    /// Tries of the last state sync that gave up, until a later sync or a
    /// terminal job event says how far the job got.
    sync_gave_up: Option<u32>,
    /// Socket.IO: the session (`sid`, recovery `pid`) and the last offset,
    /// carried across connections for connection state recovery.
    sio_session: Option<(String, Option<String>)>,
    sio_offset: Option<String>,
    /// Socket.IO: the server's ping interval plus its ping timeout, from the
    /// open packet (SignalR: ours, from the handshake response): the longest
    /// silence a live server allows. Kept across connections: a server
    /// message before a new connection's open packet (or handshake response)
    /// re-arms the watch with the last figure.
    server_silence: Option<Duration>,
    /// Socket.IO: the sid a resume asked for, until the server's answer.
    /// Kept across connections: one that ends before the answer leaves it
    /// for the next connection's answer, unless that one's open packet asks
    /// again.
    sio_resuming: Option<String>,
    /// The socket's timers (backoff, state-sync retry); a connection's own
    /// are in `Connection::timers`. Indexed by `TimerKind`.
    timers: [Option<Mono>; TimerKind::ALL.len()],
    rng: fastrand::Rng,
    progress: Option<Progress>,
    /// The current (or last) connection.
    conn: Connection,
}

impl Machine {
    /// A machine in `Idle`.
    pub fn new(cfg: impl Into<Arc<MachineConfig>>) -> Machine {
        let cfg = cfg.into();
        let rng = fastrand::Rng::with_seed(cfg.jitter_seed);
        Machine {
            cfg,
            state: State::Idle,
            attempts: 0,
            failures: 0,
            refreshed_since_ready: false,
            last_network_attempt_at: None,
            refresh_next: false,
            job_outcome: None,
            last_seq: None,
            outbox: VecDeque::new(),
            next_msg: 1,
            ping_no: 0,
            sync_try: None,
            sync_gave_up: None,
            sio_session: None,
            sio_offset: None,
            server_silence: None,
            sio_resuming: None,
            timers: [None; TimerKind::ALL.len()],
            rng,
            progress: None,
            conn: Connection::default(),
        }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Connection attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Last seq seen, for the job adapter.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Messages waiting for Ready.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// The job's progress, as far as the socket knows.
    pub fn progress(&self) -> Option<&Progress> {
        self.progress.as_ref()
    }

    /// A state sync is in flight or due: the job's count may still change,
    /// even after a terminal state.
    pub fn sync_pending(&self) -> bool {
        self.sync_try.is_some()
    }

    /// Tries of the last state sync, when it gave up and nothing since has
    /// said how far the job got: the count in [`Machine::progress`] is stale.
    pub fn sync_gave_up(&self) -> Option<u32> {
        self.sync_gave_up
    }

    /// What the machine knows of its job's count (see [`FinalCount::of`]).
    pub fn final_count(&self) -> FinalCount {
        FinalCount::of(
            &self.state,
            self.sync_pending(),
            self.sync_gave_up,
            self.progress.as_ref(),
        )
    }

    /// The earliest armed timer.
    pub fn next_timer(&self) -> Option<(Mono, TimerKind)> {
        TimerKind::ALL
            .iter()
            .filter_map(|k| self.timer(*k).map(|at| (at, *k)))
            .min()
    }

    /// Feeds one input at time `now`; returns what the driver must do, in order.
    pub fn step(&mut self, input: Input, now: Mono) -> Vec<Effect> {
        let mut fx = Vec::new();
        self.step_into(input, now, &mut fx);
        fx
    }

    /// [`Machine::step`], appending the effects to `fx`: a driver that
    /// steps once per frame reuses one vector instead of allocating one.
    pub fn step_into(&mut self, input: Input, now: Mono, fx: &mut Vec<Effect>) {
        match input {
            Input::Start => self.on_start(now, fx),
            Input::HandshakeDone { token_refreshed } => {
                self.on_handshake_done(token_refreshed, now, fx)
            }
            Input::HandshakeFailed(class) => self.on_handshake_failed(class, now, fx),
            Input::Frame(frame) => self.on_frame(frame, now, fx),
            Input::PeerClose { code } => self.on_peer_close(code, now, fx),
            Input::PeerFrameAfterClose => {
                if self.conn.connected {
                    self.find(
                        fx,
                        FindingClass::PeerFrameAfterClose,
                        "the peer sent a frame after its close frame".into(),
                    );
                }
            }
            Input::TransportEnded => self.on_transport_end(None, now, fx),
            Input::TransportError(class) => self.on_transport_end(Some(class), now, fx),
            Input::Timer(kind) => self.on_timer(kind, now, fx),
            Input::Send { text, broadcast } => self.on_send(text, broadcast, fx),
            Input::User(action) => self.on_user(action, now, fx),
            Input::StateSyncDone(result) => self.on_sync_done(result, now, fx),
            Input::NetworkChanged => self.on_network_changed(now, fx),
        }
    }

    fn go(&mut self, to: State, cause: Cause, fx: &mut Vec<Effect>) {
        let from = self.state.name();
        self.state = to.clone();
        fx.push(Effect::Emit(EventKind::Transition { from, to, cause }));
    }

    fn find(&self, fx: &mut Vec<Effect>, class: FindingClass, detail: String) {
        fx.push(Effect::Emit(EventKind::Finding(Finding {
            class,
            attempt: self.attempts,
            detail,
        })));
    }
}

fn frame_record(direction: Direction, opcode: Opcode, size: usize) -> FrameRecord {
    FrameRecord::new(direction, opcode, size)
}
