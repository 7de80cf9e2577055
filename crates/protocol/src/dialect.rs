//! Dialects: what the engine's rules mean on the wire of protocols other
//! than our own `job`. A dialect is pure: it reads one text frame and says
//! what it means ([`Heard`]), and it builds the frames the engine's machine
//! decides to write. The machine keeps the rules (Ready is earned, the
//! outbox, nothing after a close, reconnect, liveness). Total: any input
//! reads as something or as a [`Heard::Violation`], never a panic (fuzzed).
//!
//! - `socketio`: Engine.IO v4 over WebSocket carrying Socket.IO v5 packets.
//!   Ready is the namespace CONNECT ack, not the Engine.IO open packet.
//! - `graphql-ws`: the `graphql-transport-ws` subprotocol. Ready is
//!   `connection_ack`; the subscription goes out only after it.
//! - `phoenix`: Phoenix Channels with the v2 JSON serializer
//!   (`[join_ref, ref, topic, event, payload]`). Ready is the `phx_reply`
//!   `ok` to our `phx_join`; the client sends the heartbeat.
//! - `signalr`: ASP.NET Core SignalR's JSON hub protocol, records ended by
//!   0x1E. Ready is the empty handshake response after the negotiate POST
//!   and our handshake request.
//! - `json`: a bespoke JSON progress socket, described by its options: the
//!   type field, the ready message and its ack, the progress, complete and
//!   failed types, the seq field, and a table of close codes.
//!
//! `docs/dialects.md` has each dialect's Ready, close codes, resume and
//! findings.

use std::time::Duration;

use serde_json::Value;

/// The JSON string a dialect writes where the token goes; the engine's
/// driver puts the token there as it writes the frame, so the recorded frame
/// never holds it.
pub const TOKEN_SLOT: &str = "[redacted token]";

/// The WebSocket subprotocol of graphql-ws.
pub const GRAPHQL_WS_PROTOCOL: &str = "graphql-transport-ws";

/// A dialect's options: which messages are progress, completion and
/// failure, and where the counts sit in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectOptions {
    /// Socket.IO namespace. Default `/`.
    pub namespace: String,
    /// Socket.IO event carrying progress. Default `progress`.
    pub progress_event: String,
    /// Socket.IO event saying the job completed. Default `complete`.
    pub complete_event: String,
    /// Socket.IO event saying the job failed. Default `failed`.
    pub failed_event: String,
    /// JSON Pointer (RFC 6901) to the processed count: into a Socket.IO
    /// event's argument array, or a graphql-ws `next` payload. Default
    /// `/0/processed` (Socket.IO), `/data/progress/processed` (graphql-ws).
    pub processed: Option<String>,
    /// JSON Pointer to the total count. Default `/0/total` (Socket.IO),
    /// `/data/progress/total` (graphql-ws).
    pub total: Option<String>,
    /// graphql-ws: the subscription document; `{job_id}` is filled in.
    /// Required for graphql-ws.
    pub query: Option<String>,
    /// graphql-ws: the subscription's variables, a JSON object; `{job_id}`
    /// is filled in. Default none.
    pub variables: Option<String>,
    /// json: JSON Pointer to the message type. Default `/type`. The event
    /// options above name the type values of progress, completion and
    /// failure (defaults `progress`, `complete`, `failed`).
    pub type_field: Option<String>,
    /// json: the message sent after the handshake to ask for readiness;
    /// `{job_id}` and `{resume_from}` (the last seq, or `null`) are filled
    /// in. Default none: Ready at the handshake.
    pub ready: Option<String>,
    /// json: the type value that acknowledges `ready`. Required with `ready`.
    pub ready_ack: Option<String>,
    /// json: JSON Pointer to a failure's code. Default `/code`, else the
    /// failure type itself.
    pub failed_code: Option<String>,
    /// json: JSON Pointer to the message's seq: duplicates and gaps are
    /// found, and `{resume_from}` carries the last one. Default none.
    pub seq: Option<String>,
    /// json: what each close code means. Default: 1000 closes the socket
    /// (closed by the server), any other code reconnects.
    pub close_codes: Vec<(u16, CloseRule)>,
    /// phoenix: the channel topic; `{job_id}` is filled in. Default
    /// `job:{job_id}`.
    pub topic: Option<String>,
    /// phoenix: the join payload's parameters, a JSON object (`{job_id}`
    /// filled in); the token joins them as `token`. Default none.
    pub params: Option<String>,
}

/// What a close code means, in a `json` dialect's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseRule {
    /// The job finished.
    Finished,
    /// The job failed.
    Failed,
    /// A drop: reconnect with backoff.
    Reconnect,
    /// The token expired: reconnect with a fresh one.
    RefreshToken,
    /// The token is refused: give up.
    Unauthorized,
    /// The job does not exist: give up.
    JobUnknown,
    /// The server closed, with no word on the job.
    Closed,
}

impl CloseRule {
    /// Every rule, by its name in the config.
    pub const ALL: [(CloseRule, &'static str); 7] = [
        (CloseRule::Finished, "finished"),
        (CloseRule::Failed, "failed"),
        (CloseRule::Reconnect, "reconnect"),
        (CloseRule::RefreshToken, "refresh_token"),
        (CloseRule::Unauthorized, "unauthorized"),
        (CloseRule::JobUnknown, "job_unknown"),
        (CloseRule::Closed, "closed"),
    ];

    /// The rule named `name`.
    pub fn parse(name: &str) -> Option<CloseRule> {
        CloseRule::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(r, _)| *r)
    }
}

