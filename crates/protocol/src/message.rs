//! Messages: one JSON text frame each, `{"v", "type", "jobId", "seq", "ts", "payload"}`.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::{ProtocolError, VERSION};

/// A decoded server message with its envelope fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `jobId`, when the server sent one.
    pub job_id: Option<String>,
    /// Set on every job event (`job_*`, `keep_alive`), absent on control messages.
    pub seq: Option<u64>,
    /// Server timestamp, RFC 3339, as sent.
    pub ts: Option<String>,
    /// The typed message.
    pub message: ServerMessage,
}

/// Server to client.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// Answer to `ready`; replay, if any, came before it.
    ReadyAck {
        /// Highest seq the server has produced for the job.
        last_seq: u64,
        /// How many held events were replayed before this ack.
        replayed: u64,
    },
    /// The server cannot replay from `resumeFrom`; fetch the job state.
    ResyncRequired {
        /// Why, e.g. `history_expired`.
        reason: String,
    },
    /// The job started.
    JobStarted {
        /// Items the job will process.
        total_count: u64,
    },
    /// The job processed an item.
    JobProgress {
        /// Items processed so far.
        processed_count: u64,
        /// Items in all.
        total_count: u64,
        /// The item just processed, if the server names it.
        item: Option<String>,
    },
    /// The job finished; a close 1000 follows.
    JobComplete {
        /// Items processed.
        processed_count: u64,
        /// Items in all.
        total_count: u64,
        /// Job-specific result object.
        result: Value,
    },
    /// The job failed; a close 1011 follows.
    JobFailed {
        /// Machine-readable failure code.
        code: String,
        /// Human-readable message.
        message: String,
        /// Whether running the job again may succeed.
        retryable: bool,
    },
    /// Nothing else was sent for a while.
    KeepAlive,
    /// Answer to an application `ping`.
    Pong {
        /// The nonce of the ping.
        nonce: String,
    },
    /// A `type` this version does not know: recorded and ignored.
    Unknown {
        /// The `type` as sent.
        kind: String,
    },
}

impl ServerMessage {
    /// The wire `type`.
    pub fn kind(&self) -> &str {
        match self {
            ServerMessage::Unknown { kind } => kind,
            known => known.known_kind().unwrap_or_default(),
        }
    }

    /// The wire `type` of a message this version knows, `None` for
    /// [`ServerMessage::Unknown`]. Static, so a server can hold it per event
    /// without allocating.
    pub fn known_kind(&self) -> Option<&'static str> {
        Some(match self {
            ServerMessage::ReadyAck { .. } => "ready_ack",
            ServerMessage::ResyncRequired { .. } => "resync_required",
            ServerMessage::JobStarted { .. } => "job_started",
            ServerMessage::JobProgress { .. } => "job_progress",
            ServerMessage::JobComplete { .. } => "job_complete",
            ServerMessage::JobFailed { .. } => "job_failed",
            ServerMessage::KeepAlive => "keep_alive",
            ServerMessage::Pong { .. } => "pong",
            ServerMessage::Unknown { .. } => return None,
        })
    }

    /// Job events carry a `seq` and are held by the server for replay.
    pub fn is_job_event(&self) -> bool {
        matches!(
            self,
            ServerMessage::JobStarted { .. }
                | ServerMessage::JobProgress { .. }
                | ServerMessage::JobComplete { .. }
                | ServerMessage::JobFailed { .. }
                | ServerMessage::KeepAlive
        )
    }
}

/// Client to server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// The client is listening; replay events after `resume_from`.
    Ready {
        /// Last seq the client saw, or `None` on a first connection.
        resume_from: Option<u64>,
    },
    /// Application-level liveness probe.
    Ping {
        /// Echoed in the `pong`.
        nonce: String,
    },
    /// Cancel the job.
    Cancel,
    /// A `type` the server does not know.
    Unknown {
        /// The `type` as sent.
        kind: String,
    },
}

