//! A trace builder started while sockets run (live export switched on
//! mid-session): seeded with their states, it names the open interval by
//! the real state and sends each socket's root span, without a token.

use sockscope_engine::event::{Cause, ClosedReason, EventKind, Side, State, StateName, UserAction};
use sockscope_engine::{Event, Snapshot};
use sockscope_recorder::record::wall_ns;
use sockscope_recorder::trace::{
    AttrValue, RunningSocket, SpanRecord, TraceBuilder, span_id, trace_id,
};
use sockscope_recorder::{EventRecord, SessionTag};

use crate::synthetic::{epoch, ev, frame_in, socket_info, transition};

const SECRET: &str = "tok_R3sum3d-0a1b2c3d4e5f";
const MS: u64 = 1_000_000;
const CLOSE: Cause = Cause::User(UserAction::Close);
const CANCEL: Cause = Cause::User(UserAction::Cancel);
const SESSION: SessionTag = SessionTag {
    id: 3,
    trace_salt: 99,
};

/// Socket `id` as a snapshot shows it, with a token planted where a
/// careless root span would carry it.
fn running(id: u64, state: State) -> RunningSocket {
    let mut info = socket_info(id, Some(format!("static:{SECRET}")));
    info.endpoint.path = format!("/ws/progress/token={SECRET}");
    let snapshot = Snapshot {
        state,
        attempts: 2,
        last_seq: Some(7),
        outbox: 0,
        progress: None,
        findings: 0,
        last_rtt: None,
        sync_pending: false,
        sync_gave_up: None,
    };
    RunningSocket::new(id, &info, &snapshot)
}

/// Seeds a builder at mono 10 ms, feeds it `events`, then ends it at
/// mono 1 s.
fn build(seed: Vec<RunningSocket>, events: &[Event]) -> Vec<SpanRecord> {
    let since = wall_ns(epoch()) + (10 * MS) as i64;
    let mut b = TraceBuilder::resume(SESSION, since, seed);
    let mut out = Vec::new();
    for e in events {
        b.push(&EventRecord::from_event(e, None), &mut out);
    }
    b.finish_all(wall_ns(epoch()) + (1000 * MS) as i64, &mut out);
    out
}

fn names(spans: &[SpanRecord]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn attr<'a>(s: &'a SpanRecord, key: &str) -> Option<&'a AttrValue> {
    s.attributes.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Socket 1 moves from `from` to `to` at `ms` (mono).
fn moved(ms: u64, from: StateName, to: State, cause: Cause) -> Event {
    ev(1, ms * MS, transition(from, to, cause))
}

fn closing(code: u16) -> State {
    State::Closing {
        initiator: Side::Us,
        code,
    }
}

/// One trace; the root first, without parent; every interval its child.
fn assert_one_trace(spans: &[SpanRecord], socket: u64) {
    let trace = trace_id(SESSION, socket);
    let root = &spans[0];
    assert_eq!(root.span_id, span_id(trace, 0));
    assert_eq!(root.parent, None);
    for s in spans {
        assert_eq!(s.trace_id, trace, "{} is in the socket's trace", s.name);
    }
    for s in &spans[1..] {
        assert_eq!(
            s.parent,
            Some(root.span_id),
            "{} is the root's child",
            s.name
        );
        assert_ne!(s.span_id, root.span_id);
        assert!(
            s.start_ns >= root.start_ns,
            "{} starts after the root",
            s.name
        );
    }
}

