//! Serde transfer types for the webview: the app's boundary, flattened to
//! numbers and strings, each mapped explicitly from the core's types. The
//! events are in `ui_event`. ui/src/transfer.gen.ts is generated from them
//! (`typescript`), so the UI's type check sees every field.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sockscope_core::session::SocketView;
use sockscope_core::{Session, SocketSpec, TokenSpec};
use sockscope_engine::{AdapterKind, State};
use sockscope_recorder::{PageCursor, SessionSummary};
use ts_rs::TS;

use crate::ui_event::{StateName, UiEvent};

/// A row of the socket list.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct SocketRow {
    /// Socket id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// `job` or `raw`.
    pub adapter: &'static str,
    /// Job id.
    pub job_id: Option<String>,
    /// State name.
    pub state: StateName,
    /// Attempt of the state (retry number in Backoff).
    pub attempt: u32,
    /// Connection attempts so far.
    pub attempts: u32,
    /// When Backoff ends (monotonic ns).
    pub backoff_until: Option<u64>,
    /// Items processed.
    pub processed: Option<u64>,
    /// Items in all.
    pub total: Option<u64>,
    /// Findings so far.
    pub findings: u64,
    /// Last heartbeat round trip.
    pub rtt_ms: Option<f64>,
}

impl SocketRow {
    /// The session's socket list, in its order.
    pub fn all(session: &Session) -> Vec<SocketRow> {
        session.sockets().iter().map(SocketRow::from).collect()
    }
}

impl From<&SocketView> for SocketRow {
    fn from(v: &SocketView) -> SocketRow {
        let (attempt, backoff_until) = match &v.state {
            State::Connecting { attempt }
            | State::AwaitingReady { attempt }
            | State::Ready { attempt } => (*attempt, None),
            State::Backoff { attempt, until } => (*attempt, Some(until.0)),
            _ => (v.attempts, None),
        };
        SocketRow {
            id: v.id,
            name: v.name.clone(),
            adapter: v.adapter.as_str(),
            job_id: v.job_id.clone(),
            state: v.state.name().into(),
            attempt,
            attempts: v.attempts,
            backoff_until,
            processed: v.progress.as_ref().map(|p| p.processed),
            total: v.progress.as_ref().map(|p| p.total),
            findings: v.findings,
            rtt_ms: v.last_rtt.map(|d| d.as_secs_f64() * 1e3),
        }
    }
}

/// What the live channel carries, at most once per display frame.
#[derive(Debug, Clone, Serialize, PartialEq, TS)]
pub struct LiveBatch {
    /// Engine-monotonic ns when the batch left.
    pub now: u64,
    /// Events since the last batch, in order.
    pub events: Vec<UiEvent>,
    /// Events the live subscription skipped because this reader lagged.
    pub missed: u64,
    /// The socket list, when anything changed.
    pub sockets: Option<Vec<SocketRow>>,
}

/// `app_info`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppInfo {
    /// App version.
    pub version: &'static str,
    /// Whether the embedded simulator and demo jobs run.
    pub demo: bool,
    /// Session row id.
    pub session_id: i64,
    /// The database file.
    pub db_path: PathBuf,
    /// Engine-monotonic ns now.
    pub now: u64,
    /// Config warnings, in words.
    pub warnings: Vec<String>,
    /// Why the recording stopped early, if it did (scrubbed; names the
    /// file): the window shows it as a red banner.
    pub recording_failed: Option<String>,
}

/// A past session.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SessionRow {
    /// Session id.
    pub id: i64,
    /// Start, wall µs.
    pub started_us: i64,
    /// End, wall µs.
    pub ended_us: Option<i64>,
    /// `running`, `clean`, `crashed` or `capped`.
    pub end_state: String,
    /// Events recorded.
    pub event_count: u64,
    /// Version that recorded it.
    pub app_version: String,
}

impl From<SessionSummary> for SessionRow {
    fn from(s: SessionSummary) -> SessionRow {
        SessionRow {
            id: s.tag.id,
            started_us: s.started_ns / 1000,
            ended_us: s.ended_ns.map(|n| n / 1000),
            end_state: s.end_state,
            event_count: s.event_count,
            app_version: s.app_version,
        }
    }
}

/// A page of a past session's events.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(rename = "EventPage")]
pub struct EventPageOut {
    /// The events, in time order.
    pub events: Vec<UiEvent>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<CursorIo>,
}

/// A page cursor as JSON.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, TS)]
pub struct CursorIo {
    /// Monotonic ns of the last event returned.
    pub mono_ns: u64,
    /// Its event id.
    pub event_id: i64,
}

impl From<PageCursor> for CursorIo {
    fn from(c: PageCursor) -> CursorIo {
        CursorIo {
            mono_ns: c.mono_ns,
            event_id: c.event_id,
        }
    }
}