impl DialectOptions {
    /// The json dialect's rule for `code`.
    pub fn close_rule(&self, code: u16) -> CloseRule {
        match self.close_codes.iter().find(|(c, _)| *c == code) {
            Some((_, rule)) => *rule,
            None if matches!(code, 1000 | 1005) => CloseRule::Closed,
            None => CloseRule::Reconnect,
        }
    }
}

impl Default for DialectOptions {
    fn default() -> Self {
        DialectOptions {
            namespace: "/".into(),
            progress_event: "progress".into(),
            complete_event: "complete".into(),
            failed_event: "failed".into(),
            processed: None,
            total: None,
            query: None,
            variables: None,
            type_field: None,
            ready: None,
            ready_ack: None,
            failed_code: None,
            seq: None,
            close_codes: Vec::new(),
            topic: None,
            params: None,
        }
    }
}

/// What a frame means, as a dialect reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// Engine.IO open: the server pings every `interval` and waits
    /// `timeout` for the answer.
    Open {
        /// `pingInterval`.
        interval: Duration,
        /// `pingTimeout`.
        timeout: Duration,
    },
    /// The readiness ack: Socket.IO's CONNECT ack (with its `sid` and,
    /// with connection state recovery, `pid`), graphql-ws's
    /// `connection_ack`.
    ReadyAck {
        /// The Socket.IO session id.
        sid: Option<String>,
        /// The Socket.IO recovery id.
        pid: Option<String>,
    },
    /// Readiness refused (Socket.IO CONNECT_ERROR) with the server's word.
    Refused {
        /// The message.
        message: String,
    },
    /// The server's heartbeat, to be answered with this frame.
    ServerPing {
        /// The answer.
        answer: String,
    },
    /// A progress message.
    Progress {
        /// Items done.
        processed: u64,
        /// Items in all.
        total: u64,
    },
    /// The job completed; counts where the message carries them.
    Complete {
        /// Items done.
        processed: Option<u64>,
        /// Items in all.
        total: Option<u64>,
    },
    /// The job failed.
    Failed {
        /// What the server said.
        code: String,
    },
    /// The server ended the session in-band (Socket.IO DISCONNECT or the
    /// Engine.IO close packet, Phoenix `phx_close`): no reconnect, as the
    /// protocol's own client does.
    Disconnect,
    /// The answer to our app-level heartbeat with this ref (Phoenix).
    HeartbeatReply {
        /// The heartbeat's ref.
        reference: String,
    },
    /// The channel crashed on the server (Phoenix `phx_error`): rejoin.
    ChannelError,
    /// The server's in-band close (SignalR type 7), with its error and
    /// whether it allows a reconnect.
    ServerClose {
        /// The error it names, if any.
        error: Option<String>,
        /// `allowReconnect`.
        reconnect: bool,
    },
    /// Anything else the protocol allows.
    Other,
    /// A frame the protocol does not allow.
    Violation(String),
}

/// One frame read: its type name (for the frame record), what it means,
/// and the Socket.IO recovery offset it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Type name, as recorded: `eio_open`, `event:progress`, `next`, ...
    pub kind: String,
    /// What it means.
    pub heard: Heard,
    /// The recovery offset (the last argument of a Socket.IO event under
    /// connection state recovery).
    pub offset: Option<String>,
    /// The message's seq (json, with a seq field).
    pub seq: Option<u64>,
}

impl Reading {
    fn of(kind: impl Into<String>, heard: Heard) -> Reading {
        Reading {
            kind: kind.into(),
            heard,
            offset: None,
            seq: None,
        }
    }
}

