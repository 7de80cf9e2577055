//! What a replay serves, built from a recorded connection's events: per
//! attempt, how the upgrade was answered and the server's side of it as
//! steps, each with the gaps that anchor it in time. Pure: events in, a
//! [`Script`] out.

use std::collections::BTreeMap;
use std::time::Duration;

use sockscope_recorder::record::{FrameRow, TransitionRecord};
use sockscope_recorder::{EventBody, EventRecord};

/// The server's side of one or more recorded connections.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// Connection attempts in the order they started.
    pub attempts: Vec<AttemptScript>,
    /// What the recording did not hold whole.
    pub notes: ScriptNotes,
}

/// The most zero bytes one binary frame is filled out with: 16 MiB, the
/// recording proxy's largest message.
const MAX_ZERO_FILL: usize = 16 * 1024 * 1024;

/// What a replay cannot serve as it was: counted, never guessed at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptNotes {
    /// Frames whose payload the recorder cut at its cap: a text is served
    /// cut, a binary payload filled out with zero bytes to its size.
    pub cut_payloads: u64,
    /// Frames recorded without their payload (not captured): served as an
    /// empty text, or as zero bytes of the binary frame's size.
    pub missing_payloads: u64,
}

/// One recorded attempt, from the server's side.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptScript {
    /// The recorded socket (lane) it belongs to.
    pub socket: u64,
    /// Its attempt number on that socket (1-based).
    pub number: u32,
    /// How the upgrade request is answered.
    pub answer: Answer,
    /// What the server does after the upgrade, in order.
    pub steps: Vec<Step>,
    /// Data frames the recorded client sent after the upgrade.
    pub client_frames: usize,
}

impl AttemptScript {
    /// Server frames the attempt sends.
    pub fn frames(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.act, Act::Send(_)))
            .count()
    }
}

/// How an upgrade request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 101: the connection goes on with the steps.
    Upgrade,
    /// This HTTP status, as the recorded server answered (`http_NNN`).
    Refuse(u16),
    /// No answer: the TCP connection is closed at once (the recorded
    /// attempt failed before any answer: refused, timed out, TLS).
    Drop,
}

/// One thing the server does, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Recorded time from the upgrade's answer.
    pub at: Duration,
    /// Recorded time from the previous step (or the upgrade's answer).
    pub after_previous: Duration,
    /// When the recorded client sent data frames between the previous step
    /// and this one: the last of them (its 0-based index among the
    /// attempt's client data frames) and the recorded time from it.
    pub after_client: Option<(usize, Duration)>,
    /// What it does.
    pub act: Act,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    /// Sends a frame.
    Send(ServerFrame),
    /// Ends the TCP connection with no close frame (the recorded server's
    /// connection ended without one).
    Cut,
}

/// A frame the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// A text frame.
    Text(String),
    /// A binary frame: its recorded bytes (secrets masked), or zeros of
    /// its size where they were not recorded.
    Binary(Vec<u8>),
    /// A ping (its payload is not recorded: empty).
    Ping,
    /// A close frame with this code, or none (1005).
    Close(Option<u16>),
}

/// An attempt while its events are read.
#[derive(Debug)]
struct Open {
    script: AttemptScript,
    start_ns: u64,
    /// Monotonic ns of the upgrade's answer.
    opened: Option<u64>,
    /// Monotonic ns of the last step, or of the upgrade.
    last_step: u64,
    /// The last client data frame since the last step: index and time.
    client_since_step: Option<(usize, u64)>,
    client_closed: bool,
    server_closed: bool,
}

/// Builds a [`Script`] from events, in the recorder's order (monotonic
/// time, then id), of one or more sockets.
#[derive(Debug, Default)]
pub struct ScriptBuilder {
    open: BTreeMap<u64, Open>,
    done: Vec<(u64, AttemptScript)>,
    notes: ScriptNotes,
    /// Bytes of text payload held so far.
    bytes: usize,
}

/// Transitions that end the attempt they happen in.
fn ends_attempt(to: &str) -> bool {
    matches!(
        to,
        "Connecting" | "Backoff" | "Closed" | "Failed" | "Cancelled"
    )
}

fn gap(from_ns: u64, to_ns: u64) -> Duration {
    Duration::from_nanos(to_ns.saturating_sub(from_ns))
}

impl ScriptBuilder {
    /// A builder with nothing read.
    pub fn new() -> ScriptBuilder {
        ScriptBuilder::default()
    }

    /// Bytes of text payload the script holds so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reads one event.
    pub fn event(&mut self, e: &EventRecord) {
        match &e.body {
            EventBody::Transition(t) => self.transition(e.socket_id, e.mono_ns, t),
            EventBody::Frame(f) => self.frame(e.socket_id, e.mono_ns, f),
            _ => {}
        }
    }

