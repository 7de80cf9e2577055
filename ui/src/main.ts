// The window: socket list, timeline, and the bottom tabs. Live batches are
// coalesced per animation frame before they touch the store or the canvas.

import { FrameCoalescer, mergeBatches } from "./coalesce";
import { bannerText, recordingFailure } from "./banner";
import { detailLines, findingDetail } from "./details";
import { setupImport } from "./importer";
import { setupRecord } from "./recorder";
import { endedBadly, stateWords } from "./jobs";
import { compareStores, delta } from "./compare";
import { renderLegend } from "./legend";
import { eta } from "./layout";
import { type FindingFilter, type Side, groupFindings, pinMovesOn, raceLine } from "./findings";
import { type FrameFilter, Inspector } from "./inspector";
import { NS, formatClock, formatDuration } from "./scale";
import { Store } from "./store";
import { SocketList, rowView } from "./socketlist";
import { Timeline } from "./timeline";
import { UiError, api, inTauri } from "./transport";
import { DIALECTS, EXPORT_FORMATS } from "./types";
import type { AddSocketRequest, AppInfo, DialectName, ExportFormat, LiveBatch, ScenarioResult, ScenarioRow, SocketRow, UiEvent } from "./types";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...kids: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  for (const k of kids) el.append(k);
  return el;
}

const liveStore = new Store();
let store = liveStore;
let info: AppInfo | null = null;
let rows: SocketRow[] = [];
let viewingSession: number | null = null;
let missedTotal = 0;

const status = (text: string) => {
  $("status").textContent = text;
};
const showError = (e: unknown) => {
  const msg = e instanceof UiError ? `${e.code}: ${e.message}` : String(e);
  status(`✖ ${msg}`);
};

const timeline = new Timeline(
  $<HTMLCanvasElement>("timeline"),
  store,
  {
    onSelect: (p) => showDetails(p.ev),
    onLiveChange: (on) => {
      $("live").classList.toggle("on", on);
    },
    onCursor: (text) => {
      $("cursor-time").textContent = text;
    },
    onRange: (text) => {
      $("selection-info").textContent = text;
    },
    onPin: (p) => showPinned(p),
  },
  $("tooltip"),
);

// A view the user has touched stays where they put it (pinMovesOn).
for (const type of ["pointerdown", "wheel", "keydown"]) {
  $("timeline").addEventListener(type, () => (touchedAt = performance.now()), { passive: true });
}
document.addEventListener("keydown", () => (touchedAt = performance.now()));

// ---- live events -------------------------------------------------------

function showRecordingFailed(reason: string): void {
  const banner = $("banner");
  banner.textContent = bannerText(reason);
  banner.hidden = false;
}

let paintReported = false;

const coalescer = new FrameCoalescer<LiveBatch>((batches) => {
  const b = mergeBatches(batches);
  const failed = recordingFailure(b.events);
  if (failed !== null) showRecordingFailed(failed);
  const first = liveStore.eventCount;
  liveStore.add(b.events);
  missedTotal += b.missed;
  // A recording on view runs on its own clock.
  if (b.now > 0 && (recStore === null || store !== recStore)) timeline.setNow(b.now);
  if (b.sockets) {
    // Sockets that left the live set (removed, or retired by the demo) take their lanes along.
    const still = new Set(b.sockets.map((r) => r.id));
    for (const r of rows) if (!still.has(r.id)) liveStore.removeLane(r.id);
    rows = b.sockets;
  }
  if (store === liveStore) pinNewFinding(b.events, first);
  const lanes = liveStore.order.join(",");
  if (store === liveStore && lanes !== lastLanes) {
    lastLanes = lanes;
    fillSocketChoices();
  }
  renderSockets();
  if (store === liveStore) {
    renderFindings();
    // The store's version tells the timeline; it draws new data within
    // LIVE_FRAME_MS rather than at once.
    if (!$("tab-inspector").hidden) inspector.refresh();
  }
  if (!paintReported && liveStore.eventCount > 0) {
    paintReported = true;
    // The loop draws these events in the next frame; the frame after it
    // runs once that one is on screen: the start's figure (docs/benchmarks.md).
    requestAnimationFrame(() => requestAnimationFrame(() => void api.firstPaint().catch(() => {})));
  }
});

