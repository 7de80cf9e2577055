// The canvas timeline: one lane per socket on a shared time axis. Drawing
// walks pixels, not events (layout.forEachPixel), so 1M events stay smooth.

import { envLabel } from "./details";
import { AXIS_H, GUTTER_W, type EnvLine, type Lane, ellipsize, envLineAt, envLines, forEachPixel, forEachSegment, gutterWidth, laneAt, layoutLanes, lowerBound, nearest } from "./layout";
import { type TimeScale, LIVE_WINDOW_NS, axisLabel, clampNsPerPx, fitData, formatDuration, liveView, pan, pinView, shiftPx, tOf, tickStep, ticks, windowAround, xOf, zoomAt, NS } from "./scale";
import { FRAME_CLOSE, FRAME_OUT, type Store, type Track, type FindingMark } from "./store";
import { ENGINE_WIDE, unhandled } from "./types";

export interface Pick {
  socket: number;
  ev: number;
}

export interface TimelineHooks {
  onSelect(p: Pick): void;
  onLiveChange(live: boolean): void;
  onCursor(text: string): void;
  onRange(text: string): void;
  /** The view was pinned to a finding (its pick), or let go (null). */
  onPin?(p: Pick | null): void;
}

export interface Palette {
  bg: string;
  fg: string;
  dim: string;
  grid: string;
  lane: string;
  states: string[];
  out: string;
  in: string;
  close: string;
  arrow: string;
  sync: string;
  syncBad: string;
  prevented: string;
  peer: string;
  network: string;
  client: string;
  error: string;
  env: string;
  cursor: string;
}

export function palette(el: HTMLElement): Palette {
  const cs = getComputedStyle(el);
  const v = (n: string, d: string) => cs.getPropertyValue(n).trim() || d;
  return {
    bg: v("--bg", "#0f1419"),
    fg: v("--fg", "#d7dde4"),
    dim: v("--dim", "#7d8590"),
    grid: v("--grid", "#222a33"),
    lane: v("--lane", "#151b22"),
    states: [
      "transparent",
      v("--st-connecting", "#d29922"),
      v("--st-awaiting", "#d29922"),
      v("--st-ready", "#3fb950"),
      v("--st-backoff", "#6e7681"),
      v("--st-closing", "#f0883e"),
      v("--st-closed", "#3a414a"),
      v("--st-failed", "#f85149"),
      v("--st-cancelled", "#a371f7"),
    ],
    out: v("--tick-out", "#79c0ff"),
    in: v("--tick-in", "#c9d1d9"),
    close: v("--tick-close", "#ff7b72"),
    arrow: v("--arrow", "#e3b341"),
    sync: v("--sync", "#56d4dd"),
    syncBad: v("--sync-bad", "#ff7b72"),
    prevented: v("--f-prevented", "#58a6ff"),
    peer: v("--f-peer", "#ff9b3d"),
    network: v("--f-network", "#ff5c8a"),
    client: v("--f-client", "#f778ba"),
    error: v("--f-error", "#ff3b30"),
    env: v("--env", "#d2a8ff"),
    cursor: v("--cursor", "#e6edf3"),
  };
}

/** New data and a live view's movement draw at most this often (ms). */
export const LIVE_FRAME_MS = 50;

type PatternKind = "dots" | "hatch" | "vstripe" | "hstripe" | "cross" | "none";
/** Colour is never the only cue: each state also has a texture. */
export const STATE_PATTERN: PatternKind[] = ["none", "dots", "hatch", "none", "none", "vstripe", "none", "cross", "hstripe"];

/** The stroked textures, as line segments [x0, y0, x1, y1] on an 8×8 tile. */
const PATTERN_LINES: Partial<Record<PatternKind, [number, number, number, number][]>> = {
  hatch: [
    [-2, 10, 10, -2],
    [-2, 2, 2, -2],
    [6, 10, 10, 6],
  ],
  vstripe: [
    [2, 0, 2, 8],
    [6, 0, 6, 8],
  ],
  hstripe: [
    [0, 2, 8, 2],
    [0, 6, 8, 6],
  ],
  cross: [
    [0, 0, 8, 8],
    [8, 0, 0, 8],
  ],
};

