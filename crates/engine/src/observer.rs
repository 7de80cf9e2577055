//! Watching a connection sockscope does not own (a capture, a proxied
//! app): the dialect's rules run over what was seen, and nothing is sent.
//! Sans-IO like the machine: [`Observer::step`] takes what was seen and
//! when, and says what it means. One observer follows one lane: its
//! connection attempts in order.
//!
//! It finds, and says which side did it:
//! - a client that sends data before the server's readiness ack;
//! - frames after a close, by either side (where the capture has closes);
//! - seq gaps and duplicates, across attempts too;
//! - a server silent for longer than its dialect's heartbeat window;
//! - reconnect delays, and reconnects at fixed delays (no jitter);
//! - a token in the URL.
//!
//! What the capture does not hold is not guessed: an attempt's end with no
//! close frame is "not in the capture", not an abnormal close.

use std::time::Duration;

use serde_json::Value;
use sockscope_protocol::dialect::{self, DialectOptions, Heard};

use crate::event::{AdapterKind, Direction, Finding, FindingClass, Mono};

/// Delays kept to judge jitter: the last few reconnects.
const DELAYS_KEPT: usize = 8;
/// Reconnects needed before fixed delays are called out.
const JITTER_SAMPLE: usize = 3;
/// Delays within this share of each other (or of a doubling) count as fixed.
const JITTER_TOLERANCE: f64 = 0.02;
/// The job protocol's server keeps alive every 15 s by default
/// (PROTOCOL.md); twice that is silence.
const JOB_SILENCE: Duration = Duration::from_secs(30);
/// A SignalR server pings every 15 s; its clients time out at 30 s.
const SIGNALR_SILENCE: Duration = Duration::from_secs(30);

/// What was seen on an observed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen<'a> {
    /// A connection attempt began: the upgrade request, to this URL (its
    /// secrets already taken out; `token_in_url` says one was there).
    Attempt {
        /// The URL.
        url: &'a str,
        /// Whether the URL's query held a token.
        token_in_url: bool,
    },
    /// The upgrade was answered with 101.
    Upgraded,
    /// A data frame; `text` is `None` for binary or an uncaptured payload.
    Frame {
        /// Who sent it: `Out` is the observed client.
        direction: Direction,
        /// Its text.
        text: Option<&'a str>,
    },
    /// A close frame (a recording proxy sees them; HAR does not).
    Close {
        /// Who sent it.
        direction: Direction,
        /// Its code.
        code: Option<u16>,
    },
    /// The attempt's last moment in the capture.
    Ended,
}

/// What a step found.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The server's readiness ack: the connection is Ready from here.
    Ready,
    /// What a frame is: its type and seq, for the frame's record.
    Frame {
        /// The message type as the dialect names it.
        message_type: Option<String>,
        /// Its seq, where the dialect has one.
        seq: Option<u64>,
    },
    /// The delay since the previous attempt ended.
    ReconnectDelay(Duration),
    /// A race, or a broken contract.
    Finding(Finding),
}

/// One lane's observer.
#[derive(Debug)]
pub struct Observer {
    adapter: AdapterKind,
    opts: DialectOptions,
    attempt: u32,
    upgraded: bool,
    ready: bool,
    /// A close frame was seen on this attempt, and from whom.
    closed_by: Option<Direction>,
    last_seq: Option<u64>,
    last_end: Option<Mono>,
    delays: Vec<Duration>,
    said_no_jitter: bool,
    /// The server's silence bound; Socket.IO's comes from its open packet.
    silence: Option<Duration>,
    last_server: Option<Mono>,
    /// SignalR: the handshake response came.
    handshake_done: bool,
    /// Phoenix: the ref of the client's `phx_join`.
    join_ref: Option<String>,
}

impl Observer {
    /// An observer of a connection that speaks `adapter`.
    pub fn new(adapter: AdapterKind, opts: DialectOptions) -> Observer {
        let silence = match adapter {
            AdapterKind::Job => Some(JOB_SILENCE),
            AdapterKind::SignalR => Some(SIGNALR_SILENCE),
            _ => None,
        };
        Observer {
            adapter,
            opts,
            attempt: 0,
            upgraded: false,
            ready: false,
            closed_by: None,
            last_seq: None,
            last_end: None,
            delays: Vec::new(),
            said_no_jitter: false,
            silence,
            last_server: None,
            handshake_done: false,
            join_ref: None,
        }
    }