function loop(): void {
  timeline.frame();
  if (store === liveStore) renderCountdowns();
  renderJobs();
  requestAnimationFrame(loop);
}

// ---- a recording proxy's lanes, live ---------------------------------------

/** The running recording's lanes; null when none runs. */
let recStore: Store | null = null;
let recLanes = "";

function addRecorded(batches: LiveBatch[]): void {
  const rec = recStore;
  if (rec === null) return;
  const b = mergeBatches(batches);
  rec.add(b.events);
  const onView = store === rec;
  if (onView && b.now > 0) timeline.setNow(b.now);
  $("record-state").dataset.lanes = String(rec.order.length);
  $("record-state").dataset.findings = String(rec.findingsTotal);
  if (!onView) return;
  const lanes = rec.order.join(",");
  if (lanes !== recLanes) {
    recLanes = lanes;
    fillSocketChoices();
  }
  renderFindings();
  timeline.invalidate();
  if (!$("tab-inspector").hidden) inspector.refresh();
}

// ---- pinning ----------------------------------------------------------------

let pinFindings = true;
let lastLanes = "";
let heldSince = 0;

/** While following, a new finding holds the view at its moment (if pinning is on). */
/** When the window last pinned the view, and when the user last touched it (ms). */
let pinnedAt = 0;
let touchedAt = 0;

function pinNewFinding(events: readonly UiEvent[], first: number): void {
  let last = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    if (events[i].kind === "finding" && liveStore.tracks.has(events[i].s)) {
      last = i;
      break;
    }
  }
  if (last < 0) return;
  if (timeline.pinned !== null) {
    const now = performance.now();
    if (!pinMovesOn(pinnedAt, touchedAt, now, liveStore.tracks.has(timeline.pinned.socket))) {
      heldSince += events.filter((e) => e.kind === "finding").length;
      showPinned(timeline.pinned);
      return;
    }
    heldSince = 0;
    const ev = events[last];
    pinnedAt = now;
    timeline.pin({ socket: ev.s, ev: first + last }, ev.t);
    return;
  }
  if (!pinFindings || !timeline.live) return;
  pinnedAt = performance.now();
  const ev = events[last];
  timeline.pin({ socket: ev.s, ev: first + last }, ev.t);
}

function showPinned(p: { socket: number; ev: number } | null): void {
  const label = $("pinned-label");
  $("back-to-live").hidden = p === null;
  label.hidden = p === null;
  $("timeline").dataset.pinned = p === null ? "" : String(p.ev);
  if (p === null) {
    heldSince = 0;
    return;
  }
  const ev = store.event(p.ev);
  const name = store.tracks.get(p.socket)?.name ?? `socket ${p.socket}`;
  label.textContent = `held at ${ev?.kind === "finding" ? ev.class : "a finding"} on ${name}${heldSince > 0 ? ` · ${heldSince} newer` : ""}`;
  if (!$("tab-details").hidden) renderDetails(p.ev);
}

// ---- socket list --------------------------------------------------------

/** A job's time left from its progress rate: 0 once done; none once it ended otherwise. */
function timeLeft(r: SocketRow): number | null {
  const tr = liveStore.tracks.get(r.id);
  const est = tr?.progressFirst && tr.progress ? eta(tr.progressFirst.t, tr.progressFirst.done, tr.progress.t, tr.progress.done, tr.progress.total) : null;
  const ended = r.state === "Closed" || r.state === "Failed" || r.state === "Cancelled";
  return ended && est !== 0 ? null : est;
}

let socketList: SocketList | null = null;
function renderSockets(): void {
  socketList ??= new SocketList($("socket-list"), {
    onAction: (id, action) => {
      if (action === "cancel") api.cancel(id).catch(showError);
      else if (action === "retry") api.retry(id).catch(showError);
      else
        api
          .removeSocket(id)
          .then(() => {
            rows = rows.filter((x) => x.id !== id);
            liveStore.removeLane(id);
            renderSockets();
            timeline.invalidate();
          })
          .catch(showError);
    },
    onPick: (id) => {
      ($("inspector-socket") as HTMLSelectElement).value = String(id);
      renderInspector();
    },
  });
  socketList.render(rows.map((r) => rowView(r, liveStore.tracks.get(r.id)?.segState.includes(3) ?? false, timeLeft(r))));
}