impl ClientMessage {
    /// The wire `type`.
    pub fn kind(&self) -> &str {
        match self {
            ClientMessage::Ready { .. } => "ready",
            ClientMessage::Ping { .. } => "ping",
            ClientMessage::Cancel => "cancel",
            ClientMessage::Unknown { kind } => kind,
        }
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow, default)]
    v: Option<Scalar<'a>>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Scalar<'a>>,
    #[serde(rename = "jobId", borrow, default)]
    job_id: Option<Text<'a>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(borrow, default)]
    ts: Option<Text<'a>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

/// A string borrowed from the frame unless it holds escapes. serde borrows
/// a `Cow` only as a field of its own, not inside an `Option`.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// `v` and `type` read in the one pass, whatever their JSON type: a value
/// of the wrong type is then a missing field, as the protocol says, not a
/// broken frame.
#[derive(Debug, PartialEq)]
enum Scalar<'a> {
    U64(u64),
    Str(Cow<'a, str>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

struct ScalarVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Other)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar<'a>, A::Error> {
        while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar<'a>, A::Error> {
        while a
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Scalar::Other)
    }
}

/// The envelope's fields, read by [`flat_envelope`] or by serde.
#[derive(Debug, Default, PartialEq)]
struct Fields<'a> {
    v: Option<Scalar<'a>>,
    kind: Option<Scalar<'a>>,
    job_id: Option<Cow<'a, str>>,
    seq: Option<u64>,
    ts: Option<Cow<'a, str>>,
    payload: Option<&'a str>,
}

impl<'a> From<RawEnvelope<'a>> for Fields<'a> {
    fn from(raw: RawEnvelope<'a>) -> Fields<'a> {
        Fields {
            v: raw.v,
            kind: raw.kind,
            job_id: raw.job_id.map(|t| t.0),
            seq: raw.seq,
            ts: raw.ts.map(|t| t.0),
            payload: raw.payload.map(RawValue::get),
        }
    }
}

/// The envelope read in one scan, when the frame has the shape servers
/// send: an object without whitespace of the envelope's own members, each
/// once, strings without escapes, integers of plain digits and a payload
/// object of such scalars. `None` is any other text, which serde then
/// decides on; on every text this accepts, serde reads the same fields.
fn flat_envelope(text: &str) -> Option<Fields<'_>> {
    let b = text.as_bytes();
    // One pass without branches, which the compiler vectorises: the
    // strings below are then found by their closing quote alone.
    let escaped = b
        .iter()
        .fold(false, |seen, &c| seen | (c == b'\\') | (c < 0x20));
    if escaped || b.first() != Some(&b'{') {
        return None;
    }
    let mut f = Fields::default();
    let mut at = 1;
    loop {
        // Each member's key with its quotes and colon, compared in place.
        let member = ENVELOPE_MEMBERS
            .iter()
            .position(|m| b[at..].starts_with(m))?;
        at += ENVELOPE_MEMBERS[member].len();
        match member {
            0 => once(&mut f.v, Scalar::U64(flat_u64(b, &mut at)?))?,
            1 => once(&mut f.kind, Scalar::Str(flat_str(text, &mut at)?.into()))?,
            2 => once(&mut f.job_id, flat_str(text, &mut at)?.into())?,
            3 => once(&mut f.seq, flat_u64(b, &mut at)?)?,
            4 => once(&mut f.ts, flat_str(text, &mut at)?.into())?,
            _ => {
                let start = at;
                flat_object(text, &mut at)?;
                once(&mut f.payload, &text[start..at])?;
            }
        }
        match b.get(at) {
            Some(b',') => at += 1,
            Some(b'}') if at + 1 == b.len() => return Some(f),
            _ => return None,
        }
    }
}

