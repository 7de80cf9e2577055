//! The one place that turns what was seen on an observed connection (an
//! attempt, its upgrade, frames and close frames either way, its end) into
//! engine events: the lane's transitions, its frames with the type and seq
//! the [`Observer`] read, and the observer's findings. The HAR importer and
//! the recording proxy both build their lanes here, so a capture and a
//! recording read the same.
//!
//! Sans-IO: times come in as wall ns since the Unix epoch, and events go
//! into [`LaneEvents`], which the caller hands on (a blocking send for an
//! import, the recorder and live subscribers for the proxy).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockscope_engine::event::{
    Cause, ClosedReason, Direction, Endpoint, Event, EventKind, Finding, FrameRecord, Handshake,
    Mono, Opcode, Side, SocketInfo, StateName,
};
use sockscope_engine::observer::{Observation, Observer, Seen};
use sockscope_engine::{AdapterKind, SocketId, State};

/// Events of a session's lanes, waiting to be handed on, and what they
/// held. Monotonic time counts from the session's first moment.
#[derive(Debug, Default)]
pub(crate) struct LaneEvents {
    /// Wall ns of the session's first moment.
    base_ns: Option<i64>,
    events: Vec<Event>,
    /// Frames recorded, data and control.
    pub frames: u64,
    /// Findings recorded.
    pub findings: u64,
}

impl LaneEvents {
    /// Events whose monotonic time counts from `base_ns`; `None` takes the
    /// first event's time.
    pub fn starting_at(base_ns: Option<i64>) -> LaneEvents {
        LaneEvents {
            base_ns,
            ..LaneEvents::default()
        }
    }

    /// The events made since the last take, in order.
    pub fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The monotonic time of `wall_ns`.
    fn mono(&mut self, wall_ns: i64) -> Mono {
        let base = *self.base_ns.get_or_insert(wall_ns);
        Mono(u64::try_from(wall_ns.saturating_sub(base)).unwrap_or(0))
    }

    fn push(&mut self, socket: SocketId, wall_ns: i64, kind: EventKind) {
        let mono = self.mono(wall_ns);
        let wall = match u64::try_from(wall_ns) {
            Ok(ns) => UNIX_EPOCH + Duration::from_nanos(ns),
            Err(_) => SystemTime::UNIX_EPOCH,
        };
        self.events.push(Event {
            socket,
            mono,
            wall,
            kind,
        });
    }
}

/// One lane: a connection's attempts, as seen from outside.
#[derive(Debug)]
pub(crate) struct Lane {
    id: SocketId,
    observer: Observer,
    state: StateName,
    /// The last attempt's end and its cause, not yet written as a
    /// transition: what comes next (another attempt, or the capture's
    /// end) decides which.
    pending_end: Option<(i64, Cause)>,
    /// The attempt's first close frame: who sent it, and its code.
    first_close: Option<(Side, u16)>,
}

impl Lane {
    /// A new lane `id` for connections to `url` (its secrets already taken
    /// out), named after it; `nth` counts the lanes of that URL from 0.
    pub fn open(
        events: &mut LaneEvents,
        id: SocketId,
        at: i64,
        url: &str,
        nth: usize,
        observer: Observer,
        adapter: AdapterKind,
    ) -> Lane {
        let info = SocketInfo {
            name: lane_name(url, nth),
            endpoint: endpoint(url),
            adapter,
            job_id: None,
            token_source: None,
        };
        events.push(id, at, EventKind::SocketAdded(std::sync::Arc::new(info)));
        Lane {
            id,
            observer,
            state: StateName::Idle,
            pending_end: None,
            first_close: None,
        }
    }

    /// Gives the observer up, to follow the next connection to the same
    /// URL on a lane of its own (seq gaps and reconnect delays carry over).
    pub fn into_observer(self) -> Observer {
        self.observer
    }

    /// The current attempt (1-based; 0 before the first).
    pub fn attempt_number(&self) -> u32 {
        self.observer.attempt()
    }

