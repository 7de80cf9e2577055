//! Exports of a past session: Jaeger's native JSON (the Jaeger UI's "JSON
//! File" upload reads it), OTLP JSON, a CSV of its transitions, Chrome
//! trace-event JSON for Perfetto ([`perfetto`]) and HAR for DevTools
//! ([`har`]). All are built from the stored, already-scrubbed records;
//! only HAR carries payloads (the stored ones, scrubbed and capped).
//!
//! Exports stream: events are read a page at a time and each span is
//! written as soon as it is finished, so memory does not grow with the
//! session (what is held is one page of events and each socket's open
//! interval, itself capped at [`crate::trace::MAX_EVENTS_PER_SPAN`] span
//! events). [`write_file`] writes all or nothing.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

mod har;
mod perfetto;

pub use har::write_har;
pub use perfetto::write_perfetto;

use crate::Error;
use crate::read::{RecordReader, SessionSummary, WindowQuery};
use crate::record::EventBody;
use crate::trace::{AttrValue, SpanRecord, TraceBuilder, hex, trace_id};

/// Events read per page while exporting.
const EXPORT_PAGE: usize = 4096;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Jaeger native JSON ([`write_jaeger`]).
    Jaeger,
    /// OTLP JSON ([`write_otlp_json`]).
    Otlp,
    /// The transitions CSV ([`write_transitions_csv`]).
    Csv,
    /// Chrome trace-event JSON, for Perfetto ([`write_perfetto`]).
    Perfetto,
    /// HAR with WebSocket messages, for DevTools ([`write_har`]).
    Har,
}

impl Format {
    /// Every format, in the order menus list them.
    pub const ALL: &[Format] = &[
        Format::Jaeger,
        Format::Otlp,
        Format::Csv,
        Format::Perfetto,
        Format::Har,
    ];

    /// Its name, as `--format` and the app take it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jaeger => "jaeger",
            Format::Otlp => "otlp",
            Format::Csv => "csv",
            Format::Perfetto => "perfetto",
            Format::Har => "har",
        }
    }

    /// What it is and what opens it, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Format::Jaeger => "Jaeger's native JSON (the Jaeger UI's \"JSON File\" upload)",
            Format::Otlp => "OTLP JSON ({\"resourceSpans\": ...})",
            Format::Csv => "a CSV of the session's transitions",
            Format::Perfetto => "Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing)",
            Format::Har => "HAR with WebSocket messages (Chrome DevTools' Network panel)",
        }
    }

    /// By name (see [`Format::name`]).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Every name, comma-separated, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        names.join(", ")
    }

    /// The usual end of a file name in this format.
    pub fn file_suffix(self) -> &'static str {
        match self {
            Format::Jaeger => "jaeger.json",
            Format::Otlp => "otlp.json",
            Format::Csv => "transitions.csv",
            Format::Perfetto => "trace.json",
            Format::Har => "har",
        }
    }
}

/// Writes a session in `format` to `out`; `service_name` names the
/// service in the trace formats.
pub fn write_to(
    reader: &RecordReader,
    session_id: i64,
    format: Format,
    service_name: &str,
    out: impl Write,
) -> Result<(), Error> {
    match format {
        Format::Jaeger => write_jaeger(reader, session_id, service_name, out),
        Format::Otlp => write_otlp_json(reader, session_id, service_name, out),
        Format::Csv => write_transitions_csv(reader, session_id, out),
        Format::Perfetto => write_perfetto(reader, session_id, out),
        Format::Har => write_har(reader, session_id, out),
    }
}

