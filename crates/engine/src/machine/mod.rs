//! The per-socket state machine, sans IO: `step(input, now) -> effects`.
//!
//! It owns every decision of PROTOCOL.md's client rules: when a socket is
//! Ready, what waits in the outbox, what may be written, when to reconnect and
//! how long to wait, what a seq means. It never reads a clock, never touches a
//! socket and never spawns: the driver feeds it inputs with the time and carries
//! out the effects. Timers are deadlines it keeps; the driver asks
//! [`Machine::next_timer`] and feeds [`Input::Timer`] when one is due.

use std::collections::VecDeque;
use std::time::Duration;

use sockscope_protocol::{
    ClientMessage, CloseAction, CloseCode, JobState, JobStatus, ProtocolError, ServerMessage,
    encode_client, parse_server,
};

use crate::config::MachineConfig;
use crate::dialect::{self, CloseRule, Heard};
use crate::event::{
    AdapterKind, Cause, ClosedReason, Direction, DropReason, ErrorClass, EventKind, FailedReason,
    Finding, FindingClass, FrameRecord, MessageStage, Mono, MsgId, Opcode, Progress,
    ProgressSource, Side, State, StateName, StateSyncOutcome, StateSyncRecord, TimerKind,
    UserAction,
};
use crate::{Error, FinalCount};

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
    Text(String),
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
/// what belongs to one connection is in [`Connection`], which each connect
/// replaces whole.
#[derive(Debug)]
pub struct Machine {
    cfg: MachineConfig,
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
    /// are in [`Connection::timers`]. Indexed by `TimerKind`.
    timers: [Option<Mono>; TimerKind::ALL.len()],
    rng: fastrand::Rng,
    progress: Option<Progress>,
    /// The current (or last) connection.
    conn: Connection,
}

/// One connection's state, from the attempt that opens it until the next
/// attempt: [`Machine::connect`] replaces it whole, so nothing of an old
/// connection survives into a new one.
#[derive(Debug, Default)]
struct Connection {
    /// This attempt was started by a network change: if it fails, it does
    /// not use up a retry.
    network_attempt: bool,
    /// The handshake is done and the transport not yet gone.
    connected: bool,
    /// Close frames on this connection.
    peer_close: Option<u16>,
    we_closed: bool,
    /// This link is Ready but has not yet proved healthy (a frame after
    /// `ready_ack`, or a pong): until it does, the socket's retry budget and
    /// token refresh are not given back, so a server that acks and then
    /// closes at once cannot set off a tight loop.
    unproven: bool,
    ready_sends: u32,
    /// When this connection's first `ready` went out, and the wait after
    /// the latest one (it doubles up to the ready timeout).
    ready_first_at: Mono,
    ready_wait: Duration,
    ping_sent: Option<(Mono, Vec<u8>)>,
    /// This connection's timers (see [`lasts_one_connection`]). Indexed by
    /// `TimerKind`.
    timers: [Option<Mono>; TimerKind::ALL.len()],
}

/// Whether a timer belongs to one connection or to the socket: a backoff runs
/// between connections, and a state-sync retry outlives the connection that
/// asked for it.
fn lasts_one_connection(kind: TimerKind) -> bool {
    match kind {
        TimerKind::Handshake
        | TimerKind::Ready
        | TimerKind::Ping
        | TimerKind::Pong
        | TimerKind::Close
        | TimerKind::ServerHeartbeat => true,
        TimerKind::Backoff | TimerKind::StateSyncRetry => false,
    }
}

impl Machine {
    /// A machine in `Idle`.
    pub fn new(cfg: MachineConfig) -> Machine {
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
        match input {
            Input::Start => self.on_start(now, &mut fx),
            Input::HandshakeDone { token_refreshed } => {
                self.on_handshake_done(token_refreshed, now, &mut fx)
            }
            Input::HandshakeFailed(class) => self.on_handshake_failed(class, now, &mut fx),
            Input::Frame(frame) => self.on_frame(frame, now, &mut fx),
            Input::PeerClose { code } => self.on_peer_close(code, now, &mut fx),
            Input::PeerFrameAfterClose => {
                if self.conn.connected {
                    self.find(
                        &mut fx,
                        FindingClass::PeerFrameAfterClose,
                        "the peer sent a frame after its close frame".into(),
                    );
                }
            }
            Input::TransportEnded => self.on_transport_end(None, now, &mut fx),
            Input::TransportError(class) => self.on_transport_end(Some(class), now, &mut fx),
            Input::Timer(kind) => self.on_timer(kind, now, &mut fx),
            Input::Send { text, broadcast } => self.on_send(text, broadcast, &mut fx),
            Input::User(action) => self.on_user(action, now, &mut fx),
            Input::StateSyncDone(result) => self.on_sync_done(result, now, &mut fx),
            Input::NetworkChanged => self.on_network_changed(now, &mut fx),
        }
        fx
    }

    // ---- helpers -------------------------------------------------------

    fn timer(&self, kind: TimerKind) -> Option<Mono> {
        if lasts_one_connection(kind) {
            self.conn.timers[kind as usize]
        } else {
            self.timers[kind as usize]
        }
    }

    fn timer_slot(&mut self, kind: TimerKind) -> &mut Option<Mono> {
        if lasts_one_connection(kind) {
            &mut self.conn.timers[kind as usize]
        } else {
            &mut self.timers[kind as usize]
        }
    }

    fn arm(&mut self, kind: TimerKind, at: Mono) {
        *self.timer_slot(kind) = Some(at);
    }

    fn disarm(&mut self, kind: TimerKind) {
        *self.timer_slot(kind) = None;
    }

    fn armed(&self, kind: TimerKind) -> bool {
        self.timer(kind).is_some()
    }

