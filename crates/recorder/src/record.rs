//! Serde transfer types: what the recorder stores, reads back and exports.
//! They mirror the engine's events, flattened to strings and numbers, with
//! secrets already scrubbed. The engine's domain types stay serde-free.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sockscope_engine::event::{
    Cause, ClosedReason, Direction, DropReason, EnvironmentChange, ErrorClass, Event, EventKind,
    FailedReason, FindingSide, MessageStage, ProgressSource, Severity, Side, State,
    StateSyncOutcome,
};
use sockscope_protocol::JobStatus;

use crate::redact;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Row id in `events`; 0 before it is written.
    pub event_id: i64,
    /// Engine socket id.
    pub socket_id: u64,
    /// Monotonic ns since the engine started.
    pub mono_ns: u64,
    /// Wall clock, ns since the Unix epoch.
    pub wall_ns: i64,
    /// What happened.
    pub body: EventBody,
}

/// What happened, by kind. The tag is the `events.kind` column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// The socket was added.
    SocketAdded(SocketRecord),
    /// The state changed.
    Transition(TransitionRecord),
    /// A race prevented or a contract broken.
    Finding(FindingRecord),
    /// A frame in or out.
    Frame(FrameRow),
    /// An application message moved.
    Message(MessageRecord),
    /// A reconnect delay was planned.
    BackoffPlanned(BackoffRecord),
    /// A job-state call.
    StateSync(StateSyncRow),
    /// The job's progress.
    Progress(ProgressRecord),
    /// A pong answered a ping.
    HeartbeatAnswered {
        /// Round trip in ns.
        rtt_ns: u64,
    },
    /// An engine-wide change (socket id 0), drawn on every lane.
    Environment(EnvironmentRecord),
}

/// An engine-wide change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    /// `address_added`, `address_removed`, `wake` or `recording_failed`
    /// (the recorder stopped for good; the reason in `detail`).
    pub change: String,
    /// The address with its prefix, or the time suspended.
    pub detail: String,
}

impl EventBody {
    /// The `events.kind` value.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::SocketAdded(_) => "socket_added",
            EventBody::Transition(_) => "transition",
            EventBody::Finding(_) => "finding",
            EventBody::Frame(_) => "frame",
            EventBody::Message(_) => "message",
            EventBody::BackoffPlanned(_) => "backoff_planned",
            EventBody::StateSync(_) => "state_sync",
            EventBody::Progress(_) => "progress",
            EventBody::HeartbeatAnswered { .. } => "heartbeat_answered",
            EventBody::Environment(_) => "environment",
        }
    }
}

/// A socket's configuration, minus secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketRecord {
    /// Display name.
    pub name: String,
    /// `ws` or `wss`.
    pub scheme: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path (scrubbed).
    pub path: String,
    /// `job` or `raw`.
    pub adapter: String,
    /// Job id, for the job adapter.
    pub job_id: Option<String>,
    /// Token source description, scrubbed (e.g. `env:JOB_TOKEN`).
    pub token_source: Option<String>,
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// State before.
    pub from: String,
    /// State after.
    pub to: String,
    /// Connection attempt (Connecting, AwaitingReady, Ready) or retry
    /// number (Backoff) of the new state.
    pub attempt: Option<u32>,
    /// Backoff end, monotonic ns.
    pub backoff_until_ns: Option<u64>,
    /// Close code: of the Closing state, or of the cause.
    pub close_code: Option<u16>,
    /// Who closed first, for Closing: `us` or `peer`.
    pub close_initiator: Option<String>,
    /// Why a terminal state was reached, e.g. `job_failed`, `unauthorized`.
    pub reason: Option<String>,
    /// Reason data as JSON, e.g. `{"code":"E1","retryable":false}`.
    pub reason_detail: Option<String>,
    /// Cause name, e.g. `peer_close`, `timeout`, `user`.
    pub cause: String,
    /// Cause data: timer, user action, replayed count or error text.
    pub cause_detail: Option<String>,
    /// OTel `error.type` for error causes, e.g. `http_503`, `io_refused`.
    pub error_type: Option<String>,
}

/// A finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// Stable class name.
    pub class: String,
    /// `prevented`, `peer` or `network`.
    pub side: String,
    /// `info`, `warning` or `error`.
    pub severity: String,
    /// Connection attempt.
    pub attempt: u32,
    /// JSON object: `{"detail": "...", ...}`.
    pub detail: String,
    /// The transition that began the state it happened in.
    pub transition_event_id: Option<i64>,
    /// The frame it is about: the socket's event just before it, if a frame.
    pub frame_event_id: Option<i64>,
}