fn pointer_u64(v: &Value, pointer: &str) -> Option<u64> {
    let x = v.pointer(pointer)?;
    x.as_u64()
        .or_else(|| x.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

// ---- Socket.IO -------------------------------------------------------------

/// The CONNECT packet for `namespace`, with the token slot, and the
/// recovery id and offset when resuming.
pub fn socketio_connect(
    opts: &DialectOptions,
    with_token: bool,
    resume: Option<(&str, &str)>,
) -> String {
    let mut auth = serde_json::Map::new();
    if with_token {
        auth.insert("token".into(), TOKEN_SLOT.into());
    }
    if let Some((pid, offset)) = resume {
        auth.insert("pid".into(), pid.into());
        auth.insert("offset".into(), offset.into());
    }
    let nsp = socketio_nsp_prefix(&opts.namespace);
    if auth.is_empty() {
        format!("40{nsp}")
    } else {
        format!("40{nsp}{}", Value::Object(auth))
    }
}

fn socketio_nsp_prefix(namespace: &str) -> String {
    if namespace.is_empty() || namespace == "/" {
        String::new()
    } else {
        format!("{namespace},")
    }
}

/// Reads one Engine.IO v4 text frame.
pub fn socketio_read(opts: &DialectOptions, text: &str) -> Reading {
    let mut chars = text.chars();
    let Some(engine) = chars.next() else {
        return Reading::of(
            "empty",
            Heard::Violation("an empty Engine.IO packet".into()),
        );
    };
    let rest = chars.as_str();
    match engine {
        '0' => match serde_json::from_str::<Value>(rest) {
            Ok(v) => {
                let ms = |k: &str| v.get(k).and_then(Value::as_u64);
                match (ms("pingInterval"), ms("pingTimeout")) {
                    (Some(i), Some(t)) => Reading::of(
                        "eio_open",
                        Heard::Open {
                            interval: Duration::from_millis(i),
                            timeout: Duration::from_millis(t),
                        },
                    ),
                    _ => Reading::of(
                        "eio_open",
                        Heard::Violation(
                            "the open packet lacks pingInterval or pingTimeout".into(),
                        ),
                    ),
                }
            }
            Err(_) => Reading::of(
                "eio_open",
                Heard::Violation("the open packet is not JSON".into()),
            ),
        },
        '1' => Reading::of("eio_close", Heard::Disconnect),
        '2' => Reading::of(
            "eio_ping",
            Heard::ServerPing {
                answer: format!("3{rest}"),
            },
        ),
        '3' => Reading::of("eio_pong", Heard::Other),
        '6' => Reading::of("eio_noop", Heard::Other),
        '4' => socketio_packet(opts, rest),
        other => Reading::of(
            "eio_unknown",
            Heard::Violation(format!("unknown Engine.IO packet type {other:?}")),
        ),
    }
}

/// Reads a Socket.IO v5 packet (the part after the Engine.IO `4`).
fn socketio_packet(opts: &DialectOptions, text: &str) -> Reading {
    let mut chars = text.chars();
    let Some(kind) = chars.next() else {
        return Reading::of(
            "sio_empty",
            Heard::Violation("an empty Socket.IO packet".into()),
        );
    };
    let mut rest = chars.as_str();
    // An attachment count for binary packets: `51-`.
    if matches!(kind, '5' | '6')
        && let Some(dash) = rest.find('-')
    {
        rest = &rest[dash + 1..];
    }
    let nsp = if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        let n = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        n
    } else {
        "/"
    };
    if nsp != opts.namespace && !(opts.namespace.is_empty() && nsp == "/") {
        return Reading::of("other_namespace", Heard::Other);
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let body = &rest[digits..];
    let json = || serde_json::from_str::<Value>(body);
    match kind {
        '0' => match json() {
            Ok(v) => Reading::of(
                "connect",
                Heard::ReadyAck {
                    sid: v.get("sid").and_then(Value::as_str).map(str::to_owned),
                    pid: v.get("pid").and_then(Value::as_str).map(str::to_owned),
                },
            ),
            Err(_) => Reading::of(
                "connect",
                Heard::Violation("a CONNECT ack without a JSON payload".into()),
            ),
        },
        '1' => Reading::of("disconnect", Heard::Disconnect),
        '4' => {
            let message = json()
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .or_else(|| v.as_str().map(str::to_owned))
                })
                .unwrap_or_else(|| "connect_error".into());
            Reading::of("connect_error", Heard::Refused { message })
        }
        '2' | '5' => match json() {
            Ok(Value::Array(mut args)) if !args.is_empty() => {
                let name = match args.remove(0) {
                    Value::String(s) => s,
                    _ => {
                        return Reading::of(
                            "event",
                            Heard::Violation("an event whose name is not a string".into()),
                        );
                    }
                };
                socketio_event(opts, name, args)
            }
            _ => Reading::of(
                "event",
                Heard::Violation("an event whose payload is not a non-empty array".into()),
            ),
        },
        '3' | '6' => Reading::of("ack", Heard::Other),
        other => Reading::of(
            "sio_unknown",
            Heard::Violation(format!("unknown Socket.IO packet type {other:?}")),
        ),
    }
}

fn socketio_event(opts: &DialectOptions, name: String, mut args: Vec<Value>) -> Reading {
    let processed_at = opts.processed.as_deref().unwrap_or("/0/processed");
    let total_at = opts.total.as_deref().unwrap_or("/0/total");
    // Under connection state recovery the server appends the offset as a
    // last, extra string argument. Only an argument past the mapped ones
    // can be it, so a mapped field is never mistaken for one.
    let mapped_args = [processed_at, total_at]
        .iter()
        .filter_map(|p| p.split('/').nth(1)?.parse::<usize>().ok())
        .max()
        .map_or(1, |i| i + 1);
    let offset = (args.len() > mapped_args)
        .then(|| args.last().and_then(Value::as_str).map(str::to_owned))
        .flatten();
    if offset.is_some() {
        args.pop();
    }
    let mut reading = named_event(opts, name, &Value::Array(args), "/0/processed", "/0/total");
    reading.offset = offset;
    reading
}

// ---- graphql-ws ------------------------------------------------------------

/// The subscription id sockscope uses: one subscription per socket.
pub const GRAPHQL_SUBSCRIPTION_ID: &str = "1";

/// `connection_init`, with the token slot in its payload when there is a
/// token.
pub fn graphql_init(with_token: bool) -> String {
    let mut msg = serde_json::json!({ "type": "connection_init" });
    if with_token {
        msg["payload"] = serde_json::json!({ "token": TOKEN_SLOT });
    }
    msg.to_string()
}