/** The inspector's and the findings' socket choices: the lanes of the store on view. */
function fillSocketChoices(): void {
  const lanes = store.order.map((id) => [id, store.tracks.get(id)?.name ?? `socket ${id}`] as const);
  const sel = $<HTMLSelectElement>("inspector-socket");
  const cur = sel.value;
  sel.replaceChildren(...lanes.map(([id, name]) => h("option", { value: String(id) }, name)));
  if (cur && lanes.some(([id]) => String(id) === cur)) sel.value = cur;
  const fs = $<HTMLSelectElement>("findings-socket");
  const fcur = fs.value;
  fs.replaceChildren(h("option", { value: "" }, "every socket"), ...lanes.map(([id, name]) => h("option", { value: String(id) }, name)));
  fs.value = lanes.some(([id]) => String(id) === fcur) ? fcur : "";
}

function renderCountdowns(): void {
  const now = timeline.now();
  for (const el of document.querySelectorAll<HTMLElement>(".countdown")) {
    const until = Number(el.dataset.until);
    el.textContent = `Backoff ${el.dataset.attempt} in ${formatDuration(Math.max(0, until - now))}`;
  }
}

// ---- findings -------------------------------------------------------------

let renderedFindings = "";
let catalog: ScenarioRow[] = [];

function findingFilter(): FindingFilter {
  const socket = $<HTMLSelectElement>("findings-socket").value;
  const side = $<HTMLSelectElement>("findings-side").value;
  return { socket: socket === "" ? null : Number(socket), side: side === "" ? null : (side as Side) };
}

function renderFindings(force = false): void {
  $("findings-count").textContent = String(store.findingsTotal);
  const pane = $("tab-findings");
  if (pane.hidden) return;
  // Re-render only when findings change: links rebuilt every frame eat clicks.
  const f = findingFilter();
  const key = `${store.findingsTotal}:${store === liveStore}:${store.order.length}:${f.socket}:${f.side}`;
  if (!force && key === renderedFindings) return;
  renderedFindings = key;
  const groups = groupFindings(store, f, catalog);
  const shown = groups.reduce((n, g) => n + g.count, 0);
  $("findings-shown").textContent = `${shown} finding${shown === 1 ? "" : "s"} in ${groups.length} class${groups.length === 1 ? "" : "es"}`;
  $("findings-list").replaceChildren(
    ...groups.map((g) =>
      h(
        "details",
        { class: `fgroup side-${g.side} sev-${g.severity}`, open: "", "data-class": g.cls, "data-count": String(g.count) },
        h(
          "summary",
          {},
          h("span", { class: "fclass" }, g.cls),
          ` ×${g.count}  `,
          h("span", { class: `sev sev-${g.severity}` }, g.severity),
          `  ${SIDE_WORDS[g.side]}`,
        ),
        ...g.items.map((it) => {
          const ev = store.event(it.mark.ev);
          const a = h(
            "a",
            { href: "#", class: "finding-link mono", "data-class": g.cls, "data-socket": String(it.socket) },
            `${formatClock(it.mark.t + store.wallAnchorNs, NS.us)}  ${store.tracks.get(it.socket)?.name ?? it.socket}  ${ev?.kind === "finding" ? findingDetail(ev.detail) : ""}`,
          );
          a.addEventListener("click", (e) => {
            e.preventDefault();
            timeline.focus({ socket: it.socket, ev: it.mark.ev }, it.mark.t);
            showDetails(it.mark.ev);
          });
          return h("div", { class: "fitem" }, a, h("div", { class: "frace mono dim" }, raceLine(it.race)));
        }),
      ),
    ),
  );
}

const SIDE_WORDS: Record<Side, string> = {
  prevented: "◆ our side, prevented",
  peer: "▲ the peer's side",
  client: "■ an observed client's side",
  network: "● the network",
};

// ---- details --------------------------------------------------------------

function showDetails(ev: number): void {
  switchTab("details");
  renderDetails(ev);
}

function renderDetails(ev: number): void {
  const lines = detailLines(store, ev);
  $("tab-details").replaceChildren(...lines.map((l, i) => h("div", { class: i === 0 ? "dhead mono" : "mono" }, l)));
}

// ---- inspector -------------------------------------------------------------