impl From<CursorIo> for PageCursor {
    fn from(c: CursorIo) -> PageCursor {
        PageCursor {
            mono_ns: c.mono_ns,
            event_id: c.event_id,
        }
    }
}

/// Where a new socket's token comes from. The token itself never crosses
/// the boundary: only a variable name, a file path or a keyring entry.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenRef {
    /// No token.
    None,
    /// An environment variable of the app's process.
    Env {
        /// Its name.
        name: String,
    },
    /// A file.
    File {
        /// Its path.
        path: PathBuf,
    },
    /// The OS keyring entry of a job.
    Keyring {
        /// The job.
        job_id: String,
    },
}

/// `add_socket`'s argument.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct AddSocketRequest {
    /// `ws://` or `wss://` URL, without a token.
    pub url: String,
    /// Display name.
    pub name: Option<String>,
    /// The dialect: `job`, `raw`, `socketio`, `graphql-ws`, `phoenix`,
    /// `signalr` or `json`.
    #[ts(type = "DialectName")]
    pub adapter: String,
    /// Job id.
    pub job_id: Option<String>,
    /// Token source.
    pub token: TokenRef,
    /// The dialect's few options; a blank one keeps its default
    /// (docs/dialects.md). The json dialect's full table is the config
    /// file's.
    #[serde(default)]
    pub dialect: DialectRequest,
}

/// The dialect options the "+ socket" form offers.
#[derive(Debug, Clone, Default, Deserialize, TS)]
pub struct DialectRequest {
    /// The event, invocation target or message type of progress.
    pub progress_event: Option<String>,
    /// JSON Pointer to the processed count.
    pub processed: Option<String>,
    /// JSON Pointer to the total count.
    pub total: Option<String>,
    /// graphql-ws: the subscription document.
    pub query: Option<String>,
    /// phoenix: the channel topic.
    pub topic: Option<String>,
}

impl AddSocketRequest {
    /// The core's socket spec.
    pub fn into_spec(self) -> Result<SocketSpec, crate::error::UiError> {
        let mut spec = SocketSpec::job(self.url.trim());
        spec.adapter = AdapterKind::parse(&self.adapter).ok_or_else(|| {
            let all: Vec<&str> = AdapterKind::ALL.iter().map(|k| k.as_str()).collect();
            crate::error::UiError::new(
                "bad_request",
                format!("unknown dialect `{}` ({})", self.adapter, all.join(", ")),
            )
        })?;
        spec.name = self.name.filter(|n| !n.trim().is_empty());
        spec.job_id = self.job_id.filter(|j| !j.trim().is_empty());
        let given = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let d = self.dialect;
        if let Some(event) = given(d.progress_event) {
            spec.dialect.progress_event = event;
        }
        spec.dialect.processed = given(d.processed);
        spec.dialect.total = given(d.total);
        spec.dialect.query = given(d.query);
        spec.dialect.topic = given(d.topic);
        spec.token = match self.token {
            TokenRef::None => TokenSpec::None,
            TokenRef::Env { name } => TokenSpec::Env(name),
            TokenRef::File { path } => TokenSpec::File(path),
            TokenRef::Keyring { job_id } => TokenSpec::Keyring { job_id },
        };
        // A pasted URL's token goes into memory at once, with one warning.
        if let Some(warning) = spec.take_url_token(None)? {
            tracing::warn!("{warning}");
        }
        Ok(spec)
    }
}

/// A catalog entry.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ScenarioRow {
    /// Kebab-case id.
    pub id: &'static str,
    /// The race, in a sentence.
    pub race: &'static str,
    /// Seed documents.
    pub seed: &'static str,
    /// Findings it must produce.
    pub expected: Vec<&'static str>,
}

/// OTLP settings as the dialog edits them: applied to the running session
/// when saved, stored as JSON in the config dir, and read at each start.
/// Default: off, HTTP/protobuf, endpoint and service name from the
/// standard `OTEL_*` variables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, TS)]
pub struct OtlpSettings {
    /// Send live traces.
    pub enabled: bool,
    /// `grpc` or `http_protobuf`.
    #[ts(type = "\"grpc\" | \"http_protobuf\"")]
    pub protocol: String,
    /// Collector endpoint; `None` leaves it to the standard variables.
    pub endpoint: Option<String>,
    /// `service.name`.
    pub service_name: Option<String>,
}

impl Default for OtlpSettings {
    fn default() -> OtlpSettings {
        OtlpSettings {
            enabled: false,
            protocol: "http_protobuf".into(),
            endpoint: None,
            service_name: None,
        }
    }
}