/// The envelope's members as [`flat_envelope`] matches them, in the order
/// servers send them.
const ENVELOPE_MEMBERS: [&[u8]; 6] = [
    b"\"v\":",
    b"\"type\":",
    b"\"jobId\":",
    b"\"seq\":",
    b"\"ts\":",
    b"\"payload\":",
];

/// Fills an empty slot: `None` for a member seen twice.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    match slot {
        Some(_) => None,
        None => {
            *slot = Some(value);
            Some(())
        }
    }
}

/// The string at `at`, in a text [`flat_envelope`] found free of escapes
/// and control characters.
fn flat_str<'a>(text: &'a str, at: &mut usize) -> Option<&'a str> {
    let b = text.as_bytes();
    if b.get(*at) != Some(&b'"') {
        return None;
    }
    let start = *at + 1;
    let len = b[start..].iter().position(|&c| c == b'"')?;
    *at = start + len + 1;
    Some(&text[start..start + len])
}

/// The plain integer at `at` (see [`plain_u64`]).
fn flat_u64(b: &[u8], at: &mut usize) -> Option<u64> {
    let digits = b[*at..].iter().take_while(|c| c.is_ascii_digit()).count();
    let n = plain_u64(&b[*at..*at + digits])?;
    *at += digits;
    Some(n)
}

/// An object at `at` whose members hold plain integers, strings without
/// escapes, `true`, `false` or `null`. A key given twice is the typed
/// payload's reading to refuse, as it is when serde reads the envelope.
fn flat_object(text: &str, at: &mut usize) -> Option<()> {
    let b = text.as_bytes();
    if b.get(*at) != Some(&b'{') {
        return None;
    }
    *at += 1;
    if b.get(*at) == Some(&b'}') {
        *at += 1;
        return Some(());
    }
    loop {
        flat_str(text, at)?;
        if b.get(*at) != Some(&b':') {
            return None;
        }
        *at += 1;
        let scalar = match b.get(*at)? {
            b'"' => flat_str(text, at).is_some(),
            b'0'..=b'9' => flat_u64(b, at).is_some(),
            _ => ["true", "false", "null"]
                .into_iter()
                .find(|w| b[*at..].starts_with(w.as_bytes()))
                .map(|w| *at += w.len())
                .is_some(),
        };
        if !scalar {
            return None;
        }
        match b.get(*at)? {
            b',' => *at += 1,
            b'}' => {
                *at += 1;
                return Some(());
            }
            _ => return None,
        }
    }
}

struct Head<'a> {
    kind: Cow<'a, str>,
    raw: Fields<'a>,
}

fn head(text: &str, limit: usize) -> Result<Head<'_>, ProtocolError> {
    if text.len() > limit {
        return Err(ProtocolError::Oversized {
            size: text.len(),
            limit,
        });
    }
    let mut raw = match flat_envelope(text) {
        Some(fields) => fields,
        None => read_envelope(text)?,
    };
    let v = match raw.v {
        Some(Scalar::U64(v)) => v,
        _ => return Err(ProtocolError::MissingField { field: "v" }),
    };
    if v != u64::from(VERSION) {
        return Err(ProtocolError::UnsupportedVersion(v));
    }
    let kind = match raw.kind.take() {
        Some(Scalar::Str(k)) => k,
        _ => return Err(ProtocolError::MissingField { field: "type" }),
    };
    Ok(Head { kind, raw })
}

/// The envelope read by serde, whatever its shape.
fn read_envelope(text: &str) -> Result<Fields<'_>, ProtocolError> {
    // serde would also read a struct from a JSON array, positionally.
    if !text.trim_start().starts_with('{') {
        return Err(ProtocolError::InvalidJson("not a JSON object".into()));
    }
    serde_json::from_str::<RawEnvelope<'_>>(text)
        .map(Fields::from)
        .map_err(|e| ProtocolError::InvalidJson(e.to_string()))
}

fn payload<'a, T: Deserialize<'a>>(
    raw: Option<&'a str>,
    field: &'static str,
) -> Result<T, ProtocolError> {
    let text = raw.unwrap_or("{}");
    serde_json::from_str(text).map_err(|_| ProtocolError::MissingField { field })
}