/// Writes a session in `format` to `path`, all or nothing: into a temporary
/// file in the same directory, renamed over `path` only once it is complete
/// and synced. On any error the temporary file is removed, no file is left
/// at `path` that was not there before, and a file already there is left
/// as it was.
pub fn write_file(
    reader: &RecordReader,
    session_id: i64,
    format: Format,
    service_name: &str,
    path: &Path,
) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".sockscope-export-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| Error::io("creating a temporary file in", dir, e))?;
    {
        let mut out = BufWriter::new(tmp.as_file());
        write_to(reader, session_id, format, service_name, &mut out)?;
        out.flush().map_err(|e| Error::io("writing", path, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("syncing", path, e))?;
    // Dropping `tmp` on an error above removes it.
    tmp.persist(path)
        .map_err(|e| Error::io("renaming the export to", path, e.error))?;
    Ok(())
}

fn export_io(e: std::io::Error) -> Error {
    Error::Export(e.to_string())
}

/// The elements of a JSON array whose `[` is already written: a comma
/// before each but the first.
struct JsonItems {
    written: u64,
}

impl JsonItems {
    fn new() -> JsonItems {
        JsonItems { written: 0 }
    }

    fn push<T: Serialize>(&mut self, out: &mut impl Write, v: &T) -> Result<(), Error> {
        if self.written > 0 {
            out.write_all(b",").map_err(export_io)?;
        }
        self.written += 1;
        serde_json::to_writer(out, v).map_err(|e| Error::Export(e.to_string()))
    }
}

/// A session, and when its open intervals end in an export: its end, or
/// its last event if that is later (or if it never ended).
fn session_and_end(reader: &RecordReader, session_id: i64) -> Result<(SessionSummary, i64), Error> {
    let session = reader.session(session_id)?;
    let last = reader
        .last_event_wall_ns(session_id)?
        .unwrap_or(session.started_ns)
        .max(session.started_ns);
    let end = session.ended_ns.unwrap_or(last).max(last);
    Ok((session, end))
}

/// Jaeger native JSON: `{"data":[trace...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaegerFile {
    /// One entry per trace (socket).
    pub data: Vec<JaegerTrace>,
}

/// A Jaeger trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JaegerTrace {
    /// Hex trace id.
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// Spans.
    pub spans: Vec<JaegerSpan>,
    /// Processes by id.
    pub processes: BTreeMap<String, JaegerProcess>,
}

/// A Jaeger span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JaegerSpan {
    /// Hex trace id.
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// Hex span id.
    #[serde(rename = "spanID")]
    pub span_id: String,
    /// Name.
    pub operation_name: String,
    /// Parent links.
    pub references: Vec<JaegerRef>,
    /// Start, µs since the epoch.
    pub start_time: i64,
    /// Duration, µs.
    pub duration: i64,
    /// Attributes.
    pub tags: Vec<JaegerTag>,
    /// Events.
    pub logs: Vec<JaegerLog>,
    /// Key into `processes`.
    #[serde(rename = "processID")]
    pub process_id: String,
}

/// A Jaeger reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaegerRef {
    /// `CHILD_OF`.
    #[serde(rename = "refType")]
    pub ref_type: String,
    /// Hex trace id.
    #[serde(rename = "traceID")]
    pub trace_id: String,
    /// Hex parent span id.
    #[serde(rename = "spanID")]
    pub span_id: String,
}

/// A Jaeger tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaegerTag {
    /// Key.
    pub key: String,
    /// `string`, `int64` or `bool`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Value.
    pub value: AttrValue,
}

/// A Jaeger log (span event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaegerLog {
    /// µs since the epoch.
    pub timestamp: i64,
    /// Fields; the first is `event` = the event name.
    pub fields: Vec<JaegerTag>,
}

/// A Jaeger process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JaegerProcess {
    /// Service name.
    pub service_name: String,
    /// Resource attributes.
    pub tags: Vec<JaegerTag>,
}

fn jaeger_tag(key: &str, v: &AttrValue) -> JaegerTag {
    JaegerTag {
        key: key.to_owned(),
        kind: match v {
            AttrValue::Str(_) => "string",
            AttrValue::Int(_) => "int64",
            AttrValue::Bool(_) => "bool",
        }
        .into(),
        value: v.clone(),
    }
}

