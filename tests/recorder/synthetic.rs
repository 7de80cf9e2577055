//! Synthetic engine events: a plausible socket life (added, connect,
//! ready, frames, findings, drops, backoffs, state syncs), generated
//! without an engine. Shared by the tests and the benchmark.

#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use sockscope_engine::AdapterKind;
use sockscope_engine::event::{
    Cause, Direction, Endpoint, ErrorClass, Event, EventKind, Finding, FindingClass, FrameRecord,
    MessageStage, Mono, Opcode, Progress, ProgressSource, Side, SocketInfo, State, StateName,
    StateSyncOutcome, StateSyncRecord,
};
use sockscope_protocol::JobStatus;

/// Wall time of mono 0 in synthetic runs: a fixed instant, so exports are
/// comparable.
pub fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// An event of `socket` at `mono` ns (wall: [`epoch`] plus `mono`).
pub fn ev(socket: u64, mono: u64, kind: EventKind) -> Event {
    Event {
        socket,
        mono: Mono(mono),
        wall: epoch() + Duration::from_nanos(mono),
        kind,
    }
}

/// The socket config used for socket `id`.
pub fn socket_info(id: u64, token_source: Option<String>) -> SocketInfo {
    SocketInfo {
        name: format!("job socket {id}"),
        endpoint: Endpoint {
            scheme: "wss".into(),
            host: "jobs.example.test".into(),
            port: 8443,
            path: "/ws/progress".into(),
        },
        adapter: AdapterKind::Job,
        job_id: Some(format!("j-{id}")),
        token_source,
    }
}

/// A transition event's kind.
pub fn transition(from: StateName, to: State, cause: Cause) -> EventKind {
    EventKind::Transition { from, to, cause }
}

/// An incoming `job_progress` frame.
pub fn frame_in(seq: u64, text: Option<String>) -> EventKind {
    EventKind::Frame(FrameRecord {
        direction: Direction::In,
        opcode: Opcode::Text,
        size: text.as_ref().map_or(64, |t| t.len()),
        message_type: Some("job_progress".into()),
        seq: Some(seq),
        msg: None,
        close_code: None,
        text: text.map(Into::into),
        binary: None,
    })
}

/// An incoming binary frame (as the recording proxy captures one).
pub fn binary_in(bytes: Vec<u8>) -> EventKind {
    EventKind::Frame(FrameRecord {
        size: bytes.len(),
        binary: Some(bytes.into()),
        ..FrameRecord::new(Direction::In, Opcode::Binary, 0)
    })
}

