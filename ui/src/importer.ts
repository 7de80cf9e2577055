// Captures in: "import HAR…" (a path, typed or picked) and a file dropped
// on the window both go through the app's `import_har` command; the new
// session then opens like any past one. A bad file's error (it names the
// entry) shows in the dialog, with the path, so it can be fixed and retried.

import { getCurrentWebview } from "@tauri-apps/api/webview";
import { UiError, api, inTauri } from "./transport";
import type { ImportedSession } from "./types";

export interface ImportHooks {
  /** A line for the status bar. */
  status: (text: string) => void;
  /** Shows the imported session. */
  show: (r: ImportedSession) => Promise<void>;
}

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

const message = (e: unknown): string => (e instanceof UiError ? e.message : String(e));

export function setupImport(hooks: ImportHooks): void {
  const dlg = byId<HTMLDialogElement>("import-dialog");
  const form = byId<HTMLFormElement>("import-form");
  const path = form.elements.namedItem("path") as HTMLInputElement;
  const error = byId("import-error");
  const submit = form.querySelector<HTMLButtonElement>("button[type='submit']")!;
  const overlay = byId("drop-overlay");

  const open = (value: string, err: string) => {
    path.value = value;
    error.textContent = err;
    if (!dlg.open) dlg.showModal();
  };

  const run = async (file: string) => {
    if (!file || submit.disabled) return;
    submit.disabled = true;
    error.textContent = "";
    hooks.status(`importing ${file}…`);
    try {
      const r = await api.importHar(file);
      dlg.close();
      await hooks.show(r);
      document.body.dataset.imported = String(r.session_id);
    } catch (e) {
      hooks.status(`✖ import: ${message(e)}`);
      open(file, message(e));
    } finally {
      submit.disabled = false;
    }
  };

  byId("import-har").addEventListener("click", () => open("", ""));
  byId("import-cancel").addEventListener("click", () => dlg.close());
  byId("import-browse").addEventListener("click", () => {
    api
      .pickHarFile()
      .then((picked) => {
        if (picked) path.value = picked;
      })
      .catch((e: unknown) => {
        error.textContent = message(e);
      });
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void run(path.value.trim());
  });

  if (!inTauri()) return;
  // Tauri hands a drop over as a window event with the files' paths.
  getCurrentWebview()
    .onDragDropEvent((e) => {
      const p = e.payload;
      overlay.hidden = p.type === "drop" || p.type === "leave";
      if (p.type !== "drop") return;
      const har = p.paths.find((f) => f.toLowerCase().endsWith(".har"));
      if (har) void run(har);
      else open(p.paths[0] ?? "", "drop a .har file: a HAR with WebSocket messages");
    })
    .catch((e: unknown) => hooks.status(`✖ file drop unavailable: ${message(e)}`));
}
