// The inspector: the selected socket's frames as a table (time, direction,
// opcode, size, type, seq, close code), filtered and searched, virtualised
// so only the rows in view exist in the DOM. The filtering is pure.

import { hexDump, prettyPayload } from "./redact";
import { NS, formatClock } from "./scale";
import type { Store } from "./store";
import type { EventOf } from "./types";

type Frame = EventOf<"frame">;

export interface FrameFilter {
  dir: "both" | "out" | "in";
  text: boolean;
  binary: boolean;
  control: boolean;
  /** Lower-case search; matches type, seq, opcode, close code and payload. */
  query: string;
}

export const ALL_FRAMES: FrameFilter = { dir: "both", text: true, binary: true, control: true, query: "" };

/** The most rows one table holds (newest first); older matches are counted, not listed. */
export const MAX_ROWS = 20_000;
/** Frames looked at per render, newest first: a bound on the work of one keystroke. */
export const MAX_SCAN = 100_000;

export const CONTROL_OPCODES = new Set(["ping", "pong", "close"]);

export function frameMatches(e: Frame, f: FrameFilter): boolean {
  if (f.dir !== "both" && e.direction !== f.dir) return false;
  const control = CONTROL_OPCODES.has(e.opcode);
  if (control && !f.control) return false;
  if (e.opcode === "text" && !f.text) return false;
  if (e.opcode === "binary" && !f.binary) return false;
  if (f.query) {
    const hay = `${e.opcode} ${e.message_type ?? ""} ${e.seq ?? ""} ${e.close_code ?? ""} ${e.payload ?? ""}`.toLowerCase();
    if (!hay.includes(f.query)) return false;
  }
  return true;
}

export interface FrameRows {
  /** Event indices, newest first, at most MAX_ROWS. */
  rows: number[];
  /** Frames that matched, listed or not. */
  matched: number;
  /** Whether older frames were not looked at (details no longer kept, or past MAX_SCAN). */
  cut: boolean;
}

/** The socket's frames that pass `f`, newest first. */
export function frameRows(store: Store, socket: number, f: FrameFilter, maxRows = MAX_ROWS, maxScan = MAX_SCAN): FrameRows {
  const tr = store.tracks.get(socket);
  const out: FrameRows = { rows: [], matched: 0, cut: false };
  if (!tr) return out;
  const evs = tr.frameEv;
  const stop = Math.max(0, evs.length - maxScan);
  for (let i = evs.length - 1; i >= stop; i--) {
    const e = store.event(evs[i]);
    // Frames whose details are no longer kept end the list.
    if (!e) {
      out.cut = true;
      break;
    }
    if (e.kind !== "frame" || !frameMatches(e, f)) continue;
    out.matched++;
    if (out.rows.length < maxRows) out.rows.push(evs[i]);
  }
  if (stop > 0) out.cut = true;
  return out;
}

/** The rows [from, to) a scroller of `viewH` px at `scrollTop` shows, with some spare either side. */
export function sliceFor(scrollTop: number, viewH: number, rowH: number, n: number, spare = 8): [number, number] {
  const from = Math.max(0, Math.floor(scrollTop / rowH) - spare);
  const to = Math.min(n, Math.ceil((scrollTop + viewH) / rowH) + spare);
  return [from, Math.max(from, to)];
}

/** A row's cells, in column order. */
export function frameCells(e: Frame, wallAnchorNs: number): string[] {
  return [
    formatClock(e.t + wallAnchorNs, NS.us),
    e.direction === "out" ? "↑ out" : "↓ in",
    e.opcode,
    String(e.size),
    e.message_type ?? "",
    e.seq === null ? "" : String(e.seq),
    e.close_code === null ? "" : String(e.close_code),
  ];
}

/** An observed upgrade in words: its status, then both sides' headers (values redacted by the recorder). */
export function handshakeLines(e: EventOf<"handshake">): string[] {
  return [
    `upgrade answered ${e.status}`,
    "  request headers:",
    ...e.request_headers.map(([k, v]) => `    ${k}: ${v}`),
    "  answer headers:",
    ...e.response_headers.map(([k, v]) => `    ${k}: ${v}`),
  ];
}

export const ROW_H = 18;

export interface InspectorHooks {
  /** A row was clicked: put the timeline's cursor on that frame. */
  onPick(socket: number, ev: number, t: number): void;
}