/// One span as Jaeger JSON.
pub fn jaeger_span(sp: &SpanRecord) -> JaegerSpan {
    let trace_id = hex(&sp.trace_id);
    let mut tags: Vec<JaegerTag> = sp
        .attributes
        .iter()
        .map(|(k, v)| jaeger_tag(k, v))
        .collect();
    if let Some(e) = &sp.error {
        tags.push(jaeger_tag("error", &AttrValue::Bool(true)));
        tags.push(jaeger_tag(
            "otel.status_description",
            &AttrValue::Str(e.clone()),
        ));
    }
    JaegerSpan {
        trace_id: trace_id.clone(),
        span_id: hex(&sp.span_id),
        operation_name: sp.name.clone(),
        references: sp
            .parent
            .iter()
            .map(|p| JaegerRef {
                ref_type: "CHILD_OF".into(),
                trace_id: trace_id.clone(),
                span_id: hex(p),
            })
            .collect(),
        start_time: sp.start_ns / 1000,
        duration: (sp.end_ns - sp.start_ns) / 1000,
        tags,
        logs: sp
            .events
            .iter()
            .map(|e| JaegerLog {
                timestamp: e.time_ns / 1000,
                fields: std::iter::once(jaeger_tag("event", &AttrValue::Str(e.name.into())))
                    .chain(e.attributes.iter().map(|(k, v)| jaeger_tag(k, v)))
                    .collect(),
            })
            .collect(),
        process_id: "p1".into(),
    }
}

/// Writes a session as Jaeger native JSON ([`JaegerFile`]): one trace per
/// socket, in trace-id order, each socket's spans in the order they
/// finished. Streams: one pass per socket over its own events.
pub fn write_jaeger(
    reader: &RecordReader,
    session_id: i64,
    service_name: &str,
    out: impl Write,
) -> Result<(), Error> {
    let (session, end_ns) = session_and_end(reader, session_id)?;
    let mut sockets = reader.event_socket_ids(session_id)?;
    sockets.sort_by_key(|&s| trace_id(session.tag, s));
    let process = BTreeMap::from([(
        "p1".to_owned(),
        JaegerProcess {
            service_name: service_name.to_owned(),
            tags: Vec::new(),
        },
    )]);
    let mut out = BufWriter::new(out);
    out.write_all(b"{\"data\":[").map_err(export_io)?;
    let mut traces = JsonItems::new();
    let mut finished = Vec::new();
    for socket in sockets {
        let mut builder = TraceBuilder::new(session.tag);
        // The trace's head is written with its first span: a socket with
        // none (engine-wide events only) makes no trace.
        let mut spans: Option<JsonItems> = None;
        let mut emit = |finished: &mut Vec<SpanRecord>, out: &mut BufWriter<_>| {
            for sp in finished.drain(..) {
                if spans.is_none() {
                    if traces.written > 0 {
                        out.write_all(b",").map_err(export_io)?;
                    }
                    traces.written += 1;
                    write!(out, "{{\"traceID\":\"{}\",\"spans\":[", hex(&sp.trace_id))
                        .map_err(export_io)?;
                }
                spans
                    .get_or_insert_with(JsonItems::new)
                    .push(out, &jaeger_span(&sp))?;
            }
            Ok::<(), Error>(())
        };
        let mut q = WindowQuery::whole_session(session_id, EXPORT_PAGE);
        q.sockets = Some(vec![socket]);
        reader.for_each_in(q, |e| {
            builder.push(&e, &mut finished);
            emit(&mut finished, &mut out)
        })?;
        builder.finish_all(end_ns, &mut finished);
        emit(&mut finished, &mut out)?;
        if spans.is_some() {
            out.write_all(b"],\"processes\":").map_err(export_io)?;
            serde_json::to_writer(&mut out, &process).map_err(|e| Error::Export(e.to_string()))?;
            out.write_all(b"}").map_err(export_io)?;
        }
    }
    out.write_all(b"]}").map_err(export_io)?;
    out.flush().map_err(export_io)
}

/// OTLP JSON (`{"resourceSpans":[...]}`), as the OTLP/HTTP JSON encoding
/// defines it: hex ids, 64-bit integers as strings, enums as numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpFile {
    /// One resource: the sockscope service.
    pub resource_spans: Vec<OtlpResourceSpans>,
}

/// Spans of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpResourceSpans {
    /// The resource.
    pub resource: OtlpResource,
    /// Spans by scope.
    pub scope_spans: Vec<OtlpScopeSpans>,
}

