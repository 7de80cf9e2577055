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
    job_id: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(borrow, default)]
    ts: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

/// `v` and `type` read in the one pass, whatever their JSON type: a value
/// of the wrong type is then a missing field, as the protocol says, not a
/// broken frame.
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

struct Head<'a> {
    kind: Cow<'a, str>,
    raw: RawEnvelope<'a>,
}

fn head(text: &str, limit: usize) -> Result<Head<'_>, ProtocolError> {
    if text.len() > limit {
        return Err(ProtocolError::Oversized {
            size: text.len(),
            limit,
        });
    }
    // serde would also read a struct from a JSON array, positionally.
    if !text.trim_start().starts_with('{') {
        return Err(ProtocolError::InvalidJson("not a JSON object".into()));
    }
    let mut raw: RawEnvelope<'_> =
        serde_json::from_str(text).map_err(|e| ProtocolError::InvalidJson(e.to_string()))?;
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

fn payload<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<T, ProtocolError> {
    let text = raw.map(RawValue::get).unwrap_or("{}");
    serde_json::from_str(text).map_err(|_| ProtocolError::MissingField { field })
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
) -> Result<(RawEnvelope<'_>, Option<u64>, ServerMessage), ProtocolError> {
    let Head { kind, raw } = head(text, limit)?;
    let p = raw.payload;
    let message = match kind.as_ref() {
        "ready_ack" => {
            let x: ReadyAckPayload = payload(p, "payload.lastSeq")?;
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
            let x: StartedPayload = payload(p, "payload.totalCount")?;
            ServerMessage::JobStarted {
                total_count: x.total_count,
            }
        }
        "job_progress" => {
            let x: ProgressPayload = payload(p, "payload.processedCount")?;
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
