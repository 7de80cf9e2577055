//! The trace model, shared by live export and exports from history.
//!
//! One trace per socket per session. Its root span ("socket NAME") is
//! zero-length, ended when the socket is added, so that it is exported at
//! once; every state interval (Idle, Connecting, AwaitingReady, Ready,
//! Backoff, Closing, then the terminal state) is a child span that ends at
//! the next transition. Frames, findings, messages, backoffs, state syncs,
//! progress and heartbeats are span events on the interval they fall in.
//! Spans of a socket that lives for hours thus reach the collector at each
//! transition; an unfinished interval is never exported live.
//!
//! A builder started while sockets already run ([`TraceBuilder::resume`],
//! for live export switched on mid-session) is seeded with each socket's
//! configuration and state: the interval open at the seed is named by that
//! state and marked `sockscope.resumed`, and the root span (also marked)
//! is sent with the socket's first span after the seed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use sockscope_engine::event::{Event, EventKind, Mono, SocketInfo, State};
use sockscope_engine::{Snapshot, SocketHandle, SocketId};

use crate::record::{EventBody, EventRecord, SocketRecord, TransitionRecord};
use crate::store::SessionTag;

/// Span events kept per state span; further ones are counted in
/// `sockscope.dropped_events`. Bounds memory for a long Ready interval.
pub const MAX_EVENTS_PER_SPAN: usize = 1024;

/// An attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// Text.
    Str(String),
    /// Integer.
    Int(i64),
    /// Flag.
    Bool(bool),
}

/// A key and value.
pub type Attr = (&'static str, AttrValue);

/// A span event.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEventRecord {
    /// Name, e.g. `frame`, `finding`.
    pub name: &'static str,
    /// Wall ns since the Unix epoch.
    pub time_ns: i64,
    /// Attributes.
    pub attributes: Vec<Attr>,
}

/// A finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: [u8; 16],
    /// Span id.
    pub span_id: [u8; 8],
    /// Parent span id (the socket's root), if any.
    pub parent: Option<[u8; 8]>,
    /// Name: `socket NAME` for the root, the state name otherwise.
    pub name: String,
    /// Start, wall ns.
    pub start_ns: i64,
    /// End, wall ns.
    pub end_ns: i64,
    /// Attributes.
    pub attributes: Vec<Attr>,
    /// Events.
    pub events: Vec<SpanEventRecord>,
    /// `Some(description)` when the interval ended in an error.
    pub error: Option<String>,
}

/// Deterministic ids: live traces and exports from history agree.
fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The trace id of a socket in a session.
pub fn trace_id(session: SessionTag, socket: u64) -> [u8; 16] {
    let a = mix(session.trace_salt ^ mix(session.id as u64));
    let b = mix(a ^ mix(socket));
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_be_bytes());
    out[8..].copy_from_slice(&(b | 1).to_be_bytes());
    out
}

/// The id of a socket's `n`th span (0 is the root).
///
/// `n` counts the spans one builder made for the socket. A builder started
/// mid-session ([`TraceBuilder::resume`]) counts from its seed, so its ids
/// after the root need not match an export of the same session from
/// history, nor those an earlier live export sent for the same socket.
pub fn span_id(trace: [u8; 16], n: u64) -> [u8; 8] {
    let t = u64::from_be_bytes(trace[8..].try_into().unwrap_or([0; 8]));
    (mix(t ^ mix(n)) | 1).to_be_bytes()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
struct OpenSpan {
    span: SpanRecord,
    dropped: u64,
}

#[derive(Debug)]
struct SocketTrace {
    trace_id: [u8; 16],
    root: [u8; 8],
    spans: u64,
    attempt: Option<u32>,
    current: Option<OpenSpan>,
    /// A seeded socket's root span, sent with its first event.
    held_root: Option<SpanRecord>,
    /// A seeded socket's state, until its first transition.
    seeded: Option<String>,
}

impl SocketTrace {
    fn new(session: SessionTag, socket: u64) -> SocketTrace {
        let trace = trace_id(session, socket);
        SocketTrace {
            trace_id: trace,
            root: span_id(trace, 0),
            spans: 0,
            attempt: None,
            current: None,
            held_root: None,
            seeded: None,
        }
    }
}

/// A socket already running when a builder starts: what its root span and
/// its open interval need.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningSocket {
    /// Engine socket id.
    pub socket_id: u64,
    /// Its configuration, scrubbed as for `SocketAdded`.
    pub info: SocketRecord,
    /// Its state's name now, e.g. `Ready`.
    pub state: String,
    /// Its latest connection attempt, if any.
    pub attempt: Option<u32>,
}