/// A resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtlpResource {
    /// Attributes (`service.name`).
    pub attributes: Vec<OtlpKeyValue>,
}

/// Spans of one instrumentation scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtlpScopeSpans {
    /// The scope.
    pub scope: OtlpScope,
    /// Spans.
    pub spans: Vec<OtlpSpan>,
}

/// An instrumentation scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtlpScope {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// A span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpSpan {
    /// Hex.
    pub trace_id: String,
    /// Hex.
    pub span_id: String,
    /// Hex, empty for a root.
    pub parent_span_id: String,
    /// Name.
    pub name: String,
    /// 1: internal.
    pub kind: i32,
    /// ns, as a string.
    pub start_time_unix_nano: String,
    /// ns, as a string.
    pub end_time_unix_nano: String,
    /// Attributes.
    pub attributes: Vec<OtlpKeyValue>,
    /// Events.
    pub events: Vec<OtlpEvent>,
    /// Status.
    pub status: OtlpStatus,
}

/// A span event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpEvent {
    /// ns, as a string.
    pub time_unix_nano: String,
    /// Name.
    pub name: String,
    /// Attributes.
    pub attributes: Vec<OtlpKeyValue>,
}

/// A status: code 0 unset, 2 error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtlpStatus {
    /// Code.
    pub code: i32,
    /// Message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// A key and value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OtlpKeyValue {
    /// Key.
    pub key: String,
    /// Value.
    pub value: OtlpAnyValue,
}

/// An OTLP AnyValue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OtlpAnyValue {
    /// Text.
    #[serde(rename = "stringValue")]
    String(String),
    /// 64-bit integer, as a string.
    #[serde(rename = "intValue")]
    Int(String),
    /// Flag.
    #[serde(rename = "boolValue")]
    Bool(bool),
}

fn otlp_kv(key: &str, v: &AttrValue) -> OtlpKeyValue {
    OtlpKeyValue {
        key: key.to_owned(),
        value: match v {
            AttrValue::Str(s) => OtlpAnyValue::String(s.clone()),
            AttrValue::Int(i) => OtlpAnyValue::Int(i.to_string()),
            AttrValue::Bool(b) => OtlpAnyValue::Bool(*b),
        },
    }
}

/// One span as OTLP JSON.
pub fn otlp_span(sp: &SpanRecord) -> OtlpSpan {
    OtlpSpan {
        trace_id: hex(&sp.trace_id),
        span_id: hex(&sp.span_id),
        parent_span_id: sp.parent.map(|p| hex(&p)).unwrap_or_default(),
        name: sp.name.clone(),
        kind: 1,
        start_time_unix_nano: sp.start_ns.to_string(),
        end_time_unix_nano: sp.end_ns.to_string(),
        attributes: sp.attributes.iter().map(|(k, v)| otlp_kv(k, v)).collect(),
        events: sp
            .events
            .iter()
            .map(|e| OtlpEvent {
                time_unix_nano: e.time_ns.to_string(),
                name: e.name.into(),
                attributes: e.attributes.iter().map(|(k, v)| otlp_kv(k, v)).collect(),
            })
            .collect(),
        status: match &sp.error {
            Some(m) => OtlpStatus {
                code: 2,
                message: m.clone(),
            },
            None => OtlpStatus {
                code: 0,
                message: String::new(),
            },
        },
    }
}