#[test]
fn a_seeded_ready_socket_gets_a_ready_interval_and_its_root_span() {
    let events = [
        ev(1, 20 * MS, frame_in(8, None)),
        moved(30, StateName::Ready, closing(1000), CLOSE),
        moved(
            40,
            StateName::Closing,
            State::Closed {
                reason: ClosedReason::UserClosed,
            },
            Cause::TransportEnded { code: 1000 },
        ),
    ];
    let spans = build(vec![running(1, State::Ready { attempt: 2 })], &events);
    assert_eq!(
        names(&spans),
        ["socket job socket 1", "Ready", "Closing", "Closed"]
    );
    assert_one_trace(&spans, 1);

    let root = &spans[0];
    let resumed = Some(&AttrValue::Bool(true));
    assert_eq!(attr(root, "sockscope.resumed"), resumed);
    assert_eq!(
        attr(root, "sockscope.job.id"),
        Some(&AttrValue::Str("j-1".into()))
    );
    assert_eq!(
        attr(root, "server.address"),
        Some(&AttrValue::Str("jobs.example.test".into()))
    );
    // Zero-length, at the seed, as a root is at SocketAdded.
    let since = wall_ns(epoch()) + (10 * MS) as i64;
    assert_eq!((root.start_ns, root.end_ns), (since, since));

    let ready = &spans[1];
    assert_eq!(attr(ready, "sockscope.resumed"), resumed);
    assert_eq!(attr(ready, "sockscope.attempt"), Some(&AttrValue::Int(2)));
    assert_eq!(attr(ready, "sockscope.unfinished"), None);
    assert_eq!((ready.start_ns, ready.end_ns), (since, spans[2].start_ns));
    assert_eq!(ready.events.len(), 1, "the frame is on the Ready interval");
    assert_eq!(attr(&spans[2], "sockscope.resumed"), None);

    let all = format!("{spans:?}");
    assert!(!all.contains("Idle"), "nothing is named Idle: {all}");
    assert!(!all.contains(SECRET), "the token leaked: {all}");
}

#[test]
fn a_seeded_socket_that_is_cancelled_ends_with_its_root_sent_once() {
    let events = [moved(20, StateName::Ready, State::Cancelled, CANCEL)];
    let spans = build(vec![running(1, State::Ready { attempt: 1 })], &events);
    assert_eq!(names(&spans), ["socket job socket 1", "Ready", "Cancelled"]);
    assert_one_trace(&spans, 1);
}

/// Subscribed first, the snapshot read after: it may already be past an
/// event the builder is still to see. The event's `from` names the open
/// interval, and the events lead back to the snapshot's state.
#[test]
fn a_snapshot_ahead_of_the_events_still_names_every_interval_right() {
    let events = [
        ev(1, 5 * MS, frame_in(9, None)),
        moved(6, StateName::Ready, closing(1001), CANCEL),
        moved(20, StateName::Closing, State::Cancelled, CANCEL),
    ];
    let spans = build(vec![running(1, closing(1001))], &events);
    assert_eq!(
        names(&spans),
        ["socket job socket 1", "Ready", "Closing", "Cancelled"]
    );
    assert_one_trace(&spans, 1);
    let ready = &spans[1];
    assert_eq!(
        attr(ready, "sockscope.state"),
        Some(&AttrValue::Str("Ready".into()))
    );
    assert_eq!(ready.events.len(), 1);
    // It holds the frame it saw: it was open from then, not from the seed.
    let at = |mono: u64| wall_ns(epoch()) + mono as i64;
    assert_eq!((ready.start_ns, ready.end_ns), (at(5 * MS), at(6 * MS)));
}

/// A socket listed before its first event: its `SocketAdded` makes the
/// one root span.
#[test]
fn a_seeded_socket_whose_added_event_follows_has_one_root() {
    let events = [
        ev(
            1,
            20 * MS,
            EventKind::SocketAdded(std::sync::Arc::new(socket_info(1, None))),
        ),
        moved(
            30,
            StateName::Idle,
            State::Connecting { attempt: 1 },
            Cause::Start,
        ),
    ];
    let spans = build(vec![running(1, State::Idle)], &events);
    assert_eq!(names(&spans), ["socket job socket 1", "Idle", "Connecting"]);
    assert_one_trace(&spans, 1);
    assert_eq!(attr(&spans[0], "sockscope.resumed"), None);
}

/// With no event after the seed, the end of the export sends the root and
/// the open interval, unfinished; an ended socket sends nothing.
#[test]
fn seeded_sockets_with_no_event_end_with_the_export() {
    let spans = build(
        vec![
            running(
                1,
                State::Backoff {
                    attempt: 1,
                    until: sockscope_engine::event::Mono(0),
                },
            ),
            running(2, State::Cancelled),
        ],
        &[],
    );
    assert_eq!(names(&spans), ["socket job socket 1", "Backoff"]);
    assert_one_trace(&spans, 1);
    assert_eq!(
        attr(&spans[1], "sockscope.unfinished"),
        Some(&AttrValue::Bool(true))
    );
}
