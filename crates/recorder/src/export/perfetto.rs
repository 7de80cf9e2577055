//! Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and
//! `chrome://tracing` open: one track per socket, its states as complete
//! slices, frames, findings and the rest as instants on it, job progress as
//! a counter, and a flow arrow from each connection attempt to the next.
//! Engine-wide events (socket 0) are global instants.
//!
//! Times are µs since the session's first event, to the ns (`ts` is a
//! float), from the engine's monotonic clock; `metadata.started` gives the
//! wall clock of that first event. Streams like every export: what is held
//! is one page of events and, per socket, its open slice.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};

use serde_json::{Value, json};

use super::{JsonItems, export_io, rfc3339};
use crate::Error;
use crate::read::{RecordReader, WindowQuery};
use crate::record::{EventBody, EventRecord};

/// The one process of the trace.
const PID: u64 = 1;
/// The category of state slices and of the flows bound to them: a flow
/// binds to the slice of its own category at its time.
const STATE_CAT: &str = "state";
/// States a socket never leaves: drawn as an instant, not a slice.
const TERMINAL: &[&str] = &["Closed", "Failed", "Cancelled"];

/// One socket's track while streaming.
#[derive(Default)]
struct Track {
    /// The open state slice: its name, start and args.
    open: Option<(String, f64, Value)>,
    /// Start of the last connection attempt's slice, for the flow to the next.
    last_attempt: Option<f64>,
    name: String,
}

/// Writes a session as Chrome trace-event JSON.
pub fn write_perfetto(
    reader: &RecordReader,
    session_id: i64,
    out: impl Write,
) -> Result<(), Error> {
    let session = reader.session(session_id)?;
    let mut out = BufWriter::new(out);
    let mut tracks: BTreeMap<u64, Track> = reader
        .sockets(session_id)?
        .into_iter()
        .map(|s| {
            let track = Track {
                name: s.config.name,
                ..Track::default()
            };
            (s.socket_id, track)
        })
        .collect();
    out.write_all(b"{\"traceEvents\":[").map_err(export_io)?;
    let mut items = JsonItems::new();
    let name = format!("sockscope session {session_id}");
    items.push(&mut out, &meta("process_name", 0, json!({ "name": name })))?;
    for (id, t) in &tracks {
        items.push(
            &mut out,
            &meta("thread_name", *id, json!({ "name": t.name })),
        )?;
        items.push(
            &mut out,
            &meta("thread_sort_index", *id, json!({ "sort_index": id })),
        )?;
    }
    let mut base: Option<(u64, i64)> = None;
    let mut flow_id = 0u64;
    let mut last_ts = 0.0f64;
    reader.for_each_in(WindowQuery::whole_session(session_id, 4096), |e| {
        let (mono0, _) = *base.get_or_insert((e.mono_ns, e.wall_ns));
        let ts = e.mono_ns.saturating_sub(mono0) as f64 / 1000.0;
        last_ts = last_ts.max(ts);
        let track = tracks.entry(e.socket_id).or_default();
        for v in trace_events(&e, ts, track, &mut flow_id) {
            items.push(&mut out, &v)?;
        }
        Ok(())
    })?;
    // Slices still open end where the trace does.
    for (id, t) in &mut tracks {
        if let Some((state, start, args)) = t.open.take() {
            items.push(&mut out, &slice(*id, &state, start, last_ts, args))?;
        }
    }
    let started = base.map_or(session.started_ns, |(_, wall)| wall);
    let metadata = json!({
        "sockscope.session": session_id,
        "started": rfc3339(started),
        "host": session.host,
        "app_version": session.app_version,
        "end_state": session.end_state,
    });
    write!(
        out,
        "],\"displayTimeUnit\":\"ms\",\"metadata\":{metadata}}}"
    )
    .map_err(export_io)?;
    out.flush().map_err(export_io)
}

fn meta(name: &str, tid: u64, args: Value) -> Value {
    json!({ "ph": "M", "name": name, "pid": PID, "tid": tid, "args": args })
}

fn slice(tid: u64, state: &str, start: f64, end: f64, args: Value) -> Value {
    json!({
        "ph": "X", "cat": STATE_CAT, "name": state, "pid": PID, "tid": tid,
        "ts": start, "dur": (end - start).max(0.0), "args": args,
    })
}

fn instant(tid: u64, cat: &str, name: String, ts: f64, args: Value) -> Value {
    json!({ "ph": "i", "s": "t", "cat": cat, "name": name, "pid": PID, "tid": tid, "ts": ts, "args": args })
}

/// The trace events one recorded event becomes.
fn trace_events(e: &EventRecord, ts: f64, track: &mut Track, flow_id: &mut u64) -> Vec<Value> {
    let tid = e.socket_id;
    let mut out = Vec::new();
    match &e.body {
        EventBody::Transition(t) => {
            if let Some((state, start, args)) = track.open.take() {
                out.push(slice(tid, &state, start, ts, args));
            }
            let args = json!({
                "attempt": t.attempt, "cause": t.cause, "cause_detail": t.cause_detail,
                "error_type": t.error_type, "close_code": t.close_code,
                "reason": t.reason, "reason_detail": t.reason_detail,
            });
            if TERMINAL.contains(&t.to.as_str()) {
                out.push(instant(tid, STATE_CAT, t.to.clone(), ts, args));
            } else {
                if t.to == "Connecting" {
                    if let Some(prev) = track.last_attempt.replace(ts) {
                        *flow_id += 1;
                        let flow = |ph: &str, at: f64| {
                            json!({
                                "ph": ph, "cat": STATE_CAT, "name": "next attempt",
                                "id": *flow_id, "pid": PID, "tid": tid, "ts": at, "bp": "e",
                            })
                        };
                        out.push(flow("s", prev));
                        out.push(flow("f", ts));
                    }
                }
                track.open = Some((t.to.clone(), ts, args));
            }
        }
        EventBody::Progress(p) => {
            out.push(json!({
                "ph": "C", "name": format!("{} progress", track.name), "pid": PID, "tid": tid,
                "ts": ts, "args": { "processed": p.processed, "total": p.total },
            }));
        }
        EventBody::Environment(env) => {
            out.push(json!({
                "ph": "i", "s": "g", "cat": "environment", "name": env.change, "pid": PID,
                "tid": tid, "ts": ts, "args": { "detail": env.detail },
            }));
        }
        EventBody::SocketAdded(s) => {
            if track.name.is_empty() {
                track.name = s.name.clone();
            }
        }
        other => {
            if let Some((cat, name, args)) = other.trace_instant() {
                out.push(instant(tid, cat, name, ts, args));
            }
        }
    }
    out
}