/// `subscribe` with the configured document and variables, `{job_id}`
/// filled in.
pub fn graphql_subscribe(opts: &DialectOptions, job_id: Option<&str>) -> String {
    let fill = |s: &str| s.replace("{job_id}", job_id.unwrap_or_default());
    let mut payload = serde_json::json!({
        "query": fill(opts.query.as_deref().unwrap_or_default()),
    });
    if let Some(vars) = &opts.variables
        && let Ok(v) = serde_json::from_str::<Value>(&fill(vars))
    {
        payload["variables"] = v;
    }
    serde_json::json!({
        "id": GRAPHQL_SUBSCRIPTION_ID,
        "type": "subscribe",
        "payload": payload,
    })
    .to_string()
}

/// Reads one graphql-transport-ws message.
pub fn graphql_read(opts: &DialectOptions, text: &str) -> Reading {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Reading::of("invalid", Heard::Violation("not JSON".into())),
    };
    let Some(kind) = v.get("type").and_then(Value::as_str).map(str::to_owned) else {
        return Reading::of(
            "invalid",
            Heard::Violation("a message without a type".into()),
        );
    };
    let ours = v.get("id").and_then(Value::as_str) == Some(GRAPHQL_SUBSCRIPTION_ID);
    let heard = match kind.as_str() {
        "connection_ack" => Heard::ReadyAck {
            sid: None,
            pid: None,
        },
        "ping" => Heard::ServerPing {
            answer: r#"{"type":"pong"}"#.into(),
        },
        "pong" => Heard::Other,
        "next" if ours => {
            let payload = v.get("payload").cloned().unwrap_or(Value::Null);
            if let Some(errors) = payload.get("errors").filter(|e| !e.is_null()) {
                Heard::Failed {
                    code: graphql_error_code(errors),
                }
            } else {
                let processed_at = opts
                    .processed
                    .as_deref()
                    .unwrap_or("/data/progress/processed");
                let total_at = opts.total.as_deref().unwrap_or("/data/progress/total");
                match (
                    pointer_u64(&payload, processed_at),
                    pointer_u64(&payload, total_at),
                ) {
                    (Some(processed), Some(total)) => Heard::Progress { processed, total },
                    _ => Heard::Other,
                }
            }
        }
        "error" if ours => Heard::Failed {
            code: graphql_error_code(v.get("payload").unwrap_or(&Value::Null)),
        },
        "complete" if ours => Heard::Complete {
            processed: None,
            total: None,
        },
        "next" | "error" | "complete" => Heard::Other,
        "connection_init" | "subscribe" => {
            Heard::Violation(format!("the server sent a client message ({kind})"))
        }
        other => Heard::Violation(format!("unknown message type {other:?}")),
    };
    Reading::of(kind, heard)
}

/// The first error's `extensions.code`, else its message.
fn graphql_error_code(errors: &Value) -> String {
    let first = errors.get(0).unwrap_or(errors);
    first
        .pointer("/extensions/code")
        .and_then(Value::as_str)
        .or_else(|| first.get("message").and_then(Value::as_str))
        .unwrap_or("graphql_error")
        .to_owned()
}

// ---- json --------------------------------------------------------------------

/// The json dialect's ready message, `{job_id}` and `{resume_from}` filled
/// in; `None` when Ready comes at the handshake.
pub fn json_ready(
    opts: &DialectOptions,
    job_id: Option<&str>,
    resume_from: Option<u64>,
) -> Option<String> {
    let template = opts.ready.as_deref()?;
    let resume = resume_from.map_or_else(|| "null".to_owned(), |s| s.to_string());
    Some(
        template
            .replace("{job_id}", job_id.unwrap_or_default())
            .replace("{resume_from}", &resume),
    )
}

/// Reads one message of a json dialect.
pub fn json_read(opts: &DialectOptions, text: &str) -> Reading {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Reading::of("invalid", Heard::Violation("not JSON".into())),
    };
    let type_at = opts.type_field.as_deref().unwrap_or("/type");
    let Some(kind) = v
        .pointer(type_at)
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Reading::of(
            "untyped",
            Heard::Violation(format!("no string type at {type_at}")),
        );
    };
    let processed_at = opts.processed.as_deref().unwrap_or("/processed");
    let total_at = opts.total.as_deref().unwrap_or("/total");
    let heard = if opts.ready_ack.as_deref() == Some(kind.as_str()) {
        Heard::ReadyAck {
            sid: None,
            pid: None,
        }
    } else if kind == opts.progress_event {
        match (pointer_u64(&v, processed_at), pointer_u64(&v, total_at)) {
            (Some(processed), Some(total)) => Heard::Progress { processed, total },
            _ => Heard::Violation(format!(
                "a {kind} message without counts at {processed_at} and {total_at}"
            )),
        }
    } else if kind == opts.complete_event {
        Heard::Complete {
            processed: pointer_u64(&v, processed_at),
            total: pointer_u64(&v, total_at),
        }
    } else if kind == opts.failed_event {
        let code_at = opts.failed_code.as_deref().unwrap_or("/code");
        let code = v
            .pointer(code_at)
            .map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))
            .unwrap_or_else(|| kind.clone());
        Heard::Failed { code }
    } else {
        Heard::Other
    };
    let seq = opts
        .seq
        .as_deref()
        .and_then(|p| v.pointer(p))
        .and_then(Value::as_u64);
    Reading {
        kind,
        heard,
        offset: None,
        seq,
    }
}