const inspector = new Inspector(
  $("frame-scroll"),
  $("frame-spacer"),
  $<HTMLTableSectionElement>("frame-rows"),
  $("frame-body"),
  $("inspector-count"),
  store,
  { onPick: (socket, ev, t) => timeline.markAt({ socket, ev }, t) },
);

function inspectorFilter(): FrameFilter {
  const checked = (id: string) => $<HTMLInputElement>(id).checked;
  const dir = $<HTMLSelectElement>("inspector-dir").value;
  return {
    dir: dir === "out" || dir === "in" ? dir : "both",
    text: checked("inspector-text"),
    binary: checked("inspector-binary"),
    control: checked("inspector-control"),
    query: $<HTMLInputElement>("inspector-search").value.trim().toLowerCase(),
  };
}

function renderInspector(): void {
  if ($("tab-inspector").hidden) switchTab("inspector");
  followSocketChoice();
}

/** The inspector shows the socket its select shows (the choices change with the store on view). */
function followSocketChoice(): void {
  inspector.show(Number($<HTMLSelectElement>("inspector-socket").value), inspectorFilter());
}

// ---- jobs ------------------------------------------------------------------

let renderedJobs = "";
/** The compact jobs view: name, progress, ETA and the state in words. */
function renderJobs(force = false): void {
  if ($("tab-jobs").hidden) return;
  const now = timeline.now();
  const lines = rows.map((r) => {
    const tr = liveStore.tracks.get(r.id);
    const lastEv = tr && tr.segEv.length > 0 ? liveStore.event(tr.segEv[tr.segEv.length - 1]) : undefined;
    const last = lastEv?.kind === "transition" ? lastEv : undefined;
    const pct = r.total ? Math.min(100, Math.round(((r.processed ?? 0) / r.total) * 100)) : null;
    const left = timeLeft(r);
    return { r, pct, left, words: stateWords(r, last, now), bad: endedBadly(r, last) };
  });
  // Backoff countdowns change every frame: compare at tenths of a second.
  const key = JSON.stringify(lines.map((l) => [l.r.id, l.pct, l.words, l.left === null ? null : Math.round(l.left / 1e8)]));
  if (!force && key === renderedJobs) return;
  renderedJobs = key;
  $("jobs-table").replaceChildren(
    h("tr", {}, ...["job", "progress", "", "time left", "state"].map((x) => h("th", {}, x))),
    ...lines.map((l) => {
      const bar = h("div", { class: "progress" }, h("div", { class: "fill" }));
      (bar.firstChild as HTMLElement).style.width = `${l.pct ?? 0}%`;
      return h(
        "tr",
        { class: `job${l.bad ? " bad" : ""}`, "data-socket": String(l.r.id), "data-name": l.r.name },
        h("td", { class: "jname" }, l.r.name),
        h("td", { class: "jbar" }, bar),
        h("td", { class: "mono" }, l.pct === null ? "" : `${l.pct}%`),
        h("td", { class: "mono" }, l.left === null ? "" : l.left === 0 ? "done" : `about ${formatDuration(l.left)}`),
        h("td", { class: "jstate" }, l.words),
      );
    }),
  );
}

// ---- tabs ------------------------------------------------------------------

function switchTab(name: string): void {
  for (const b of document.querySelectorAll<HTMLElement>("#tabs button[data-tab]")) b.classList.toggle("on", b.dataset.tab === name);
  for (const t of document.querySelectorAll<HTMLElement>("#bottom .tab")) t.hidden = t.id !== `tab-${name}`;
  if (name === "findings") renderFindings(true);
  if (name === "jobs") renderJobs(true);
  if (name === "sessions") renderSessions().catch(showError);
}

// ---- sessions (history) -----------------------------------------------------