impl RunningSocket {
    /// From a socket's configuration and snapshot.
    pub fn new(socket_id: SocketId, info: &SocketInfo, snapshot: &Snapshot) -> RunningSocket {
        // Through the record of a `SocketAdded`, so the scrubbing is the
        // one every recorded socket gets.
        let added = Event {
            socket: socket_id,
            mono: Mono(0),
            wall: std::time::UNIX_EPOCH,
            kind: EventKind::SocketAdded(std::sync::Arc::new(info.clone())),
        };
        let info = match EventRecord::from_event(&added, None).body {
            EventBody::SocketAdded(info) => info,
            other => unreachable!("a SocketAdded event recorded as {}", other.kind()),
        };
        let attempt = match snapshot.state {
            State::Connecting { attempt }
            | State::AwaitingReady { attempt }
            | State::Ready { attempt } => Some(attempt),
            _ => (snapshot.attempts > 0).then_some(snapshot.attempts),
        };
        RunningSocket {
            socket_id,
            info,
            state: snapshot.state.name().as_str().to_owned(),
            attempt,
        }
    }

    /// A socket as its handle shows it now.
    pub fn from_handle(handle: &SocketHandle) -> RunningSocket {
        RunningSocket::new(handle.id(), handle.info(), &handle.snapshot())
    }
}

/// Turns a stream of event records into finished spans.
#[derive(Debug)]
pub struct TraceBuilder {
    session: SessionTag,
    sockets: HashMap<u64, SocketTrace>,
}

impl TraceBuilder {
    /// A builder for one session.
    pub fn new(session: SessionTag) -> TraceBuilder {
        TraceBuilder {
            session,
            sockets: HashMap::new(),
        }
    }

    /// A builder for a session whose `sockets` already run, seeded at
    /// `since_ns` (wall): each socket's open interval is named by its state
    /// (a terminal one opens none), and its root span is sent with its
    /// first span from here. Both are marked `sockscope.resumed`; span ids
    /// count from here (see [`span_id`]).
    ///
    /// Take the snapshots after subscribing to the events fed to
    /// [`TraceBuilder::push`], so that none falls between them; an event
    /// that is also in a snapshot is handled there.
    pub fn resume(
        session: SessionTag,
        since_ns: i64,
        sockets: impl IntoIterator<Item = RunningSocket>,
    ) -> TraceBuilder {
        let mut builder = TraceBuilder::new(session);
        for r in sockets {
            let mut st = SocketTrace::new(session, r.socket_id);
            let mut attrs = socket_attrs(session, r.socket_id, &r.info);
            attrs.push(resumed());
            st.held_root = Some(root_span(&st, &r.info.name, since_ns, attrs));
            st.attempt = r.attempt;
            if !is_terminal(&r.state) {
                open(&mut st, r.socket_id, &r.state, since_ns, vec![resumed()]);
            }
            st.seeded = Some(r.state);
            builder.sockets.insert(r.socket_id, st);
        }
        builder
    }