export function makePattern(ctx: CanvasRenderingContext2D, color: string, kind: PatternKind): CanvasPattern | string {
  if (kind === "none" || typeof document === "undefined") return color;
  const c = document.createElement("canvas");
  c.width = 8;
  c.height = 8;
  const p = c.getContext("2d")!;
  p.fillStyle = color;
  p.fillRect(0, 0, 8, 8);
  p.strokeStyle = "rgba(0,0,0,0.45)";
  p.fillStyle = "rgba(0,0,0,0.45)";
  p.lineWidth = 1.5;
  p.beginPath();
  if (kind === "dots") {
    p.fillRect(1, 1, 2, 2);
    p.fillRect(5, 5, 2, 2);
  }
  for (const [x0, y0, x1, y1] of PATTERN_LINES[kind] ?? []) {
    p.moveTo(x0, y0);
    p.lineTo(x1, y1);
  }
  p.stroke();
  return ctx.createPattern(c, "repeat") ?? color;
}

/**
 * A finding's marker: its shape says whose side it is on (◆ prevented on
 * ours, ▲ the peer's, ■ an observed client's, ● the network's), its colour
 * the side too, red for an error.
 */
export function drawFindingGlyph(ctx: CanvasRenderingContext2D, pal: Palette, side: FindingMark["side"], severity: FindingMark["severity"], x: number, y: number, r: number): void {
  const sideColor = { prevented: pal.prevented, peer: pal.peer, network: pal.network, client: pal.client };
  const color = severity === "error" ? pal.error : sideColor[side];
  ctx.lineWidth = 2;
  ctx.strokeStyle = pal.bg;
  ctx.fillStyle = color;
  ctx.beginPath();
  if (side === "prevented") {
    // Our side, prevented: a diamond (a shield's outline).
    ctx.moveTo(x, y - r);
    ctx.lineTo(x + r, y);
    ctx.lineTo(x, y + r);
    ctx.lineTo(x - r, y);
  } else if (side === "peer") {
    // Their side: a warning triangle.
    ctx.moveTo(x, y - r - 1);
    ctx.lineTo(x + r + 1, y + r);
    ctx.lineTo(x - r - 1, y + r);
  } else if (side === "client") {
    // An observed client's side (a capture, a proxied app): a square.
    ctx.rect(x - r, y - r, 2 * r, 2 * r);
  } else {
    ctx.arc(x, y, r, 0, Math.PI * 2);
  }
  ctx.closePath();
  ctx.stroke();
  ctx.fill();
  ctx.fillStyle = pal.bg;
  ctx.font = "bold 9px monospace";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(side === "network" ? "×" : "!", x, y + (side === "peer" ? 2 : 0));
  ctx.textAlign = "start";
  ctx.lineWidth = 1;
}

export class Timeline {
  readonly canvas: HTMLCanvasElement;
  private ctx: CanvasRenderingContext2D;
  private store: Store;
  private hooks: TimelineHooks;
  scale: TimeScale = { t0: 0, nsPerPx: 1e7, width: 800 };
  live = true;
  /** While following: how much of the latest data the view shows once there is more of it (zooming changes it). */
  liveWindowNs = LIVE_WINDOW_NS;
  /** A finding the view is held at, until "back to live". */
  pinned: Pick | null = null;
  /** Engine "now": from the last batch, extrapolated by the local clock. */
  private nowBase = 0;
  private nowAt = 0;
  private frozenNow: number | null = null;
  private dirty = true;
  private drawnVersion = -1;
  /** When `frame` last drew (performance.now() ms). */
  private drawnAt = Number.NEGATIVE_INFINITY;
  private pal: Palette;
  private fills: (CanvasPattern | string)[] = [];
  private lanes: Lane[] = [];
  private envDrawn: EnvLine[] = [];
  /** What the last draw put on the canvas (the e2e suite reads it from data attributes). */
  drawn = { findings: 0, envLines: 0, lanes: 0 };
  private cursorX: number | null = null;
  /** A moment the inspector put the cursor on: a hairline that stays. */
  markT: number | null = null;
  private drag: { x: number; t0: number; range: boolean; moved: boolean } | null = null;
  private range: [number, number] | null = null;
  selected: Pick | null = null;
  private dpr = 1;
  private heightPx = 300;
  private widthPx = 800;
  /** The names' column: as wide as the longest lane name needs, within bounds. */
  gutter = GUTTER_W;
  private gutterKey = "";
  scrollY = 0;
  /** Last draw's duration, for the status line and the benchmark. */
  lastDrawMs = 0;
  private tooltip: HTMLElement | null;