async function renderSessions(): Promise<void> {
  const list = await api.sessions();
  const ticked = () => [...document.querySelectorAll<HTMLInputElement>(".compare-pick:checked")].map((c) => Number(c.value));
  const go = h("button", { type: "button", id: "compare-go", disabled: "" }, "compare the two ticked");
  const pick = () => {
    const n = ticked().length;
    go.toggleAttribute("disabled", n !== 2);
    go.textContent = n === 2 ? "compare the two ticked" : `tick two sessions to compare (${n})`;
  };
  go.addEventListener("click", () => {
    const [a, b] = ticked().sort((x, y) => x - y);
    compareSessions(a, b).catch(showError);
  });
  $("tab-sessions").replaceChildren(
    h(
      "table",
      { class: "mono" },
      h("tr", {}, ...["compare", "session", "started", "events", "end", ""].map((x) => h("th", {}, x))),
      ...list.map((s) => {
        const open = h("button", { type: "button", class: "open-session", "data-session": String(s.id) }, s.id === info?.session_id ? "live" : "open");
        open.addEventListener("click", () => (s.id === info?.session_id ? backToLive() : openSession(s.id).catch(showError)));
        const box = h("input", { type: "checkbox", class: "compare-pick", value: String(s.id), title: "compare" });
        box.addEventListener("change", pick);
        return h("tr", {}, h("td", {}, box), h("td", {}, String(s.id)), h("td", {}, new Date(s.started_us / 1000).toLocaleString()), h("td", {}, String(s.event_count)), h("td", {}, s.end_state), h("td", {}, open));
      }),
    ),
    h("div", { class: "row" }, go),
    h("div", { id: "compare-result" }),
  );
  pick();
}

/** A recorded session, page by page, into a store of its own. */
async function loadSession(id: number): Promise<Store> {
  const hist = new Store();
  let after = null;
  for (;;) {
    const page = await api.sessionEvents(id, after, 20000);
    hist.add(page.events);
    status(`session ${id}: ${hist.eventCount} events loaded`);
    if (!page.next) break;
    after = page.next;
  }
  return hist;
}

async function openSession(id: number): Promise<void> {
  const hist = await loadSession(id);
  viewingSession = id;
  showStore(hist, `history: session ${id}`);
}

/** Before (the older) and after, side by side: states, findings, sockets. */
async function compareSessions(a: number, b: number): Promise<void> {
  const [before, after] = [await loadSession(a), await loadSession(b)];
  const c = compareStores(before, after);
  const head = (...cols: string[]) => h("tr", {}, ...cols.map((x) => h("th", {}, x)));
  const num = (v: number | null) => h("td", { class: "num" }, v === null ? "—" : String(v));
  const table = (title: string, header: HTMLElement, rows: HTMLElement[]) =>
    h("section", { class: "cmp" }, h("h4", {}, title), h("table", { class: "mono" }, header, ...(rows.length ? rows : [h("tr", {}, h("td", { class: "dim" }, "none in either"))])));
  $("compare-result").replaceChildren(
    h("div", { class: "mono dim", "data-compare": `${a},${b}` }, `session ${a} (before) → session ${b} (after): ${c.events.a} → ${c.events.b} events, ${c.lanes.a} → ${c.lanes.b} lanes`),
    h(
      "div",
      { class: "cmp-grid" },
      table(
        "states: entries and time in each",
        head("state", "before", "after", "", "time before", "time after"),
        c.states.map((s) => h("tr", { "data-state": s.state }, h("td", {}, s.state), num(s.a), num(s.b), h("td", { class: "delta" }, delta(s.a, s.b)), h("td", {}, formatDuration(s.aNs)), h("td", {}, formatDuration(s.bNs)))),
      ),
      table(
        "findings by class",
        head("class", "before", "after", ""),
        c.findings.map((f) => h("tr", { "data-class": f.key }, h("td", {}, f.key), num(f.a), num(f.b), h("td", { class: `delta ${f.b < f.a ? "better" : f.b > f.a ? "worse" : ""}` }, delta(f.a, f.b)))),
      ),
      table(
        "sockets (by name): findings and how each ended",
        head("socket", "before", "after", "ended before", "ended after"),
        c.sockets.slice(0, 200).map((s) => h("tr", {}, h("td", {}, s.name), num(s.a), num(s.b), h("td", {}, s.aEnd ?? "—"), h("td", {}, s.bEnd ?? "—"))),
      ),
    ),
  );
}

function backToLive(): void {
  store = liveStore;
  inspector.setStore(liveStore);
  fillSocketChoices();
  followSocketChoice();
  // The cursor's time was another store's.
  $("cursor-time").textContent = "";
  viewingSession = null;
  timeline.setStore(liveStore, null);
  timeline.setLive(true);
  $("history-label").hidden = true;
  $("back-live").hidden = true;
  $("sockets-note").hidden = true;
  renderFindings(true);
}

