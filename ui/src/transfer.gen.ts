// Generated from the transfer types of src-tauri (ui_event.rs, transfer.rs)
// by `cargo test -p sockscope-app --lib typescript` with SOCKSCOPE_WRITE_TS=1.
// Do not edit: change the Rust types. Times are engine-monotonic ns (t) and
// wall-clock µs (w); 64-bit integers cross as numbers.

/** The export formats, by name (the recorder's `export::Format`), in menu order. */
export type ExportFormat = "jaeger" | "otlp" | "csv" | "perfetto" | "har";

/** The export formats, by name (the recorder's `export::Format`), in menu order. */
export const EXPORT_FORMATS: readonly ExportFormat[] = ["jaeger", "otlp", "csv", "perfetto", "har"];

/** The dialects, as the engine names them (`AdapterKind`). */
export type DialectName = "job" | "raw" | "socketio" | "graphql-ws" | "phoenix" | "signalr" | "json";

/** The dialects, as the engine names them (`AdapterKind`). */
export const DIALECTS: readonly DialectName[] = ["job", "raw", "socketio", "graphql-ws", "phoenix", "signalr", "json"];

/**
 * One event for the timeline.
 */
export type UiEvent = { 
/**
 * Recorder row id (0 for live events).
 */
id: number, 
/**
 * Socket id (0: engine-wide).
 */
s: number, 
/**
 * Monotonic ns since the engine started.
 */
t: number, 
/**
 * Wall clock in µs since the Unix epoch (ns would not fit a JS number).
 */
w: number, } & ({ "kind": "socket_added", name: string, scheme: string, host: string, port: number, path: string, adapter: string, job_id: string | null, token_source: string | null, } | { "kind": "transition", from: StateName, to: StateName, attempt: number | null, backoff_until_ns: number | null, close_code: number | null, close_initiator: string | null, reason: string | null, reason_detail: string | null, cause: string, cause_detail: string | null, error_type: string | null, } | { "kind": "finding", class: string, side: FindingSide, severity: Severity, attempt: number, 
/**
 * JSON: `{"detail": "..."}`.
 */
detail: string, } | { "kind": "frame", direction: Direction, opcode: string, size: number, message_type: string | null, seq: number | null, msg_id: number | null, close_code: number | null, payload: string | null, payload_truncated: boolean, } | { "kind": "message", msg_id: number, stage: MessageStage, depth: number | null, drop_reason: string | null, } | { "kind": "backoff_planned", attempt: number, delay_ns: number, ceiling_ns: number, } | { "kind": "state_sync", try_no: number, outcome: SyncOutcome, job_status: string | null, processed: number | null, total: number | null, last_seq: number | null, http_status: number | null, error: string | null, will_retry: boolean | null, } | { "kind": "progress", processed: number, total: number, status: string | null, source: string, } | { "kind": "heartbeat_answered", rtt_ns: number, } | { "kind": "environment", 
/**
 * `address_added`, `address_removed`, `wake`, `recording_failed`.
 */
change: string, detail: string, } | { "kind": "handshake", status: number, request_headers: Array<[string, string]>, response_headers: Array<[string, string]>, });

/**
 * What happened, by kind.
 */
export type UiBody = { "kind": "socket_added", name: string, scheme: string, host: string, port: number, path: string, adapter: string, job_id: string | null, token_source: string | null, } | { "kind": "transition", from: StateName, to: StateName, attempt: number | null, backoff_until_ns: number | null, close_code: number | null, close_initiator: string | null, reason: string | null, reason_detail: string | null, cause: string, cause_detail: string | null, error_type: string | null, } | { "kind": "finding", class: string, side: FindingSide, severity: Severity, attempt: number, 
/**
 * JSON: `{"detail": "..."}`.
 */
detail: string, } | { "kind": "frame", direction: Direction, opcode: string, size: number, message_type: string | null, seq: number | null, msg_id: number | null, close_code: number | null, payload: string | null, payload_truncated: boolean, } | { "kind": "message", msg_id: number, stage: MessageStage, depth: number | null, drop_reason: string | null, } | { "kind": "backoff_planned", attempt: number, delay_ns: number, ceiling_ns: number, } | { "kind": "state_sync", try_no: number, outcome: SyncOutcome, job_status: string | null, processed: number | null, total: number | null, last_seq: number | null, http_status: number | null, error: string | null, will_retry: boolean | null, } | { "kind": "progress", processed: number, total: number, status: string | null, source: string, } | { "kind": "heartbeat_answered", rtt_ns: number, } | { "kind": "environment", 
/**
 * `address_added`, `address_removed`, `wake`, `recording_failed`.
 */
change: string, detail: string, } | { "kind": "handshake", status: number, request_headers: Array<[string, string]>, response_headers: Array<[string, string]>, };

