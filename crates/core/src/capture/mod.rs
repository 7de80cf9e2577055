//! Connections sockscope does not own, brought in as sessions like any
//! other: a HAR file's WebSocket entries ([`import_har`]) become lanes,
//! their frames and the [`Observer`]'s findings become events, and the
//! recorder stores them, so `sessions`, `events`, `timeline`, the app and
//! every export work on them.
//!
//! - Each entry is one connection attempt. Entries to the same URL (its
//!   secrets taken out), one after the other, are attempts of one lane; the gap between them is a
//!   Backoff with its delay. Entries to one URL that overlap in time are
//!   separate lanes.
//! - HAR keeps no close frames: an attempt's end is "not in the capture",
//!   and a lane's last attempt ends `Closed` with `capture_ended`.
//! - A token in a URL is taken out and remembered as a secret, so no
//!   payload stores it either; the lane keeps the URL without its query.

pub mod har;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockscope_engine::dialect::DialectOptions;
use sockscope_engine::event::{
    Cause, ClosedReason, Direction, Endpoint, ErrorClass, Event, EventKind, FrameRecord, Mono,
    Opcode, SocketInfo, StateName,
};
use sockscope_engine::observer::{Observation, Observer, Seen};
use sockscope_engine::{AdapterKind, SocketId, State};
use sockscope_recorder::{Recorder, RecorderConfig};
use tokio::sync::mpsc;

use crate::CoreError;
use har::{WsEntry, WsMessage};

/// Events queued to the recorder while importing.
const IMPORT_QUEUE: usize = 8192;

/// What an import made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The new session.
    pub session_id: i64,
    /// Entries in the file, and of those, WebSocket entries.
    pub entries: usize,
    /// WebSocket entries: connection attempts.
    pub attempts: usize,
    /// Lanes: connections, each one or more attempts.
    pub lanes: usize,
    /// Frames imported.
    pub frames: u64,
    /// Findings the observer made.
    pub findings: u64,
    /// Events written.
    pub events: u64,
}

/// How to read the connections: their dialect, or `None` to tell it from
/// each connection (its URL, subprotocol and first client frame).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The dialect of every connection.
    pub dialect: Option<AdapterKind>,
    /// Its options.
    pub dialect_options: DialectOptions,
}

/// Imports the HAR file at `har` as a new session of the database at `db`.
pub async fn import_har(
    har: &Path,
    db: &Path,
    options: ImportOptions,
) -> Result<ImportReport, CoreError> {
    let file = std::fs::File::open(har).map_err(|source| CoreError::Io {
        what: format!("opening {}", har.display()),
        source,
    })?;
    let (tx, rx) = mpsc::channel(IMPORT_QUEUE);
    let config = RecorderConfig::new(db);
    let (recorder, _) = tokio::task::spawn_blocking(move || Recorder::start(config, rx))
        .await
        .map_err(|e| CoreError::Task(e.to_string()))??;
    let session_id = recorder.session().id;
    let path = har.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        let mut lanes = Lanes::new(options, tx);
        let stats = har::read(std::io::BufReader::new(file), |entry| lanes.entry(entry));
        let stats = stats.map_err(|e| CoreError::Capture {
            file: path.clone(),
            message: e.to_string(),
        })?;
        lanes.finish();
        Ok::<_, CoreError>((stats, lanes.counts))
    })
    .await
    .map_err(|e| CoreError::Task(e.to_string()))?;
    // The recorder commits what it got either way: a bad file leaves a
    // session of the entries before the bad one, and says so.
    let summary = recorder.finish().await?;
    let (stats, counts) = read?;
    Ok(ImportReport {
        session_id,
        entries: stats.entries,
        attempts: stats.websocket,
        lanes: counts.lanes,
        frames: counts.frames,
        findings: counts.findings,
        events: summary.written,
    })
}