/** Shows `s` on the timeline: still (history), or following `now` (a recording). */
function showStore(s: Store, label: string, now: number | null = null): void {
  store = s;
  inspector.setStore(s);
  fillSocketChoices();
  followSocketChoice();
  $("cursor-time").textContent = "";
  if (now === null) {
    timeline.setLive(false);
    timeline.setStore(s, s.tMax);
  } else {
    timeline.setStore(s, null);
    timeline.setNow(now);
    timeline.setLive(true);
  }
  $("history-label").textContent = label;
  $("history-label").hidden = false;
  $("back-live").hidden = false;
  // The list stays live while the timeline shows something else: say so.
  $("sockets-note").textContent = `live session; the timeline shows ${label.replace(/^history: /, "")}`;
  $("sockets-note").hidden = false;
  renderFindings(true);
}

// ---- scenarios ---------------------------------------------------------------

async function setupScenarios(): Promise<void> {
  const menu = $("scenarios-menu");
  const list = await api.scenarios();
  catalog = list;
  menu.replaceChildren(
    ...list.map((s) => {
      const b = h("button", { type: "button", "data-scenario": s.id, title: `${s.race} (seed ${s.seed})` }, s.id);
      b.addEventListener("click", () => {
        menu.hidden = true;
        runScenario(s.id).catch(showError);
      });
      return b;
    }),
  );
}

async function runScenario(id: string): Promise<void> {
  switchTab("scenario");
  const pane = $("tab-scenario");
  pane.replaceChildren(h("div", { class: "mono" }, `running ${id}…`));
  const r: ScenarioResult = await api.runScenario(id);
  const s = new Store();
  s.add(r.events);
  showStore(s, `scenario: ${id}`);
  switchTab("scenario");
  pane.replaceChildren(
    h("div", { class: `verdict mono ${r.passed ? "pass" : "fail"}`, "data-scenario-result": id }, `${r.passed ? "✔ pass" : "✖ fail"}  ${id}  ${formatDuration(r.elapsed_ms * NS.ms)}  ${r.verdict}`),
    h("div", { class: "mono" }, `findings: ${Object.entries(r.findings).map(([k, v]) => `${k} ×${v}`).join(", ") || "none"}`),
    ...r.observations.map((o) => h("div", { class: "mono dim" }, `· ${o}`)),
  );
}

// ---- export, add socket, OTLP ----------------------------------------------

/** The export menu's words; a format the recorder adds fails the type check here. */
const EXPORT_LABELS: Record<ExportFormat, string> = {
  jaeger: "Jaeger JSON",
  otlp: "OTLP JSON",
  csv: "transitions CSV",
  perfetto: "Perfetto trace",
  har: "HAR (DevTools)",
};

/** The dialect picker's words; a dialect the engine adds fails the type check here. */
const DIALECT_LABELS: Record<DialectName, string> = {
  job: "job (PROTOCOL.md)",
  socketio: "Socket.IO",
  "graphql-ws": "GraphQL (graphql-ws)",
  phoenix: "Phoenix Channels",
  signalr: "SignalR",
  json: "bespoke JSON (defaults; full table in the config file)",
  raw: "raw WebSocket",
};

async function exportAs(format: ExportFormat): Promise<void> {
  const id = viewingSession ?? info?.session_id;
  if (id === undefined) return;
  const path = await api.exportSession(id, format);
  status(`exported session ${id} → ${path}`);
  $("status").dataset.exported = path;
}