    /// The connection is over: none of its timers may fire.
    fn disarm_connection_timers(&mut self) {
        self.conn.timers = [None; TimerKind::ALL.len()];
        self.conn.ping_sent = None;
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

    fn write(&mut self, frame: OutFrame, msg: Option<MsgId>, fx: &mut Vec<Effect>) {
        self.write_typed(frame, msg, None, fx);
    }

    /// `known_type` spares parsing a frame the adapter wrote itself.
    fn write_typed(
        &mut self,
        frame: OutFrame,
        msg: Option<MsgId>,
        known_type: Option<&str>,
        fx: &mut Vec<Effect>,
    ) {
        debug_assert!(
            self.conn.connected && !self.conn.we_closed && self.conn.peer_close.is_none()
        );
        let record = match &frame {
            OutFrame::Text(text) | OutFrame::Auth(text) => FrameRecord {
                direction: Direction::Out,
                opcode: Opcode::Text,
                size: text.len(),
                message_type: match known_type {
                    Some(t) => Some(t.to_owned()),
                    None => self.out_type(text),
                },
                seq: None,
                msg,
                close_code: None,
                text: Some(text.clone()),
            },
            OutFrame::Ping(p) => frame_record(Direction::Out, Opcode::Ping, p.len()),
            OutFrame::Close { code, reason } => {
                self.conn.we_closed = true;
                FrameRecord {
                    close_code: Some(*code),
                    ..frame_record(Direction::Out, Opcode::Close, reason.len() + 2)
                }
            }
        };
        fx.push(Effect::Write(frame));
        fx.push(Effect::Emit(EventKind::Frame(record)));
    }

    fn out_type(&self, text: &str) -> Option<String> {
        if self.cfg.adapter != AdapterKind::Job {
            return None;
        }
        sockscope_protocol::parse_client(text, self.cfg.max_message_size)
            .ok()
            .map(|m| m.kind().to_owned())
    }

    fn connect(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        self.attempts += 1;
        self.conn = Connection {
            network_attempt: cause == Cause::NetworkChanged,
            ..Connection::default()
        };
        if self.conn.network_attempt {
            self.last_network_attempt_at = Some(now);
        }
        let refresh_token = std::mem::take(&mut self.refresh_next);
        if refresh_token {
            self.refreshed_since_ready = true;
        }
        self.go(
            State::Connecting {
                attempt: self.attempts,
            },
            cause,
            fx,
        );
        self.arm(TimerKind::Handshake, now.plus(self.cfg.timeouts.handshake));
        let resume_from = self
            .cfg
            .dialect
            .resume_query
            .as_ref()
            .filter(|_| self.cfg.adapter == AdapterKind::Json)
            .and(self.last_seq);
        fx.push(Effect::Connect {
            attempt: self.attempts,
            refresh_token,
            resume_from,
        });
    }

    /// The attempt failed: back off, or give up when the budget is spent.
    fn attempt_failed(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        self.conn.connected = false;
        self.disarm_connection_timers();
        // An attempt a network change brought forward does not use up a
        // retry: the backoff it cut short is planned again at the same step.
        if !std::mem::take(&mut self.conn.network_attempt) || self.failures == 0 {
            self.failures += 1;
        }
        let policy = &self.cfg.reconnect;
        if self.failures > policy.max_attempts {
            self.find(
                fx,
                FindingClass::ReconnectExhausted,
                format!("{} retries failed; giving up", policy.max_attempts),
            );
            let attempts = policy.max_attempts;
            self.fail(FailedReason::ReconnectExhausted { attempts }, cause, fx);
            return;
        }
        let ceiling = policy.ceiling(self.failures);
        let delay = if policy.jitter {
            let max = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(self.rng.u64(0..=max))
        } else {
            ceiling
        };
        fx.push(Effect::Emit(EventKind::BackoffPlanned {
            attempt: self.failures,
            delay,
            ceiling,
        }));
        let until = now.plus(delay);
        self.arm(TimerKind::Backoff, until);
        self.go(
            State::Backoff {
                attempt: self.failures,
                until,
            },
            cause,
            fx,
        );
    }

    fn drain_outbox(&mut self, reason: DropReason, fx: &mut Vec<Effect>) {
        for (id, _) in self.outbox.drain(..) {
            fx.push(Effect::Emit(EventKind::Message {
                id,
                stage: MessageStage::Dropped { reason },
            }));
        }
    }

    /// Every timer but a state-sync retry: a sync in flight or due is let
    /// finish, since after a terminal state its answer is the only word on
    /// how far the job got (a cancel drops it, see [`Machine::drop_sync`]).
    fn end_all_timers(&mut self) {
        self.disarm_connection_timers();
        self.disarm(TimerKind::Backoff);
    }

    /// A cancelled socket wants nothing more: a retry due is dropped; one in
    /// flight is let answer and is not tried again.
    fn drop_sync(&mut self) {
        if self.armed(TimerKind::StateSyncRetry) {
            self.disarm(TimerKind::StateSyncRetry);
            self.sync_try = None;
        }
    }

    fn fail(&mut self, reason: FailedReason, cause: Cause, fx: &mut Vec<Effect>) {
        self.end_all_timers();
        self.drain_outbox(DropReason::Failed, fx);
        self.go(State::Failed { reason }, cause, fx);
    }

    fn close_terminal(&mut self, reason: ClosedReason, cause: Cause, fx: &mut Vec<Effect>) {
        self.end_all_timers();
        self.drain_outbox(DropReason::Closed, fx);
        self.go(State::Closed { reason }, cause, fx);
    }

    /// Ends a live connection from our side without a close handshake.
    fn abandon_connection(&mut self, code: u16, reason: &str, fx: &mut Vec<Effect>) {
        if self.conn.connected && !self.conn.we_closed && self.conn.peer_close.is_none() {
            self.write(
                OutFrame::Close {
                    code,
                    reason: reason.into(),
                },
                None,
                fx,
            );
        }
        if self.conn.connected {
            fx.push(Effect::DropTransport);
        }
        self.conn.connected = false;
    }

    fn become_ready(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        // The budget comes back only once the link proves healthy (see
        // `unproven`), not at the ack itself.
        self.conn.unproven = true;
        self.conn.network_attempt = false;
        self.disarm(TimerKind::Ready);
        self.go(
            State::Ready {
                attempt: self.attempts,
            },
            cause,
            fx,
        );
        if self.cfg.adapter == AdapterKind::GraphqlWs {
            // The subscription goes out only now: before the ack it is the
            // seed-000 race, and the server answers it with 4401.
            let sub = dialect::graphql_subscribe(&self.cfg.dialect, self.cfg.job_id.as_deref());
            self.write_typed(OutFrame::Text(sub), None, Some("subscribe"), fx);
        }
        // The adapter's own `ready` went out at the handshake; queued
        // application messages follow it, in order (socket.io issue 305).
        while let Some((id, text)) = self.outbox.pop_front() {
            self.write(OutFrame::Text(text), Some(id), fx);
            fx.push(Effect::Emit(EventKind::Message {
                id,
                stage: MessageStage::Written,
            }));
        }
        if !self.armed(TimerKind::Ping) {
            self.arm(TimerKind::Ping, now.plus(self.cfg.heartbeat.interval));
        }
    }

    fn send_ready(&mut self, fx: &mut Vec<Effect>) {
        self.conn.ready_sends += 1;
        let ready = ClientMessage::Ready {
            resume_from: self.last_seq,
        };
        let text = encode_client(&ready);
        self.write_typed(OutFrame::Text(text), None, Some(ready.kind()), fx);
    }

    fn start_sync(&mut self, fx: &mut Vec<Effect>) {
        if self.cfg.adapter != AdapterKind::Job || self.sync_try.is_some() {
            return;
        }
        self.request_sync(1, fx);
    }

    fn request_sync(&mut self, try_no: u32, fx: &mut Vec<Effect>) {
        self.sync_try = Some(try_no);
        fx.push(Effect::StateSync { try_no });
        fx.push(Effect::Emit(EventKind::StateSync(StateSyncRecord {
            try_no,
            outcome: StateSyncOutcome::Requested,
        })));
    }

    fn set_progress(
        &mut self,
        processed: u64,
        total: u64,
        status: Option<JobStatus>,
        source: ProgressSource,
        fx: &mut Vec<Effect>,
    ) {
        let p = Progress {
            processed,
            total,
            status,
            source,
        };
        fx.push(Effect::Emit(EventKind::Progress(p.clone())));
        self.progress = Some(p);
    }

    /// The answer to our heartbeat (a pong, or Phoenix's reply) with this
    /// payload: the link is alive.
    fn heartbeat_answered(&mut self, payload: &[u8], now: Mono, fx: &mut Vec<Effect>) {
        if let Some((sent, expected)) = &self.conn.ping_sent
            && expected.as_slice() == payload
        {
            let rtt = now.since(*sent);
            self.conn.ping_sent = None;
            self.disarm(TimerKind::Pong);
            fx.push(Effect::Emit(EventKind::HeartbeatAnswered { rtt }));
        }
    }

    /// A message's seq: false for a duplicate, to be dropped. A gap is a
    /// finding, and with the job adapter a state sync covers it.
    fn take_seq(&mut self, seq: u64, fx: &mut Vec<Effect>) -> bool {
        let last = self.last_seq.unwrap_or(0);
        if self.last_seq.is_some() && seq <= last {
            self.find(
                fx,
                FindingClass::DuplicateSeq,
                format!("seq {seq} at or below last seen {last}; dropped"),
            );
            return false;
        }
        if seq > last + 1 {
            let then = if self.cfg.adapter == AdapterKind::Job {
                "syncing state"
            } else {
                "events were missing"
            };
            self.find(
                fx,
                FindingClass::SeqGap,
                format!("expected seq {}, got {seq}; {then}", last + 1),
            );
            self.start_sync(fx);
        }
        self.last_seq = Some(seq);
        true
    }

    /// A job event said the job failed: that is the outcome, and the count
    /// it stopped at is final.
    fn job_failed(&mut self, code: String, retryable: bool, fx: &mut Vec<Effect>) {
        self.job_outcome = Some(ClosedReason::JobFailed { code, retryable });
        self.sync_gave_up = None;
        if let Some(p) = self.progress.clone() {
            self.set_progress(
                p.processed,
                p.total,
                Some(JobStatus::Failed),
                ProgressSource::Event,
                fx,
            );
        }
    }

    fn send_ping(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        self.ping_no += 1;
        if self.cfg.adapter == AdapterKind::SignalR {
            // One-way: it keeps the server from timing us out; the server's
            // own messages prove it alive (`ServerHeartbeat`). Nothing but
            // the handshake may precede the handshake response.
            if matches!(self.state, State::Ready { .. }) {
                let ping = dialect::signalr_ping();
                self.write_typed(OutFrame::Text(ping), None, Some("ping"), fx);
            }
            return;
        }
        if self.cfg.adapter == AdapterKind::Json
            && let Some(ping) = &self.cfg.dialect.ping
        {
            let ping = ping.replace("{job_id}", self.cfg.job_id.as_deref().unwrap_or_default());
            self.conn.ping_sent = Some((now, dialect::JSON_PING_REF.as_bytes().to_vec()));
            self.write_typed(OutFrame::Text(ping), None, Some("ping"), fx);
            self.arm(TimerKind::Pong, now.plus(self.cfg.heartbeat.timeout));
            return;
        }
        if self.cfg.adapter == AdapterKind::Phoenix {
            // Phoenix times out a client that sends no heartbeat of its own.
            let reference = format!("hb{}", self.ping_no);
            self.conn.ping_sent = Some((now, reference.clone().into_bytes()));
            let beat = dialect::phoenix_heartbeat(&reference);
            self.write_typed(OutFrame::Text(beat), None, Some("heartbeat"), fx);
            self.arm(TimerKind::Pong, now.plus(self.cfg.heartbeat.timeout));
            return;
        }
        let payload = self.ping_no.to_be_bytes().to_vec();
        self.conn.ping_sent = Some((now, payload.clone()));
        self.write(OutFrame::Ping(payload), None, fx);
        self.arm(TimerKind::Pong, now.plus(self.cfg.heartbeat.timeout));
    }

    // ---- inputs ----------------------------------------------------------

    fn on_start(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        if self.state == State::Idle {
            self.connect(Cause::Start, now, fx);
        }
    }

    fn on_handshake_done(&mut self, token_refreshed: bool, now: Mono, fx: &mut Vec<Effect>) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        self.disarm(TimerKind::Handshake);
        self.conn.connected = true;
        if token_refreshed {
            self.find(
                fx,
                FindingClass::TokenRefreshed,
                "a fresh token was fetched for this attempt".into(),
            );
        }
        self.arm(TimerKind::Ping, now.plus(self.cfg.heartbeat.interval));
        let json_ready = (self.cfg.adapter == AdapterKind::Json)
            .then(|| {
                dialect::json_ready(&self.cfg.dialect, self.cfg.job_id.as_deref(), self.last_seq)
            })
            .flatten();
        match self.cfg.adapter {
            AdapterKind::Raw => self.become_ready(Cause::HandshakeDone, now, fx),
            AdapterKind::Json if json_ready.is_none() => {
                self.become_ready(Cause::HandshakeDone, now, fx);
            }
            AdapterKind::SocketIo
            | AdapterKind::GraphqlWs
            | AdapterKind::Phoenix
            | AdapterKind::SignalR
            | AdapterKind::Json => {
                self.go(
                    State::AwaitingReady {
                        attempt: self.attempts,
                    },
                    Cause::HandshakeDone,
                    fx,
                );
                // Socket.IO waits for the Engine.IO open packet first. Neither
                // protocol allows its readiness request twice (graphql-ws
                // closes with 4429), so the whole wait is one timer.
                if self.cfg.adapter == AdapterKind::GraphqlWs {
                    let init = dialect::graphql_init(self.cfg.has_token);
                    let frame = self.auth_frame(init);
                    self.write_typed(frame, None, Some("connection_init"), fx);
                }
                if let Some(ready) = json_ready {
                    self.write_typed(OutFrame::Text(ready), None, Some("ready"), fx);
                }
                if self.cfg.adapter == AdapterKind::SignalR {
                    let hello = dialect::signalr_handshake();
                    self.write_typed(OutFrame::Text(hello), None, Some("handshake"), fx);
                }
                if self.cfg.adapter == AdapterKind::Phoenix {
                    let join = dialect::phoenix_join(
                        &self.cfg.dialect,
                        self.cfg.job_id.as_deref(),
                        self.cfg.has_token,
                    );
                    let frame = self.auth_frame(join);
                    self.write_typed(frame, None, Some("phx_join"), fx);
                }
                let budget = self.cfg.timeouts.ready * (self.cfg.ready_resends + 1);
                self.conn.ready_wait = budget;
                self.arm(TimerKind::Ready, now.plus(budget));
            }
            AdapterKind::Job => {
                self.go(
                    State::AwaitingReady {
                        attempt: self.attempts,
                    },
                    Cause::HandshakeDone,
                    fx,
                );
                self.conn.ready_first_at = now;
                self.conn.ready_wait = self.cfg.timeouts.ready_first.min(self.cfg.timeouts.ready);
                self.send_ready(fx);
                self.arm(TimerKind::Ready, now.plus(self.conn.ready_wait));
            }
        }
    }