impl OtlpSettings {
    /// The recorder's telemetry config, or `None` when disabled.
    pub fn telemetry(&self) -> Option<sockscope_recorder::TelemetryConfig> {
        if !self.enabled {
            return None;
        }
        let mut cfg = sockscope_recorder::TelemetryConfig::from_env();
        cfg.protocol = if self.protocol == "grpc" {
            sockscope_recorder::OtlpProtocol::Grpc
        } else {
            sockscope_recorder::OtlpProtocol::HttpProtobuf
        };
        if let Some(e) = &self.endpoint {
            cfg.endpoint = Some(e.clone());
        }
        if let Some(s) = &self.service_name {
            cfg.service_name = s.clone();
        }
        Some(cfg)
    }
}

#[cfg(test)]
mod add_socket_tests {
    use super::*;

    fn request(json: serde_json::Value) -> Result<SocketSpec, crate::error::UiError> {
        serde_json::from_value::<AddSocketRequest>(json)
            .expect("the form's shape")
            .into_spec()
    }

    /// The form's dialect choice and its few options reach the spec; blank
    /// options keep their defaults; an unknown dialect is refused by name.
    #[test]
    fn the_form_picks_a_dialect_and_its_options() {
        let spec = request(serde_json::json!({
            "url": "wss://h/", "name": null, "adapter": "socketio", "job_id": null,
            "token": { "kind": "none" },
            "dialect": { "progress_event": " import:progress ", "processed": "/0/done", "total": "" },
        }))
        .unwrap();
        assert_eq!(spec.adapter, AdapterKind::SocketIo);
        assert_eq!(spec.dialect.progress_event, "import:progress");
        assert_eq!(spec.dialect.processed.as_deref(), Some("/0/done"));
        assert_eq!(spec.dialect.total, None);

        let spec = request(serde_json::json!({
            "url": "wss://h/graphql", "name": null, "adapter": "graphql-ws", "job_id": "j",
            "token": { "kind": "none" },
            "dialect": { "query": "subscription { p }" },
        }))
        .unwrap();
        assert_eq!(spec.adapter, AdapterKind::GraphqlWs);
        assert_eq!(spec.dialect.query.as_deref(), Some("subscription { p }"));

        // Without the options an older page sends: the defaults.
        let spec = request(serde_json::json!({
            "url": "wss://h/socket", "name": null, "adapter": "phoenix", "job_id": "j",
            "token": { "kind": "none" },
        }))
        .unwrap();
        assert_eq!(spec.dialect.progress_event, "progress");

        let err = request(serde_json::json!({
            "url": "wss://h/", "name": null, "adapter": "stomp", "job_id": null,
            "token": { "kind": "none" },
        }))
        .unwrap_err();
        assert!(
            err.message.contains("unknown dialect `stomp`"),
            "{}",
            err.message
        );
    }
}

/// What importing a capture made, for the status line: the new session
/// and its lanes, attempts, frames and findings.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct ImportedSession {
    pub session_id: i64,
    pub lanes: usize,
    pub attempts: usize,
    pub frames: u64,
    pub findings: u64,
}

impl From<sockscope_core::capture::ImportReport> for ImportedSession {
    fn from(r: sockscope_core::capture::ImportReport) -> ImportedSession {
        ImportedSession {
            session_id: r.session_id,
            lanes: r.lanes,
            attempts: r.attempts,
            frames: r.frames,
            findings: r.findings,
        }
    }
}

/// "record…": a recording proxy to start, as the CLI's `sockscope record`.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct RecordRequest {
    /// Address to listen on, e.g. `127.0.0.1:9000` (port 0: any free one).
    pub listen: String,
    /// The real backend, `ws://host:port` or `wss://host[/prefix]`.
    pub upstream: String,
    /// The connections' dialect; `None`: told from each connection.
    pub dialect: Option<String>,
    /// Conditional faults, `DIRECTION:MATCH:ACTION[:nth=N]` each.
    pub faults: Vec<String>,
    /// A PEM file of CA certificates a `wss://` upstream may chain to,
    /// besides the OS roots; `None`: the OS roots only.
    pub upstream_ca: Option<String>,
}

/// A recording that started: where the app under test connects, and the
/// session its lanes are recorded in.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RecordingStarted {
    pub session_id: i64,
    /// The address it listens on (the port chosen, for port 0).
    pub listen: String,
    pub upstream: String,
    /// Now on the recording's clock (ns since it started).
    pub now: u64,
}

/// A recording that ended, with what it held.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, TS)]
pub struct RecordingEnded {
    pub session_id: i64,
    pub connections: u64,
    pub frames: u64,
    pub findings: u64,
}

impl From<sockscope_core::capture::recording_proxy::RecordReport> for RecordingEnded {
    fn from(r: sockscope_core::capture::recording_proxy::RecordReport) -> RecordingEnded {
        RecordingEnded {
            session_id: r.session_id,
            connections: r.connections,
            frames: r.frames,
            findings: r.findings,
        }
    }
}