/// A frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRow {
    /// `in` or `out`.
    pub direction: String,
    /// `text`, `binary`, `ping`, `pong` or `close`.
    pub opcode: String,
    /// Payload size in bytes.
    pub size: u64,
    /// Protocol `type`.
    pub message_type: Option<String>,
    /// Protocol `seq`.
    pub seq: Option<u64>,
    /// Application message id.
    pub msg_id: Option<u64>,
    /// Close code.
    pub close_code: Option<u16>,
    /// Payload text, scrubbed and capped; absent when not captured.
    pub payload: Option<String>,
    /// Whether the payload was cut at the cap.
    pub payload_truncated: bool,
}

/// An application message's stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Message id.
    pub msg_id: u64,
    /// `queued`, `written` or `dropped`.
    pub stage: String,
    /// Outbox depth, for `queued`.
    pub depth: Option<u64>,
    /// Why, for `dropped`.
    pub drop_reason: Option<String>,
}

/// A planned reconnect delay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffRecord {
    /// Retry number (1-based).
    pub attempt: u32,
    /// Delay drawn, ns.
    pub delay_ns: u64,
    /// Ceiling, ns.
    pub ceiling_ns: u64,
}

/// A job-state call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSyncRow {
    /// Try number (1-based).
    pub try_no: u32,
    /// `requested`, `synced` or `failed`.
    pub outcome: String,
    /// Job status, when synced.
    pub job_status: Option<String>,
    /// Items processed, when synced.
    pub processed: Option<u64>,
    /// Items in all, when synced.
    pub total: Option<u64>,
    /// Server's last seq, when synced.
    pub last_seq: Option<u64>,
    /// HTTP status, when failed with one.
    pub http_status: Option<u16>,
    /// Error class, when failed (scrubbed).
    pub error: Option<String>,
    /// Whether another try follows, when failed.
    pub will_retry: Option<bool>,
}

/// The job's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRecord {
    /// Items processed.
    pub processed: u64,
    /// Items in all.
    pub total: u64,
    /// Job status, where known.
    pub status: Option<String>,
    /// `event` or `state_sync`.
    pub source: String,
}

/// Wall time as ns since the Unix epoch (negative before it).
pub fn wall_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn job_status(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Complete => "complete",
        JobStatus::Failed => "failed",
        JobStatus::Canceled => "canceled",
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

fn side(s: FindingSide) -> &'static str {
    match s {
        FindingSide::Prevented => "prevented",
        FindingSide::Peer => "peer",
        FindingSide::Network => "network",
        FindingSide::Client => "client",
    }
}

impl EventRecord {
    /// What the event says, whoever read it: without its row id, the
    /// finding's links to other rows and the frame's payload (which the
    /// live ring and the payload cap may leave out). Two reads of one event,
    /// from the database and from a live subscription, are equal this way.
    pub fn content(mut self) -> EventRecord {
        self.event_id = 0;
        match &mut self.body {
            EventBody::Frame(f) => {
                f.payload = None;
                f.payload_truncated = false;
            }
            EventBody::Finding(f) => {
                f.transition_event_id = None;
                f.frame_event_id = None;
            }
            _ => {}
        }
        self
    }

    /// Converts an engine event, scrubbing free text and capping a frame
    /// payload at `payload_cap` bytes (`None`: payloads are not kept).
    pub fn from_event(ev: &Event, payload_cap: Option<usize>) -> EventRecord {
        EventRecord {
            event_id: 0,
            socket_id: ev.socket,
            mono_ns: ev.mono.0,
            wall_ns: wall_ns(ev.wall),
            body: body(&ev.kind, payload_cap),
        }
    }
}

