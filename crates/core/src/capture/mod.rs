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

pub mod fault;
mod frame_walk;
pub mod har;
mod lane;
pub mod recording_proxy;
pub mod replay;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use sockscope_engine::dialect::DialectOptions;
use sockscope_engine::event::{
    Cause, ClosedReason, Direction, ErrorClass, Event, FrameRecord, Handshake, Opcode,
};
use sockscope_engine::observer::Observer;
use sockscope_engine::{AdapterKind, SocketId};
use sockscope_recorder::{Recorder, RecorderConfig};
use tokio::sync::mpsc;

use crate::CoreError;
use har::{WsEntry, WsMessage};
use lane::{Lane, LaneEvents};

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

/// What a failed import kept: the entries before the bad one, as a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// The session the import began.
    pub session_id: i64,
    /// Its lanes.
    pub lanes: usize,
    /// Its frames.
    pub frames: u64,
    /// Its events: 0 when nothing was stored.
    pub events: u64,
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.events == 0 {
            return write!(
                f,
                "nothing was stored (session {} is empty)",
                self.session_id
            );
        }
        write!(
            f,
            "what came before it is in session {} ({} lanes, {} frames)",
            self.session_id, self.lanes, self.frames
        )
    }
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
    let (recorder, tx) = start_recorder(db, IMPORT_QUEUE).await?;
    let session_id = recorder.session().id;
    let path = har.to_owned();
    let read = tokio::task::spawn_blocking(move || {
        read_har(std::io::BufReader::new(file), options, |event| {
            tx.blocking_send(Arc::new(event))
                .map_err(|_| har::HarError {
                    entry: None,
                    message: "the recorder stopped".into(),
                })
        })
    })
    .await
    .map_err(|e| CoreError::Task(e.to_string()))?;
    // The recorder commits what it got either way: a bad file leaves a
    // session of the entries before the bad one, and says which.
    let summary = recorder.finish().await?;
    let (stats, counts) = read;
    let stats = stats.map_err(|e| CoreError::Capture {
        file: path,
        message: e.to_string(),
        kept: Kept {
            session_id,
            lanes: counts.lanes,
            frames: counts.frames,
            events: summary.written,
        },
    })?;
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

/// A recorder of a new session in the database at `db`, and its queue of
/// `queue` events (when full, senders wait).
async fn start_recorder(
    db: &Path,
    queue: usize,
) -> Result<(Recorder, mpsc::Sender<Arc<Event>>), CoreError> {
    let (tx, rx) = mpsc::channel(queue);
    let config = RecorderConfig::new(db);
    let (recorder, _) = tokio::task::spawn_blocking(move || Recorder::start(config, rx))
        .await
        .map_err(|e| CoreError::Task(e.to_string()))??;
    Ok((recorder, tx))
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

/// Reads a HAR file's WebSocket entries as lanes and hands each event
/// they make to `each`, in order: what [`import_har`] records, without a
/// database. Blocking. Returns what the file held, or the error naming
/// the bad entry, and what was made up to there.
pub fn read_har(
    input: impl std::io::Read,
    options: ImportOptions,
    each: impl FnMut(Event) -> Result<(), har::HarError>,
) -> (Result<har::HarStats, har::HarError>, ReadCounts) {
    let mut lanes = Lanes::new(options, each);
    let stats = har::read(input, |entry| lanes.entry(entry));
    lanes.finish();
    (stats, lanes.counts())
}

/// What [`read_har`] made.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadCounts {
    /// Lanes: connections, each one or more attempts.
    pub lanes: usize,
    /// Frames.
    pub frames: u64,
    /// Findings the observer made.
    pub findings: u64,
}

struct Lanes<S> {
    options: ImportOptions,
    sink: S,
    events: LaneEvents,
    /// Lanes by URL (without its secrets), newest last.
    by_url: HashMap<String, Vec<Lane>>,
    next_id: SocketId,
    lanes: usize,
}

impl<S: FnMut(Event) -> Result<(), har::HarError>> Lanes<S> {
    fn new(options: ImportOptions, sink: S) -> Lanes<S> {
        Lanes {
            options,
            sink,
            // Monotonic time counts from the first entry.
            events: LaneEvents::starting_at(None),
            by_url: HashMap::new(),
            next_id: 1,
            lanes: 0,
        }
    }

    fn counts(&self) -> ReadCounts {
        ReadCounts {
            lanes: self.lanes,
            frames: self.events.frames,
            findings: self.events.findings,
        }
    }

