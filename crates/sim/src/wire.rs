//! The wire log: what the wire saw, in order, queryable by tests.
//!
//! Tokens never enter it: a connection records only how auth arrived.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::SimError;

/// Events kept in the snapshot; older ones are forgotten first.
pub const WIRE_LOG_CAPACITY: usize = 500_000;
/// Buffer of each [`crate::Sim::subscribe_wire`] receiver.
const BROADCAST_CAPACITY: usize = 8_192;

/// How a WebSocket request presented its token. Never the token itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthVia {
    /// `Authorization: Bearer` header (wins when both are sent).
    Header,
    /// `token=` query parameter.
    Query,
    /// No token at all.
    None,
}

/// A WebSocket frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Opcode {
    /// Text data frame.
    Text,
    /// Binary data frame.
    Binary,
    /// Continuation of a fragmented message.
    Continuation,
    /// Ping control frame.
    Ping,
    /// Pong control frame.
    Pong,
    /// Close control frame.
    Close,
    /// An opcode RFC 6455 reserves.
    Reserved(u8),
}

impl Opcode {
    pub(crate) fn from_bits(bits: u8) -> Opcode {
        match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            other => Opcode::Reserved(other),
        }
    }
}

/// Which end did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The simulator.
    Server,
    /// The peer.
    Client,
}

/// Why the server cut a connection without a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// `POST /admin/jobs/{jobId}/drop`.
    Admin,
    /// The `drop_after` knob.
    DropAfter,
    /// The connection's bounded queue overflowed (a peer that does not read).
    QueueFull,
    /// The simulator shut down.
    Shutdown,
}

/// One thing the wire saw. `conn` ids are unique per simulator, assigned to
/// every WebSocket request (accepted or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WireEvent {
    /// An HTTP request was answered (WebSocket requests too: 101, 401, 404).
    Http {
        /// Method.
        method: String,
        /// Path without the query.
        path: String,
        /// Status answered.
        status: u16,
    },
    /// A WebSocket request was accepted (101) or rejected (401, 404, 400).
    Connection {
        /// Connection id.
        conn: u64,
        /// Job asked for.
        job_id: String,
        /// How auth arrived.
        auth: AuthVia,
        /// Status answered.
        status: u16,
    },
    /// A frame arrived.
    Received {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
        /// Opcode.
        opcode: Opcode,
        /// The message `type` of a text frame that parsed.
        kind: Option<String>,
        /// A close frame had already gone either way.
        after_close: bool,
        /// Dropped unread because of `ready_deaf_ms`.
        deaf: bool,
    },
    /// A text frame that is not a valid message (kept connection).
    ProtocolError {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
        /// [`sockscope_protocol::ProtocolError::class`].
        class: String,
    },
    /// A frame was sent.
    Sent {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
        /// Opcode.
        opcode: Opcode,
        /// Message `type` of a text frame.
        kind: Option<String>,
        /// `seq` of a job event.
        seq: Option<u64>,
        /// Sent after the server's own close frame (`send_after_close`).
        after_close: bool,
    },
    /// A client `ready` (not a deaf-dropped one).
    Ready {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
        /// Its `resumeFrom`.
        resume_from: Option<u64>,
    },
    /// A `ready_ack` went out.
    ReadyAck {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
        /// Its `lastSeq`.
        last_seq: u64,
        /// Its `replayed`.
        replayed: u64,
    },
    /// A close frame went one way.
    Close {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
        /// Who sent it.
        by: Side,
        /// Its code, if it had one.
        code: Option<u16>,
        /// It answered the other side's close.
        reply: bool,
    },
    /// The server cut TCP with no close frame.
    Dropped {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
        /// Why.
        reason: DropReason,
    },
    /// The connection went silent (`stall_after_ms`).
    Stalled {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
    },
    /// The connection is gone (TCP closed either way).
    Ended {
        /// Connection id.
        conn: u64,
        /// Job.
        job_id: String,
    },
}

