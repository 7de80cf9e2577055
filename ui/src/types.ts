// Transfer types: the shapes src-tauri/src/transfer.rs sends. Times are
// engine-monotonic nanoseconds (t) and wall-clock microseconds (w).

export type StateName =
  | "Idle"
  | "Connecting"
  | "AwaitingReady"
  | "Ready"
  | "Backoff"
  | "Closing"
  | "Closed"
  | "Failed"
  | "Cancelled";

interface Base {
  /** Recorder row id (0 for live events). */
  id: number;
  /** Socket id. */
  s: number;
  /** Monotonic ns since the engine started. */
  t: number;
  /** Wall clock, µs since the Unix epoch. */
  w: number;
}

export type UiEvent = Base &
  (
    | { kind: "socket_added"; name: string; scheme: string; host: string; port: number; path: string; adapter: string; job_id: string | null; token_source: string | null }
    | { kind: "transition"; from: StateName; to: StateName; attempt: number | null; backoff_until_ns: number | null; close_code: number | null; close_initiator: string | null; reason: string | null; reason_detail: string | null; cause: string; cause_detail: string | null; error_type: string | null }
    | { kind: "finding"; class: string; side: "prevented" | "peer" | "network" | "client"; severity: "info" | "warning" | "error"; attempt: number; detail: string }
    | { kind: "frame"; direction: "in" | "out"; opcode: string; size: number; message_type: string | null; seq: number | null; msg_id: number | null; close_code: number | null; payload: string | null; payload_truncated: boolean; payload_dropped?: boolean }
    | { kind: "message"; msg_id: number; stage: "queued" | "written" | "dropped"; depth: number | null; drop_reason: string | null }
    | { kind: "backoff_planned"; attempt: number; delay_ns: number; ceiling_ns: number }
    | { kind: "state_sync"; try_no: number; outcome: "requested" | "synced" | "failed"; job_status: string | null; processed: number | null; total: number | null; last_seq: number | null; http_status: number | null; error: string | null; will_retry: boolean | null }
    | { kind: "progress"; processed: number; total: number; status: string | null; source: string }
    | { kind: "heartbeat_answered"; rtt_ns: number }
    // Engine-wide (socket 0): drawn across every lane, never a lane itself.
    | { kind: "environment"; change: "address_added" | "address_removed" | "wake" | string; detail: string }
  );

/** The socket id of engine-wide events (the engine's `ENGINE_WIDE`). */
export const ENGINE_WIDE = 0;

export type EventOf<K extends UiEvent["kind"]> = Extract<UiEvent, { kind: K }>;

/** One row of the socket list, as `sockets` returns it. */
export interface SocketRow {
  id: number;
  name: string;
  adapter: string;
  job_id: string | null;
  state: StateName;
  /** Attempt, or the retry number while in Backoff. */
  attempt: number;
  attempts: number;
  /** Monotonic ns when Backoff ends. */
  backoff_until: number | null;
  processed: number | null;
  total: number | null;
  findings: number;
  rtt_ms: number | null;
}

/** What the Rust side sends on the live channel, at most once per frame. */
export interface LiveBatch {
  /** Engine-monotonic ns "now" when the batch left. */
  now: number;
  events: UiEvent[];
  /** Events the live subscription dropped before this batch (the UI lagged). */
  missed: number;
  sockets: SocketRow[] | null;
}

export interface AppInfo {
  version: string;
  demo: boolean;
  session_id: number;
  db_path: string;
  now: number;
  warnings: string[];
  recording_failed: string | null;
}

export interface SessionRow {
  id: number;
  started_us: number;
  ended_us: number | null;
  end_state: string;
  event_count: number;
  app_version: string;
}

export interface EventPage {
  events: UiEvent[];
  next: { mono_ns: number; event_id: number } | null;
}

export interface ScenarioRow {
  id: string;
  race: string;
  seed: string;
  expected: string[];
}

export interface ScenarioResult {
  id: string;
  passed: boolean;
  verdict: string;
  observations: string[];
  elapsed_ms: number;
  findings: Record<string, number>;
  /** The scenario's own engine events, for the timeline. */
  events: UiEvent[];
}

export interface OtlpSettings {
  enabled: boolean;
  protocol: "grpc" | "http_protobuf";
  endpoint: string | null;
  service_name: string | null;
}

export interface UiErrorShape {
  code: string;
  message: string;
}

/** The recorder's export formats, by name (`export::Format::name`). */
export type ExportFormat = "jaeger" | "otlp" | "csv" | "perfetto" | "har";

/** What importing a capture made (`import_har`). */
export interface ImportedSession {
  session_id: number;
  attempts: number;
  lanes: number;
  frames: number;
  findings: number;
}