    /// The current attempt (1-based; 0 before the first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether the current attempt has reached Ready.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// What `seen`, at `now`, means.
    pub fn step(&mut self, seen: Seen<'_>, now: Mono) -> Vec<Observation> {
        let mut out = Vec::new();
        match seen {
            Seen::Attempt { url, token_in_url } => {
                self.on_attempt(url, token_in_url, now, &mut out)
            }
            Seen::Upgraded => {
                self.upgraded = true;
                self.last_server = Some(now);
                if self.adapter == AdapterKind::Raw
                    || (self.adapter == AdapterKind::Json && self.opts.ready_ack.is_none())
                {
                    self.ready = true;
                    out.push(Observation::Ready);
                }
            }
            Seen::Frame { direction, text } => {
                if let Some(by) = self.closed_by {
                    self.after_close(by, direction, &mut out);
                }
                match direction {
                    Direction::Out => self.on_client(text, &mut out),
                    Direction::In => self.on_server(text, now, &mut out),
                }
            }
            Seen::Close { direction, .. } => {
                // The first close counts; the other side's is its answer.
                self.closed_by.get_or_insert(direction);
            }
            Seen::Ended => {
                self.check_silence(now, "until the capture ends", &mut out);
                self.last_end = Some(now);
            }
        }
        out
    }

    fn finding(&self, class: FindingClass, detail: String) -> Observation {
        Observation::Finding(Finding {
            class,
            attempt: self.attempt.max(1),
            detail,
        })
    }

    fn on_attempt(&mut self, url: &str, token_in_url: bool, now: Mono, out: &mut Vec<Observation>) {
        self.attempt += 1;
        self.upgraded = false;
        self.ready = false;
        self.closed_by = None;
        self.last_server = None;
        self.handshake_done = false;
        self.join_ref = None;
        if token_in_url {
            out.push(self.finding(
                FindingClass::TokenInUrl,
                format!("the upgrade request to {url} carried a token in its query"),
            ));
        }
        if let Some(end) = self.last_end.take() {
            let delay = now.since(end);
            out.push(Observation::ReconnectDelay(delay));
            self.delays.push(delay);
            if self.delays.len() > DELAYS_KEPT {
                self.delays.remove(0);
            }
            if !self.said_no_jitter && fixed(&self.delays) {
                self.said_no_jitter = true;
                let ms: Vec<String> = self
                    .delays
                    .iter()
                    .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
                    .collect();
                out.push(self.finding(
                    FindingClass::ReconnectWithoutJitter,
                    format!(
                        "reconnect delays of {} ms: fixed or exactly doubling, with no jitter",
                        ms.join(", ")
                    ),
                ));
            }
        }
    }

    fn after_close(&self, by: Direction, direction: Direction, out: &mut Vec<Observation>) {
        let (class, who) = match direction {
            Direction::Out => (FindingClass::ClientFrameAfterClose, "the client"),
            Direction::In => (FindingClass::PeerFrameAfterClose, "the server"),
        };
        let first = match by {
            Direction::Out => "the client's",
            Direction::In => "the server's",
        };
        out.push(self.finding(
            class,
            format!("{who} sent a data frame after {first} close frame"),
        ));
    }

    /// A client frame: handshake and heartbeat frames are the protocol's
    /// own; anything else before the ack is the race.
    fn on_client(&mut self, text: Option<&str>, out: &mut Vec<Observation>) {
        let Some(text) = text else {
            out.push(Observation::Frame {
                message_type: None,
                seq: None,
            });
            return;
        };
        let (kind, control) = self.client_kind(text);
        out.push(Observation::Frame {
            message_type: kind.clone(),
            seq: None,
        });
        if self.upgraded && !self.ready && !control && self.adapter != AdapterKind::Raw {
            out.push(self.finding(
                FindingClass::ClientSendBeforeReady,
                format!(
                    "the client sent {} before the server's readiness ack",
                    kind.map_or_else(|| "a message".to_owned(), |k| format!("`{k}`"))
                ),
            ));
        }
    }

