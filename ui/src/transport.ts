// The only module that talks to Rust. Errors come back as {code, message}.

import { Channel, invoke } from "@tauri-apps/api/core";
import type { AddSocketRequest, AppInfo, EventPage, ExportFormat, ImportedSession, LiveBatch, OtlpSettings, RecordRequest, RecordingEnded, RecordingStarted, ScenarioResult, ScenarioRow, SessionRow, SocketRow, UiErrorShape } from "./types";

export class UiError extends Error {
  readonly code: string;
  constructor(e: UiErrorShape) {
    super(e.message);
    this.code = e.code;
  }
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    if (e && typeof e === "object" && "code" in e && "message" in e) throw new UiError(e as UiErrorShape);
    throw new UiError({ code: "ipc", message: String(e) });
  }
}

export function inTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

export const api = {
  appInfo: () => call<AppInfo>("app_info"),
  subscribe: (onBatch: (b: LiveBatch) => void) => {
    const ch = new Channel<LiveBatch>();
    ch.onmessage = onBatch;
    return call<void>("subscribe", { channel: ch });
  },
  sockets: () => call<SocketRow[]>("sockets"),
  addSocket: (request: AddSocketRequest) => call<number>("add_socket", { request }),
  removeSocket: (id: number) => call<void>("remove_socket", { id }),
  cancel: (id: number) => call<void>("cancel_socket", { id }),
  retry: (id: number) => call<void>("retry_socket", { id }),
  sessions: () => call<SessionRow[]>("sessions"),
  sessionEvents: (sessionId: number, after: EventPage["next"], pageSize: number) =>
    call<EventPage>("session_events", { sessionId, after, pageSize }),
  scenarios: () => call<ScenarioRow[]>("scenarios"),
  runScenario: (id: string) => call<ScenarioResult>("run_scenario", { id }),
  exportSession: (sessionId: number, format: ExportFormat) => call<string>("export_session", { sessionId, format }),
  importHar: (path: string) => call<ImportedSession>("import_har", { path }),
  pickHarFile: () => call<string | null>("pick_har_file"),
  startRecording: (request: RecordRequest, onBatch: (b: LiveBatch) => void) => {
    const ch = new Channel<LiveBatch>();
    ch.onmessage = onBatch;
    return call<RecordingStarted>("start_recording", { request, channel: ch });
  },
  stopRecording: () => call<RecordingEnded>("stop_recording"),
  otlpSettings: () => call<OtlpSettings>("otlp_settings"),
  setOtlpSettings: (settings: OtlpSettings) => call<void>("set_otlp_settings", { settings }),
  firstPaint: () => call<void>("first_paint"),
};