/// Guesses a connection's dialect from what it shows.
pub fn detect_dialect(
    url: &str,
    subprotocol: Option<&str>,
    first_sent: Option<&str>,
) -> AdapterKind {
    let first = first_sent.unwrap_or_default().trim_start();
    if url.contains("/socket.io/") || url.contains("EIO=4") {
        AdapterKind::SocketIo
    } else if subprotocol.is_some_and(|p| p.contains("graphql-transport-ws")) {
        AdapterKind::GraphqlWs
    } else if url.contains("vsn=2.") {
        AdapterKind::Phoenix
    } else if first.starts_with("{\"protocol\"") && first.ends_with('\u{1e}') {
        AdapterKind::SignalR
    } else if first.contains("\"type\":\"ready\"") && first.contains("\"v\":1") {
        AdapterKind::Job
    } else {
        AdapterKind::Raw
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    lanes: usize,
    frames: u64,
    findings: u64,
}

/// One lane being built.
struct Lane {
    id: SocketId,
    observer: Observer,
    /// The last attempt's end, and its state then, not yet written: what
    /// comes next (another attempt, or the file's end) decides the transition.
    pending_end: Option<(i64, Cause)>,
    state: StateName,
}

struct Lanes {
    options: ImportOptions,
    tx: mpsc::Sender<Arc<Event>>,
    /// Lanes by URL (without its query), newest last.
    by_url: HashMap<String, Vec<Lane>>,
    next_id: SocketId,
    /// Wall ns of the first entry: monotonic time counts from it.
    base_ns: Option<i64>,
    counts: Counts,
}

impl Lanes {
    fn new(options: ImportOptions, tx: mpsc::Sender<Arc<Event>>) -> Lanes {
        Lanes {
            options,
            tx,
            by_url: HashMap::new(),
            next_id: 1,
            base_ns: None,
            counts: Counts::default(),
        }
    }

    fn emit(
        &mut self,
        socket: SocketId,
        wall_ns: i64,
        kind: EventKind,
    ) -> Result<(), har::HarError> {
        let base = *self.base_ns.get_or_insert(wall_ns);
        let mono = Mono(u64::try_from(wall_ns.saturating_sub(base)).unwrap_or(0));
        let wall = UNIX_EPOCH + Duration::from_nanos(u64::try_from(wall_ns).unwrap_or(0));
        let event = Event {
            socket,
            mono,
            wall: if wall_ns >= 0 {
                wall
            } else {
                SystemTime::UNIX_EPOCH
            },
            kind,
        };
        self.tx
            .blocking_send(Arc::new(event))
            .map_err(|_| har::HarError {
                entry: None,
                message: "the recorder stopped".into(),
            })
    }

    fn transition(
        &mut self,
        lane: &mut Lane,
        at: i64,
        to: State,
        cause: Cause,
    ) -> Result<(), har::HarError> {
        let from = std::mem::replace(&mut lane.state, to.name());
        self.emit(lane.id, at, EventKind::Transition { from, to, cause })
    }

    /// One WebSocket entry: one attempt of its URL's lane.
    fn entry(&mut self, entry: WsEntry) -> Result<(), har::HarError> {
        let (url, token_in_url) = sockscope_engine::scrub_url_secrets(&entry.url);
        let first_sent = entry.messages.iter().find(|m| m.sent && m.opcode == 1);
        let adapter = self.options.dialect.unwrap_or_else(|| {
            detect_dialect(
                &url,
                entry.subprotocol.as_deref(),
                first_sent.map(|m| m.data.as_str()),
            )
        });
        // The URL without its secrets names the connection: a job id in
        // the query tells two jobs' sockets apart.
        let key = url.clone();
        let mut lane = self.lane_for(&key, &entry, adapter, &url)?;
        let start = entry.started_ns;
        let attempt = lane.observer.attempt() + 1;
        // The end of the attempt before, now that another follows.
        if let Some((end, cause)) = lane.pending_end.take() {
            let delay = Duration::from_nanos(u64::try_from(start - end).unwrap_or(0));
            let base = self.base_ns.unwrap_or(end);
            let until = Mono(u64::try_from(start.saturating_sub(base)).unwrap_or(0));
            self.transition(
                &mut lane,
                end,
                State::Backoff {
                    attempt: attempt - 1,
                    until,
                },
                cause,
            )?;
            self.emit(
                lane.id,
                end,
                EventKind::BackoffPlanned {
                    attempt: attempt - 1,
                    delay,
                    ceiling: delay,
                },
            )?;
        }
        let cause = if attempt == 1 {
            Cause::Start
        } else {
            Cause::BackoffElapsed
        };
        self.transition(&mut lane, start, State::Connecting { attempt }, cause)?;
        let seen = Seen::Attempt {
            url: &key,
            token_in_url,
        };
        let found = lane.observer.step(seen, mono_of(start));
        self.observed(&mut lane, start, found, None)?;
        let mut end = start + (entry.time_ms * 1e6) as i64;
        let end_cause;
        if entry.status == 101 {
            let first = entry.messages.first().map_or(i64::MAX, |m| m.at_ns);
            let answered = entry
                .answered_ms
                .map_or(start, |ms| start + (ms * 1e6) as i64)
                .min(first)
                .max(start);
            self.transition(
                &mut lane,
                answered,
                State::AwaitingReady { attempt },
                Cause::HandshakeDone,
            )?;
            let found = lane.observer.step(Seen::Upgraded, mono_of(answered));
            self.observed(&mut lane, answered, found, None)?;
            for m in &entry.messages {
                self.message(&mut lane, m)?;
                end = end.max(m.at_ns);
            }
            end_cause = Cause::NotCaptured;
        } else {
            end_cause = match entry.status {
                0 => Cause::NotCaptured,
                s => Cause::HandshakeFailed(ErrorClass::HttpStatus(s)),
            };
        }
        let found = lane.observer.step(Seen::Ended, mono_of(end));
        self.observed(&mut lane, end, found, None)?;
        lane.pending_end = Some((end, end_cause));
        self.by_url.entry(key).or_default().push(lane);
        Ok(())
    }

    /// The lane an entry continues, or a new one when none is free: a
    /// lane is free when its last attempt ended before this one starts.
    fn lane_for(
        &mut self,
        key: &str,
        entry: &WsEntry,
        adapter: AdapterKind,
        url: &str,
    ) -> Result<Lane, har::HarError> {
        let lanes = self.by_url.entry(key.to_owned()).or_default();
        // Of the free lanes, the one that ended last: a reconnect follows
        // its own drop.
        let free = lanes
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.pending_end.as_ref().map(|(end, _)| (i, *end)))
            .filter(|(_, end)| *end <= entry.started_ns)
            .max_by_key(|(_, end)| *end)
            .map(|(i, _)| i);
        if let Some(i) = free {
            return Ok(lanes.remove(i));
        }
        let n = lanes.len();
        let id = self.next_id;
        self.next_id += 1;
        self.counts.lanes += 1;
        let endpoint = endpoint(url);
        let path_name = if endpoint.path.is_empty() {
            "/"
        } else {
            &endpoint.path
        };
        let query = url::Url::parse(url)
            .ok()
            .and_then(|u| u.query().map(|q| format!("?{q}")))
            .unwrap_or_default();
        let name = match n {
            0 => format!("{}{path_name}{query}", endpoint.host),
            n => format!("{}{path_name}{query} #{}", endpoint.host, n + 1),
        };
        let info = SocketInfo {
            name,
            endpoint,
            adapter,
            job_id: None,
            token_source: None,
        };
        self.emit(id, entry.started_ns, EventKind::SocketAdded(info))?;
        Ok(Lane {
            id,
            observer: Observer::new(adapter, self.options.dialect_options.clone()),
            pending_end: None,
            state: StateName::Idle,
        })
    }

    fn message(&mut self, lane: &mut Lane, m: &WsMessage) -> Result<(), har::HarError> {
        let direction = if m.sent {
            Direction::Out
        } else {
            Direction::In
        };
        let text = (m.opcode == 1).then_some(m.data.as_str());
        let found = lane
            .observer
            .step(Seen::Frame { direction, text }, mono_of(m.at_ns));
        let frame = FrameRecord {
            direction,
            opcode: if m.opcode == 1 {
                Opcode::Text
            } else {
                Opcode::Binary
            },
            // Binary data is base64: four characters carry three bytes.
            size: if m.opcode == 1 {
                m.data.len()
            } else {
                m.data.len() / 4 * 3
            },
            message_type: None,
            seq: None,
            msg: None,
            close_code: None,
            text: text.map(str::to_owned),
        };
        self.counts.frames += 1;
        self.observed(lane, m.at_ns, found, Some(frame))
    }

    /// Writes what the observer made of a moment; the frame, if any, gets
    /// the type and seq it read, and goes out before what it caused.
    fn observed(
        &mut self,
        lane: &mut Lane,
        at: i64,
        found: Vec<Observation>,
        mut frame: Option<FrameRecord>,
    ) -> Result<(), har::HarError> {
        for o in &found {
            if let (Observation::Frame { message_type, seq }, Some(f)) = (o, frame.as_mut()) {
                f.message_type.clone_from(message_type);
                f.seq = *seq;
            }
        }
        if let Some(f) = frame {
            self.emit(lane.id, at, EventKind::Frame(f))?;
        }
        for o in found {
            match o {
                Observation::Ready => {
                    let attempt = lane.observer.attempt();
                    self.transition(
                        lane,
                        at,
                        State::Ready { attempt },
                        Cause::ReadyAck { replayed: 0 },
                    )?;
                }
                Observation::Finding(f) => {
                    self.counts.findings += 1;
                    self.emit(lane.id, at, EventKind::Finding(f))?;
                }
                Observation::Frame { .. } | Observation::ReconnectDelay(_) => {}
            }
        }
        Ok(())
    }

    /// The file is read: each lane's last attempt ends where the capture does.
    fn finish(&mut self) {
        let lanes: Vec<Lane> = self.by_url.drain().flat_map(|(_, l)| l).collect();
        for mut lane in lanes {
            if let Some((end, _)) = lane.pending_end.take() {
                let to = State::Closed {
                    reason: ClosedReason::CaptureEnded,
                };
                // The recorder may already be gone after a failed read.
                let _ = self.transition(&mut lane, end, to, Cause::NotCaptured);
            }
        }
    }
}

/// The observer's clock: wall ns as they are (it only takes differences).
fn mono_of(wall_ns: i64) -> Mono {
    Mono(u64::try_from(wall_ns).unwrap_or(0))
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