    /// The client frame's type, and whether it belongs to the protocol
    /// itself (handshake, heartbeat) rather than to the app.
    fn client_kind(&mut self, text: &str) -> (Option<String>, bool) {
        let json = || serde_json::from_str::<Value>(text).ok();
        let type_of = |v: &Value, pointer: &str| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match self.adapter {
            AdapterKind::Job => {
                let kind = json().and_then(|v| type_of(&v, "/type"));
                let control = kind.as_deref() == Some("ready");
                (kind, control)
            }
            AdapterKind::SocketIo => {
                let head: String = text.chars().take(2).collect();
                // Events and acks are the app's; the rest is the protocol's.
                let control = !(head == "42" || head == "43");
                let kind = match head.as_str() {
                    "40" => "connect",
                    "41" => "disconnect",
                    "42" => "event",
                    "43" => "ack",
                    h if h.starts_with('2') => "ping",
                    h if h.starts_with('3') => "pong",
                    _ => "other",
                };
                (Some(kind.to_owned()), control)
            }
            AdapterKind::GraphqlWs => {
                let kind = json().and_then(|v| type_of(&v, "/type"));
                let control = matches!(kind.as_deref(), Some("connection_init" | "ping" | "pong"));
                (kind, control)
            }
            AdapterKind::Phoenix => {
                let v = json();
                let event = v.as_ref().and_then(|v| type_of(v, "/3"));
                if event.as_deref() == Some("phx_join") {
                    self.join_ref = v.as_ref().and_then(|v| type_of(v, "/1"));
                }
                let topic = v.as_ref().and_then(|v| type_of(v, "/2"));
                let control = topic.as_deref() == Some("phoenix")
                    || matches!(
                        event.as_deref(),
                        Some("phx_join" | "phx_leave" | "heartbeat")
                    );
                (event, control)
            }
            AdapterKind::SignalR => {
                let first = text.split('\u{1e}').next().unwrap_or_default();
                let v = serde_json::from_str::<Value>(first).ok();
                match v
                    .as_ref()
                    .and_then(|v| v.get("type"))
                    .and_then(Value::as_u64)
                {
                    None => (Some("handshake".into()), true),
                    Some(t @ (6 | 7)) => (Some(format!("type {t}")), true),
                    Some(t) => (Some(format!("type {t}")), false),
                }
            }
            AdapterKind::Json => {
                let pointer = self.opts.type_field.as_deref().unwrap_or("/type");
                let kind = json().and_then(|v| type_of(&v, pointer));
                let ready = self
                    .opts
                    .ready
                    .as_deref()
                    .and_then(|r| serde_json::from_str::<Value>(r).ok())
                    .and_then(|v| type_of(&v, pointer));
                let ping = self
                    .opts
                    .ping
                    .as_deref()
                    .and_then(|r| serde_json::from_str::<Value>(r).ok())
                    .and_then(|v| type_of(&v, pointer));
                let control = kind.is_some() && (kind == ready || kind == ping);
                (kind, control)
            }
            AdapterKind::Raw => (None, true),
        }
    }

    fn on_server(&mut self, text: Option<&str>, now: Mono, out: &mut Vec<Observation>) {
        self.check_silence(now, "before this frame", out);
        self.last_server = Some(now);
        let Some(text) = text else {
            out.push(Observation::Frame {
                message_type: None,
                seq: None,
            });
            return;
        };
        let (kind, seq, ready) = self.server_kind(text);
        out.push(Observation::Frame {
            message_type: kind,
            seq,
        });
        if ready && !self.ready {
            self.ready = true;
            out.push(Observation::Ready);
        }
        if let Some(seq) = seq {
            self.check_seq(seq, out);
        }
    }