/**
 * A socket's state.
 */
export type StateName = "Idle" | "Connecting" | "AwaitingReady" | "Ready" | "Backoff" | "Closing" | "Closed" | "Failed" | "Cancelled";

/**
 * Whose side a finding is on.
 */
export type FindingSide = "prevented" | "peer" | "network" | "client";

/**
 * How bad a finding is.
 */
export type Severity = "info" | "warning" | "error";

/**
 * A frame's direction.
 */
export type Direction = "in" | "out";

/**
 * An application message's stage.
 */
export type MessageStage = "queued" | "written" | "dropped";

/**
 * How a job-state call went.
 */
export type SyncOutcome = "requested" | "synced" | "failed";

/**
 * A row of the socket list.
 */
export type SocketRow = { 
/**
 * Socket id.
 */
id: number, 
/**
 * Display name.
 */
name: string, 
/**
 * `job` or `raw`.
 */
adapter: string, 
/**
 * Job id.
 */
job_id: string | null, 
/**
 * State name.
 */
state: StateName, 
/**
 * Attempt of the state (retry number in Backoff).
 */
attempt: number, 
/**
 * Connection attempts so far.
 */
attempts: number, 
/**
 * When Backoff ends (monotonic ns).
 */
backoff_until: number | null, 
/**
 * Items processed.
 */
processed: number | null, 
/**
 * Items in all.
 */
total: number | null, 
/**
 * Findings so far.
 */
findings: number, 
/**
 * Last heartbeat round trip.
 */
rtt_ms: number | null, };

/**
 * What the live channel carries, at most once per display frame.
 */
export type LiveBatch = { 
/**
 * Engine-monotonic ns when the batch left.
 */
now: number, 
/**
 * Events since the last batch, in order.
 */
events: Array<UiEvent>, 
/**
 * Events the live subscription skipped because this reader lagged.
 */
missed: number, 
/**
 * The socket list, when anything changed.
 */
sockets: Array<SocketRow> | null, };

/**
 * `app_info`.
 */
export type AppInfo = { 
/**
 * App version.
 */
version: string, 
/**
 * Whether the embedded simulator and demo jobs run.
 */
demo: boolean, 
/**
 * Session row id.
 */
session_id: number, 
/**
 * The database file.
 */
db_path: string, 
/**
 * Engine-monotonic ns now.
 */
now: number, 
/**
 * Config warnings, in words.
 */
warnings: Array<string>, 
/**
 * Why the recording stopped early, if it did (scrubbed; names the
 * file): the window shows it as a red banner.
 */
recording_failed: string | null, };

/**
 * A past session.
 */
export type SessionRow = { 
/**
 * Session id.
 */
id: number, 
/**
 * Start, wall µs.
 */
started_us: number, 
/**
 * End, wall µs.
 */
ended_us: number | null, 
/**
 * `running`, `clean`, `crashed` or `capped`.
 */
end_state: string, 
/**
 * Events recorded.
 */
event_count: number, 
/**
 * Version that recorded it.
 */
app_version: string, };

/**
 * A page of a past session's events.
 */
export type EventPage = { 
/**
 * The events, in time order.
 */
events: Array<UiEvent>, 
/**
 * Where the next page starts; `None` at the end.
 */
next: CursorIo | null, };

/**
 * A page cursor as JSON.
 */
export type CursorIo = { 
/**
 * Monotonic ns of the last event returned.
 */
mono_ns: number, 
/**
 * Its event id.
 */
event_id: number, };

/**
 * A catalog entry.
 */
export type ScenarioRow = { 
/**
 * Kebab-case id.
 */
id: string, 
/**
 * The race, in a sentence.
 */
race: string, 
/**
 * Seed documents.
 */
seed: string, 
/**
 * Findings it must produce.
 */
expected: Array<string>, };

/**
 * `run_scenario`'s answer.
 */
