//! HAR 1.2 with WebSocket messages, as Chrome DevTools writes and reads it:
//! one entry per connection attempt (`_resourceType: "websocket"`), its
//! data frames in `_webSocketMessages` (`type` send or receive, `time` in
//! epoch seconds, `opcode`, `data`).
//!
//! What HAR has no field for goes in `_`-prefixed fields DevTools ignores:
//! the socket (`_sockscope`), who closed and with what code, a payload the
//! recorder did not capture or cut at its cap. Payloads are the stored ones,
//! already scrubbed. Request and response headers are those of the
//! attempt's `handshake` event (an observed connection's upgrade, values
//! redacted); the engine's own sockets have none, so their lists are empty.
//!
//! Two passes, so memory does not grow with the session: the first finds
//! each attempt's span from the transitions, the second streams each
//! attempt's frames from the socket's index.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};

use serde_json::{Value, json};

use super::{JsonItems, export_io, rfc3339};
use crate::Error;
use crate::kinds::HandshakeRecord;
use crate::read::{RecordReader, WindowQuery};
use crate::record::{EventBody, SocketRecord};

/// Frames read per page while writing one entry.
const FRAME_PAGE: usize = 2048;

/// One connection attempt: from its Connecting to the next Backoff, end
/// state or attempt.
#[derive(Debug, Clone)]
struct Attempt {
    socket: u64,
    number: Option<u32>,
    start_mono: u64,
    start_wall: i64,
    /// Monotonic ns of its last transition; `None` while still open.
    end_mono: Option<u64>,
    end_wall: i64,
    /// When the upgrade was answered (AwaitingReady or Ready), wall ns.
    upgraded_wall: Option<i64>,
    /// Monotonic ns of its `handshake` event, if it has one (read again
    /// when its entry is written, so the list of attempts stays small).
    handshake_mono: Option<u64>,
    /// From the Closing transition.
    close_code: Option<u16>,
    closed_by: Option<String>,
    /// The cause of the attempt's end, e.g. `io_refused`, `http_401`.
    error: Option<String>,
    end_state: Option<String>,
}

impl Attempt {
    fn open(&self) -> bool {
        self.end_mono.is_none()
    }
}

/// Writes a session as HAR.
pub fn write_har(reader: &RecordReader, session_id: i64, out: impl Write) -> Result<(), Error> {
    let session = reader.session(session_id)?;
    let sockets: BTreeMap<u64, SocketRecord> = reader
        .sockets(session_id)?
        .into_iter()
        .map(|s| (s.socket_id, s.config))
        .collect();
    let attempts = attempts(reader, session_id)?;
    let mut out = BufWriter::new(out);
    let creator = json!({ "name": "sockscope", "version": session.app_version });
    write!(
        out,
        "{{\"log\":{{\"version\":\"1.2\",\"creator\":{creator},\"pages\":[],\"entries\":["
    )
    .map_err(export_io)?;
    let mut entries = JsonItems::new();
    for a in &attempts {
        if entries.written > 0 {
            out.write_all(b",").map_err(export_io)?;
        }
        entries.written += 1;
        write_entry(reader, session_id, sockets.get(&a.socket), a, &mut out)?;
    }
    out.write_all(b"]}}").map_err(export_io)?;
    out.flush().map_err(export_io)
}