    /// When the last attempt ended, while that is not yet written.
    pub fn pending_end(&self) -> Option<i64> {
        self.pending_end.as_ref().map(|(at, _)| *at)
    }

    fn transition(&mut self, events: &mut LaneEvents, at: i64, to: State, cause: Cause) {
        let from = std::mem::replace(&mut self.state, to.name());
        events.push(self.id, at, EventKind::Transition { from, to, cause });
    }

    /// A connection attempt to `url` began (the upgrade request). The
    /// attempt before it, if any, ended in a Backoff of the gap between.
    pub fn attempt(&mut self, events: &mut LaneEvents, at: i64, url: &str, token_in_url: bool) {
        let attempt = self.observer.attempt() + 1;
        if let Some((end, cause)) = self.pending_end.take() {
            let delay = Duration::from_nanos(u64::try_from(at.saturating_sub(end)).unwrap_or(0));
            let until = events.mono(at);
            let retry = attempt - 1;
            self.transition(
                events,
                end,
                State::Backoff {
                    attempt: retry,
                    until,
                },
                cause,
            );
            events.push(
                self.id,
                end,
                EventKind::BackoffPlanned {
                    attempt: retry,
                    delay,
                    ceiling: delay,
                },
            );
        }
        let cause = if attempt == 1 {
            Cause::Start
        } else {
            Cause::BackoffElapsed
        };
        self.first_close = None;
        self.transition(events, at, State::Connecting { attempt }, cause);
        let found = self
            .observer
            .step(Seen::Attempt { url, token_in_url }, mono_of(at));
        self.observed(events, at, found, None);
    }

    /// The upgrade request and its answer's status and headers, as seen
    /// (the recorder redacts the values).
    pub fn handshake(&mut self, events: &mut LaneEvents, at: i64, handshake: Handshake) {
        events.push(self.id, at, EventKind::Handshake(Box::new(handshake)));
    }

    /// The upgrade was answered with 101.
    pub fn upgraded(&mut self, events: &mut LaneEvents, at: i64) {
        let attempt = self.observer.attempt();
        self.transition(
            events,
            at,
            State::AwaitingReady { attempt },
            Cause::HandshakeDone,
        );
        let found = self.observer.step(Seen::Upgraded, mono_of(at));
        self.observed(events, at, found, None);
    }

    /// A frame other than a close: data frames go through the observer
    /// (which reads text payloads; binary ones are recorded only).
    pub fn frame(&mut self, events: &mut LaneEvents, at: i64, frame: FrameRecord) {
        events.frames += 1;
        let found = if matches!(frame.opcode, Opcode::Text | Opcode::Binary) {
            let seen = Seen::Frame {
                direction: frame.direction,
                text: frame.text.as_deref(),
            };
            self.observer.step(seen, mono_of(at))
        } else {
            Vec::new()
        };
        self.observed(events, at, found, Some(frame));
    }

    /// A close frame; the attempt's first one makes it Closing, by its sender.
    pub fn close_frame(
        &mut self,
        events: &mut LaneEvents,
        at: i64,
        direction: Direction,
        code: Option<u16>,
        reason_len: usize,
    ) {
        let size = if code.is_some() { 2 + reason_len } else { 0 };
        let frame = FrameRecord {
            close_code: code,
            ..FrameRecord::new(direction, Opcode::Close, size)
        };
        events.frames += 1;
        events.push(self.id, at, EventKind::Frame(frame));
        let found = self
            .observer
            .step(Seen::Close { direction, code }, mono_of(at));
        self.observed(events, at, found, None);
        if self.first_close.is_none() {
            // 1005: a close frame without a code (RFC 6455 7.1.5).
            let code = code.unwrap_or(1005);
            let initiator = side_of(direction);
            self.first_close = Some((initiator, code));
            self.transition(
                events,
                at,
                State::Closing { initiator, code },
                match initiator {
                    Side::Peer => Cause::PeerClose { code },
                    Side::Us => Cause::User(sockscope_engine::event::UserAction::Close),
                },
            );
        }
    }