/// The payload's integers for `keys`, when it is an object of exactly those
/// keys (any order, each once) holding plain digits, without whitespace or
/// escapes: the shape servers send, read without serde's second pass. `None`
/// is any other text, which serde then decides on; on every text this
/// accepts, serde would read the same numbers.
fn flat_u64s<const N: usize>(raw: Option<&str>, keys: [&str; N]) -> Option<[u64; N]> {
    let text = raw?.as_bytes();
    if text.last() != Some(&b'}') {
        return None;
    }
    let mut found = [None; N];
    // At each member's opening quote, after the `{` or a `,`.
    let mut at = 1;
    loop {
        if text.first() != Some(&b'{') || text.get(at) != Some(&b'"') {
            return None;
        }
        // The key, compared in place: one of `keys` followed by its quote.
        let name = &text[at + 1..];
        let i = keys
            .iter()
            .position(|k| name.starts_with(k.as_bytes()) && name.get(k.len()) == Some(&b'"'))?;
        at += keys[i].len() + 2;
        if text.get(at) != Some(&b':') {
            return None;
        }
        let digits = text[at + 1..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(0);
        let value = plain_u64(&text[at + 1..at + 1 + digits])?;
        if found[i].replace(value).is_some() {
            return None;
        }
        at += 1 + digits;
        match text[at] {
            b',' => at += 1,
            b'}' if at == text.len() - 1 => break,
            _ => return None,
        }
    }
    let mut out = [0; N];
    for (o, f) in out.iter_mut().zip(found) {
        *o = f?;
    }
    Some(out)
}

/// A JSON integer of digits only (no sign, leading zero, fraction or
/// exponent) that fits a `u64`.
fn plain_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadyAckPayload {
    last_seq: u64,
    replayed: u64,
}

#[derive(Deserialize)]
struct ReasonPayload {
    reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartedPayload {
    total_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProgressPayload {
    processed_count: u64,
    total_count: u64,
    #[serde(default)]
    item: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompletePayload {
    processed_count: u64,
    total_count: u64,
    #[serde(default)]
    result: Value,
}

#[derive(Deserialize)]
struct FailedPayload {
    code: String,
    message: String,
    retryable: bool,
}

#[derive(Deserialize)]
struct NoncePayload {
    nonce: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadyPayload {
    #[serde(default)]
    resume_from: Option<u64>,
}

/// Parses a server frame. `limit` is the largest frame accepted, in bytes.
pub fn parse_server(text: &str, limit: usize) -> Result<Envelope, ProtocolError> {
    let (raw, seq, message) = parse_server_in(text, limit)?;
    Ok(Envelope {
        job_id: raw.job_id.map(Cow::into_owned),
        seq,
        ts: raw.ts.map(Cow::into_owned),
        message,
    })
}

/// What a client needs of a server frame: its seq (set on job events only)
/// and the message, as [`parse_server`] reads them, without copying the
/// envelope's other fields out of the frame.
pub fn parse_server_message(
    text: &str,
    limit: usize,
) -> Result<(Option<u64>, ServerMessage), ProtocolError> {
    let (_, seq, message) = parse_server_in(text, limit)?;
    Ok((seq, message))
}

fn parse_server_in(
    text: &str,
    limit: usize,
) -> Result<(Fields<'_>, Option<u64>, ServerMessage), ProtocolError> {
    let Head { kind, raw } = head(text, limit)?;
    let p = raw.payload;
    let message = match kind.as_ref() {
        "ready_ack" => {
            let x = match flat_u64s(p, ["lastSeq", "replayed"]) {
                Some([last_seq, replayed]) => ReadyAckPayload { last_seq, replayed },
                None => payload(p, "payload.lastSeq")?,
            };
            ServerMessage::ReadyAck {
                last_seq: x.last_seq,
                replayed: x.replayed,
            }
        }
        "resync_required" => {
            let x: ReasonPayload = payload(p, "payload.reason")?;
            ServerMessage::ResyncRequired { reason: x.reason }
        }
        "job_started" => {
            let x = match flat_u64s(p, ["totalCount"]) {
                Some([total_count]) => StartedPayload { total_count },
                None => payload(p, "payload.totalCount")?,
            };
            ServerMessage::JobStarted {
                total_count: x.total_count,
            }
        }
        "job_progress" => {
            let x = match flat_u64s(p, ["processedCount", "totalCount"]) {
                Some([processed_count, total_count]) => ProgressPayload {
                    processed_count,
                    total_count,
                    item: None,
                },
                None => payload(p, "payload.processedCount")?,
            };
            ServerMessage::JobProgress {
                processed_count: x.processed_count,
                total_count: x.total_count,
                item: x.item,
            }
        }
        "job_complete" => {
            let x: CompletePayload = payload(p, "payload.processedCount")?;
            ServerMessage::JobComplete {
                processed_count: x.processed_count,
                total_count: x.total_count,
                result: x.result,
            }
        }
        "job_failed" => {
            let x: FailedPayload = payload(p, "payload.code")?;
            ServerMessage::JobFailed {
                code: x.code,
                message: x.message,
                retryable: x.retryable,
            }
        }
        "keep_alive" => ServerMessage::KeepAlive,
        "pong" => {
            let x: NoncePayload = payload(p, "payload.nonce")?;
            ServerMessage::Pong { nonce: x.nonce }
        }
        other => ServerMessage::Unknown {
            kind: other.to_owned(),
        },
    };
    if message.is_job_event() && raw.seq.is_none() {
        return Err(ProtocolError::MissingField { field: "seq" });
    }
    let seq = if message.is_job_event() {
        raw.seq
    } else {
        None
    };
    Ok((raw, seq, message))
}

/// Parses a client frame (the simulator's side).
pub fn parse_client(text: &str, limit: usize) -> Result<ClientMessage, ProtocolError> {
    let Head { kind, raw } = head(text, limit)?;
    Ok(match kind.as_ref() {
        "ready" => {
            let x: ReadyPayload = payload(raw.payload, "payload.resumeFrom")?;
            ClientMessage::Ready {
                resume_from: x.resume_from,
            }
        }
        "ping" => {
            let x: NoncePayload = payload(raw.payload, "payload.nonce")?;
            ClientMessage::Ping { nonce: x.nonce }
        }
        "cancel" => ClientMessage::Cancel,
        other => ClientMessage::Unknown {
            kind: other.to_owned(),
        },
    })
}

/// Encodes a client message as one JSON text frame.
pub fn encode_client(message: &ClientMessage) -> String {
    let payload = match message {
        ClientMessage::Ready { resume_from } => json!({ "resumeFrom": resume_from }),
        ClientMessage::Ping { nonce } => json!({ "nonce": nonce }),
        ClientMessage::Cancel | ClientMessage::Unknown { .. } => json!({}),
    };
    json!({ "v": VERSION, "type": message.kind(), "payload": payload }).to_string()
}

/// Encodes a server message as one JSON text frame.
pub fn encode_server(envelope: &Envelope) -> String {
    let payload = match &envelope.message {
        ServerMessage::ReadyAck { last_seq, replayed } => {
            json!({ "lastSeq": last_seq, "replayed": replayed })
        }
        ServerMessage::ResyncRequired { reason } => json!({ "reason": reason }),
        ServerMessage::JobStarted { total_count } => json!({ "totalCount": total_count }),
        ServerMessage::JobProgress {
            processed_count,
            total_count,
            item,
        } => match item {
            Some(item) => {
                json!({ "processedCount": processed_count, "totalCount": total_count, "item": item })
            }
            None => json!({ "processedCount": processed_count, "totalCount": total_count }),
        },
        ServerMessage::JobComplete {
            processed_count,
            total_count,
            result,
        } => {
            json!({ "processedCount": processed_count, "totalCount": total_count, "result": result })
        }
        ServerMessage::JobFailed {
            code,
            message,
            retryable,
        } => json!({ "code": code, "message": message, "retryable": retryable }),
        ServerMessage::KeepAlive | ServerMessage::Unknown { .. } => json!({}),
        ServerMessage::Pong { nonce } => json!({ "nonce": nonce }),
    };
    let mut obj = serde_json::Map::new();
    obj.insert("v".into(), json!(VERSION));
    obj.insert("type".into(), json!(envelope.message.kind()));
    if let Some(job_id) = &envelope.job_id {
        obj.insert("jobId".into(), json!(job_id));
    }
    if let Some(seq) = envelope.seq {
        obj.insert("seq".into(), json!(seq));
    }
    if let Some(ts) = &envelope.ts {
        obj.insert("ts".into(), json!(ts));
    }
    obj.insert("payload".into(), payload);
    Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 6] = [
        "processedCount",
        "totalCount",
        "item",
        "x",
        r"processed\u0043ount",
        "",
    ];
    const VALUES: [&str; 14] = [
        "0",
        "7",
        "18446744073709551615",
        "18446744073709551616",
        "007",
        "-1",
        "1.0",
        "1e2",
        r#""5""#,
        "null",
        "[1,2]",
        " 3",
        "3 ",
        "",
    ];

    fn members(keys: &[&str], values: &[&str]) -> Vec<String> {
        keys.iter()
            .flat_map(|k| values.iter().map(move |v| format!(r#""{k}":{v}"#)))
            .collect()
    }

    /// Checks the flat read against serde on `text`; true when it took it.
    fn agrees(text: &str) -> bool {
        let Ok(raw) = serde_json::from_str::<Box<RawValue>>(text) else {
            return false;
        };
        let raw = Some(raw.get());
        let Some([processed, total]) = flat_u64s(raw, ["processedCount", "totalCount"]) else {
            return false;
        };
        let p: ProgressPayload = payload(raw, "payload.processedCount")
            .unwrap_or_else(|_| panic!("serde refuses what the flat read took: {text}"));
        assert_eq!(
            (p.processed_count, p.total_count, p.item),
            (processed, total, None),
            "{text}"
        );
        true
    }

    /// Every object of up to two members from the tables, and of three
    /// from their likeliest part (duplicates included), with and without
    /// whitespace: whatever the flat read takes, serde reads alike.
    #[test]
    fn the_flat_read_agrees_with_serde() {
        let all = members(&KEYS, &VALUES);
        let near = members(&KEYS[..3], &["7", "18446744073709551616", "null", "\"5\""]);
        let mut objects = vec![Vec::new()];
        objects.extend(all.iter().map(|m| vec![m.as_str()]));
        for a in &all {
            objects.extend(all.iter().map(|b| vec![a.as_str(), b.as_str()]));
        }
        for a in &near {
            for b in &near {
                objects.extend(
                    near.iter()
                        .map(|c| vec![a.as_str(), b.as_str(), c.as_str()]),
                );
            }
        }
        let mut taken = 0;
        for o in &objects {
            taken += usize::from(agrees(&format!("{{{}}}", o.join(","))));
            taken += usize::from(agrees(&format!("{{ {} }}", o.join(", "))));
        }
        for other in ["[7,9]", "null", "{}", r#""x""#] {
            assert!(!agrees(other), "{other}");
        }
        // 0/7/max for each of the two, in either order.
        assert_eq!(taken, 18, "the canonical shapes take the flat read");
    }

    const ENVELOPE_KEYS: [&str; 9] = [
        "v",
        "type",
        "jobId",
        "seq",
        "ts",
        "payload",
        "other",
        r"t\u0079pe",
        "",
    ];
    const ENVELOPE_VALUES: [&str; 27] = [
        "1",
        "0",
        "18446744073709551615",
        "18446744073709551616",
        "01",
        "-1",
        "1.5",
        "1e2",
        r#""job_progress""#,
        r#""""#,
        r#""a\"b""#,
        r#""\u0041""#,
        "\"tab\there\"",
        "null",
        "true",
        "{}",
        r#"{"processedCount":7,"totalCount":9}"#,
        r#"{"a":"x","b":true,"c":null,"d":false}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":{}}"#,
        r#"{"a":[1]}"#,
        r#"{"a":1,}"#,
        r#"{"a":1"#,
        r#"{"a":-1}"#,
        r#"{"a":nul}"#,
        "[1]",
        " 1",
    ];

    /// Every order of `items`.
    fn orders<'a>(items: &[&'a str]) -> Vec<Vec<&'a str>> {
        if items.is_empty() {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for i in 0..items.len() {
            let mut rest = items.to_vec();
            let first = rest.remove(i);
            for mut tail in orders(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }

    /// Checks the one-scan envelope against serde's on `text`; true when
    /// the scan took it.
    fn envelope_agrees(text: &str) -> bool {
        let Some(flat) = flat_envelope(text) else {
            return false;
        };
        let serde = serde_json::from_str::<RawEnvelope<'_>>(text).map(Fields::from);
        assert_eq!(Some(&flat), serde.as_ref().ok(), "{text}");
        true
    }

    /// Every object of up to two members from the tables, compact and
    /// spaced; the canonical frame with each member's value swapped for
    /// each of the table's, in every order of its members, with a member
    /// twice, cut short at every byte and with something after it: whatever
    /// the scan takes, serde reads alike.
    #[test]
    fn the_one_scan_envelope_agrees_with_serde() {
        let all = members(&ENVELOPE_KEYS, &ENVELOPE_VALUES);
        let mut taken = 0;
        for a in &all {
            taken += usize::from(envelope_agrees(&format!("{{{a}}}")));
            taken += usize::from(envelope_agrees(&format!("{{ {a} }}")));
            for b in &all {
                taken += usize::from(envelope_agrees(&format!("{{{a},{b}}}")));
                taken += usize::from(envelope_agrees(&format!("{{{a}, {b}}}")));
            }
        }
        let canonical = [
            r#""v":1"#,
            r#""type":"job_progress""#,
            r#""jobId":"j-1""#,
            r#""seq":5"#,
            r#""ts":"2026-11-22T00:00:00.000Z""#,
            r#""payload":{"processedCount":5,"totalCount":9}"#,
        ];
        let object = |ms: &[&str]| format!("{{{}}}", ms.join(","));
        assert!(envelope_agrees(&object(&canonical)), "the canonical frame");
        for (i, key) in ["v", "type", "jobId", "seq", "ts", "payload"]
            .iter()
            .enumerate()
        {
            for value in ENVELOPE_VALUES {
                let mut ms = canonical.map(str::to_owned);
                ms[i] = format!(r#""{key}":{value}"#);
                let ms: Vec<&str> = ms.iter().map(String::as_str).collect();
                taken += usize::from(envelope_agrees(&object(&ms)));
            }
            let mut twice = canonical.to_vec();
            twice.push(canonical[i]);
            assert!(!envelope_agrees(&object(&twice)), "{key} twice");
        }
        for order in orders(&canonical) {
            assert!(envelope_agrees(&object(&order)), "{}", object(&order));
        }
        let text = object(&canonical);
        for cut in 0..text.len() {
            assert!(!envelope_agrees(&text[..cut]), "{}", &text[..cut]);
        }
        for tail in [" ", "}", ",", "x", "{}"] {
            assert!(!envelope_agrees(&format!("{text}{tail}")), "{tail}");
        }
        assert!(taken > 100, "the scan takes the plain shapes ({taken})");
    }
}