    /// The server frame's type, seq, and whether it is the readiness ack.
    fn server_kind(&mut self, text: &str) -> (Option<String>, Option<u64>, bool) {
        match self.adapter {
            AdapterKind::Job => {
                let v = serde_json::from_str::<Value>(text).ok();
                let kind = v
                    .as_ref()
                    .and_then(|v| v.get("type"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let seq = v
                    .as_ref()
                    .and_then(|v| v.get("seq"))
                    .and_then(Value::as_u64);
                let ready = kind.as_deref() == Some("ready_ack");
                (kind, seq, ready)
            }
            AdapterKind::SocketIo => {
                let r = dialect::socketio_read(&self.opts, text);
                if let Heard::Open { interval, timeout } = r.heard {
                    self.silence = Some(interval + timeout);
                }
                let ready = matches!(r.heard, Heard::ReadyAck { .. });
                (Some(r.kind), r.seq, ready)
            }
            AdapterKind::GraphqlWs => {
                let r = dialect::graphql_read(&self.opts, text);
                let ready = matches!(r.heard, Heard::ReadyAck { .. });
                (Some(r.kind), r.seq, ready)
            }
            AdapterKind::Phoenix => {
                let v = serde_json::from_str::<Value>(text).ok();
                let at = |i: &str| {
                    v.as_ref()
                        .and_then(|v| v.pointer(i))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let event = at("/3");
                let ready = event.as_deref() == Some("phx_reply")
                    && self.join_ref.is_some()
                    && at("/1") == self.join_ref
                    && at("/4/status").as_deref() == Some("ok");
                (event, None, ready)
            }
            AdapterKind::SignalR => {
                let readings = dialect::signalr_read(&self.opts, text, self.handshake_done);
                let mut ready = false;
                for r in &readings {
                    if matches!(r.heard, Heard::ReadyAck { .. }) {
                        ready = true;
                    }
                }
                if !readings.is_empty() {
                    self.handshake_done = true;
                }
                (readings.first().map(|r| r.kind.clone()), None, ready)
            }
            AdapterKind::Json => {
                let r = dialect::json_read(&self.opts, text);
                let ready = matches!(r.heard, Heard::ReadyAck { .. });
                (Some(r.kind), r.seq, ready)
            }
            AdapterKind::Raw => (None, None, false),
        }
    }

    fn check_seq(&mut self, seq: u64, out: &mut Vec<Observation>) {
        match self.last_seq {
            Some(last) if seq <= last => out.push(self.finding(
                FindingClass::DuplicateSeq,
                format!("the server sent seq {seq} again (the last seen was {last})"),
            )),
            Some(last) if seq > last + 1 => {
                out.push(self.finding(
                    FindingClass::SeqGap,
                    format!(
                        "seqs {}..={} never arrived{}",
                        last + 1,
                        seq - 1,
                        if self.attempt > 1 {
                            " (across a reconnect)"
                        } else {
                            ""
                        }
                    ),
                ));
                self.last_seq = Some(seq);
            }
            _ => self.last_seq = Some(seq),
        }
    }

    fn check_silence(&self, now: Mono, when: &str, out: &mut Vec<Observation>) {
        let (Some(window), Some(last)) = (self.silence, self.last_server) else {
            return;
        };
        if !self.upgraded {
            return;
        }
        let gap = now.since(last);
        if gap > window {
            out.push(self.finding(
                FindingClass::HeartbeatSilence,
                format!(
                    "the server was silent for {:.1} s {when}; its window is {:.0} s",
                    gap.as_secs_f64(),
                    window.as_secs_f64()
                ),
            ));
        }
    }
}

/// Whether the delays are the same, or exactly doubling, within the
/// tolerance: what a backoff without jitter looks like.
fn fixed(delays: &[Duration]) -> bool {
    if delays.len() < JITTER_SAMPLE {
        return false;
    }
    let close = |a: f64, b: f64| (a - b).abs() <= JITTER_TOLERANCE * a.max(b).max(1e-3);
    let ms: Vec<f64> = delays.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let same = ms.windows(2).all(|w| close(w[0], w[1]));
    let doubling = ms.windows(2).all(|w| close(w[0] * 2.0, w[1]));
    same || doubling
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Mono {
        Mono(ms * 1_000_000)
    }

    fn classes(out: &[Observation]) -> Vec<FindingClass> {
        out.iter()
            .filter_map(|o| match o {
                Observation::Finding(f) => Some(f.class),
                _ => None,
            })
            .collect()
    }

    fn attempt(o: &mut Observer, ms: u64) -> Vec<Observation> {
        o.step(
            Seen::Attempt {
                url: "ws://h/ws",
                token_in_url: false,
            },
            at(ms),
        )
    }

    #[test]
    fn fixed_delays_are_called_out_once_and_jittered_ones_never() {
        let mut o = Observer::new(AdapterKind::Raw, DialectOptions::default());
        let mut found = Vec::new();
        let mut t = 0;
        for _ in 0..5 {
            found.extend(classes(&attempt(&mut o, t)));
            o.step(Seen::Ended, at(t + 10));
            t += 10 + 1000;
        }
        assert_eq!(found, [FindingClass::ReconnectWithoutJitter]);

        let mut o = Observer::new(AdapterKind::Raw, DialectOptions::default());
        let mut found = Vec::new();
        let mut t = 0;
        for delay in [900, 1130, 870, 1240, 1010] {
            found.extend(classes(&attempt(&mut o, t)));
            o.step(Seen::Ended, at(t + 10));
            t += 10 + delay;
        }
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_doubling_backoff_without_jitter_is_fixed_too() {
        let d = |ms: &[u64]| -> Vec<Duration> {
            ms.iter().map(|m| Duration::from_millis(*m)).collect()
        };
        assert!(fixed(&d(&[250, 500, 1000])));
        assert!(fixed(&d(&[1000, 1000, 1005])));
        assert!(!fixed(&d(&[1000, 1000])));
        assert!(!fixed(&d(&[250, 610, 1000])));
    }

    #[test]
    fn job_client_data_before_ready_ack_is_the_clients_race() {
        let mut o = Observer::new(AdapterKind::Job, DialectOptions::default());
        attempt(&mut o, 0);
        o.step(Seen::Upgraded, at(1));
        let ready = o.step(
            Seen::Frame {
                direction: Direction::Out,
                text: Some(r#"{"v":1,"type":"ready"}"#),
            },
            at(2),
        );
        assert!(classes(&ready).is_empty(), "ready is the handshake");
        let early = o.step(
            Seen::Frame {
                direction: Direction::Out,
                text: Some(r#"{"v":1,"type":"ping"}"#),
            },
            at(3),
        );
        assert_eq!(classes(&early), [FindingClass::ClientSendBeforeReady]);
        let ack = o.step(
            Seen::Frame {
                direction: Direction::In,
                text: Some(r#"{"v":1,"type":"ready_ack","payload":{"lastSeq":0,"replayed":0}}"#),
            },
            at(4),
        );
        assert!(ack.contains(&Observation::Ready));
        let late = o.step(
            Seen::Frame {
                direction: Direction::Out,
                text: Some(r#"{"v":1,"type":"ping"}"#),
            },
            at(5),
        );
        assert!(classes(&late).is_empty());
    }

    #[test]
    fn seq_gaps_and_duplicates_are_found_across_attempts() {
        let mut o = Observer::new(AdapterKind::Job, DialectOptions::default());
        let ev = |seq: u64| format!(r#"{{"v":1,"type":"job_progress","seq":{seq}}}"#);
        let mut found = Vec::new();
        attempt(&mut o, 0);
        o.step(Seen::Upgraded, at(1));
        for (i, seq) in [1, 2, 3].into_iter().enumerate() {
            let text = ev(seq);
            found.extend(classes(&o.step(
                Seen::Frame {
                    direction: Direction::In,
                    text: Some(&text),
                },
                at(2 + i as u64),
            )));
        }
        o.step(Seen::Ended, at(10));
        attempt(&mut o, 20);
        o.step(Seen::Upgraded, at(21));
        for (i, seq) in [3, 6].into_iter().enumerate() {
            let text = ev(seq);
            found.extend(classes(&o.step(
                Seen::Frame {
                    direction: Direction::In,
                    text: Some(&text),
                },
                at(22 + i as u64),
            )));
        }
        assert_eq!(found, [FindingClass::DuplicateSeq, FindingClass::SeqGap]);
    }

    #[test]
    fn a_silent_job_server_is_called_out_and_a_token_in_the_url_too() {
        let mut o = Observer::new(AdapterKind::Job, DialectOptions::default());
        let first = o.step(
            Seen::Attempt {
                url: "ws://h/ws",
                token_in_url: true,
            },
            at(0),
        );
        assert_eq!(classes(&first), [FindingClass::TokenInUrl]);
        o.step(Seen::Upgraded, at(1));
        let end = o.step(Seen::Ended, at(45_000));
        assert_eq!(classes(&end), [FindingClass::HeartbeatSilence]);
    }

    #[test]
    fn frames_after_a_close_name_their_sender() {
        let mut o = Observer::new(AdapterKind::Raw, DialectOptions::default());
        attempt(&mut o, 0);
        o.step(Seen::Upgraded, at(1));
        o.step(
            Seen::Close {
                direction: Direction::In,
                code: Some(1000),
            },
            at(2),
        );
        let late = o.step(
            Seen::Frame {
                direction: Direction::Out,
                text: Some("x"),
            },
            at(3),
        );
        assert_eq!(classes(&late), [FindingClass::ClientFrameAfterClose]);
    }
}