fn body(kind: &EventKind, payload_cap: Option<usize>) -> EventBody {
    match kind {
        EventKind::SocketAdded(info) => EventBody::SocketAdded(SocketRecord {
            name: redact::free_text(&info.name),
            scheme: info.endpoint.scheme.clone(),
            host: info.endpoint.host.clone(),
            port: info.endpoint.port,
            path: redact::free_text(&info.endpoint.path),
            adapter: info.adapter.as_str().to_owned(),
            job_id: info.job_id.as_deref().map(redact::free_text),
            token_source: info.token_source.as_deref().map(redact::token_source),
        }),
        EventKind::Transition { from, to, cause } => {
            EventBody::Transition(transition(*from, to, cause))
        }
        EventKind::Finding(f) => EventBody::Finding(FindingRecord {
            class: f.class.as_str().to_owned(),
            side: side(f.class.side()).to_owned(),
            severity: severity(f.class.severity()).to_owned(),
            attempt: f.attempt,
            detail: serde_json::json!({ "detail": redact::free_text(&f.detail) }).to_string(),
            transition_event_id: None,
            frame_event_id: None,
        }),
        EventKind::Frame(fr) => {
            let (payload, payload_truncated) = match (&fr.text, payload_cap) {
                (Some(t), Some(cap)) => {
                    let (p, cut) = redact::payload(t, cap);
                    (Some(p), cut)
                }
                _ => (None, false),
            };
            EventBody::Frame(FrameRow {
                direction: match fr.direction {
                    Direction::In => "in",
                    Direction::Out => "out",
                }
                .to_owned(),
                opcode: fr.opcode.as_str().to_owned(),
                size: fr.size as u64,
                message_type: fr.message_type.as_deref().map(redact::free_text),
                seq: fr.seq,
                msg_id: fr.msg,
                close_code: fr.close_code,
                payload,
                payload_truncated,
            })
        }
        EventKind::Message { id, stage } => {
            let (stage, depth, drop_reason) = match stage {
                MessageStage::Queued { depth } => ("queued", Some(*depth as u64), None),
                MessageStage::Written => ("written", None, None),
                MessageStage::Dropped { reason } => (
                    "dropped",
                    None,
                    Some(match reason {
                        DropReason::OutboxFull => "outbox_full",
                        DropReason::Closed => "closed",
                        DropReason::Cancelled => "cancelled",
                        DropReason::Failed => "failed",
                        DropReason::TooLarge => "too_large",
                    }),
                ),
            };
            EventBody::Message(MessageRecord {
                msg_id: *id,
                stage: stage.to_owned(),
                depth,
                drop_reason: drop_reason.map(str::to_owned),
            })
        }
        EventKind::BackoffPlanned {
            attempt,
            delay,
            ceiling,
        } => EventBody::BackoffPlanned(BackoffRecord {
            attempt: *attempt,
            delay_ns: ns(*delay),
            ceiling_ns: ns(*ceiling),
        }),
        EventKind::StateSync(s) => {
            let mut row = StateSyncRow {
                try_no: s.try_no,
                outcome: String::new(),
                job_status: None,
                processed: None,
                total: None,
                last_seq: None,
                http_status: None,
                error: None,
                will_retry: None,
            };
            match &s.outcome {
                StateSyncOutcome::Requested => row.outcome = "requested".into(),
                StateSyncOutcome::Synced {
                    status,
                    processed,
                    total,
                    last_seq,
                } => {
                    row.outcome = "synced".into();
                    row.job_status = Some(job_status(*status).into());
                    row.processed = Some(*processed);
                    row.total = Some(*total);
                    row.last_seq = Some(*last_seq);
                }
                StateSyncOutcome::Failed {
                    status,
                    error,
                    will_retry,
                } => {
                    row.outcome = "failed".into();
                    row.http_status = *status;
                    row.error = Some(redact::free_text(error));
                    row.will_retry = Some(*will_retry);
                }
            }
            EventBody::StateSync(row)
        }
        EventKind::Progress(p) => EventBody::Progress(ProgressRecord {
            processed: p.processed,
            total: p.total,
            status: p.status.map(|s| job_status(s).to_owned()),
            source: match p.source {
                ProgressSource::Event => "event",
                ProgressSource::StateSync => "state_sync",
            }
            .to_owned(),
        }),
        EventKind::HeartbeatAnswered { rtt } => EventBody::HeartbeatAnswered { rtt_ns: ns(*rtt) },
        EventKind::Environment(change) => EventBody::Environment(match change {
            EnvironmentChange::Address {
                added,
                addr,
                prefix,
            } => EnvironmentRecord {
                change: if *added {
                    "address_added"
                } else {
                    "address_removed"
                }
                .to_owned(),
                detail: format!("{addr}/{prefix}"),
            },
            EnvironmentChange::Wake { suspended } => EnvironmentRecord {
                change: "wake".to_owned(),
                detail: format!("suspended {:.3} s", suspended.as_secs_f64()),
            },
        }),
        // Engine-wide like the others: a line across every lane where the
        // recording stopped.
        EventKind::RecordingFailed { reason } => EventBody::Environment(EnvironmentRecord {
            change: "recording_failed".to_owned(),
            detail: redact::free_text(reason),
        }),
    }
}