/// Writes a session as OTLP JSON ([`OtlpFile`]): one resource, one scope,
/// every span in the order it finished. Streams: one pass over the events.
pub fn write_otlp_json(
    reader: &RecordReader,
    session_id: i64,
    service_name: &str,
    out: impl Write,
) -> Result<(), Error> {
    let (session, end_ns) = session_and_end(reader, session_id)?;
    let resource = OtlpResource {
        attributes: vec![otlp_kv(
            "service.name",
            &AttrValue::Str(service_name.into()),
        )],
    };
    let scope = OtlpScope {
        name: "sockscope-recorder".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut out = BufWriter::new(out);
    let json = |e: serde_json::Error| Error::Export(e.to_string());
    out.write_all(b"{\"resourceSpans\":[{\"resource\":")
        .map_err(export_io)?;
    serde_json::to_writer(&mut out, &resource).map_err(json)?;
    out.write_all(b",\"scopeSpans\":[{\"scope\":")
        .map_err(export_io)?;
    serde_json::to_writer(&mut out, &scope).map_err(json)?;
    out.write_all(b",\"spans\":[").map_err(export_io)?;
    let mut builder = TraceBuilder::new(session.tag);
    let mut finished = Vec::new();
    let mut spans = JsonItems::new();
    reader.for_each_in(WindowQuery::whole_session(session_id, EXPORT_PAGE), |e| {
        builder.push(&e, &mut finished);
        for sp in finished.drain(..) {
            spans.push(&mut out, &otlp_span(&sp))?;
        }
        Ok(())
    })?;
    builder.finish_all(end_ns, &mut finished);
    for sp in finished.drain(..) {
        spans.push(&mut out, &otlp_span(&sp))?;
    }
    out.write_all(b"]}]}]}").map_err(export_io)?;
    out.flush().map_err(export_io)
}

/// Header of the transitions CSV.
pub const TRANSITIONS_CSV_HEADER: &str = "session_id,socket_id,socket_name,event_id,mono_ns,wall_ns,wall_utc,from_state,to_state,attempt,cause,cause_detail,error_type,close_code,reason,reason_detail";

/// Writes a session's transitions as CSV (RFC 4180 quoting), one row per
/// transition in time order.
pub fn write_transitions_csv(
    reader: &RecordReader,
    session_id: i64,
    out: impl Write,
) -> Result<(), Error> {
    reader.session(session_id)?;
    let mut out = BufWriter::new(out);
    let names: BTreeMap<u64, String> = reader
        .sockets(session_id)?
        .into_iter()
        .map(|s| (s.socket_id, s.config.name))
        .collect();
    let io = |e: std::io::Error| Error::Export(e.to_string());
    writeln!(out, "{TRANSITIONS_CSV_HEADER}").map_err(io)?;
    reader.for_each_event(session_id, |e| {
        let EventBody::Transition(t) = &e.body else {
            return Ok(());
        };
        let opt = |v: Option<String>| v.unwrap_or_default();
        let fields = [
            session_id.to_string(),
            e.socket_id.to_string(),
            names.get(&e.socket_id).cloned().unwrap_or_default(),
            e.event_id.to_string(),
            e.mono_ns.to_string(),
            e.wall_ns.to_string(),
            rfc3339(e.wall_ns),
            t.from.clone(),
            t.to.clone(),
            opt(t.attempt.map(|a| a.to_string())),
            t.cause.clone(),
            opt(t.cause_detail.clone()),
            opt(t.error_type.clone()),
            opt(t.close_code.map(|c| c.to_string())),
            opt(t.reason.clone()),
            opt(t.reason_detail.clone()),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(",")).map_err(io)
    })?;
    out.flush().map_err(io)
}

/// One CSV cell. A cell a spreadsheet would run as a formula (it starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return; socket names, job
/// ids and reasons can come from the server) gets a leading `'`, so it is
/// shown as text; then RFC 4180 quoting.
fn csv_field(f: &str) -> String {
    let f = if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{f}")
    } else {
        f.to_owned()
    };
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from wall ns.
pub fn rfc3339(wall_ns: i64) -> String {
    let secs = wall_ns.div_euclid(1_000_000_000);
    let millis = wall_ns.rem_euclid(1_000_000_000) / 1_000_000;
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_800_000_000_123_000_000),
            "2027-01-15T08:00:00.123Z"
        );
        assert_eq!(
            super::rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("plain"), "plain");
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        assert_eq!(super::csv_field("=1+2"), "'=1+2");
        assert_eq!(super::csv_field("+1"), "'+1");
        assert_eq!(super::csv_field("-2+3"), "'-2+3");
        assert_eq!(super::csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(super::csv_field("\tx"), "'\tx");
        assert_eq!(
            super::csv_field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        assert_eq!(super::csv_field("a=b"), "a=b");
    }
}