  constructor(canvas: HTMLCanvasElement, store: Store, hooks: TimelineHooks, tooltip: HTMLElement | null = null) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false })!;
    this.store = store;
    this.hooks = hooks;
    this.tooltip = tooltip;
    this.pal = palette(canvas);
    this.refreshTheme();
    this.bind();
  }

  setStore(store: Store, now: number | null): void {
    this.store = store;
    this.frozenNow = now;
    this.gutterKey = "";
    // What was drawn belongs to the old store: forget it until the next draw.
    delete this.canvas.dataset.findingsDrawn;
    delete this.canvas.dataset.envLines;
    delete this.canvas.dataset.lanesDrawn;
    this.selected = null;
    this.range = null;
    this.markT = null;
    this.fitAll();
  }

  refreshTheme(): void {
    this.pal = palette(this.canvas);
    this.fills = this.pal.states.map((c, i) => makePattern(this.ctx, c, STATE_PATTERN[i]));
    this.dirty = true;
  }

  setNow(now: number): void {
    this.nowBase = now;
    this.nowAt = performance.now();
  }

  now(): number {
    if (this.frozenNow !== null) return this.frozenNow;
    if (this.nowAt === 0) return this.store.tMax;
    return Math.max(this.store.tMax, this.nowBase + (performance.now() - this.nowAt) * 1e6);
  }

  resize(width: number, height: number): void {
    this.dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.floor(width * this.dpr);
    this.canvas.height = Math.floor(height * this.dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.heightPx = height;
    this.widthPx = width;
    this.scale = { ...this.scale, width: Math.max(width - this.gutter, 10) };
    this.dirty = true;
  }

  setLive(on: boolean): void {
    if (on) this.unpin();
    if (this.live === on) return;
    this.live = on;
    this.hooks.onLiveChange(on);
    this.dirty = true;
  }

  /** Holds the view at a finding's moment (what led to it, and just after), until {@link setLive}. */
  pin(p: Pick, t: number): void {
    this.setLive(false);
    this.pinned = p;
    this.selected = p;
    this.scale = pinView(this.scale.width, t, 4 * NS.s, this.store.tMin);
    this.hooks.onPin?.(p);
    this.dirty = true;
  }

  private unpin(): void {
    if (this.pinned === null) return;
    this.pinned = null;
    this.hooks.onPin?.(null);
  }

  /** "fit": the data that is there, edge to edge (a live store's runs on to now). */
  fitAll(): void {
    this.unpin();
    const end = Math.max(this.store.tMax, this.liveEnd());
    this.scale = fitData(this.store.tMin, end, this.scale.width, this.now());
    this.dirty = true;
  }

  /** Where a live store's data ends: now, while events still come. */
  private liveEnd(): number {
    return this.frozenNow === null && this.nowAt !== 0 ? this.now() : this.store.tMax;
  }

  zoom(factor: number): void {
    this.scale = zoomAt(this.scale, this.live ? this.scale.width * 0.92 : this.scale.width / 2, factor);
    this.zoomed();
  }

  /** After a zoom while following, the window is what the user zoomed to. */
  private zoomed(): void {
    if (this.live) this.liveWindowNs = Math.max(this.scale.nsPerPx * this.scale.width * 0.92, NS.ms);
    this.dirty = true;
  }

  /** Selects a moment and opens a ±50 ms window around it. */
  focus(p: Pick, t: number): void {
    this.setLive(false);
    this.selected = p;
    this.scale = windowAround(this.scale, t - 50 * NS.ms, t + 50 * NS.ms);
    this.dirty = true;
  }

  invalidate(): void {
    this.dirty = true;
  }

  /**
   * Draws when something changed; returns whether it drew. What the user
   * does draws at once. Otherwise the page draws at most every
   * `LIVE_FRAME_MS`: for new data, and for a live view once it has moved
   * a pixel, so following a minute draws ~16 times a second and a fresh
   * or empty session 20, not at every animation frame (issue 16: each
   * draw repaints the whole canvas in both WebKit processes).
   */
  frame(at = performance.now()): boolean {
    const due = at - this.drawnAt >= LIVE_FRAME_MS;
    if (due && this.live && this.frozenNow === null) {
      const next = liveView(this.scale.width, this.store.tMin, this.now(), this.liveWindowNs);
      if (shiftPx(this.scale, next) >= 1) {
        this.scale = next;
        this.dirty = true;
      }
    }
    const dataDue = due && this.drawnVersion !== this.store.version;
    if (!this.dirty && !dataDue) return false;
    this.drawnAt = at;
    this.draw();
    return true;
  }

  draw(): void {
    const started = performance.now();
    this.dirty = false;
    this.drawnVersion = this.store.version;
    const { ctx, pal } = this;
    const W = this.scale.width + this.gutter;
    const H = this.heightPx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = pal.bg;
    ctx.fillRect(0, 0, W, H);
    this.lanes = layoutLanes(this.store.order, this.scrollY);
    this.sizeGutter();
    const now = this.now();

    ctx.save();
    ctx.translate(this.gutter, 0);
    ctx.beginPath();
    ctx.rect(0, 0, this.scale.width, H);
    ctx.clip();
    this.drawAxis(H);
    let findings = 0;
    for (const lane of this.lanes) {
      if (lane.bottom < AXIS_H || lane.y > H) continue;
      const tr = this.store.tracks.get(lane.socket);
      if (tr) findings += this.drawLane(tr, lane, now);
    }
    this.envDrawn = envLines(this.store.env, this.scale, this.lanes, H);
    this.drawEnv();
    this.drawRange(H);
    this.drawMark(H);
    this.drawCursor(H);
    ctx.restore();

    // Gutter: names over a solid background.
    ctx.fillStyle = pal.bg;
    ctx.fillRect(0, 0, this.gutter, H);
    ctx.font = "12px monospace";
    ctx.textBaseline = "middle";
    let lanesDrawn = 0;
    for (const lane of this.lanes) {
      if (lane.bottom < AXIS_H || lane.y > H) continue;
      lanesDrawn++;
      const tr = this.store.tracks.get(lane.socket);
      ctx.fillStyle = pal.fg;
      ctx.fillText(ellipsize(tr?.name ?? "", this.gutter - 12, (t) => ctx.measureText(t).width), 6, lane.barTop + lane.barH / 2);
      ctx.fillStyle = pal.dim;
      ctx.font = "10px monospace";
      ctx.fillText("out", 6, lane.outTop + lane.tickH / 2);
      ctx.fillText("in", 6, lane.inTop + lane.tickH / 2);
      ctx.font = "12px monospace";
    }
    this.lastDrawMs = performance.now() - started;
    this.report(findings, this.envDrawn.length, lanesDrawn);
    this.reportView(now);
  }

  /** Where the data sits in the view, for the e2e suite: x of its first and last moment, and the width. */
  private reportView(now: number): void {
    const s = this.scale;
    const first = Number.isFinite(this.store.tMin) ? this.store.tMin : now;
    const last = this.frozenNow === null ? Math.max(now, this.store.tMax) : this.store.tMax;
    const text = `${Math.round(xOf(s, first))},${Math.round(xOf(s, last))},${Math.round(s.width)},${Math.floor((last - first) / NS.s)}`;
    if (this.canvas.dataset.view !== text) this.canvas.dataset.view = text;
    const mark = this.markT === null ? "" : String(Math.round(this.markT));
    if (this.canvas.dataset.mark !== mark) this.canvas.dataset.mark = mark;
  }

  /** Widens (or narrows) the names' column to the lane names now shown. */
  private sizeGutter(): void {
    // Measured again only when the store changed: an hour-long session has hundreds of lanes.
    const key = `${this.store.version}:${this.store.order.length}:${this.widthPx}`;
    if (key === this.gutterKey) return;
    this.gutterKey = key;
    const ctx = this.ctx;
    ctx.font = "12px monospace";
    const widths = this.store.order.map((s) => ctx.measureText(this.store.tracks.get(s)?.name ?? "").width);
    const g = gutterWidth(widths);
    if (g === this.gutter) return;
    // Keep the view's time span across the change.
    const span = this.scale.width * this.scale.nsPerPx;
    this.gutter = g;
    const width = Math.max(this.widthPx - g, 10);
    this.scale = { ...this.scale, width, nsPerPx: clampNsPerPx(span / width) };
    this.canvas.dataset.gutter = String(g);
  }

  /** Publishes what was drawn as data attributes (written only on change). */
  private report(findings: number, envLines: number, lanes: number): void {
    const d = this.drawn;
    if (d.findings === findings && d.envLines === envLines && d.lanes === lanes && this.canvas.dataset.findingsDrawn !== undefined) return;
    this.drawn = { findings, envLines, lanes };
    this.canvas.dataset.findingsDrawn = String(findings);
    this.canvas.dataset.envLines = String(envLines);
    this.canvas.dataset.lanesDrawn = String(lanes);
  }

  /** Machine-wide changes: a dashed line across every lane, a glyph in the axis band, the label when selected. */
  private drawEnv(): void {
    const { ctx, pal } = this;
    const marks = this.store.env;
    ctx.strokeStyle = pal.env;
    ctx.fillStyle = pal.env;
    ctx.lineWidth = 1;
    ctx.font = "11px monospace";
    ctx.textBaseline = "middle";
    for (const l of this.envDrawn) {
      const m = marks[l.index];
      const selected = this.selected?.socket === ENGINE_WIDE && this.selected.ev === m.ev;
      const x = Math.round(l.x) + 0.5;
      ctx.setLineDash(selected ? [] : [4, 3]);
      ctx.lineWidth = selected ? 2 : 1;
      ctx.beginPath();
      ctx.moveTo(x, l.y0);
      ctx.lineTo(x, l.y1);
      ctx.stroke();
      // The glyph sits in the axis band over a patch of background, above the tick labels.
      ctx.fillStyle = pal.bg;
      ctx.fillRect(x - 6, 5, 12, AXIS_H - 10);
      ctx.fillStyle = pal.env;
      ctx.fillText(m.change === "wake" ? "☾" : "⇅", x - 4, AXIS_H / 2);
      if (selected) {
        const text = envLabel(m.change, m.detail);
        const w = ctx.measureText(text).width + 8;
        const lx = Math.min(x + 4, this.scale.width - w);
        ctx.fillStyle = pal.bg;
        ctx.fillRect(lx, l.y0 + 2, w, 16);
        ctx.fillStyle = pal.env;
        ctx.fillText(text, lx + 4, l.y0 + 10);
      }
    }
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
  }

  private drawAxis(H: number): void {
    const { ctx, pal, scale } = this;
    const step = tickStep(scale.nsPerPx);
    ctx.font = "11px monospace";
    ctx.textBaseline = "middle";
    ctx.fillStyle = pal.lane;
    ctx.fillRect(0, 0, scale.width, AXIS_H);
    for (const t of ticks(scale, step, this.store.wallAnchorNs)) {
      const x = Math.round(xOf(scale, t)) + 0.5;
      ctx.strokeStyle = pal.grid;
      ctx.beginPath();
      ctx.moveTo(x, AXIS_H);
      ctx.lineTo(x, H);
      ctx.stroke();
      ctx.fillStyle = pal.dim;
      ctx.fillText(axisLabel(t, this.store.isAnchored ? this.store.wallAnchorNs : null, step), x + 3, AXIS_H / 2);
    }
  }

  /** Draws one lane; returns how many finding markers it drew. */
  private drawLane(tr: Track, lane: Lane, now: number): number {
    const { ctx, pal, scale } = this;
    ctx.fillStyle = pal.lane;
    ctx.fillRect(0, lane.y, scale.width, lane.bottom - lane.y);

    // State bar.
    const end = Math.max(now, tr.lastT);
    forEachSegment(tr.segStart.buf, tr.segStart.len, end, scale, (i, x0, x1) => {
      const code = tr.segState[i];
      if (code === 0) return;
      ctx.fillStyle = this.fills[code];
      ctx.fillRect(x0, lane.barTop, Math.max(x1 - x0, 1), lane.barH);
    });

    // Backoff: planned delay outlined (the filled grey is the actual one).
    ctx.setLineDash([3, 2]);
    ctx.strokeStyle = pal.fg;
    for (const b of tr.backoffs) {
      const x0 = xOf(scale, b.t);
      const x1 = xOf(scale, b.t + b.delay);
      if (x1 < -2 || x0 > scale.width + 2) continue;
      ctx.strokeRect(x0 + 0.5, lane.barTop + 1.5, Math.max(x1 - x0, 1), lane.barH - 3);
    }
    ctx.setLineDash([]);

    // Frames: out above the bar, in below; close frames stand out.
    const fT = tr.frameT.buf;
    forEachPixel(fT, tr.frameT.len, scale, (i, x) => {
      const isClose = (tr.frameOut[i] & FRAME_CLOSE) !== 0;
      const out = (tr.frameOut[i] & FRAME_OUT) !== 0;
      ctx.fillStyle = isClose ? pal.close : out ? pal.out : pal.in;
      const top = out ? lane.outTop : lane.inTop;
      ctx.fillRect(Math.floor(x), top, isClose ? 2 : 1, lane.tickH);
    });

    // Outbox: queued → flushed arrows.
    ctx.strokeStyle = pal.arrow;
    ctx.fillStyle = pal.arrow;
    ctx.lineWidth = 1.5;
    for (const a of tr.arrows) {
      const x0 = xOf(scale, a.queued);
      const x1 = xOf(scale, a.written ?? end);
      if (x1 < -4 || x0 > scale.width + 4) continue;
      const y = lane.outTop + 3;
      ctx.beginPath();
      ctx.moveTo(x0, lane.barTop);
      ctx.lineTo(x0, y);
      ctx.lineTo(x1, y);
      ctx.stroke();
      if (a.written !== null) {
        ctx.beginPath();
        ctx.moveTo(x1, y + 4);
        ctx.lineTo(x1 - 3, y - 1);
        ctx.lineTo(x1 + 3, y - 1);
        ctx.closePath();
        ctx.fill();
      }
    }
    ctx.lineWidth = 1;

    // State syncs: request → response spans under the in-row.
    for (const s of tr.syncs) {
      const x0 = xOf(scale, s.t);
      const x1 = xOf(scale, s.end ?? end);
      if (x1 < -2 || x0 > scale.width + 2) continue;
      ctx.fillStyle = s.ok === false ? pal.syncBad : pal.sync;
      ctx.fillRect(x0, lane.bottom - 2, Math.max(x1 - x0, 2), 2);
      ctx.fillRect(x0, lane.bottom - 5, 1, 5);
    }

    // Findings last, on top of everything.
    const fx = tr.findings;
    let marks = 0;
    let lastX = -10;
    const lo = firstFindingAt(fx, tOf(scale, -8));
    for (let i = lo; i < fx.length; i++) {
      const f = fx[i];
      const x = xOf(scale, f.t);
      if (x > scale.width + 8) break;
      if (x - lastX < 3 && !this.isSelected(tr.socket, f.ev)) continue;
      lastX = x;
      this.drawFinding(f, x, lane.barTop + lane.barH / 2, this.isSelected(tr.socket, f.ev));
      marks++;
    }

    if (this.selected?.socket === tr.socket) {
      const ev = this.store.event(this.selected.ev);
      if (ev) {
        const x = xOf(scale, ev.t);
        ctx.strokeStyle = pal.cursor;
        ctx.strokeRect(x - 3.5, lane.y + 0.5, 7, lane.bottom - lane.y - 1);
      }
    }
    return marks;
  }

  private isSelected(socket: number, ev: number): boolean {
    return this.selected !== null && this.selected.socket === socket && this.selected.ev === ev;
  }

  private drawFinding(f: FindingMark, x: number, y: number, selected: boolean): void {
    drawFindingGlyph(this.ctx, this.pal, f.side, f.severity, x, y, selected ? 8 : 6);
  }

  /** Puts the standing cursor on `t` (a frame picked in the inspector) and shows it with ±50 ms around. */
  markAt(p: Pick, t: number): void {
    this.markT = t;
    this.focus(p, t);
    this.hooks.onCursor(axisLabel(t, this.store.isAnchored ? this.store.wallAnchorNs : null, 1));
  }

  private drawMark(H: number): void {
    if (this.markT === null) return;
    const { ctx, pal } = this;
    const x = Math.round(xOf(this.scale, this.markT)) + 0.5;
    if (x < 0 || x > this.scale.width) return;
    ctx.strokeStyle = pal.arrow;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, AXIS_H);
    ctx.lineTo(x, H);
    ctx.stroke();
  }

  private drawCursor(H: number): void {
    if (this.cursorX === null) return;
    const { ctx, pal } = this;
    ctx.strokeStyle = pal.cursor;
    ctx.globalAlpha = 0.6;
    ctx.beginPath();
    ctx.moveTo(Math.round(this.cursorX) + 0.5, AXIS_H);
    ctx.lineTo(Math.round(this.cursorX) + 0.5, H);
    ctx.stroke();
    ctx.globalAlpha = 1;
  }

  private drawRange(H: number): void {
    if (!this.range) return;
    const { ctx, scale } = this;
    const x0 = xOf(scale, this.range[0]);
    const x1 = xOf(scale, this.range[1]);
    ctx.fillStyle = "rgba(120,160,255,0.15)";
    ctx.fillRect(Math.min(x0, x1), AXIS_H, Math.abs(x1 - x0), H - AXIS_H);
  }

  /** What is under (x, y), in canvas coordinates: a finding, a frame or a state. */
  pick(x: number, y: number): Pick | null {
    const lx = x - this.gutter;
    if (lx < 0) return null;
    // Machine-wide lines first: they cross every lane and own no lane.
    const ei = envLineAt(this.envDrawn, lx, y, 4);
    if (ei >= 0) return { socket: ENGINE_WIDE, ev: this.store.env[ei].ev };
    const lane = laneAt(this.lanes, y);
    if (!lane) return null;
    const tr = this.store.tracks.get(lane.socket);
    if (!tr) return null;
    // Findings are in time order: look only at those within reach of x
    // (this runs on every mouse move).
    const fx = tr.findings;
    let best: FindingMark | null = null;
    let bestD = 9;
    for (let i = firstFindingAt(fx, tOf(this.scale, lx - bestD - 1)); i < fx.length; i++) {
      const x = xOf(this.scale, fx[i].t);
      if (x >= lx + bestD) break;
      const d = Math.abs(x - lx);
      if (d < bestD) {
        best = fx[i];
        bestD = d;
      }
    }
    if (best) return { socket: tr.socket, ev: best.ev };
    const inTicks = y < lane.barTop || y >= lane.inTop;
    if (inTicks) {
      const i = nearest(tr.frameT.buf, tr.frameT.len, this.scale, lx, 4);
      if (i >= 0) return { socket: tr.socket, ev: tr.frameEv[i] };
    }
    const t = tOf(this.scale, lx);
    const si = lowerBound(tr.segStart.buf, tr.segStart.len, t + 1) - 1;
    if (si >= 0) return { socket: tr.socket, ev: tr.segEv[si] };
    return null;
  }

  private rangeCounts(a: number, b: number): string {
    const [lo, hi] = a < b ? [a, b] : [b, a];
    let states = 0;
    let frames = 0;
    let findings = 0;
    for (const tr of this.store.tracks.values()) {
      states += lowerBound(tr.segStart.buf, tr.segStart.len, hi) - lowerBound(tr.segStart.buf, tr.segStart.len, lo);
      frames += lowerBound(tr.frameT.buf, tr.frameT.len, hi) - lowerBound(tr.frameT.buf, tr.frameT.len, lo);
      findings += firstFindingAt(tr.findings, hi) - firstFindingAt(tr.findings, lo);
    }
    return `${formatDuration(hi - lo)}: ${states} transitions, ${frames} frames, ${findings} findings`;
  }

  private bind(): void {
    const c = this.canvas;
    c.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const rect = c.getBoundingClientRect();
        const x = e.clientX - rect.left - this.gutter;
        if (e.altKey) {
          this.scrollY = Math.max(0, this.scrollY + e.deltaY);
        } else if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
          this.setLive(false);
          this.scale = pan(this.scale, -e.deltaX);
        } else {
          // Zooming while following keeps "now" pinned; elsewhere, the cursor.
          const anchor = this.live ? this.scale.width * 0.92 : x;
          this.scale = zoomAt(this.scale, anchor, Math.exp(e.deltaY * 0.0015));
          this.zoomed();
        }
        this.dirty = true;
      },
      { passive: false },
    );
    c.addEventListener("mousedown", (e) => {
      const rect = c.getBoundingClientRect();
      const x = e.clientX - rect.left - this.gutter;
      this.drag = { x: e.clientX, t0: this.scale.t0, range: e.shiftKey, moved: false };
      if (e.shiftKey) this.range = [tOf(this.scale, x), tOf(this.scale, x)];
    });
    window.addEventListener("mouseup", (e) => {
      const d = this.drag;
      this.drag = null;
      if (!d || d.moved) return;
      const rect = c.getBoundingClientRect();
      const p = this.pick(e.clientX - rect.left, e.clientY - rect.top);
      if (p) {
        this.selected = p;
        this.hooks.onSelect(p);
        const ev = this.store.event(p.ev);
        if (ev?.kind === "finding") this.focus(p, ev.t);
        this.dirty = true;
      }
    });
    c.addEventListener("mousemove", (e) => {
      const rect = c.getBoundingClientRect();
      const x = e.clientX - rect.left;
      const y = e.clientY - rect.top;
      this.cursorX = x - this.gutter >= 0 ? x - this.gutter : null;
      if (this.cursorX !== null) {
        const t = tOf(this.scale, this.cursorX);
        this.hooks.onCursor(axisLabel(t, this.store.isAnchored ? this.store.wallAnchorNs : null, 1));
      }
      const d = this.drag;
      if (d) {
        const dx = e.clientX - d.x;
        if (Math.abs(dx) > 2) d.moved = true;
        if (d.range && this.range) {
          this.range[1] = tOf(this.scale, x - this.gutter);
          this.hooks.onRange(this.rangeCounts(this.range[0], this.range[1]));
        } else if (d.moved) {
          this.setLive(false);
          this.scale = { ...this.scale, t0: d.t0 - dx * this.scale.nsPerPx };
        }
      }
      this.hover(x, y, e.clientX - rect.left, e.clientY - rect.top);
      this.dirty = true;
    });
    c.addEventListener("mouseleave", () => {
      this.cursorX = null;
      if (this.tooltip) this.tooltip.hidden = true;
      this.dirty = true;
    });
  }

  private hover(x: number, y: number, px: number, py: number): void {
    if (!this.tooltip) return;
    const p = this.pick(x, y);
    const ev = p ? this.store.event(p.ev) : undefined;
    // Over the names' column: the lane's whole name.
    const lane = x < this.gutter ? laneAt(this.lanes, y) : undefined;
    const text = ev ? describeShort(ev) : lane ? (this.store.tracks.get(lane.socket)?.name ?? "") : "";
    if (!text) {
      this.tooltip.hidden = true;
      return;
    }
    this.tooltip.textContent = text;
    this.tooltip.hidden = false;
    this.tooltip.style.left = `${Math.min(px + 12, this.scale.width + this.gutter - 260)}px`;
    this.tooltip.style.top = `${py + 14}px`;
  }
}