    /// Hands what the lanes made on.
    fn flush(&mut self) -> Result<(), har::HarError> {
        for event in self.events.take() {
            (self.sink)(event)?;
        }
        Ok(())
    }

    /// One WebSocket entry: one attempt of its URL's lane.
    fn entry(&mut self, mut entry: WsEntry) -> Result<(), har::HarError> {
        let (url, token_in_url) = sockscope_engine::scrub_url_secrets(&entry.url);
        let first_sent = entry.messages.iter().find(|m| m.sent && m.opcode == 1);
        let adapter = self.options.dialect.unwrap_or_else(|| {
            detect_dialect(
                &url,
                entry.subprotocol.as_deref(),
                first_sent.map(|m| m.data.as_str()),
            )
        });
        let mut lane = self.lane_for(&url, &entry, adapter);
        let start = entry.started_ns;
        let ev = &mut self.events;
        lane.attempt(ev, start, &url, token_in_url);
        // Saturating: a file may say an entry lasted 1e308 ms.
        let mut end = start.saturating_add((entry.time_ms * 1e6) as i64);
        let end_cause;
        let first = entry.messages.first().map_or(i64::MAX, |m| m.at_ns);
        let answered = entry
            .answered_ms
            .map_or(start, |ms| start.saturating_add((ms * 1e6) as i64))
            .min(first)
            .max(start);
        if entry.status != 0 {
            let handshake = Handshake {
                status: entry.status,
                request: std::mem::take(&mut entry.request_headers),
                response: std::mem::take(&mut entry.response_headers),
            };
            lane.handshake(ev, answered, handshake);
        }
        if entry.status == 101 {
            lane.upgraded(ev, answered);
            for m in std::mem::take(&mut entry.messages) {
                end = end.max(m.at_ns);
                message(&mut lane, ev, m);
            }
            end_cause = Cause::NotCaptured;
        } else {
            end_cause = match entry.status {
                0 => Cause::NotCaptured,
                s => Cause::HandshakeFailed(ErrorClass::HttpStatus(s)),
            };
        }
        lane.ended(ev, end, end_cause);
        self.by_url.entry(url).or_default().push(lane);
        self.flush()
    }

    /// The lane an entry continues, or a new one when none is free: a
    /// lane is free when its last attempt ended before this one starts.
    fn lane_for(&mut self, url: &str, entry: &WsEntry, adapter: AdapterKind) -> Lane {
        let lanes = self.by_url.entry(url.to_owned()).or_default();
        // Of the free lanes, the one that ended last: a reconnect follows
        // its own drop.
        let free = lanes
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.pending_end().map(|end| (i, end)))
            .filter(|(_, end)| *end <= entry.started_ns)
            .max_by_key(|(_, end)| *end)
            .map(|(i, _)| i);
        if let Some(i) = free {
            return lanes.remove(i);
        }
        let nth = lanes.len();
        let id = self.next_id;
        self.next_id += 1;
        self.lanes += 1;
        let observer = Observer::new(adapter, self.options.dialect_options.clone());
        Lane::open(
            &mut self.events,
            id,
            entry.started_ns,
            url,
            nth,
            observer,
            adapter,
        )
    }

    /// The file is read: each lane's last attempt ends where the capture does.
    fn finish(&mut self) {
        let lanes: Vec<Lane> = self.by_url.drain().flat_map(|(_, l)| l).collect();
        for mut lane in lanes {
            lane.finish(&mut self.events, Some(ClosedReason::CaptureEnded));
        }
        // The recorder may already be gone after a failed read.
        let _ = self.flush();
    }
}

/// One message of an entry: a data frame, its payload moved, not copied.
fn message(lane: &mut Lane, events: &mut LaneEvents, m: WsMessage) {
    let direction = if m.sent {
        Direction::Out
    } else {
        Direction::In
    };
    let at = m.at_ns;
    let frame = if m.opcode == 1 {
        let size = m.data.len();
        FrameRecord {
            text: Some(m.data.into()),
            ..FrameRecord::new(direction, Opcode::Text, size)
        }
    } else if let Some(bytes) = m.binary {
        let size = bytes.len();
        FrameRecord {
            binary: Some(bytes.into()),
            ..FrameRecord::new(direction, Opcode::Binary, size)
        }
    } else {
        // Another opcode: its size as if base64 (four characters carry
        // three bytes, less one for each `=` of padding), no payload.
        let padding = m.data.bytes().rev().take_while(|b| *b == b'=').count();
        let size = (m.data.len() / 4 * 3).saturating_sub(padding.min(2));
        FrameRecord::new(direction, Opcode::Binary, size)
    };
    lane.frame(events, at, frame);
}
