//! An event as the webview receives it: the UI's own type, not the
//! recorder's. Live events and history pages share it; [`UiEvent::from_record`]
//! is the one mapping from what the recorder stores (scrubbed, capped), so a
//! change of storage stops here instead of reaching the UI's contract.
//! ui/src/transfer.gen.ts is generated from these types.

use serde::{Deserialize, Serialize};
use sockscope_engine::Event;
use sockscope_recorder::{EventBody, EventRecord};
use ts_rs::TS;

use crate::UiError;

/// Payload bytes kept per live frame for the inspector (scrubbed first).
pub const LIVE_PAYLOAD_CAP: usize = 4096;

/// One event for the timeline.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct UiEvent {
    /// Recorder row id (0 for live events).
    pub id: i64,
    /// Socket id (0: engine-wide).
    pub s: u64,
    /// Monotonic ns since the engine started.
    pub t: u64,
    /// Wall clock in µs since the Unix epoch (ns would not fit a JS number).
    pub w: i64,
    /// What happened, tagged by `kind`.
    #[serde(flatten)]
    pub body: UiBody,
}

/// What happened, by kind.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UiBody {
    /// The socket was added.
    SocketAdded {
        name: String,
        scheme: String,
        host: String,
        port: u16,
        path: String,
        adapter: String,
        job_id: Option<String>,
        token_source: Option<String>,
    },
    /// The state changed.
    Transition {
        from: StateName,
        to: StateName,
        attempt: Option<u32>,
        backoff_until_ns: Option<u64>,
        close_code: Option<u16>,
        close_initiator: Option<String>,
        reason: Option<String>,
        reason_detail: Option<String>,
        cause: String,
        cause_detail: Option<String>,
        error_type: Option<String>,
    },
    /// A race prevented or a contract broken.
    Finding {
        class: String,
        side: FindingSide,
        severity: Severity,
        attempt: u32,
        /// JSON: `{"detail": "..."}`.
        detail: String,
    },
    /// A frame in or out.
    Frame {
        direction: Direction,
        opcode: String,
        size: u64,
        message_type: Option<String>,
        seq: Option<u64>,
        msg_id: Option<u64>,
        close_code: Option<u16>,
        payload: Option<String>,
        payload_truncated: bool,
    },
    /// An application message moved.
    Message {
        msg_id: u64,
        stage: MessageStage,
        depth: Option<u64>,
        drop_reason: Option<String>,
    },
    /// A reconnect delay was planned.
    BackoffPlanned {
        attempt: u32,
        delay_ns: u64,
        ceiling_ns: u64,
    },
    /// A job-state call.
    StateSync {
        try_no: u32,
        outcome: SyncOutcome,
        job_status: Option<String>,
        processed: Option<u64>,
        total: Option<u64>,
        last_seq: Option<u64>,
        http_status: Option<u16>,
        error: Option<String>,
        will_retry: Option<bool>,
    },
    /// The job's progress.
    Progress {
        processed: u64,
        total: u64,
        status: Option<String>,
        source: String,
    },
    /// A pong answered a ping.
    HeartbeatAnswered { rtt_ns: u64 },
    /// Engine-wide (socket 0): drawn across every lane, never a lane.
    Environment {
        /// `address_added`, `address_removed`, `wake`, `recording_failed`.
        change: String,
        detail: String,
    },
    /// An observed connection's upgrade: the answer's status, and both
    /// sides' headers as `[name, value]`, values redacted.
    Handshake {
        status: u16,
        request_headers: Vec<(String, String)>,
        response_headers: Vec<(String, String)>,
    },
}

/// A socket's state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, TS)]
pub enum StateName {
    Idle,
    Connecting,
    AwaitingReady,
    Ready,
    Backoff,
    Closing,
    Closed,
    Failed,
    Cancelled,
}

impl From<sockscope_engine::StateName> for StateName {
    fn from(s: sockscope_engine::StateName) -> StateName {
        use sockscope_engine::StateName as E;
        match s {
            E::Idle => StateName::Idle,
            E::Connecting => StateName::Connecting,
            E::AwaitingReady => StateName::AwaitingReady,
            E::Ready => StateName::Ready,
            E::Backoff => StateName::Backoff,
            E::Closing => StateName::Closing,
            E::Closed => StateName::Closed,
            E::Failed => StateName::Failed,
            E::Cancelled => StateName::Cancelled,
        }
    }
}

/// Whose side a finding is on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum FindingSide {
    Prevented,
    Peer,
    Network,
    Client,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A frame's direction.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

/// An application message's stage.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum MessageStage {
    Queued,
    Written,
    Dropped,
}

/// How a job-state call went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, TS)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    Requested,
    Synced,
    Failed,
}

/// One of the UI's names, from the recorder's text of it (the same words);
/// a word this build does not know (a newer or damaged file) is an error.
fn named<'de, T: Deserialize<'de>>(event_id: i64, text: &'de str) -> Result<T, UiError> {
    use serde::de::IntoDeserializer;
    let text: serde::de::value::StrDeserializer<'de, serde::de::value::Error> =
        text.into_deserializer();
    T::deserialize(text).map_err(|e| UiError::new("recorder", format!("event {event_id}: {e}")))
}

impl UiEvent {
    /// A live engine event, scrubbed and capped as the recorder would.
    pub fn live(ev: &Event) -> Result<UiEvent, UiError> {
        UiEvent::from_record(EventRecord::from_event(ev, Some(LIVE_PAYLOAD_CAP)))
    }