    /// A finding of the caller's own (a fault the proxy applied).
    pub fn finding(&mut self, events: &mut LaneEvents, at: i64, finding: Finding) {
        events.findings += 1;
        events.push(self.id, at, EventKind::Finding(finding));
    }

    /// The attempt's last moment, and why it ended; written by the next
    /// [`Lane::attempt`] or by [`Lane::finish`].
    pub fn ended(&mut self, events: &mut LaneEvents, at: i64, cause: Cause) {
        let found = self.observer.step(Seen::Ended, mono_of(at));
        self.observed(events, at, found, None);
        self.pending_end = Some((at, cause));
    }

    /// The lane is over: its last attempt's end is its terminal state.
    /// `reason` `None` takes it from the attempt's first close frame: the
    /// server's is `PeerClosed`, the client's `UserClosed`.
    pub fn finish(&mut self, events: &mut LaneEvents, reason: Option<ClosedReason>) {
        let Some((end, cause)) = self.pending_end.take() else {
            return;
        };
        let reason = reason.unwrap_or(match self.first_close {
            Some((Side::Peer, code)) => ClosedReason::PeerClosed { code },
            Some((Side::Us, _)) => ClosedReason::UserClosed,
            None => ClosedReason::CaptureEnded,
        });
        self.transition(events, end, State::Closed { reason }, cause);
    }

    /// The attempt's first close frame, if one was seen.
    pub fn first_close(&self) -> Option<(Side, u16)> {
        self.first_close
    }

    /// Writes what the observer made of a moment; the frame, if any, gets
    /// the type and seq it read, and goes out before what it caused.
    fn observed(
        &mut self,
        events: &mut LaneEvents,
        at: i64,
        found: Vec<Observation>,
        mut frame: Option<FrameRecord>,
    ) {
        for o in &found {
            if let (Observation::Frame { message_type, seq }, Some(f)) = (o, frame.as_mut()) {
                f.message_type = message_type.clone().map(Into::into);
                f.seq = *seq;
            }
        }
        if let Some(f) = frame {
            events.push(self.id, at, EventKind::Frame(f));
        }
        for o in found {
            match o {
                Observation::Ready => {
                    let attempt = self.observer.attempt();
                    self.transition(
                        events,
                        at,
                        State::Ready { attempt },
                        Cause::ReadyAck { replayed: 0 },
                    );
                }
                Observation::Finding(f) => self.finding(events, at, f),
                Observation::Frame { .. } | Observation::ReconnectDelay(_) => {}
            }
        }
    }
}

/// The observed client is "us" on a lane; the server is the peer.
pub(crate) fn side_of(direction: Direction) -> Side {
    match direction {
        Direction::Out => Side::Us,
        Direction::In => Side::Peer,
    }
}

/// The observer's clock: wall ns as they are (it only takes differences).
fn mono_of(wall_ns: i64) -> Mono {
    Mono(u64::try_from(wall_ns).unwrap_or(0))
}

/// `host/path?query`, and ` #N` from a URL's second lane on.
fn lane_name(url: &str, nth: usize) -> String {
    let endpoint = endpoint(url);
    let path = if endpoint.path.is_empty() {
        "/"
    } else {
        &endpoint.path
    };
    let query = url::Url::parse(url)
        .ok()
        .and_then(|u| u.query().map(|q| format!("?{q}")))
        .unwrap_or_default();
    match nth {
        0 => format!("{}{path}{query}", endpoint.host),
        n => format!("{}{path}{query} #{}", endpoint.host, n + 1),
    }
}

/// A URL's scheme, host, port and path, without its query.
fn endpoint(url: &str) -> Endpoint {
    match url::Url::parse(url) {
        Ok(u) => Endpoint {
            scheme: u.scheme().to_owned(),
            host: u.host_str().unwrap_or("unknown").to_owned(),
            port: u.port_or_known_default().unwrap_or(0),
            path: u.path().to_owned(),
        },
        Err(_) => Endpoint {
            scheme: "ws".into(),
            host: "unknown".into(),
            port: 0,
            path: String::new(),
        },
    }
}