/// One socket's scripted life: every kind of event, in a realistic order.
/// `frames` job_progress frames arrive while Ready; `secret`, if given, is
/// planted where a careless recorder would leak it.
pub fn socket_life(socket: u64, start_mono: u64, frames: u64, secret: Option<&str>) -> Vec<Event> {
    let mut t = start_mono;
    let mut next = |step: u64| {
        t += step;
        t
    };
    let ms = 1_000_000;
    let mut out = Vec::new();
    let token_source = secret.map(|s| format!("static:{s}"));
    out.push(ev(
        socket,
        next(0),
        EventKind::SocketAdded(std::sync::Arc::new(socket_info(socket, token_source))),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::Idle,
            State::Connecting { attempt: 1 },
            Cause::Start,
        ),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::Connecting,
            State::AwaitingReady { attempt: 1 },
            Cause::HandshakeDone,
        ),
    ));
    let ready_text = match secret {
        Some(s) => format!(
            r#"{{"v":1,"type":"ready","payload":{{"resumeFrom":null,"token":"{s}"}},"note":"Authorization: Bearer {s}"}}"#
        ),
        None => r#"{"v":1,"type":"ready","payload":{"resumeFrom":null}}"#.into(),
    };
    out.push(ev(
        socket,
        next(ms),
        EventKind::Frame(FrameRecord {
            direction: Direction::Out,
            opcode: Opcode::Text,
            size: ready_text.len(),
            message_type: Some("ready".into()),
            seq: None,
            msg: None,
            close_code: None,
            text: Some(ready_text.into()),
            binary: None,
        }),
    ));
    out.push(ev(
        socket,
        next(ms),
        EventKind::Finding(Finding {
            class: FindingClass::ReadyTimeout,
            attempt: 1,
            detail: match secret {
                Some(s) => format!("no ready_ack after 5s; token={s}"),
                None => "no ready_ack after 5s".into(),
            },
        }),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::AwaitingReady,
            State::Ready { attempt: 1 },
            Cause::ReadyAck { replayed: 0 },
        ),
    ));
    out.push(ev(
        socket,
        next(ms),
        EventKind::Message {
            id: 1,
            stage: MessageStage::Written,
        },
    ));
    for seq in 1..=frames {
        let text = (seq % 16 == 1).then(|| {
            format!(r#"{{"v":1,"type":"job_progress","jobId":"j-{socket}","seq":{seq},"payload":{{"processedCount":{seq},"totalCount":{frames}}}}}"#)
        });
        out.push(ev(socket, next(10_000), frame_in(seq, text)));
    }
    out.push(ev(
        socket,
        next(ms),
        EventKind::Progress(Progress {
            processed: frames,
            total: frames * 2,
            status: Some(JobStatus::Running),
            source: ProgressSource::Event,
        }),
    ));
    out.push(ev(
        socket,
        next(ms),
        EventKind::HeartbeatAnswered {
            rtt: Duration::from_millis(12),
        },
    ));
    out.push(ev(
        sockscope_engine::event::ENGINE_WIDE,
        next(ms),
        EventKind::Environment(sockscope_engine::event::EnvironmentChange::Wake {
            suspended: Duration::from_secs(90),
        }),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::Ready,
            State::Backoff {
                attempt: 1,
                until: Mono(start_mono + 1000 * ms),
            },
            Cause::TransportEnded { code: 1006 },
        ),
    ));
    out.push(ev(
        socket,
        next(0),
        EventKind::Finding(Finding {
            class: FindingClass::AbnormalClose,
            attempt: 1,
            detail: "transport ended with no close frame".into(),
        }),
    ));
    out.push(ev(
        socket,
        next(1),
        EventKind::BackoffPlanned {
            attempt: 1,
            delay: Duration::from_millis(800),
            ceiling: Duration::from_secs(1),
        },
    ));
    out.push(ev(
        socket,
        next(800 * ms),
        transition(
            StateName::Backoff,
            State::Connecting { attempt: 2 },
            Cause::BackoffElapsed,
        ),
    ));
    let handshake_error = match secret {
        Some(s) => ErrorClass::Io(format!("refused (Authorization: Bearer {s})")),
        None => ErrorClass::Io("refused".into()),
    };
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::Connecting,
            State::Backoff {
                attempt: 2,
                until: Mono(start_mono + 2000 * ms),
            },
            Cause::HandshakeFailed(handshake_error),
        ),
    ));
    out.push(ev(
        socket,
        next(1),
        EventKind::BackoffPlanned {
            attempt: 2,
            delay: Duration::from_millis(1500),
            ceiling: Duration::from_secs(2),
        },
    ));
    out.push(ev(
        socket,
        next(1500 * ms),
        transition(
            StateName::Backoff,
            State::Connecting { attempt: 3 },
            Cause::BackoffElapsed,
        ),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::Connecting,
            State::AwaitingReady { attempt: 3 },
            Cause::HandshakeDone,
        ),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::AwaitingReady,
            State::Ready { attempt: 3 },
            Cause::ReadyAck { replayed: 0 },
        ),
    ));
    out.push(ev(
        socket,
        next(ms),
        EventKind::StateSync(StateSyncRecord {
            try_no: 1,
            outcome: StateSyncOutcome::Requested,
        }),
    ));
    out.push(ev(
        socket,
        next(ms),
        EventKind::StateSync(StateSyncRecord {
            try_no: 1,
            outcome: StateSyncOutcome::Synced {
                status: JobStatus::Complete,
                processed: 2 * frames,
                total: 2 * frames,
                last_seq: frames + 1,
            },
        }),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::Ready,
            State::Closing {
                initiator: Side::Peer,
                code: 1000,
            },
            Cause::PeerClose { code: 1000 },
        ),
    ));
    out.push(ev(
        socket,
        next(ms),
        transition(
            StateName::Closing,
            State::Closed {
                reason: sockscope_engine::event::ClosedReason::JobFinished,
            },
            Cause::TransportEnded { code: 1000 },
        ),
    ));
    out
}

/// A burst of `total` events over `sockets` sockets, interleaved round
/// robin, mono strictly increasing overall. Lazily generated. Each event's
/// mono equals its index in the burst (in ns), so a prefix is easy to check.
pub fn burst(total: u64, sockets: u64) -> impl Iterator<Item = Event> {
    (0..total).map(move |i| {
        let socket = 1 + i % sockets;
        let n = i / sockets;
        let kind = if n == 0 {
            EventKind::SocketAdded(std::sync::Arc::new(socket_info(socket, None)))
        } else if n % 1000 == 1 {
            transition(
                StateName::Connecting,
                State::Ready { attempt: 1 },
                Cause::ReadyAck { replayed: 0 },
            )
        } else if n % 500 == 7 {
            EventKind::Finding(Finding {
                class: FindingClass::DuplicateSeq,
                attempt: 1,
                detail: "dup".into(),
            })
        } else {
            let text = (n % 64 == 3).then(|| format!(r#"{{"type":"job_progress","seq":{n}}}"#));
            frame_in(n, text)
        };
        ev(socket, i, kind)
    })
}