impl WireEvent {
    /// The connection id, for events about a connection.
    pub fn conn(&self) -> Option<u64> {
        match self {
            WireEvent::Http { .. } => None,
            WireEvent::Connection { conn, .. }
            | WireEvent::Received { conn, .. }
            | WireEvent::ProtocolError { conn, .. }
            | WireEvent::Sent { conn, .. }
            | WireEvent::Ready { conn, .. }
            | WireEvent::ReadyAck { conn, .. }
            | WireEvent::Close { conn, .. }
            | WireEvent::Dropped { conn, .. }
            | WireEvent::Stalled { conn, .. }
            | WireEvent::Ended { conn, .. } => Some(*conn),
        }
    }

    /// The job id, for events about a connection.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            WireEvent::Http { .. } => None,
            WireEvent::Connection { job_id, .. }
            | WireEvent::Received { job_id, .. }
            | WireEvent::ProtocolError { job_id, .. }
            | WireEvent::Sent { job_id, .. }
            | WireEvent::Ready { job_id, .. }
            | WireEvent::ReadyAck { job_id, .. }
            | WireEvent::Close { job_id, .. }
            | WireEvent::Dropped { job_id, .. }
            | WireEvent::Stalled { job_id, .. }
            | WireEvent::Ended { job_id, .. } => Some(job_id),
        }
    }
}

struct Entries {
    events: VecDeque<WireEvent>,
    /// Absolute index of `events[0]`: how many were forgotten.
    first: u64,
}

/// Append-only, capped log with a broadcast for live readers.
pub(crate) struct WireLog {
    entries: Mutex<Entries>,
    capacity: usize,
    /// Total ever appended, for waiters.
    appended: watch::Sender<u64>,
    live: broadcast::Sender<WireEvent>,
}

impl WireLog {
    pub(crate) fn new(capacity: usize) -> WireLog {
        WireLog {
            capacity: capacity.max(1),
            entries: Mutex::new(Entries {
                events: VecDeque::new(),
                first: 0,
            }),
            appended: watch::Sender::new(0),
            live: broadcast::Sender::new(BROADCAST_CAPACITY),
        }
    }

    pub(crate) fn record(&self, event: WireEvent) {
        let total = {
            let mut entries = self.entries.lock().expect("wire log lock");
            if entries.events.len() >= self.capacity {
                entries.events.pop_front();
                entries.first += 1;
            }
            entries.events.push_back(event.clone());
            // Broadcast under the lock so live readers see the log's order.
            let _ = self.live.send(event);
            entries.first + entries.events.len() as u64
        };
        self.appended.send_replace(total);
    }

    pub(crate) fn snapshot(&self) -> Vec<WireEvent> {
        let entries = self.entries.lock().expect("wire log lock");
        entries.events.iter().cloned().collect()
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<WireEvent> {
        self.live.subscribe()
    }

    /// The first event, oldest first, that `pred` accepts, waiting for new
    /// ones up to `timeout`.
    pub(crate) async fn wait_for(
        &self,
        pred: impl Fn(&WireEvent) -> bool,
        timeout: Duration,
    ) -> Result<WireEvent, SimError> {
        let mut appended = self.appended.subscribe();
        let mut next: u64 = 0;
        let scan = async {
            loop {
                appended.borrow_and_update();
                {
                    let entries = self.entries.lock().expect("wire log lock");
                    let start = next.saturating_sub(entries.first) as usize;
                    let start = start.min(entries.events.len());
                    if let Some(found) = entries.events.range(start..).find(|e| pred(e)) {
                        return Ok(found.clone());
                    }
                    next = entries.first + entries.events.len() as u64;
                }
                if appended.changed().await.is_err() {
                    return Err(SimError::ShutDown);
                }
            }
        };
        tokio::time::timeout(timeout, scan)
            .await
            .unwrap_or(Err(SimError::Timeout(timeout)))
    }
}