    /// The one mapping from a stored record.
    pub fn from_record(r: EventRecord) -> Result<UiEvent, UiError> {
        let id = r.event_id;
        let body = match r.body {
            EventBody::SocketAdded(s) => UiBody::SocketAdded {
                name: s.name,
                scheme: s.scheme,
                host: s.host,
                port: s.port,
                path: s.path,
                adapter: s.adapter,
                job_id: s.job_id,
                token_source: s.token_source,
            },
            EventBody::Transition(t) => UiBody::Transition {
                from: named(id, &t.from)?,
                to: named(id, &t.to)?,
                attempt: t.attempt,
                backoff_until_ns: t.backoff_until_ns,
                close_code: t.close_code,
                close_initiator: t.close_initiator,
                reason: t.reason,
                reason_detail: t.reason_detail,
                cause: t.cause,
                cause_detail: t.cause_detail,
                error_type: t.error_type,
            },
            EventBody::Finding(f) => UiBody::Finding {
                side: named(id, &f.side)?,
                severity: named(id, &f.severity)?,
                class: f.class,
                attempt: f.attempt,
                detail: f.detail,
            },
            EventBody::Frame(f) => UiBody::Frame {
                direction: named(id, &f.direction)?,
                opcode: f.opcode,
                size: f.size,
                message_type: f.message_type,
                seq: f.seq,
                msg_id: f.msg_id,
                close_code: f.close_code,
                payload: f.payload,
                payload_truncated: f.payload_truncated,
            },
            EventBody::Message(m) => UiBody::Message {
                stage: named(id, &m.stage)?,
                msg_id: m.msg_id,
                depth: m.depth,
                drop_reason: m.drop_reason,
            },
            EventBody::BackoffPlanned(b) => UiBody::BackoffPlanned {
                attempt: b.attempt,
                delay_ns: b.delay_ns,
                ceiling_ns: b.ceiling_ns,
            },
            EventBody::StateSync(s) => UiBody::StateSync {
                outcome: named(id, &s.outcome)?,
                try_no: s.try_no,
                job_status: s.job_status,
                processed: s.processed,
                total: s.total,
                last_seq: s.last_seq,
                http_status: s.http_status,
                error: s.error,
                will_retry: s.will_retry,
            },
            EventBody::Progress(p) => UiBody::Progress {
                processed: p.processed,
                total: p.total,
                status: p.status,
                source: p.source,
            },
            EventBody::HeartbeatAnswered(h) => UiBody::HeartbeatAnswered { rtt_ns: h.rtt_ns },
            EventBody::Environment(e) => UiBody::Environment {
                change: e.change,
                detail: e.detail,
            },
            EventBody::Handshake(h) => UiBody::Handshake {
                status: h.status,
                request_headers: h.request_headers,
                response_headers: h.response_headers,
            },
        };
        Ok(UiEvent {
            id,
            s: r.socket_id,
            t: r.mono_ns,
            w: r.wall_ns / 1000,
            body,
        })
    }

    /// Many records, or the first that cannot be read.
    pub fn from_records(records: Vec<EventRecord>) -> Result<Vec<UiEvent>, UiError> {
        records.into_iter().map(UiEvent::from_record).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockscope_engine::Mono;
    use sockscope_engine::event::{ENGINE_WIDE, EnvironmentChange, EventKind};
    use std::time::{Duration, SystemTime};

    /// Engine-wide changes cross the boundary as socket 0 with their own
    /// kind, which the UI draws across every lane instead of as a lane.
    #[test]
    fn engine_wide_events_pass_through_as_socket_zero() {
        let wake = Event {
            socket: ENGINE_WIDE,
            mono: Mono(42_000),
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            kind: EventKind::Environment(EnvironmentChange::Wake {
                suspended: Duration::from_millis(3_500),
            }),
        };
        let json = serde_json::to_value(UiEvent::live(&wake).unwrap()).unwrap();
        assert_eq!(json["s"], 0);
        assert_eq!(json["t"], 42_000);
        assert_eq!(json["kind"], "environment");
        assert_eq!(json["change"], "wake");
        assert!(json["detail"].as_str().unwrap().contains("3.5"), "{json}");

        let addr = Event {
            kind: EventKind::Environment(EnvironmentChange::Address {
                added: false,
                addr: "10.0.0.2".parse().unwrap(),
                prefix: 24,
            }),
            ..wake
        };
        let json = serde_json::to_value(UiEvent::live(&addr).unwrap()).unwrap();
        assert_eq!(json["s"], 0);
        assert_eq!(json["change"], "address_removed");
        assert_eq!(json["detail"], "10.0.0.2/24");
    }

    /// A failed recording reaches the window as an engine-wide change the
    /// banner (ui/src/banner.ts) reads, its reason scrubbed.
    #[test]
    fn a_failed_recording_crosses_as_an_engine_wide_change_without_secrets() {
        let failed = Event {
            socket: ENGINE_WIDE,
            mono: Mono(7),
            wall: SystemTime::UNIX_EPOCH,
            kind: EventKind::RecordingFailed {
                reason: "sqlite: database or disk is full (recording to /tmp/token=s3cr3t-x/s.db)"
                    .into(),
            },
        };
        let json = serde_json::to_value(UiEvent::live(&failed).unwrap()).unwrap();
        assert_eq!(json["s"], 0);
        assert_eq!(json["kind"], "environment");
        assert_eq!(json["change"], "recording_failed");
        let detail = json["detail"].as_str().unwrap();
        assert!(detail.contains("disk is full"), "{detail}");
        assert!(!detail.contains("s3cr3t-x"), "{detail}");
    }
}