export type ScenarioResult = { 
/**
 * Scenario id.
 */
id: string, 
/**
 * Whether every check held.
 */
passed: boolean, 
/**
 * `pass`, or the failure in words.
 */
verdict: string, 
/**
 * What was measured or checked.
 */
observations: Array<string>, 
/**
 * Wall time taken.
 */
elapsed_ms: number, 
/**
 * Findings by class.
 */
findings: { [key in string]: number }, 
/**
 * The run's sockets, transitions, findings and engine-wide changes:
 * one lane per socket, finding markers on them.
 */
events: Array<UiEvent>, };

/**
 * OTLP settings as the dialog edits them: applied to the running session
 * when saved, stored as JSON in the config dir, and read at each start.
 * Default: off, HTTP/protobuf, endpoint and service name from the
 * standard `OTEL_*` variables.
 */
export type OtlpSettings = { 
/**
 * Send live traces.
 */
enabled: boolean, 
/**
 * `grpc` or `http_protobuf`.
 */
protocol: "grpc" | "http_protobuf", 
/**
 * Collector endpoint; `None` leaves it to the standard variables.
 */
endpoint: string | null, 
/**
 * `service.name`.
 */
service_name: string | null, };

/**
 * A command's error, as the UI receives it.
 */
export type UiErrorShape = { 
/**
 * Stable machine-readable code, e.g. `unknown_socket`.
 */
code: string, 
/**
 * Plain words for the person.
 */
message: string, };

/**
 * What importing a capture made, for the status line: the new session
 * and its lanes, attempts, frames and findings.
 */
export type ImportedSession = { session_id: number, lanes: number, attempts: number, frames: number, findings: number, };

/**
 * `add_socket`'s argument.
 */
export type AddSocketRequest = { 
/**
 * `ws://` or `wss://` URL, without a token.
 */
url: string, 
/**
 * Display name.
 */
name: string | null, 
/**
 * The dialect: `job`, `raw`, `socketio`, `graphql-ws`, `phoenix`,
 * `signalr` or `json`.
 */
adapter: DialectName, 
/**
 * Job id.
 */
job_id: string | null, 
/**
 * Token source.
 */
token: TokenRef, 
/**
 * The dialect's few options; a blank one keeps its default
 * (docs/dialects.md). The json dialect's full table is the config
 * file's.
 */
dialect: DialectRequest, };

/**
 * Where a new socket's token comes from. The token itself never crosses
 * the boundary: only a variable name, a file path or a keyring entry.
 */
export type TokenRef = { "kind": "none" } | { "kind": "env", 
/**
 * Its name.
 */
name: string, } | { "kind": "file", 
/**
 * Its path.
 */
path: string, } | { "kind": "keyring", 
/**
 * The job.
 */
job_id: string, };

/**
 * The dialect options the "+ socket" form offers.
 */
export type DialectRequest = { 
/**
 * The event, invocation target or message type of progress.
 */
progress_event: string | null, 
/**
 * JSON Pointer to the processed count.
 */
processed: string | null, 
/**
 * JSON Pointer to the total count.
 */
total: string | null, 
/**
 * graphql-ws: the subscription document.
 */
query: string | null, 
/**
 * phoenix: the channel topic.
 */
topic: string | null, };

/**
 * "record…": a recording proxy to start, as the CLI's `sockscope record`.
 */
export type RecordRequest = { 
/**
 * Address to listen on, e.g. `127.0.0.1:9000` (port 0: any free one).
 */
listen: string, 
/**
 * The real backend, `ws://host:port` or `wss://host[/prefix]`.
 */
upstream: string, 
/**
 * The connections' dialect; `None`: told from each connection.
 */
dialect: string | null, 
/**
 * Conditional faults, `DIRECTION:MATCH:ACTION[:nth=N]` each.
 */
faults: Array<string>, 
/**
 * A PEM file of CA certificates a `wss://` upstream may chain to,
 * besides the OS roots; `None`: the OS roots only.
 */
upstream_ca: string | null, };

/**
 * A recording that started: where the app under test connects, and the
 * session its lanes are recorded in.
 */
export type RecordingStarted = { session_id: number, 
/**
 * The address it listens on (the port chosen, for port 0).
 */
listen: string, upstream: string, 
/**
 * Now on the recording's clock (ns since it started).
 */
now: number, };

/**
 * A recording that ended, with what it held.
 */
export type RecordingEnded = { session_id: number, connections: number, frames: number, findings: number, };
