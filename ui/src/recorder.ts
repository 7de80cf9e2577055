// "record…": the app's recording proxy (as `sockscope record`). The dialog
// starts it; while it runs the button stops it. Its live batches and the
// session it ends as go to the window through the hooks.

import { UiError, api } from "./transport";
import type { LiveBatch, RecordingEnded, RecordingStarted } from "./types";

export interface RecordHooks {
  /** Before the start: a place for the recording's batches (they may come before the answer). */
  prepare: () => (b: LiveBatch) => void;
  /** The proxy listens. */
  started: (r: RecordingStarted) => void;
  /** The proxy stopped and its session is written. */
  ended: (r: RecordingEnded) => Promise<void>;
  /** The start, or writing the end, failed: drop what `prepare` made. */
  failed: () => void;
  status: (text: string) => void;
}

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

const message = (e: unknown): string => (e instanceof UiError ? `${e.code}: ${e.message}` : String(e));

/** `in:*:drop` lines, blank ones left out. */
export function faultLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

export function setupRecord(hooks: RecordHooks): void {
  const dlg = byId<HTMLDialogElement>("record-dialog");
  const form = byId<HTMLFormElement>("record-form");
  const error = byId("record-error");
  const button = byId<HTMLButtonElement>("record-btn");
  const submit = form.querySelector<HTMLButtonElement>("button[type='submit']")!;
  let running: RecordingStarted | null = null;

  const stop = async () => {
    button.disabled = true;
    let ended: RecordingEnded | null = null;
    try {
      ended = await api.stopRecording();
    } catch (e) {
      hooks.status(`✖ stopping the recording: ${message(e)}`);
    }
    // Over either way: a proxy asked to stop is gone, even when writing its end failed.
    running = null;
    button.textContent = "record…";
    button.classList.remove("on");
    byId("record-state").hidden = true;
    delete document.body.dataset.recording;
    button.disabled = false;
    if (ended) await hooks.ended(ended);
    else hooks.failed();
  };

  // The dialects are the "+ socket" form's: one list in the window.
  const dialects = form.querySelector<HTMLSelectElement>("select[name='dialect']")!;
  const told = dialects.options[0];
  const fillDialects = () => {
    const from = document.querySelector<HTMLSelectElement>("#add-form select[name='adapter']");
    if (!from) return;
    const chosen = dialects.value;
    dialects.replaceChildren(told, ...[...from.options].map((o) => new Option(o.textContent ?? o.value, o.value)));
    dialects.value = chosen;
  };

  button.addEventListener("click", () => {
    if (running) {
      void stop();
      return;
    }
    error.textContent = "";
    fillDialects();
    dlg.showModal();
  });
  byId("record-cancel").addEventListener("click", () => dlg.close());
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    const f = new FormData(form);
    const s = (k: string) => String(f.get(k) ?? "").trim();
    submit.disabled = true;
    error.textContent = "";
    const onBatch = hooks.prepare();
    api
      .startRecording({ listen: s("listen"), upstream: s("upstream"), dialect: s("dialect") || null, faults: faultLines(s("faults")), upstream_ca: s("upstream_ca") || null }, onBatch)
      .then((r) => {
        running = r;
        dlg.close();
        button.textContent = "■ stop recording";
        button.classList.add("on");
        const state = byId("record-state");
        // Short in the bar (the timeline's label has the upstream too); whole on hover.
        state.textContent = `● REC ${r.listen}`;
        state.title = `recording ${r.listen} → ${r.upstream} into session ${r.session_id}`;
        state.hidden = false;
        document.body.dataset.recording = String(r.session_id);
        document.body.dataset.recordingListen = r.listen;
        hooks.started(r);
      })
      .catch((err: unknown) => {
        hooks.failed();
        error.textContent = message(err);
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
}