// ---- phoenix -----------------------------------------------------------------

/// The join ref sockscope uses: one channel per socket.
pub const PHOENIX_JOIN_REF: &str = "1";

/// The channel topic, `{job_id}` filled in.
pub fn phoenix_topic(opts: &DialectOptions, job_id: Option<&str>) -> String {
    opts.topic
        .as_deref()
        .unwrap_or("job:{job_id}")
        .replace("{job_id}", job_id.unwrap_or_default())
}

/// `phx_join` for the topic, with the token slot and the parameters.
pub fn phoenix_join(opts: &DialectOptions, job_id: Option<&str>, with_token: bool) -> String {
    let mut payload = opts
        .params
        .as_deref()
        .map(|p| p.replace("{job_id}", job_id.unwrap_or_default()))
        .and_then(|p| serde_json::from_str::<Value>(&p).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    if with_token {
        payload["token"] = TOKEN_SLOT.into();
    }
    serde_json::json!([
        PHOENIX_JOIN_REF,
        PHOENIX_JOIN_REF,
        phoenix_topic(opts, job_id),
        "phx_join",
        payload
    ])
    .to_string()
}

/// The heartbeat with ref `reference`, on the `phoenix` topic.
pub fn phoenix_heartbeat(reference: &str) -> String {
    serde_json::json!([null, reference, "phoenix", "heartbeat", {}]).to_string()
}

/// Reads one v2 JSON serializer message.
pub fn phoenix_read(opts: &DialectOptions, job_id: Option<&str>, text: &str) -> Reading {
    let Ok(Value::Array(parts)) = serde_json::from_str::<Value>(text) else {
        return Reading::of("invalid", Heard::Violation("not a JSON array".into()));
    };
    let [join_ref, reference, topic, event, payload] = parts.as_slice() else {
        return Reading::of(
            "invalid",
            Heard::Violation(format!("{} elements, not 5", parts.len())),
        );
    };
    let (Some(topic), Some(event)) = (topic.as_str(), event.as_str()) else {
        return Reading::of(
            "invalid",
            Heard::Violation("a topic or event that is not a string".into()),
        );
    };
    let kind = event.to_owned();
    let reference = reference.as_str();
    if topic == "phoenix" {
        return match (event, reference) {
            ("phx_reply", Some(r)) => Reading::of(
                "heartbeat_reply",
                Heard::HeartbeatReply {
                    reference: r.to_owned(),
                },
            ),
            _ => Reading::of(kind, Heard::Other),
        };
    }
    if topic != phoenix_topic(opts, job_id) {
        return Reading::of("other_topic", Heard::Other);
    }
    let ours = join_ref.as_str() == Some(PHOENIX_JOIN_REF);
    let heard = match event {
        "phx_reply" if reference == Some(PHOENIX_JOIN_REF) && ours => {
            match payload.get("status").and_then(Value::as_str) {
                Some("ok") => Heard::ReadyAck {
                    sid: None,
                    pid: None,
                },
                _ => Heard::Refused {
                    message: payload
                        .pointer("/response/reason")
                        .and_then(Value::as_str)
                        .unwrap_or("join refused")
                        .to_owned(),
                },
            }
        }
        "phx_reply" => Heard::Other,
        "phx_error" => Heard::ChannelError,
        "phx_close" => Heard::Disconnect,
        _ => return named_event(opts, kind, payload, "/processed", "/total"),
    };
    Reading::of(kind, heard)
}

/// An event named by the options (progress, complete, failed), its counts
/// by pointer into `payload` (Socket.IO: the argument array; Phoenix: the
/// payload).
fn named_event(
    opts: &DialectOptions,
    name: String,
    payload: &Value,
    processed_default: &str,
    total_default: &str,
) -> Reading {
    let processed_at = opts.processed.as_deref().unwrap_or(processed_default);
    let total_at = opts.total.as_deref().unwrap_or(total_default);
    let heard = if name == opts.progress_event {
        match (
            pointer_u64(payload, processed_at),
            pointer_u64(payload, total_at),
        ) {
            (Some(processed), Some(total)) => Heard::Progress { processed, total },
            _ => Heard::Violation(format!(
                "a {name} event without counts at {processed_at} and {total_at}"
            )),
        }
    } else if name == opts.complete_event {
        Heard::Complete {
            processed: pointer_u64(payload, processed_at),
            total: pointer_u64(payload, total_at),
        }
    } else if name == opts.failed_event {
        // Socket.IO's arguments hold it in the first one.
        let holder = match payload {
            Value::Array(args) => args.first().unwrap_or(payload),
            other => other,
        };
        let code = holder
            .get("code")
            .or_else(|| holder.get("message"))
            .and_then(Value::as_str)
            .or_else(|| holder.as_str())
            .map_or_else(|| name.clone(), str::to_owned);
        Heard::Failed { code }
    } else {
        Heard::Other
    };
    Reading::of(format!("event:{name}"), heard)
}

// ---- signalr -----------------------------------------------------------------

/// The record separator that ends every SignalR message.
pub const SIGNALR_RS: char = '\u{1e}';

/// The handshake request: the JSON hub protocol, version 1.
pub fn signalr_handshake() -> String {
    format!(r#"{{"protocol":"json","version":1}}{SIGNALR_RS}"#)
}

/// The client's keep-alive ping (type 6).
pub fn signalr_ping() -> String {
    format!(r#"{{"type":6}}{SIGNALR_RS}"#)
}

/// The connection token of a negotiate answer (`connectionToken`, or
/// `connectionId` for negotiate version 0); `Err` with the server's error.
pub fn signalr_negotiated(body: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(body).map_err(|_| "negotiate: not JSON".to_owned())?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!(
            "negotiate: {}",
            e.chars().take(200).collect::<String>()
        ));
    }
    v.get("connectionToken")
        .or_else(|| v.get("connectionId"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "negotiate: no connectionToken".to_owned())
}

/// Reads one frame of SignalR records. Before the handshake response
/// (`handshake_done` false) the first record is that response.
pub fn signalr_read(opts: &DialectOptions, text: &str, handshake_done: bool) -> Vec<Reading> {
    let mut out = Vec::new();
    let mut records: Vec<&str> = text.split(SIGNALR_RS).collect();
    if records.last() == Some(&"") {
        records.pop();
    } else {
        out.push(Reading::of(
            "unterminated",
            Heard::Violation("a record without its 0x1E separator".into()),
        ));
    }
    let mut handshake_done = handshake_done;
    for record in records {
        let Ok(v) = serde_json::from_str::<Value>(record) else {
            out.push(Reading::of(
                "invalid",
                Heard::Violation("a record that is not JSON".into()),
            ));
            continue;
        };
        if !handshake_done {
            handshake_done = true;
            out.push(match v.get("error").and_then(Value::as_str) {
                Some(e) => Reading::of("handshake", Heard::Refused { message: e.into() }),
                None => Reading::of(
                    "handshake",
                    Heard::ReadyAck {
                        sid: None,
                        pid: None,
                    },
                ),
            });
            continue;
        }
        out.push(match v.get("type").and_then(Value::as_u64) {
            Some(1) => match (v.get("target").and_then(Value::as_str), v.get("arguments")) {
                (Some(target), Some(args @ Value::Array(_))) => {
                    named_event(opts, target.to_owned(), args, "/0/processed", "/0/total")
                }
                _ => Reading::of(
                    "invocation",
                    Heard::Violation("an invocation without target or arguments".into()),
                ),
            },
            Some(6) => Reading::of("ping", Heard::Other),
            Some(7) => {
                let reconnect = v.get("allowReconnect").and_then(Value::as_bool) == Some(true);
                let error = v
                    .get("error")
                    .and_then(Value::as_str)
                    .map(|e| e.chars().take(200).collect());
                Reading::of("close", Heard::ServerClose { error, reconnect })
            }
            Some(2..=5) => Reading::of("hub_message", Heard::Other),
            _ => Reading::of(
                "unknown",
                Heard::Violation("a record without a known type".into()),
            ),
        });
    }
    out
}

/// What a graphql-ws close code means for the client.
pub fn graphql_close_is_fatal(code: u16) -> Option<&'static str> {
    match code {
        4400 => Some("bad request (4400)"),
        4401 => Some("unauthorized (4401): a subscribe before connection_ack, or no valid auth"),
        4403 => Some("forbidden (4403)"),
        4406 => Some("subprotocol not acceptable (4406)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phoenix_messages_read_as_the_protocol_says() {
        let o = opts();
        let j = Some("j-1");
        assert_eq!(
            phoenix_join(&o, j, true),
            r#"["1","1","job:j-1","phx_join",{"token":"[redacted token]"}]"#
        );
        assert_eq!(
            phoenix_heartbeat("hb3"),
            r#"[null,"hb3","phoenix","heartbeat",{}]"#
        );
        let cases: &[(&str, Heard)] = &[
            (
                r#"["1","1","job:j-1","phx_reply",{"status":"ok","response":{}}]"#,
                Heard::ReadyAck {
                    sid: None,
                    pid: None,
                },
            ),
            (
                r#"["1","1","job:j-1","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#,
                Heard::Refused {
                    message: "unauthorized".into(),
                },
            ),
            (
                r#"[null,"hb3","phoenix","phx_reply",{"status":"ok","response":{}}]"#,
                Heard::HeartbeatReply {
                    reference: "hb3".into(),
                },
            ),
            (
                r#"["1",null,"job:j-1","progress",{"processed":2,"total":8}]"#,
                Heard::Progress {
                    processed: 2,
                    total: 8,
                },
            ),
            (
                r#"["1",null,"job:j-1","failed",{"code":"E_X"}]"#,
                Heard::Failed { code: "E_X".into() },
            ),
            (r#"["1","1","job:j-1","phx_error",{}]"#, Heard::ChannelError),
            (r#"["1","1","job:j-1","phx_close",{}]"#, Heard::Disconnect),
            (r#"[null,null,"room:x","progress",{}]"#, Heard::Other),
        ];
        for (text, heard) in cases {
            assert_eq!(&phoenix_read(&o, j, text).heard, heard, "{text}");
        }
        for bad in ["", "{}", "[1,2]", r#"[null,null,1,"e",{}]"#] {
            assert!(
                matches!(phoenix_read(&o, j, bad).heard, Heard::Violation(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn signalr_records_read_as_the_protocol_says() {
        let o = opts();
        let rs = SIGNALR_RS;
        let heard = |text: &str, done: bool| -> Vec<Heard> {
            signalr_read(&o, text, done)
                .into_iter()
                .map(|r| r.heard)
                .collect()
        };
        assert_eq!(
            heard(&format!("{{}}{rs}"), false),
            [Heard::ReadyAck {
                sid: None,
                pid: None
            }]
        );
        assert_eq!(
            heard(
                &format!(r#"{{"error":"Requested protocol 'x' is not available."}}{rs}"#),
                false
            ),
            [Heard::Refused {
                message: "Requested protocol 'x' is not available.".into()
            }]
        );
        // The handshake response and a first message in one frame.
        assert_eq!(
            heard(
                &format!(
                    r#"{{}}{rs}{{"type":1,"target":"progress","arguments":[{{"processed":1,"total":4}}]}}{rs}"#
                ),
                false
            ),
            [
                Heard::ReadyAck {
                    sid: None,
                    pid: None
                },
                Heard::Progress {
                    processed: 1,
                    total: 4
                }
            ]
        );
        assert_eq!(heard(&format!(r#"{{"type":6}}{rs}"#), true), [Heard::Other]);
        assert_eq!(
            heard(
                &format!(r#"{{"type":7,"error":"shutting down","allowReconnect":true}}{rs}"#),
                true
            ),
            [Heard::ServerClose {
                error: Some("shutting down".into()),
                reconnect: true
            }]
        );
        assert_eq!(
            heard(
                &format!(r#"{{"type":1,"target":"failed","arguments":[{{"code":"E_X"}}]}}{rs}"#),
                true
            ),
            [Heard::Failed { code: "E_X".into() }]
        );
        for bad in [
            r#"{"type":6}"#,
            "x\u{1e}",
            "{\"type\":99}\u{1e}",
            "{\"type\":1}\u{1e}",
        ] {
            assert!(
                heard(bad, true)
                    .iter()
                    .any(|h| matches!(h, Heard::Violation(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            signalr_negotiated(
                r#"{"connectionId":"a","connectionToken":"t","negotiateVersion":1}"#
            ),
            Ok("t".into())
        );
        assert!(signalr_negotiated(r#"{"error":"nope"}"#).is_err());
        assert!(signalr_negotiated("<html>").is_err());
    }

    #[test]
    fn json_messages_read_by_their_options() {
        let o = DialectOptions {
            type_field: Some("/kind".into()),
            ready: Some(r#"{"kind":"hello","job":"{job_id}","from":{resume_from}}"#.into()),
            ready_ack: Some("welcome".into()),
            progress_event: "tick".into(),
            complete_event: "done".into(),
            failed_event: "oops".into(),
            processed: Some("/n".into()),
            total: Some("/of".into()),
            failed_code: Some("/why".into()),
            seq: Some("/i".into()),
            close_codes: vec![(4000, CloseRule::Finished)],
            ..DialectOptions::default()
        };
        assert_eq!(
            json_ready(&o, Some("j"), Some(7)).as_deref(),
            Some(r#"{"kind":"hello","job":"j","from":7}"#)
        );
        assert_eq!(
            json_ready(&o, Some("j"), None).as_deref(),
            Some(r#"{"kind":"hello","job":"j","from":null}"#)
        );
        let cases: &[(&str, Heard, Option<u64>)] = &[
            (
                r#"{"kind":"welcome"}"#,
                Heard::ReadyAck {
                    sid: None,
                    pid: None,
                },
                None,
            ),
            (
                r#"{"kind":"tick","n":2,"of":5,"i":3}"#,
                Heard::Progress {
                    processed: 2,
                    total: 5,
                },
                Some(3),
            ),
            (
                r#"{"kind":"done","n":5,"of":5}"#,
                Heard::Complete {
                    processed: Some(5),
                    total: Some(5),
                },
                None,
            ),
            (
                r#"{"kind":"oops","why":"E_X"}"#,
                Heard::Failed { code: "E_X".into() },
                None,
            ),
            (r#"{"kind":"chat"}"#, Heard::Other, None),
        ];
        for (text, heard, seq) in cases {
            let r = json_read(&o, text);
            assert_eq!((&r.heard, r.seq), (heard, *seq), "{text}");
        }
        for bad in ["", "[", r#"{"type":"tick"}"#, r#"{"kind":"tick","n":1}"#] {
            assert!(
                matches!(json_read(&o, bad).heard, Heard::Violation(_)),
                "{bad}"
            );
        }
        assert_eq!(o.close_rule(4000), CloseRule::Finished);
        assert_eq!(o.close_rule(1000), CloseRule::Closed);
        assert_eq!(o.close_rule(1006), CloseRule::Reconnect);
    }

    fn opts() -> DialectOptions {
        DialectOptions::default()
    }

    #[test]
    fn socketio_frames_read_as_the_protocol_says() {
        let cases: &[(&str, &str, Heard)] = &[
            (
                r#"0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
                "eio_open",
                Heard::Open {
                    interval: Duration::from_millis(25000),
                    timeout: Duration::from_millis(20000),
                },
            ),
            ("2", "eio_ping", Heard::ServerPing { answer: "3".into() }),
            (
                r#"40{"sid":"s1","pid":"p1"}"#,
                "connect",
                Heard::ReadyAck {
                    sid: Some("s1".into()),
                    pid: Some("p1".into()),
                },
            ),
            (
                r#"44{"message":"unauthorized"}"#,
                "connect_error",
                Heard::Refused {
                    message: "unauthorized".into(),
                },
            ),
            (
                r#"42["progress",{"processed":3,"total":10}]"#,
                "event:progress",
                Heard::Progress {
                    processed: 3,
                    total: 10,
                },
            ),
            (
                r#"4212["complete",{"processed":10,"total":10}]"#,
                "event:complete",
                Heard::Complete {
                    processed: Some(10),
                    total: Some(10),
                },
            ),
            (
                r#"42["failed",{"code":"E_PARSE"}]"#,
                "event:failed",
                Heard::Failed {
                    code: "E_PARSE".into(),
                },
            ),
            (r#"42["chat","hi"]"#, "event:chat", Heard::Other),
            ("41", "disconnect", Heard::Disconnect),
            ("1", "eio_close", Heard::Disconnect),
            (
                r#"42/admin,["progress",{}]"#,
                "other_namespace",
                Heard::Other,
            ),
        ];
        for (text, kind, heard) in cases {
            let r = socketio_read(&opts(), text);
            assert_eq!((r.kind.as_str(), &r.heard), (*kind, heard), "{text}");
        }
        for bad in ["", "9", "4", "42{}", "42[1]", "0{", "40"] {
            let r = socketio_read(&opts(), bad);
            assert!(matches!(r.heard, Heard::Violation(_)), "{bad}: {r:?}");
        }
    }

    #[test]
    fn socketio_reads_the_recovery_offset_past_the_mapped_arguments() {
        let r = socketio_read(
            &opts(),
            r#"42["progress",{"processed":3,"total":10},"MzUPkW0"]"#,
        );
        assert_eq!(r.offset.as_deref(), Some("MzUPkW0"));
        assert_eq!(
            r.heard,
            Heard::Progress {
                processed: 3,
                total: 10
            }
        );
        let r = socketio_read(&opts(), r#"42["progress",{"processed":3,"total":10}]"#);
        assert_eq!(r.offset, None);
    }

    #[test]
    fn socketio_connect_carries_the_token_slot_and_the_resume() {
        assert_eq!(socketio_connect(&opts(), false, None), "40");
        assert_eq!(
            socketio_connect(&opts(), true, Some(("p1", "o9"))),
            r#"40{"offset":"o9","pid":"p1","token":"[redacted token]"}"#
        );
        let ns = DialectOptions {
            namespace: "/jobs".into(),
            ..opts()
        };
        assert_eq!(
            socketio_connect(&ns, true, None),
            r#"40/jobs,{"token":"[redacted token]"}"#
        );
    }

    #[test]
    fn graphql_ws_messages_read_as_the_protocol_says() {
        let o = DialectOptions {
            query: Some(
                "subscription { progress(jobId: \"{job_id}\") { processed total } }".into(),
            ),
            ..opts()
        };
        let cases: &[(&str, Heard)] = &[
            (
                r#"{"type":"connection_ack"}"#,
                Heard::ReadyAck {
                    sid: None,
                    pid: None,
                },
            ),
            (
                r#"{"type":"ping"}"#,
                Heard::ServerPing {
                    answer: r#"{"type":"pong"}"#.into(),
                },
            ),
            (
                r#"{"id":"1","type":"next","payload":{"data":{"progress":{"processed":4,"total":9}}}}"#,
                Heard::Progress {
                    processed: 4,
                    total: 9,
                },
            ),
            (
                r#"{"id":"1","type":"error","payload":[{"message":"boom","extensions":{"code":"E_JOB"}}]}"#,
                Heard::Failed {
                    code: "E_JOB".into(),
                },
            ),
            (
                r#"{"id":"1","type":"complete"}"#,
                Heard::Complete {
                    processed: None,
                    total: None,
                },
            ),
            (r#"{"id":"2","type":"complete"}"#, Heard::Other),
        ];
        for (text, heard) in cases {
            assert_eq!(&graphql_read(&o, text).heard, heard, "{text}");
        }
        for bad in [
            "",
            "{",
            "[]",
            r#"{"type":"subscribe"}"#,
            r#"{"type":"nope"}"#,
        ] {
            assert!(
                matches!(graphql_read(&o, bad).heard, Heard::Violation(_)),
                "{bad}"
            );
        }
        let sub = graphql_subscribe(&o, Some("j-7"));
        assert!(sub.contains(r#"progress(jobId: \"j-7\")"#), "{sub}");
        assert!(sub.contains(r#""type":"subscribe""#), "{sub}");
        assert_eq!(
            graphql_init(true),
            r#"{"payload":{"token":"[redacted token]"},"type":"connection_init"}"#
        );
    }
}