fn transition(from: sockscope_engine::StateName, to: &State, cause: &Cause) -> TransitionRecord {
    let mut t = TransitionRecord {
        from: from.as_str().to_owned(),
        to: to.name().as_str().to_owned(),
        attempt: None,
        backoff_until_ns: None,
        close_code: None,
        close_initiator: None,
        reason: None,
        reason_detail: None,
        cause: String::new(),
        cause_detail: None,
        error_type: None,
    };
    match to {
        State::Idle | State::Cancelled => {}
        State::Connecting { attempt }
        | State::AwaitingReady { attempt }
        | State::Ready { attempt } => t.attempt = Some(*attempt),
        State::Backoff { attempt, until } => {
            t.attempt = Some(*attempt);
            t.backoff_until_ns = Some(until.0);
        }
        State::Closing { initiator, code } => {
            t.close_code = Some(*code);
            t.close_initiator = Some(
                match initiator {
                    Side::Us => "us",
                    Side::Peer => "peer",
                }
                .into(),
            );
        }
        State::Closed { reason } => match reason {
            ClosedReason::JobFinished => t.reason = Some("job_finished".into()),
            ClosedReason::UserClosed => t.reason = Some("user_closed".into()),
            ClosedReason::CaptureEnded => t.reason = Some("capture_ended".into()),
            ClosedReason::ConnectionLost { by } => {
                t.reason = Some("connection_lost".into());
                let by = match by {
                    Side::Us => "us",
                    Side::Peer => "peer",
                };
                t.reason_detail = Some(serde_json::json!({ "by": by }).to_string());
            }
            ClosedReason::PeerClosed { code } => {
                t.reason = Some("peer_closed".into());
                t.reason_detail = Some(serde_json::json!({ "code": code }).to_string());
            }
            ClosedReason::JobFailed { code, retryable } => {
                t.reason = Some("job_failed".into());
                t.reason_detail = Some(
                    serde_json::json!({"code": redact::free_text(code), "retryable": retryable})
                        .to_string(),
                );
            }
        },
        State::Failed { reason } => match reason {
            FailedReason::ReconnectExhausted { attempts } => {
                t.reason = Some("reconnect_exhausted".into());
                t.reason_detail = Some(serde_json::json!({ "attempts": attempts }).to_string());
            }
            FailedReason::Unauthorized => t.reason = Some("unauthorized".into()),
            FailedReason::JobUnknown => t.reason = Some("job_unknown".into()),
            FailedReason::TokenUnavailable => t.reason = Some("token_unavailable".into()),
        },
    }
    let error_text = |e: &ErrorClass| match e {
        ErrorClass::HttpStatus(s) => Some(s.to_string()),
        ErrorClass::Io(m) | ErrorClass::Tls(m) | ErrorClass::Protocol(m) => {
            Some(redact::free_text(m))
        }
        ErrorClass::Token => None,
    };
    let (name, detail): (&str, Option<String>) = match cause {
        Cause::Start => ("start", None),
        Cause::HandshakeDone => ("handshake_done", None),
        Cause::ReadyAck { replayed } => ("ready_ack", Some(replayed.to_string())),
        Cause::HandshakeFailed(e) => {
            t.error_type = Some(redact::free_text(&e.type_name()));
            ("handshake_failed", error_text(e))
        }
        Cause::Timeout(k) => ("timeout", Some(k.as_str().to_owned())),
        Cause::PeerClose { code } => {
            t.close_code.get_or_insert(*code);
            ("peer_close", Some(code.to_string()))
        }
        Cause::TransportEnded { code } => {
            t.close_code.get_or_insert(*code);
            ("transport_ended", Some(code.to_string()))
        }
        Cause::TransportError(e) => {
            t.error_type = Some(redact::free_text(&e.type_name()));
            ("transport_error", error_text(e))
        }
        Cause::HeartbeatLost => ("heartbeat_lost", None),
        Cause::BackoffElapsed => ("backoff_elapsed", None),
        Cause::NetworkChanged => ("network_changed", None),
        Cause::User(a) => ("user", Some(a.as_str().to_owned())),
        Cause::StateSyncNotFound => ("state_sync_not_found", None),
        Cause::JobEnded => ("job_ended", None),
        Cause::TokenUnavailable => ("token_unavailable", None),
        Cause::RetriesExhausted => ("retries_exhausted", None),
        Cause::NotCaptured => ("not_captured", None),
    };
    if matches!(
        cause,
        Cause::HeartbeatLost
            | Cause::StateSyncNotFound
            | Cause::TokenUnavailable
            | Cause::RetriesExhausted
    ) {
        t.error_type = Some(name.to_owned());
    }
    if let Cause::Timeout(k) = cause {
        t.error_type = Some(format!("{}_timeout", k.as_str()));
    }
    t.cause = name.to_owned();
    t.cause_detail = detail;
    t
}