/// Every connection attempt of the session, in start order.
fn attempts(reader: &RecordReader, session_id: i64) -> Result<Vec<Attempt>, Error> {
    let mut done: Vec<Attempt> = Vec::new();
    let mut open: BTreeMap<u64, Attempt> = BTreeMap::new();
    reader.for_each_event(session_id, |e| {
        if let EventBody::Handshake(_) = &e.body
            && let Some(a) = open.get_mut(&e.socket_id)
        {
            a.handshake_mono.get_or_insert(e.mono_ns);
        }
        let EventBody::Transition(t) = &e.body else {
            return Ok(());
        };
        let ends = matches!(
            t.to.as_str(),
            "Connecting" | "Backoff" | "Closed" | "Failed" | "Cancelled"
        );
        if ends && let Some(mut a) = open.remove(&e.socket_id) {
            a.end_mono = Some(e.mono_ns);
            a.end_wall = e.wall_ns;
            a.end_state = Some(t.to.clone());
            // A connection lost without a close handshake (1006) ends here.
            a.close_code = a.close_code.or(t.close_code);
            if a.upgraded_wall.is_none() || t.error_type.is_some() {
                a.error = t.error_type.clone().or_else(|| Some(t.cause.clone()));
            }
            done.push(a);
        }
        match t.to.as_str() {
            "Connecting" => {
                open.insert(
                    e.socket_id,
                    Attempt {
                        socket: e.socket_id,
                        number: t.attempt,
                        start_mono: e.mono_ns,
                        start_wall: e.wall_ns,
                        end_mono: None,
                        end_wall: e.wall_ns,
                        upgraded_wall: None,
                        handshake_mono: None,
                        close_code: None,
                        closed_by: None,
                        error: None,
                        end_state: None,
                    },
                );
            }
            "AwaitingReady" | "Ready" => {
                if let Some(a) = open.get_mut(&e.socket_id) {
                    a.upgraded_wall.get_or_insert(e.wall_ns);
                    a.end_wall = e.wall_ns;
                }
            }
            "Closing" => {
                if let Some(a) = open.get_mut(&e.socket_id) {
                    a.close_code = t.close_code;
                    a.closed_by = t.close_initiator.clone();
                    a.end_wall = e.wall_ns;
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    done.extend(open.into_values());
    done.sort_by_key(|a| (a.start_mono, a.socket));
    Ok(done)
}

/// The socket's URL; a job socket's carries its job id, as PROTOCOL.md's
/// URLs do, so that two jobs' connections stay apart.
fn url(s: Option<&SocketRecord>) -> String {
    match s {
        Some(s) => {
            let base = format!("{}://{}:{}{}", s.scheme, s.host, s.port, s.path);
            match (&s.job_id, s.adapter.as_str()) {
                (Some(job), "job") if !s.path.contains('?') => format!("{base}?jobId={job}"),
                _ => base,
            }
        }
        None => "ws://unknown/".to_owned(),
    }
}

fn ms(from_wall: i64, to_wall: i64) -> f64 {
    (to_wall - from_wall).max(0) as f64 / 1e6
}

/// The attempt's `handshake` event, read again at its instant.
fn handshake(
    reader: &RecordReader,
    session_id: i64,
    a: &Attempt,
) -> Result<Option<HandshakeRecord>, Error> {
    let Some(at) = a.handshake_mono else {
        return Ok(None);
    };
    let q = WindowQuery {
        session_id,
        sockets: Some(vec![a.socket]),
        from_mono_ns: at,
        to_mono_ns: at.saturating_add(1),
        page_size: 16,
        after: None,
        ids: None,
    };
    let mut found = None;
    reader.for_each_in(q, |e| {
        if let EventBody::Handshake(h) = e.body {
            found.get_or_insert(h);
        }
        Ok(())
    })?;
    Ok(found)
}

/// One attempt's entry, its messages streamed.
fn write_entry(
    reader: &RecordReader,
    session_id: i64,
    socket: Option<&SocketRecord>,
    a: &Attempt,
    out: &mut impl Write,
) -> Result<(), Error> {
    let url = url(socket);
    let handshake = handshake(reader, session_id, a)?;
    let status = match &handshake {
        Some(h) => h.status,
        None if a.upgraded_wall.is_some() => 101,
        None => 0,
    };
    let headers = |pick: fn(&HandshakeRecord) -> &Vec<(String, String)>| -> Value {
        handshake.as_ref().map_or_else(
            || json!([]),
            |h| {
                Value::from_iter(
                    pick(h)
                        .iter()
                        .map(|(n, v)| json!({ "name": n, "value": v })),
                )
            },
        )
    };
    let wait = a.upgraded_wall.map_or(-1.0, |w| ms(a.start_wall, w));
    let entry = json!({
        "startedDateTime": rfc3339(a.start_wall),
        "time": ms(a.start_wall, a.end_wall),
        "request": {
            "method": "GET", "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
            "headers": headers(|h| &h.request_headers), "queryString": [], "headersSize": -1, "bodySize": 0,
        },
        "response": {
            "status": status,
            "statusText": if status == 101 { "Switching Protocols" } else { "" },
            "httpVersion": "HTTP/1.1", "cookies": [], "headers": headers(|h| &h.response_headers),
            "content": { "size": 0, "mimeType": "x-unknown" },
            "redirectURL": "", "headersSize": -1, "bodySize": 0,
        },
        "cache": {},
        "timings": {
            "blocked": -1, "dns": -1, "connect": -1, "ssl": -1,
            "send": 0, "wait": wait, "receive": 0,
        },
        "_resourceType": "websocket",
        "_sockscope": {
            "socket": a.socket,
            "name": socket.map(|s| s.name.clone()),
            "attempt": a.number,
            "end_state": a.end_state,
            "still_open": a.open(),
        },
        "_closeCode": a.close_code,
        "_closedBy": a.closed_by,
        "_error": a.error,
    });
    // The entry without its closing brace, then the messages.
    let text = entry.to_string();
    let head = text.strip_suffix('}').unwrap_or(&text);
    write!(out, "{head},\"_webSocketMessages\":[").map_err(export_io)?;
    let q = WindowQuery {
        session_id,
        sockets: Some(vec![a.socket]),
        from_mono_ns: a.start_mono,
        // The close frame can share its end transition's instant.
        to_mono_ns: a.end_mono.map_or(i64::MAX as u64, |m| m.saturating_add(1)),
        page_size: FRAME_PAGE,
        after: None,
        ids: None,
    };
    let mut messages = JsonItems::new();
    reader.for_each_in(q, |e| {
        let EventBody::Frame(f) = &e.body else {
            return Ok(());
        };
        let opcode = match f.opcode.as_str() {
            "text" => 1,
            "binary" => 2,
            // DevTools lists data frames only; closes are on the entry.
            _ => return Ok(()),
        };
        let mut m = json!({
            "type": if f.direction == "out" { "send" } else { "receive" },
            "time": e.wall_ns as f64 / 1e9,
            "opcode": opcode,
            "data": f.payload.clone().unwrap_or_default(),
        });
        if f.payload.is_none() {
            m["_payload"] = Value::from("not captured");
            m["_size"] = Value::from(f.size);
        } else if f.payload_truncated {
            m["_payload"] = Value::from("cut at the recorder's cap");
            m["_size"] = Value::from(f.size);
        }
        messages.push(out, &m)
    })?;
    out.write_all(b"]}").map_err(export_io)
}