/** The table view over one store; `render` refreshes it unless capture is paused. */
export class Inspector {
  private store: Store;
  private socket = -1;
  private filter: FrameFilter = { ...ALL_FRAMES };
  private rows: FrameRows = { rows: [], matched: 0, cut: false };
  private selected = -1;
  paused = false;
  /** The store's event count when the view was frozen. */
  private frozenAt = 0;

  constructor(
    private readonly scroll: HTMLElement,
    private readonly spacer: HTMLElement,
    private readonly body: HTMLTableSectionElement,
    private readonly detail: HTMLElement,
    private readonly count: HTMLElement,
    store: Store,
    private readonly hooks: InspectorHooks,
  ) {
    this.store = store;
    scroll.addEventListener("scroll", () => this.paint());
  }

  setStore(store: Store): void {
    this.store = store;
    this.selected = -1;
    this.detail.textContent = "";
    this.refresh(true);
  }

  show(socket: number, filter: FrameFilter): void {
    const changed = socket !== this.socket || JSON.stringify(filter) !== JSON.stringify(this.filter);
    if (socket !== this.socket) this.selected = -1;
    this.socket = socket;
    this.filter = filter;
    this.refresh(changed);
  }

  /** Freezes the table (new frames are still recorded and counted) or lets it follow again. */
  setPaused(on: boolean): void {
    this.paused = on;
    this.frozenAt = this.store.eventCount;
    this.refresh(true);
  }

  /** Re-filters, unless paused (a filter change while paused still applies). */
  refresh(force = false): void {
    if (this.paused && !force) {
      this.say();
      return;
    }
    this.rows = frameRows(this.store, this.socket, this.filter);
    this.spacer.style.height = `${this.rows.rows.length * ROW_H}px`;
    if (this.selected < 0) this.showUpgrade();
    this.say();
    this.paint();
  }

  /** With no frame picked, the detail pane shows the socket's observed upgrade, if any. */
  private showUpgrade(): void {
    const ev = this.store.tracks.get(this.socket)?.handshakeEv ?? -1;
    const e = ev >= 0 ? this.store.event(ev) : undefined;
    this.detail.textContent = e?.kind === "handshake" ? handshakeLines(e).join("\n") : "";
  }

  private say(): void {
    const { matched, rows, cut } = this.rows;
    const listed = rows.length < matched ? ` (newest ${rows.length} listed)` : "";
    const older = cut ? " · older frames not kept here: open the session under SESSIONS" : "";
    const frozen = this.paused ? ` · paused, ${Math.max(0, this.store.eventCount - this.frozenAt)} events since` : "";
    this.count.textContent = `${matched} frames${listed}${older}${frozen}`;
    this.count.dataset.matched = String(matched);
  }

  private paint(): void {
    const rows = this.rows.rows;
    const [from, to] = sliceFor(this.scroll.scrollTop, this.scroll.clientHeight || 300, ROW_H, rows.length);
    const table = this.body.parentElement as HTMLElement;
    table.style.transform = `translateY(${from * ROW_H}px)`;
    const trs: HTMLElement[] = [];
    for (let i = from; i < to; i++) {
      const idx = rows[i];
      const e = this.store.event(idx);
      if (e?.kind !== "frame") continue;
      const tr = document.createElement("tr");
      tr.className = `frame dir-${e.direction}${idx === this.selected ? " on" : ""}`;
      tr.dataset.ev = String(idx);
      for (const c of frameCells(e, this.store.wallAnchorNs)) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.append(td);
      }
      tr.addEventListener("click", () => this.pick(idx));
      trs.push(tr);
    }
    this.body.replaceChildren(...trs);
  }

  private pick(idx: number): void {
    const e = this.store.event(idx);
    if (e?.kind !== "frame") return;
    this.selected = idx;
    this.detail.textContent = e.payload_dropped
      ? "(payload no longer kept in memory; open this session under SESSIONS)"
      : (e.opcode === "binary" ? hexDump(e.payload) : prettyPayload(e.payload)) + (e.payload_truncated ? "\n… (truncated)" : "");
    this.detail.dataset.ev = String(idx);
    this.paint();
    this.hooks.onPick(this.socket, idx, e.t);
  }
}