function firstFindingAt(fx: readonly FindingMark[], t: number): number {
  let lo = 0;
  let hi = fx.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fx[mid].t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function describeShort(ev: import("./types").UiEvent): string {
  switch (ev.kind) {
    case "finding":
      const side = { prevented: "◆ prevented", peer: "▲ peer", network: "● network", client: "■ client" }[ev.side];
      return `${side}: ${ev.class} (attempt ${ev.attempt})`;
    case "frame":
      return `${ev.direction === "out" ? "↑ out" : "↓ in"} ${ev.opcode}${ev.message_type ? ` ${ev.message_type}` : ""}${ev.seq !== null ? ` seq ${ev.seq}` : ""}${ev.close_code !== null ? ` code ${ev.close_code}` : ""} · ${ev.size} B`;
    case "transition":
      return `${ev.from} → ${ev.to}${ev.attempt !== null ? ` (attempt ${ev.attempt})` : ""} · ${ev.cause}`;
    case "socket_added":
      return `added ${ev.name} ${ev.adapter}`;
    case "environment":
      return `${envLabel(ev.change, ev.detail)} · every socket`;
    case "handshake":
      return `upgrade answered ${ev.status}`;
    case "message":
    case "backoff_planned":
    case "state_sync":
    case "progress":
    case "heartbeat_answered":
      return ev.kind;
    default:
      return unhandled(ev);
  }
}