    /// Takes one event; pushes the spans it finished onto `out`.
    pub fn push(&mut self, e: &EventRecord, out: &mut Vec<SpanRecord>) {
        // Engine-wide changes belong to no socket's trace.
        if matches!(e.body, EventBody::Environment(_)) {
            return;
        }
        let session = self.session;
        if let EventBody::SocketAdded(info) = &e.body {
            let mut st = SocketTrace::new(session, e.socket_id);
            let attrs = socket_attrs(session, e.socket_id, info);
            out.push(root_span(&st, &info.name, e.wall_ns, attrs));
            open(&mut st, e.socket_id, "Idle", e.wall_ns, Vec::new());
            match self.sockets.insert(e.socket_id, st) {
                // Seeded from a snapshot taken before the socket's first
                // event: this event says it all.
                Some(old) if old.held_root.is_some() => {}
                Some(old) => close_into(old, e.wall_ns, None, out),
                None => {}
            }
            return;
        }
        // Events of a socket neither added nor seeded here start a trace
        // without its root.
        let st = self
            .sockets
            .entry(e.socket_id)
            .or_insert_with(|| SocketTrace::new(session, e.socket_id));
        if let Some(mut root) = st.held_root.take() {
            root.start_ns = root.start_ns.min(e.wall_ns);
            root.end_ns = root.start_ns;
            out.push(root);
        }
        if let Some(seeded) = st.seeded.as_deref() {
            // The events were subscribed to before the snapshots were read,
            // so a snapshot may already be past some of them (it is never
            // behind). A transition from the seeded state continues the
            // seeded interval; one from another state came before the
            // snapshot, so its `from` names the interval open now, and
            // the events that follow lead back to the seeded state.
            if let EventBody::Transition(t) = &e.body {
                if t.from != seeded {
                    match st.current.as_mut() {
                        Some(cur) => {
                            cur.span.name.clone_from(&t.from);
                            cur.span.attributes[0] = ("sockscope.state", s(&t.from));
                        }
                        None => open(st, e.socket_id, &t.from, e.wall_ns, vec![resumed()]),
                    }
                }
                st.seeded = None;
            }
            if let Some(cur) = st.current.as_mut() {
                cur.span.start_ns = cur.span.start_ns.min(e.wall_ns);
            }
        }
        if st.current.is_none() {
            open(st, e.socket_id, "Idle", e.wall_ns, Vec::new());
        }
        match &e.body {
            EventBody::Transition(t) => {
                if let Some(mut cur) = st.current.take() {
                    cur.span.attributes.push(("sockscope.next_state", s(&t.to)));
                    cur.span
                        .attributes
                        .push(("sockscope.exit_cause", s(&t.cause)));
                    let error = t.error_type.clone();
                    if let Some(et) = &error {
                        cur.span.attributes.push(("error.type", s(et)));
                    }
                    finish(cur, e.wall_ns, error, out);
                }
                if t.attempt.is_some() && t.to != "Backoff" {
                    st.attempt = t.attempt;
                }
                open(st, e.socket_id, &t.to, e.wall_ns, transition_attrs(t));
                if is_terminal(&t.to) {
                    // Terminal: nothing follows, so end it now.
                    let cur = st.current.take();
                    if let Some(cur) = cur {
                        let error = (t.to == "Failed")
                            .then(|| t.reason.clone().unwrap_or_else(|| "failed".into()));
                        finish(cur, e.wall_ns, error, out);
                    }
                }
            }
            body => {
                let Some(ev) = span_event(body, e.wall_ns) else {
                    return;
                };
                let Some(cur) = st.current.as_mut() else {
                    return;
                };
                if cur.span.events.len() < MAX_EVENTS_PER_SPAN {
                    cur.span.events.push(ev);
                } else {
                    cur.dropped += 1;
                }
            }
        }
    }

    /// Ends every open interval at `end_ns` (marked
    /// `sockscope.unfinished`), for the end of a session or a shutdown. A
    /// seeded socket that had no event since goes with its root.
    pub fn finish_all(&mut self, end_ns: i64, out: &mut Vec<SpanRecord>) {
        let mut ids: Vec<u64> = self.sockets.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(st) = self.sockets.remove(&id) {
                close_into(st, end_ns, None, out);
            }
        }
    }
}

fn root_span(st: &SocketTrace, name: &str, at_ns: i64, attributes: Vec<Attr>) -> SpanRecord {
    SpanRecord {
        trace_id: st.trace_id,
        span_id: st.root,
        parent: None,
        name: format!("socket {name}"),
        start_ns: at_ns,
        end_ns: at_ns,
        attributes,
        events: Vec::new(),
        error: None,
    }
}

fn resumed() -> Attr {
    ("sockscope.resumed", AttrValue::Bool(true))
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "Closed" | "Failed" | "Cancelled")
}