    fn on_handshake_failed(&mut self, class: ErrorClass, now: Mono, fx: &mut Vec<Effect>) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        self.disarm(TimerKind::Handshake);
        let cause = Cause::HandshakeFailed(class.clone());
        match class {
            ErrorClass::HttpStatus(404) => self.fail(FailedReason::JobUnknown, cause, fx),
            ErrorClass::HttpStatus(401) => {
                if self.cfg.can_refresh_token && !self.refreshed_since_ready {
                    self.refresh_next = true;
                    self.failures += 1;
                    self.connect(cause, now, fx);
                } else {
                    self.fail(FailedReason::Unauthorized, cause, fx);
                }
            }
            ErrorClass::Token => self.fail(FailedReason::TokenUnavailable, cause, fx),
            _ => self.attempt_failed(cause, now, fx),
        }
    }

    fn on_frame(&mut self, frame: InFrame, now: Mono, fx: &mut Vec<Effect>) {
        if !self.conn.connected {
            return;
        }
        if self.conn.unproven
            && self.conn.peer_close.is_none()
            && matches!(self.state, State::Ready { .. })
            && matches!(frame, InFrame::Text(_) | InFrame::Pong(_))
        {
            // The link carries traffic after Ready: it is healthy, so the
            // retry budget and the token refresh are given back.
            self.conn.unproven = false;
            self.failures = 0;
            self.refreshed_since_ready = false;
        }
        let (opcode, size) = match &frame {
            InFrame::Text(t) => (Opcode::Text, t.len()),
            InFrame::InvalidUtf8(n) => (Opcode::Text, *n),
            InFrame::Binary(n) | InFrame::Oversized(n) => (Opcode::Binary, *n),
            InFrame::Ping(n) => (Opcode::Ping, *n),
            InFrame::Pong(p) => (Opcode::Pong, p.len()),
        };
        // A text frame is recorded with what parsing found; any other frame,
        // and any frame after the peer's close, by its opcode and size.
        let frame = match frame {
            InFrame::Text(text) if self.conn.peer_close.is_none() => {
                return self.on_text(text, now, fx);
            }
            other => other,
        };
        fx.push(Effect::Emit(EventKind::Frame(frame_record(
            Direction::In,
            opcode,
            size,
        ))));
        if self.conn.peer_close.is_some() {
            self.find(
                fx,
                FindingClass::PeerFrameAfterClose,
                format!(
                    "a {} frame of {size} bytes came after the peer's close frame",
                    opcode.as_str()
                ),
            );
            return;
        }
        match frame {
            InFrame::Pong(payload) => self.heartbeat_answered(&payload, now, fx),
            InFrame::Binary(_) => {
                if self.cfg.adapter == AdapterKind::Job {
                    self.protocol_error(&ProtocolError::InvalidUtf8, fx);
                }
            }
            InFrame::InvalidUtf8(_) => {
                self.protocol_error(&ProtocolError::InvalidUtf8, fx);
                // RFC 6455 fails the connection here (and the WebSocket layer
                // stops reading); the resume on reconnect loses nothing.
                self.abandon_connection(1007, "invalid UTF-8", fx);
                let cause = Cause::TransportError(ErrorClass::Protocol("invalid_utf8".into()));
                self.attempt_failed(cause, now, fx);
            }
            InFrame::Oversized(n) => {
                let limit = self.cfg.max_message_size;
                self.protocol_error(&ProtocolError::Oversized { size: n, limit }, fx);
            }
            InFrame::Text(_) | InFrame::Ping(_) => {}
        }
    }

    fn protocol_error(&self, e: &ProtocolError, fx: &mut Vec<Effect>) {
        self.find(
            fx,
            FindingClass::ProtocolError,
            format!("{}: {e}", e.class()),
        );
    }

    fn on_text(&mut self, text: String, now: Mono, fx: &mut Vec<Effect>) {
        let size = text.len();
        if matches!(
            self.cfg.adapter,
            AdapterKind::SocketIo
                | AdapterKind::GraphqlWs
                | AdapterKind::Phoenix
                | AdapterKind::SignalR
                | AdapterKind::Json
        ) && size <= self.cfg.max_message_size
        {
            return self.on_dialect_text(text, now, fx);
        }
        if self.cfg.adapter != AdapterKind::Job {
            if size > self.cfg.max_message_size {
                fx.push(Effect::Emit(EventKind::Frame(frame_record(
                    Direction::In,
                    Opcode::Text,
                    size,
                ))));
                let limit = self.cfg.max_message_size;
                self.protocol_error(&ProtocolError::Oversized { size, limit }, fx);
                return;
            }
            fx.push(Effect::Emit(EventKind::Frame(FrameRecord {
                text: Some(text),
                ..frame_record(Direction::In, Opcode::Text, size)
            })));
            return;
        }
        let parsed = parse_server(&text, self.cfg.max_message_size);
        let mut record = frame_record(Direction::In, Opcode::Text, size);
        if let Ok(env) = &parsed {
            record.message_type = Some(env.message.kind().to_owned());
            record.seq = env.seq;
        }
        if !matches!(parsed, Err(ProtocolError::Oversized { .. })) {
            record.text = Some(text);
        }
        fx.push(Effect::Emit(EventKind::Frame(record)));
        let env = match parsed {
            Ok(env) => env,
            Err(e) => return self.protocol_error(&e, fx),
        };
        if let Some(seq) = env.seq
            && !self.take_seq(seq, fx)
        {
            return;
        }
        match env.message {
            ServerMessage::ReadyAck { last_seq, replayed } => {
                if !matches!(self.state, State::AwaitingReady { .. }) {
                    return;
                }
                let seen = self.last_seq.unwrap_or(0);
                if last_seq > seen {
                    self.find(
                        fx,
                        FindingClass::SeqGap,
                        format!(
                            "server is at seq {last_seq} but replay ended at {seen}; syncing state"
                        ),
                    );
                    self.start_sync(fx);
                    // The sync covers the missing events; live ones follow on.
                    self.last_seq = Some(last_seq);
                }
                self.become_ready(Cause::ReadyAck { replayed }, now, fx);
            }
            ServerMessage::ResyncRequired { reason } => {
                self.find(
                    fx,
                    FindingClass::ResyncRequired,
                    format!("server cannot replay ({reason}); fetching job state"),
                );
                self.start_sync(fx);
            }
            ServerMessage::JobStarted { total_count } => self.set_progress(
                0,
                total_count,
                Some(JobStatus::Running),
                ProgressSource::Event,
                fx,
            ),
            ServerMessage::JobProgress {
                processed_count,
                total_count,
                ..
            } => self.set_progress(
                processed_count,
                total_count,
                Some(JobStatus::Running),
                ProgressSource::Event,
                fx,
            ),
            ServerMessage::JobComplete {
                processed_count,
                total_count,
                ..
            } => {
                self.job_outcome = Some(ClosedReason::JobFinished);
                self.sync_gave_up = None;
                self.set_progress(
                    processed_count,
                    total_count,
                    Some(JobStatus::Complete),
                    ProgressSource::Event,
                    fx,
                );
            }
            ServerMessage::JobFailed {
                code, retryable, ..
            } => self.job_failed(code, retryable, fx),
            ServerMessage::KeepAlive
            | ServerMessage::Pong { .. }
            | ServerMessage::Unknown { .. } => {}
        }
    }

    fn on_peer_close(&mut self, code: u16, now: Mono, fx: &mut Vec<Effect>) {
        if !self.conn.connected || self.conn.peer_close.is_some() {
            return;
        }
        self.conn.peer_close = Some(code);
        fx.push(Effect::Emit(EventKind::Frame(FrameRecord {
            close_code: Some(code),
            ..frame_record(Direction::In, Opcode::Close, 2)
        })));
        for k in [TimerKind::Ready, TimerKind::Ping, TimerKind::Pong] {
            self.disarm(k);
        }
        self.conn.ping_sent = None;
        if self.conn.we_closed {
            // Our close was answered; the transport end will follow.
            return;
        }
        self.arm(TimerKind::Close, now.plus(self.cfg.timeouts.close));
        self.go(
            State::Closing {
                initiator: Side::Peer,
                code,
            },
            Cause::PeerClose { code },
            fx,
        );
    }

    fn on_transport_end(&mut self, error: Option<ErrorClass>, now: Mono, fx: &mut Vec<Effect>) {
        if !self.conn.connected {
            return;
        }
        self.conn.connected = false;
        self.disarm_connection_timers();
        if let State::Closing {
            initiator: Side::Us,
            ..
        } = self.state
        {
            // A dialect closes itself once the job has ended.
            let reason = self.job_outcome.clone().unwrap_or(ClosedReason::UserClosed);
            self.close_terminal(
                reason,
                Cause::TransportEnded {
                    code: self.conn.peer_close.unwrap_or(1000),
                },
                fx,
            );
            return;
        }
        let code = match self.conn.peer_close {
            Some(code) => code,
            None => {
                self.find(
                    fx,
                    FindingClass::AbnormalClose,
                    match &error {
                        Some(e) => {
                            format!("transport lost with no close frame ({})", e.type_name())
                        }
                        None => "transport ended with no close frame".into(),
                    },
                );
                CloseCode::ABNORMAL.0
            }
        };
        let cause = match error {
            Some(e) if self.conn.peer_close.is_none() => Cause::TransportError(e),
            _ => Cause::TransportEnded { code },
        };
        self.after_close(code, cause, now, fx);
    }

    fn after_close(&mut self, code: u16, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        // The job's outcome is known: whatever the code, there is nothing
        // left to reconnect for. That covers the 1011 after a `job_failed`
        // too, so without an outcome the code alone decides.
        if let Some(reason) = self.job_outcome.clone() {
            return self.close_terminal(reason, cause, fx);
        }
        match self.cfg.adapter {
            AdapterKind::Job => {}
            // A close is only a close: a normal one ends the socket without a
            // word on any job; anything else is a drop to reconnect from.
            AdapterKind::Raw => {
                return if matches!(code, 1000 | 1005) {
                    self.close_terminal(ClosedReason::PeerClosed { code }, cause, fx)
                } else {
                    self.attempt_failed(cause, now, fx)
                };
            }
            // Socket.IO and Phoenix end a session in-band (DISCONNECT,
            // phx_close); a transport close is a drop, as their own clients
            // treat it.
            AdapterKind::SocketIo | AdapterKind::Phoenix | AdapterKind::SignalR => {
                return self.attempt_failed(cause, now, fx);
            }
            AdapterKind::Json => {
                return match self.cfg.dialect.close_rule(code) {
                    CloseRule::Finished => {
                        self.close_terminal(ClosedReason::JobFinished, cause, fx)
                    }
                    CloseRule::Failed => self.close_terminal(
                        ClosedReason::JobFailed {
                            code: format!("close_{code}"),
                            retryable: false,
                        },
                        cause,
                        fx,
                    ),
                    CloseRule::Closed => {
                        self.close_terminal(ClosedReason::PeerClosed { code }, cause, fx)
                    }
                    CloseRule::Unauthorized => self.fail(FailedReason::Unauthorized, cause, fx),
                    CloseRule::JobUnknown => self.fail(FailedReason::JobUnknown, cause, fx),
                    CloseRule::Reconnect => self.attempt_failed(cause, now, fx),
                    CloseRule::RefreshToken => self.refresh_after_close(cause, now, fx),
                };
            }
            AdapterKind::GraphqlWs => {
                return match dialect::graphql_close_is_fatal(code) {
                    Some(what) => {
                        self.find(
                            fx,
                            FindingClass::ProtocolError,
                            format!("the server closed with {what}"),
                        );
                        let reason = if matches!(code, 4401 | 4403) {
                            FailedReason::Unauthorized
                        } else {
                            FailedReason::JobUnknown
                        };
                        self.fail(reason, cause, fx)
                    }
                    None => self.attempt_failed(cause, now, fx),
                };
            }
        }
        match CloseCode(code).action(false) {
            CloseAction::Finished => self.close_terminal(ClosedReason::JobFinished, cause, fx),
            CloseAction::Reconnect => self.attempt_failed(cause, now, fx),
            CloseAction::RefreshToken => self.refresh_after_close(cause, now, fx),
            CloseAction::NeedsNewToken => self.fail(FailedReason::Unauthorized, cause, fx),
            CloseAction::JobUnknown => self.fail(FailedReason::JobUnknown, cause, fx),
        }
    }

    /// The token expired (4001): reconnect at once with a fresh one; when a
    /// fresh token did not cure it (the server acks, then closes again),
    /// back off like any failure, still fetching a fresh token each time.
    fn refresh_after_close(&mut self, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        self.refresh_next = true;
        if self.refreshed_since_ready {
            self.attempt_failed(cause, now, fx);
        } else {
            self.failures += 1;
            if self.failures > self.cfg.reconnect.max_attempts {
                self.attempt_failed(cause, now, fx);
            } else {
                self.connect(cause, now, fx);
            }
        }
    }

    fn on_timer(&mut self, kind: TimerKind, now: Mono, fx: &mut Vec<Effect>) {
        match self.timer(kind) {
            Some(at) if at <= now => self.disarm(kind),
            _ => return,
        }
        match kind {
            TimerKind::Handshake => {
                if matches!(self.state, State::Connecting { .. }) {
                    self.find(
                        fx,
                        FindingClass::HandshakeTimeout,
                        format!("no handshake within {:?}", self.cfg.timeouts.handshake),
                    );
                    fx.push(Effect::AbortConnect);
                    self.attempt_failed(Cause::Timeout(TimerKind::Handshake), now, fx);
                }
            }
            TimerKind::Ready => {
                if !matches!(self.state, State::AwaitingReady { .. }) {
                    return;
                }
                self.find(
                    fx,
                    FindingClass::ReadyTimeout,
                    format!(
                        "no ready_ack within {:?} of ready #{}",
                        self.conn.ready_wait, self.conn.ready_sends
                    ),
                );
                // The attempt may wait `ready_resends + 1` ready timeouts in
                // all; within that, `ready` goes again after a wait that
                // starts short and doubles, so a short deaf window costs
                // little.
                let budget = self.cfg.timeouts.ready * (self.cfg.ready_resends + 1);
                let spent = now.since(self.conn.ready_first_at);
                if spent < budget && self.cfg.adapter == AdapterKind::Job {
                    self.find(
                        fx,
                        FindingClass::ReadyResent,
                        format!("ready sent again (#{})", self.conn.ready_sends + 1),
                    );
                    self.send_ready(fx);
                    self.conn.ready_wait = (self.conn.ready_wait * 2)
                        .min(self.cfg.timeouts.ready)
                        .min(budget - spent);
                    self.arm(TimerKind::Ready, now.plus(self.conn.ready_wait));
                } else {
                    self.abandon_connection(GOING_AWAY, "ready timeout", fx);
                    self.attempt_failed(Cause::Timeout(TimerKind::Ready), now, fx);
                }
            }
            TimerKind::Backoff => {
                if matches!(self.state, State::Backoff { .. }) {
                    self.connect(Cause::BackoffElapsed, now, fx);
                }
            }
            TimerKind::Ping => {
                if !self.conn.connected || self.conn.peer_close.is_some() || self.conn.we_closed {
                    return;
                }
                if self.conn.ping_sent.is_none() {
                    self.send_ping(now, fx);
                }
                self.arm(TimerKind::Ping, now.plus(self.cfg.heartbeat.interval));
            }
            TimerKind::Pong => {
                if !self.conn.connected || self.conn.ping_sent.is_none() {
                    return;
                }
                self.find(
                    fx,
                    FindingClass::HeartbeatLost,
                    format!("no pong within {:?}", self.cfg.heartbeat.timeout),
                );
                // A half-open link will not answer a close frame either.
                fx.push(Effect::DropTransport);
                self.conn.connected = false;
                self.attempt_failed(Cause::HeartbeatLost, now, fx);
            }
            TimerKind::Close => {
                if !self.conn.connected {
                    return;
                }
                fx.push(Effect::DropTransport);
                self.on_transport_end(None, now, fx);
            }
            TimerKind::StateSyncRetry => {
                if let Some(n) = self.sync_try {
                    self.request_sync(n + 1, fx);
                }
            }
            TimerKind::ServerHeartbeat => {
                if !self.conn.connected {
                    return;
                }
                self.find(
                    fx,
                    FindingClass::HeartbeatLost,
                    format!(
                        "the server sent no ping within {:?} (its interval plus timeout)",
                        self.server_silence.unwrap_or_default()
                    ),
                );
                fx.push(Effect::DropTransport);
                self.conn.connected = false;
                self.attempt_failed(Cause::HeartbeatLost, now, fx);
            }
        }
    }

    /// A text frame of a dialect: read by the dialect (SignalR may pack
    /// several records in one), acted on by the machine's rules.
    fn on_dialect_text(&mut self, text: String, now: Mono, fx: &mut Vec<Effect>) {
        let size = text.len();
        let d = &self.cfg.dialect;
        let readings = match self.cfg.adapter {
            AdapterKind::SocketIo => vec![dialect::socketio_read(d, &text)],
            AdapterKind::Json => vec![dialect::json_read(d, &text)],
            AdapterKind::Phoenix => {
                vec![dialect::phoenix_read(d, self.cfg.job_id.as_deref(), &text)]
            }
            AdapterKind::SignalR => {
                let handshake_done = !matches!(self.state, State::AwaitingReady { .. });
                dialect::signalr_read(d, &text, handshake_done)
            }
            _ => vec![dialect::graphql_read(d, &text)],
        };
        let kinds: Vec<&str> = readings.iter().map(|r| r.kind.as_str()).collect();
        fx.push(Effect::Emit(EventKind::Frame(FrameRecord {
            message_type: Some(kinds.join(",")),
            seq: readings.iter().find_map(|r| r.seq),
            text: Some(text),
            ..frame_record(Direction::In, Opcode::Text, size)
        })));
        if self.cfg.adapter == AdapterKind::SignalR
            && let Some(silence) = self.server_silence
        {
            // Any message from a SignalR server proves it alive.
            self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
        }
        for reading in readings {
            if !self.conn.connected || self.conn.we_closed {
                break;
            }
            self.on_reading(reading, now, fx);
        }
    }

    /// One message a dialect read.
    fn on_reading(&mut self, reading: dialect::Reading, now: Mono, fx: &mut Vec<Effect>) {
        if let Some(offset) = reading.offset {
            self.sio_offset = Some(offset);
        }
        if let Some(seq) = reading.seq
            && !self.take_seq(seq, fx)
        {
            return;
        }
        let awaiting = matches!(self.state, State::AwaitingReady { .. });
        match reading.heard {
            Heard::Open { interval, timeout } => {
                let silence = interval + timeout;
                self.server_silence = Some(silence);
                self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
                if awaiting {
                    let resume = match (&self.sio_session, &self.sio_offset) {
                        (Some((sid, Some(pid))), Some(offset)) => {
                            self.sio_resuming = Some(sid.clone());
                            Some((pid.clone(), offset.clone()))
                        }
                        _ => None,
                    };
                    let connect = dialect::socketio_connect(
                        &self.cfg.dialect,
                        self.cfg.has_token,
                        resume.as_ref().map(|(p, o)| (p.as_str(), o.as_str())),
                    );
                    let frame = self.auth_frame(connect);
                    self.write_typed(frame, None, Some("connect"), fx);
                }
            }
            Heard::ServerPing { answer } => {
                if let Some(silence) = self.server_silence {
                    self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
                }
                if !self.conn.we_closed {
                    let kind = if answer.starts_with('3') {
                        "eio_pong"
                    } else {
                        "pong"
                    };
                    self.write_typed(OutFrame::Text(answer), None, Some(kind), fx);
                }
            }
            Heard::ReadyAck { sid, pid } => {
                if !awaiting {
                    if self.cfg.adapter == AdapterKind::GraphqlWs {
                        self.find(
                            fx,
                            FindingClass::ProtocolError,
                            "a second connection_ack".into(),
                        );
                    }
                    return;
                }
                let mut replayed = 0;
                if let Some(asked) = self.sio_resuming.take() {
                    if sid.as_deref() == Some(asked.as_str()) {
                        replayed = 1;
                    } else {
                        self.find(
                            fx,
                            FindingClass::ResyncRequired,
                            "the server could not recover the Socket.IO session: events sent \
                             while away are lost; counts resume from the next event"
                                .into(),
                        );
                        self.sio_offset = None;
                    }
                }
                if let Some(sid) = sid {
                    self.sio_session = Some((sid, pid));
                }
                if self.cfg.adapter == AdapterKind::SignalR {
                    let silence = self.cfg.heartbeat.interval + self.cfg.heartbeat.timeout;
                    self.server_silence = Some(silence);
                    self.arm(TimerKind::ServerHeartbeat, now.plus(silence));
                }
                self.become_ready(Cause::ReadyAck { replayed }, now, fx);
            }
            Heard::Refused { message } => {
                let message = message.chars().take(200).collect::<String>();
                let lower = message.to_ascii_lowercase();
                let auth = ["auth", "token", "forbidden", "denied", "credential"]
                    .iter()
                    .any(|w| lower.contains(w));
                self.find(
                    fx,
                    FindingClass::ProtocolError,
                    format!("the server refused the namespace: {message}"),
                );
                self.abandon_connection(1000, "connect_error", fx);
                let cause = Cause::HandshakeFailed(ErrorClass::Protocol("connect_error".into()));
                if auth {
                    self.fail(FailedReason::Unauthorized, cause, fx);
                } else {
                    self.attempt_failed(cause, now, fx);
                }
            }
            Heard::Progress { processed, total } => self.set_progress(
                processed,
                total,
                Some(JobStatus::Running),
                ProgressSource::Event,
                fx,
            ),
            // The first word on the job stands: graphql-ws follows an error
            // `next` with `complete`.
            Heard::Complete { .. } | Heard::Failed { .. } if self.job_outcome.is_some() => {}
            Heard::Complete { processed, total } => {
                self.job_outcome = Some(ClosedReason::JobFinished);
                self.sync_gave_up = None;
                let last = self.progress.clone();
                let total = total.or(last.as_ref().map(|p| p.total)).unwrap_or(0);
                let processed = processed.unwrap_or(total);
                self.set_progress(
                    processed,
                    total,
                    Some(JobStatus::Complete),
                    ProgressSource::Event,
                    fx,
                );
                self.end_by_us(now, fx);
            }
            Heard::Failed { code } => {
                self.job_failed(code.chars().take(200).collect(), false, fx);
                self.end_by_us(now, fx);
            }
            Heard::Disconnect => {
                // The server ended the session in-band: no reconnect.
                self.abandon_connection(1000, "server disconnect", fx);
                let reason = self
                    .job_outcome
                    .clone()
                    .unwrap_or(ClosedReason::PeerClosed { code: 1000 });
                self.close_terminal(reason, Cause::PeerClose { code: 1000 }, fx);
            }
            Heard::HeartbeatReply { reference } => {
                self.heartbeat_answered(reference.as_bytes(), now, fx);
            }
            Heard::ServerClose { error, reconnect } => {
                if let Some(error) = &error {
                    self.find(
                        fx,
                        FindingClass::ProtocolError,
                        format!("the server closed the connection: {error}"),
                    );
                }
                self.abandon_connection(1000, "server close", fx);
                if reconnect && self.job_outcome.is_none() {
                    let cause = Cause::PeerClose { code: 1000 };
                    self.attempt_failed(cause, now, fx);
                } else {
                    let reason = self
                        .job_outcome
                        .clone()
                        .unwrap_or(ClosedReason::PeerClosed { code: 1000 });
                    self.close_terminal(reason, Cause::PeerClose { code: 1000 }, fx);
                }
            }
            Heard::ChannelError => {
                // The channel crashed on the server: rejoin, on a new
                // connection, as a drop.
                self.find(
                    fx,
                    FindingClass::ProtocolError,
                    "the channel crashed on the server (phx_error); rejoining".into(),
                );
                self.abandon_connection(1000, "rejoin", fx);
                let cause = Cause::TransportError(ErrorClass::Protocol("phx_error".into()));
                self.attempt_failed(cause, now, fx);
            }
            Heard::Other => {}
            Heard::Violation(what) => {
                self.find(
                    fx,
                    FindingClass::ProtocolError,
                    format!("{}: {what}", self.cfg.adapter.as_str()),
                );
            }
        }
    }

    /// A dialect's first frame: with the token slot only when there is a
    /// token.
    fn auth_frame(&self, text: String) -> OutFrame {
        if self.cfg.has_token {
            OutFrame::Auth(text)
        } else {
            OutFrame::Text(text)
        }
    }

    /// The job ended over a dialect: close from our side, as its own client
    /// does, and end with the job's outcome once the transport has ended.
    fn end_by_us(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        if !self.conn.connected || self.conn.we_closed || self.conn.peer_close.is_some() {
            return;
        }
        self.begin_close("job ended", Cause::JobEnded, now, fx);
    }

    /// Our close frame (1000) goes out; Closing until the peer's answer or
    /// the close timeout.
    fn begin_close(&mut self, reason: &str, cause: Cause, now: Mono, fx: &mut Vec<Effect>) {
        self.write(
            OutFrame::Close {
                code: 1000,
                reason: reason.into(),
            },
            None,
            fx,
        );
        for k in [
            TimerKind::Ready,
            TimerKind::Ping,
            TimerKind::Pong,
            TimerKind::ServerHeartbeat,
        ] {
            self.disarm(k);
        }
        self.arm(TimerKind::Close, now.plus(self.cfg.timeouts.close));
        self.drain_outbox(DropReason::Closed, fx);
        self.go(
            State::Closing {
                initiator: Side::Us,
                code: 1000,
            },
            cause,
            fx,
        );
    }

    fn on_send(&mut self, text: String, broadcast: bool, fx: &mut Vec<Effect>) {
        let id = self.next_msg;
        self.next_msg += 1;
        let dropped = |reason| {
            Effect::Emit(EventKind::Message {
                id,
                stage: MessageStage::Dropped { reason },
            })
        };
        if text.len() > self.cfg.max_message_size {
            fx.push(dropped(DropReason::TooLarge));
            fx.push(Effect::SendResult(Err(Error::MessageTooLarge {
                size: text.len(),
                limit: self.cfg.max_message_size,
            })));
            return;
        }
        match self.state.name() {
            StateName::Ready
                if self.conn.connected
                    && !self.conn.we_closed
                    && self.conn.peer_close.is_none() =>
            {
                self.write(OutFrame::Text(text), Some(id), fx);
                fx.push(Effect::Emit(EventKind::Message {
                    id,
                    stage: MessageStage::Written,
                }));
                fx.push(Effect::SendResult(Ok(id)));
            }
            StateName::Idle
            | StateName::Connecting
            | StateName::AwaitingReady
            | StateName::Backoff => {
                let capacity = self.cfg.outbox_capacity;
                if self.outbox.len() >= capacity {
                    self.find(
                        fx,
                        FindingClass::OutboxOverflow,
                        format!("message {id} refused: {capacity} already wait for Ready"),
                    );
                    fx.push(dropped(DropReason::OutboxFull));
                    fx.push(Effect::SendResult(Err(Error::OutboxFull { capacity })));
                    return;
                }
                self.outbox.push_back((id, text));
                self.find(
                    fx,
                    FindingClass::SendBeforeReadyQueued,
                    format!(
                        "message {id} sent in {}; queued until Ready",
                        self.state.name().as_str()
                    ),
                );
                fx.push(Effect::Emit(EventKind::Message {
                    id,
                    stage: MessageStage::Queued {
                        depth: self.outbox.len(),
                    },
                }));
                fx.push(Effect::SendResult(Ok(id)));
            }
            _ => {
                let (class, what) = if broadcast && self.state.name() == StateName::Closing {
                    (FindingClass::BroadcastSkippedClosing, "broadcast skipped")
                } else {
                    (FindingClass::SendAfterClosePrevented, "send refused")
                };
                self.find(
                    fx,
                    class,
                    format!(
                        "message {id}: {what} in {}; no frame written",
                        self.state.name().as_str()
                    ),
                );
                fx.push(dropped(DropReason::Closed));
                fx.push(Effect::SendResult(Err(Error::Closed)));
            }
        }
    }

    fn on_user(&mut self, action: UserAction, now: Mono, fx: &mut Vec<Effect>) {
        let cause = Cause::User(action);
        match action {
            UserAction::Cancel => {
                if self.state.is_terminal() {
                    return;
                }
                if matches!(self.state, State::Connecting { .. }) {
                    fx.push(Effect::AbortConnect);
                }
                self.abandon_connection(1000, "cancelled", fx);
                self.end_all_timers();
                self.drop_sync();
                self.drain_outbox(DropReason::Cancelled, fx);
                self.go(State::Cancelled, cause, fx);
            }
            UserAction::Close => match self.state.name() {
                StateName::AwaitingReady | StateName::Ready => {
                    self.begin_close("closed by user", cause, now, fx);
                }
                StateName::Idle | StateName::Connecting | StateName::Backoff => {
                    if matches!(self.state, State::Connecting { .. }) {
                        fx.push(Effect::AbortConnect);
                    }
                    self.conn.connected = false;
                    self.close_terminal(ClosedReason::UserClosed, cause, fx);
                }
                _ => {}
            },
            UserAction::Retry => match self.state.name() {
                StateName::Backoff => {
                    self.disarm(TimerKind::Backoff);
                    self.connect(cause, now, fx);
                }
                StateName::Failed | StateName::Closed => {
                    self.failures = 0;
                    self.refreshed_since_ready = false;
                    self.job_outcome = None;
                    self.connect(cause, now, fx);
                }
                _ => {}
            },
        }
    }

    fn on_sync_done(
        &mut self,
        result: Result<JobState, SyncFailure>,
        now: Mono,
        fx: &mut Vec<Effect>,
    ) {
        let Some(try_no) = self.sync_try else {
            return;
        };
        match result {
            Ok(state) => {
                self.sync_try = None;
                self.sync_gave_up = None;
                fx.push(Effect::Emit(EventKind::StateSync(StateSyncRecord {
                    try_no,
                    outcome: StateSyncOutcome::Synced {
                        status: state.status,
                        processed: state.processed_count,
                        total: state.total_count,
                        last_seq: state.last_seq,
                    },
                })));
                // The state covers every event up to its seq; an answer older
                // than the events already seen must not turn progress back.
                let seen = self.last_seq.unwrap_or(0);
                self.last_seq = Some(seen.max(state.last_seq));
                // A job the server has ended has nothing left to reconnect
                // for, even when the replay that said so was lost.
                if state.status.is_terminal() && self.job_outcome.is_none() {
                    self.job_outcome = Some(match state.status {
                        JobStatus::Failed => ClosedReason::JobFailed {
                            code: "job_failed".into(),
                            retryable: false,
                        },
                        _ => ClosedReason::JobFinished,
                    });
                }
                if state.last_seq >= seen {
                    self.set_progress(
                        state.processed_count,
                        state.total_count,
                        Some(state.status),
                        ProgressSource::StateSync,
                        fx,
                    );
                }
                if let (Some(reason), State::Backoff { .. }) = (&self.job_outcome, &self.state) {
                    let reason = reason.clone();
                    self.close_terminal(reason, Cause::JobEnded, fx);
                }
            }
            Err(failure) => {
                let (status, error, retryable) = match &failure {
                    SyncFailure::Status(s) => (Some(*s), format!("http_{s}"), *s >= 500),
                    SyncFailure::Io(kind) => (None, format!("io_{kind}"), true),
                };
                // A closed socket still wants the job's final state; a
                // cancelled one does not.
                let will_retry = retryable
                    && try_no < STATE_SYNC_TRIES
                    && self.state.name() != StateName::Cancelled;
                fx.push(Effect::Emit(EventKind::StateSync(StateSyncRecord {
                    try_no,
                    outcome: StateSyncOutcome::Failed {
                        status,
                        error: error.clone(),
                        will_retry,
                    },
                })));
                if will_retry {
                    self.find(
                        fx,
                        FindingClass::StateSyncRetry,
                        format!("state sync try {try_no} failed ({error}); trying again"),
                    );
                    let delay = self.cfg.timeouts.state_sync_retry * 2u32.pow(try_no - 1);
                    self.arm(TimerKind::StateSyncRetry, now.plus(delay));
                    return;
                }
                self.sync_try = None;
                self.sync_gave_up = Some(try_no);
                let detail = if self.state.is_terminal() {
                    format!("final count unknown: the state sync failed {try_no} times ({error})")
                } else {
                    format!("state sync gave up after try {try_no} ({error})")
                };
                self.find(fx, FindingClass::StateSyncFailed, detail);
                if status == Some(404) && !self.state.is_terminal() {
                    if matches!(self.state, State::Connecting { .. }) {
                        fx.push(Effect::AbortConnect);
                    }
                    self.abandon_connection(1000, "job unknown", fx);
                    self.fail(FailedReason::JobUnknown, Cause::StateSyncNotFound, fx);
                }
            }
        }
    }

    fn on_network_changed(&mut self, now: Mono, fx: &mut Vec<Effect>) {
        match self.state.name() {
            StateName::Backoff => {
                // A flapping network brings an attempt forward at most once
                // per base delay; the backoff runs on otherwise.
                if self
                    .last_network_attempt_at
                    .is_some_and(|at| now.since(at) < self.cfg.reconnect.base)
                {
                    return;
                }
                self.disarm(TimerKind::Backoff);
                self.connect(Cause::NetworkChanged, now, fx);
            }
            // A ping still waiting is stale (sent on the old path, or before
            // a suspend that its deadline knows nothing of): probe afresh.
            StateName::Ready | StateName::AwaitingReady if self.conn.connected => {
                self.send_ping(now, fx);
            }
            _ => {}
        }
    }
}

fn frame_record(direction: Direction, opcode: Opcode, size: usize) -> FrameRecord {
    FrameRecord {
        direction,
        opcode,
        size,
        message_type: None,
        seq: None,
        msg: None,
        close_code: None,
        text: None,
    }
}