function setupDialogs(): void {
  const dlg = $<HTMLDialogElement>("add-dialog");
  $("add-socket").addEventListener("click", () => {
    $("add-error").textContent = "";
    dlg.showModal();
  });
  $("add-cancel").addEventListener("click", () => dlg.close());
  // Show only the chosen dialect's options.
  const dialectSelect = $<HTMLFormElement>("add-form").elements.namedItem("adapter") as HTMLSelectElement;
  for (const d of DIALECTS) dialectSelect.add(new Option(DIALECT_LABELS[d], d));
  const showOptions = () => {
    const d = dialectSelect.value;
    let any = false;
    for (const label of $("dialect-options").querySelectorAll<HTMLElement>("label[data-for]")) {
      const shown = (label.dataset.for ?? "").split(" ").includes(d);
      label.hidden = !shown;
      any ||= shown;
    }
    $("dialect-options").hidden = !any;
  };
  dialectSelect.addEventListener("change", showOptions);
  showOptions();
  $<HTMLFormElement>("add-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const s = (k: string) => String(f.get(k) ?? "").trim();
    const ref = s("token_ref");
    const kind = s("token_kind");
    const token: AddSocketRequest["token"] =
      kind === "env" ? { kind, name: ref } : kind === "file" ? { kind, path: ref } : kind === "keyring" ? { kind, job_id: ref || s("job_id") } : { kind: "none" };
    const adapter = DIALECTS.find((d) => d === s("adapter")) ?? "job";
    const opt = (k: string) => s(k) || null;
    const dialect = { progress_event: opt("progress_event"), processed: opt("processed"), total: opt("total"), query: opt("query"), topic: opt("topic") };
    api
      .addSocket({ url: s("url"), name: s("name") || null, adapter, job_id: s("job_id") || null, token, dialect })
      .then(() => {
        // A fresh form for the next socket; on an error it keeps what was typed.
        (e.target as HTMLFormElement).reset();
        showOptions();
        dlg.close();
      })
      .catch((err: unknown) => {
        $("add-error").textContent = err instanceof UiError ? err.message : String(err);
      });
  });

  const od = $<HTMLDialogElement>("otlp-dialog");
  const form = $<HTMLFormElement>("otlp-form");
  $("otlp-btn").addEventListener("click", async () => {
    try {
      const s = await api.otlpSettings();
      (form.elements.namedItem("enabled") as HTMLInputElement).checked = s.enabled;
      (form.elements.namedItem("protocol") as HTMLSelectElement).value = s.protocol;
      (form.elements.namedItem("endpoint") as HTMLInputElement).value = s.endpoint ?? "";
      (form.elements.namedItem("service_name") as HTMLInputElement).value = s.service_name ?? "";
      $("otlp-error").textContent = "";
      od.showModal();
    } catch (e) {
      showError(e);
    }
  });
  $("otlp-cancel").addEventListener("click", () => od.close());
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const f = new FormData(form);
    api
      .setOtlpSettings({
        enabled: f.get("enabled") === "on",
        protocol: f.get("protocol") === "grpc" ? "grpc" : "http_protobuf",
        endpoint: String(f.get("endpoint") ?? "").trim() || null,
        service_name: String(f.get("service_name") ?? "").trim() || null,
      })
      .then(() => {
        od.close();
        refreshOtlpDot().catch(showError);
      })
      .catch((err: unknown) => {
        $("otlp-error").textContent = err instanceof UiError ? err.message : String(err);
      });
  });
}

async function refreshOtlpDot(): Promise<void> {
  const s = await api.otlpSettings();
  $("otlp-dot").classList.toggle("on", s.enabled);
}