fn close_into(mut st: SocketTrace, end_ns: i64, error: Option<String>, out: &mut Vec<SpanRecord>) {
    // A seeded socket's root goes only with an interval of its own.
    if let (Some(root), Some(_)) = (st.held_root.take(), &st.current) {
        out.push(root);
    }
    if let Some(mut cur) = st.current.take() {
        cur.span
            .attributes
            .push(("sockscope.unfinished", AttrValue::Bool(true)));
        let end = end_ns.max(cur.span.start_ns);
        finish(cur, end, error, out);
    }
}

fn finish(mut cur: OpenSpan, end_ns: i64, error: Option<String>, out: &mut Vec<SpanRecord>) {
    if cur.dropped > 0 {
        cur.span.attributes.push((
            "sockscope.dropped_events",
            AttrValue::Int(cur.dropped as i64),
        ));
    }
    cur.span.end_ns = end_ns.max(cur.span.start_ns);
    cur.span.error = error;
    out.push(cur.span);
}

fn open(st: &mut SocketTrace, socket: u64, state: &str, start_ns: i64, mut attrs: Vec<Attr>) {
    st.spans += 1;
    attrs.insert(0, ("sockscope.state", s(state)));
    attrs.insert(1, ("sockscope.socket.id", AttrValue::Int(socket as i64)));
    if let Some(a) = st.attempt {
        if !attrs.iter().any(|(k, _)| *k == "sockscope.attempt") {
            attrs.push(("sockscope.attempt", AttrValue::Int(a.into())));
        }
    }
    st.current = Some(OpenSpan {
        span: SpanRecord {
            trace_id: st.trace_id,
            span_id: span_id(st.trace_id, st.spans),
            parent: Some(st.root),
            name: state.to_owned(),
            start_ns,
            end_ns: start_ns,
            attributes: attrs,
            events: Vec::new(),
            error: None,
        },
        dropped: 0,
    });
}

pub(crate) fn s(v: &str) -> AttrValue {
    AttrValue::Str(v.to_owned())
}

pub(crate) fn i(v: impl TryInto<i64>) -> AttrValue {
    AttrValue::Int(v.try_into().unwrap_or(i64::MAX))
}

/// Root span attributes: OTel semconv where it exists, sockscope.* else.
fn socket_attrs(session: SessionTag, socket: u64, info: &SocketRecord) -> Vec<Attr> {
    let mut a = vec![
        ("server.address", s(&info.host)),
        ("server.port", i(info.port)),
        ("url.scheme", s(&info.scheme)),
        ("url.path", s(&info.path)),
        ("network.protocol.name", s("websocket")),
        ("sockscope.session.id", i(session.id)),
        ("sockscope.socket.id", i(socket)),
        ("sockscope.socket.name", s(&info.name)),
        ("sockscope.adapter", s(&info.adapter)),
    ];
    if let Some(j) = &info.job_id {
        a.push(("sockscope.job.id", s(j)));
    }
    if let Some(t) = &info.token_source {
        a.push(("sockscope.token_source", s(t)));
    }
    a
}

fn transition_attrs(t: &TransitionRecord) -> Vec<Attr> {
    let mut a = vec![("sockscope.entry_cause", s(&t.cause))];
    if let Some(d) = &t.cause_detail {
        a.push(("sockscope.entry_cause_detail", s(d)));
    }
    if let Some(x) = t.attempt {
        a.push(("sockscope.attempt", i(x)));
    }
    if let Some(c) = t.close_code {
        a.push(("sockscope.close_code", i(c)));
    }
    if let Some(c) = &t.close_initiator {
        a.push(("sockscope.close_initiator", s(c)));
    }
    if let Some(r) = &t.reason {
        a.push(("sockscope.reason", s(r)));
    }
    if let Some(r) = &t.reason_detail {
        a.push(("sockscope.reason_detail", s(r)));
    }
    if let Some(u) = t.backoff_until_ns {
        a.push(("sockscope.backoff_until_mono_ns", i(u)));
    }
    a
}

fn span_event(body: &EventBody, time_ns: i64) -> Option<SpanEventRecord> {
    let (name, attributes) = body.span_event()?;
    Some(SpanEventRecord {
        name,
        time_ns,
        attributes,
    })
}