    fn transition(&mut self, socket: u64, at: u64, t: &TransitionRecord) {
        if ends_attempt(&t.to)
            && let Some(open) = self.open.remove(&socket)
        {
            self.finish(open, Some((at, t)));
        }
        match t.to.as_str() {
            "Connecting" => {
                let open = Open {
                    script: AttemptScript {
                        socket,
                        number: t.attempt.unwrap_or(1),
                        answer: Answer::Drop,
                        steps: Vec::new(),
                        client_frames: 0,
                    },
                    start_ns: at,
                    opened: None,
                    last_step: at,
                    client_since_step: None,
                    client_closed: false,
                    server_closed: false,
                };
                self.open.insert(socket, open);
            }
            "AwaitingReady" | "Ready" => {
                if let Some(open) = self.open.get_mut(&socket)
                    && open.opened.is_none()
                {
                    open.opened = Some(at);
                    open.last_step = at;
                    open.script.answer = Answer::Upgrade;
                }
            }
            _ => {}
        }
    }

    fn frame(&mut self, socket: u64, at: u64, f: &FrameRow) {
        let Some(open) = self.open.get_mut(&socket) else {
            return;
        };
        if open.opened.is_none() {
            return;
        }
        let data = matches!(f.opcode.as_str(), "text" | "binary");
        if f.direction == "out" {
            if data {
                open.client_since_step = Some((open.script.client_frames, at));
                open.script.client_frames += 1;
            } else if f.opcode == "close" {
                open.client_closed = true;
            }
            return;
        }
        // After its own close the server's data frames and pings are
        // served as recorded (written raw); a second close is not.
        if open.server_closed && !(data || f.opcode == "ping") {
            return;
        }
        let frame = match f.opcode.as_str() {
            "text" => {
                match &f.payload {
                    None => self.notes.missing_payloads += 1,
                    Some(_) if f.payload_truncated => self.notes.cut_payloads += 1,
                    Some(_) => {}
                }
                let text = f.payload.clone().unwrap_or_default();
                self.bytes += text.len();
                ServerFrame::Text(text)
            }
            "binary" => {
                use base64::Engine as _;
                // A size past any frame's (a damaged row) fills no further.
                let size = usize::try_from(f.size).unwrap_or(0).min(MAX_ZERO_FILL);
                let recorded = f
                    .payload
                    .as_deref()
                    .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok());
                let mut bytes = match recorded {
                    Some(b) if f.payload_truncated => {
                        self.notes.cut_payloads += 1;
                        b
                    }
                    Some(b) => b,
                    None => {
                        self.notes.missing_payloads += 1;
                        Vec::new()
                    }
                };
                bytes.resize(size.max(bytes.len()), 0);
                self.bytes += bytes.len();
                ServerFrame::Binary(bytes)
            }
            "ping" => ServerFrame::Ping,
            "close" => {
                // An answer to the client's close: the library sends its own.
                if open.client_closed {
                    return;
                }
                open.server_closed = true;
                ServerFrame::Close(f.close_code)
            }
            // Pongs answer the client's pings: the library sends its own.
            _ => return,
        };
        open.step(at, Act::Send(frame));
    }

    fn finish(&mut self, mut open: Open, end: Option<(u64, &TransitionRecord)>) {
        match (open.opened, end) {
            (None, Some((_, t))) => {
                open.script.answer = t
                    .error_type
                    .as_deref()
                    .and_then(|e| e.strip_prefix("http_"))
                    .and_then(|s| s.parse::<u16>().ok())
                    .filter(|s| (200..=599).contains(s))
                    .map_or(Answer::Drop, Answer::Refuse);
            }
            (Some(_), Some((at, t))) if !open.client_closed && !open.server_closed => {
                // No close frame either way: the server's TCP ended it,
                // unless the record says the client's did.
                let lost = matches!(t.cause.as_str(), "transport_ended" | "transport_error");
                let by_client = t
                    .reason_detail
                    .as_deref()
                    .is_some_and(|d| d.contains("\"by\":\"us\""));
                if lost && !by_client {
                    open.step(at, Act::Cut);
                }
            }
            _ => {}
        }
        self.done.push((open.start_ns, open.script));
    }

    /// The script: every attempt in start order. An attempt still open at
    /// the end of the events ends as the client leaves it.
    pub fn build(mut self) -> Script {
        let open: Vec<Open> = std::mem::take(&mut self.open).into_values().collect();
        for o in open {
            self.finish(o, None);
        }
        self.done
            .sort_by_key(|(start, a)| (*start, a.socket, a.number));
        Script {
            attempts: self.done.into_iter().map(|(_, a)| a).collect(),
            notes: self.notes,
        }
    }
}

impl Open {
    fn step(&mut self, at: u64, act: Act) {
        let opened = self.opened.unwrap_or(self.start_ns);
        let after_client = self
            .client_since_step
            .take()
            .map(|(index, sent)| (index, gap(sent, at)));
        self.script.steps.push(Step {
            at: gap(opened, at),
            after_previous: gap(self.last_step, at),
            after_client,
            act,
        });
        self.last_step = at;
    }
}