function setupChrome(): void {
  for (const b of document.querySelectorAll<HTMLElement>("#tabs button[data-tab]")) b.addEventListener("click", () => switchTab(b.dataset.tab!));
  const toggle = (btn: string, menu: string) =>
    $(btn).addEventListener("click", (e) => {
      e.stopPropagation();
      $(menu).hidden = !$(menu).hidden;
    });
  toggle("scenarios-btn", "scenarios-menu");
  toggle("export-btn", "export-menu");
  document.addEventListener("click", () => {
    $("scenarios-menu").hidden = true;
    $("export-menu").hidden = true;
  });
  for (const format of EXPORT_FORMATS) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.format = format;
    b.textContent = EXPORT_LABELS[format];
    b.addEventListener("click", () => exportAs(format).catch(showError));
    $("export-menu").append(b);
  }
  $("zoom-in").addEventListener("click", () => timeline.zoom(0.5));
  $("zoom-out").addEventListener("click", () => timeline.zoom(2));
  $("fit").addEventListener("click", () => {
    timeline.setLive(false);
    timeline.fitAll();
  });
  $("live").addEventListener("click", () => timeline.setLive(!timeline.live));
  $("back-to-live").addEventListener("click", () => timeline.setLive(true));
  $("pin-findings").addEventListener("click", () => {
    pinFindings = !pinFindings;
    $("pin-findings").classList.toggle("on", pinFindings);
  });
  $("back-live").addEventListener("click", backToLive);
  for (const id of ["inspector-socket", "inspector-dir", "inspector-text", "inspector-binary", "inspector-control"]) $(id).addEventListener("change", renderInspector);
  $("inspector-search").addEventListener("input", renderInspector);
  for (const id of ["findings-socket", "findings-side"]) $(id).addEventListener("change", () => renderFindings(true));
  $("inspector-pause").addEventListener("click", () => {
    inspector.setPaused(!inspector.paused);
    $("inspector-pause").classList.toggle("on", inspector.paused);
    $("inspector-pause").textContent = inspector.paused ? "▶ resume capture" : "❚❚ pause capture";
  });
  const legend = $<HTMLDialogElement>("legend-dialog");
  const openLegend = () => {
    renderLegend($("legend-body"), $("timeline"));
    legend.showModal();
  };
  $("legend-btn").addEventListener("click", openLegend);
  $("legend-close").addEventListener("click", () => legend.close());
  $("theme-btn").addEventListener("click", () => {
    document.documentElement.classList.toggle("light");
    timeline.refreshTheme();
  });
  document.addEventListener("keydown", (e) => {
    if ((e.target as HTMLElement).closest("input, select, textarea, dialog")) return;
    if (e.key === "f") {
      timeline.setLive(false);
      timeline.fitAll();
    } else if (e.key === "l") timeline.setLive(!timeline.live);
    else if (e.key === "?") openLegend();
    else if (e.key === "/") {
      e.preventDefault();
      switchTab("inspector");
      renderInspector();
      $("inspector-search").focus();
    }
  });
  const wrap = $("timeline-wrap");
  const ro = new ResizeObserver(() => timeline.resize(wrap.clientWidth, wrap.clientHeight));
  ro.observe(wrap);
  timeline.resize(wrap.clientWidth, wrap.clientHeight);
}

async function start(): Promise<void> {
  setupChrome();
  setupDialogs();
  setupImport({
    status,
    show: async (r) => {
      switchTab("sessions");
      await openSession(r.session_id);
      status(`imported session ${r.session_id}: ${r.lanes} lanes, ${r.attempts} attempts, ${r.frames} frames, ${r.findings} finding${r.findings === 1 ? "" : "s"}`);
    },
  });
  const recCoalescer = new FrameCoalescer<LiveBatch>(addRecorded);
  setupRecord({
    status,
    prepare: () => {
      recStore = new Store();
      recLanes = "";
      return (b) => recCoalescer.push([b]);
    },
    failed: () => {
      recStore = null;
    },
    started: (r) => {
      if (recStore === null) return;
      viewingSession = r.session_id;
      showStore(recStore, `recording: session ${r.session_id} (${r.listen} → ${r.upstream})`, r.now);
      status(`recording ${r.listen} → ${r.upstream} into session ${r.session_id}`);
    },
    ended: async (r) => {
      const shown = recStore !== null && store === recStore;
      recStore = null;
      if (shown) await openSession(r.session_id);
      status(`recorded session ${r.session_id}: ${r.connections} connection${r.connections === 1 ? "" : "s"}, ${r.frames} frames, ${r.findings} finding${r.findings === 1 ? "" : "s"}`);
    },
  });
  requestAnimationFrame(loop);
  if (!inTauri()) {
    status("not running inside the app: no live session");
    return;
  }
  info = await api.appInfo();
  timeline.setNow(info.now);
  const mode = $("mode");
  mode.hidden = !info.demo;
  mode.textContent = "● DEMO: a racing job every 5 s";
  mode.title = "demo mode: an embedded simulator runs a long import, and a new job every 5 s whose faults rotate through the scenario catalog";
  $("session").textContent = `session ${info.session_id}`;
  if (info.warnings.length > 0) status(`config: ${info.warnings.join("; ")}`);
  // A window opened after the failure missed its event.
  if (info.recording_failed) showRecordingFailed(info.recording_failed);
  rows = await api.sockets();
  renderSockets();
  await api.subscribe((b) => coalescer.push([b]));
  await Promise.all([setupScenarios(), refreshOtlpDot()]);
  document.body.dataset.ready = "1";
  setInterval(() => {
    if (store !== liveStore) return;
    const drawn = timeline.lastDrawMs.toFixed(1);
    status(`${liveStore.eventCount} events · draw ${drawn} ms${missedTotal ? ` · ${missedTotal} missed (UI lagged)` : ""}`);
  }, 1000);
}

start().catch(showError);

export type { UiEvent };
